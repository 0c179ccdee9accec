//! The `(user id, track id)` pairs a model version was trained on, stored beside it
//! (`seen.bin`), so that comparing the champion as served does not re-read its curated date: at
//! a billion listen items a day that read was minutes, the pairs of a user sample are megabytes.
//!
//! Format: the magic `MVSEEN01`, the pair count (u64, little-endian), then per pair, ascending
//! and distinct, two LEB128 varints of zigzagged differences: the user id from the previous
//! pair's, and the track id from the previous pair's when the user is the same, else from 0.

const MAGIC: &[u8; 8] = b"MVSEEN01";

/// The bytes of `pairs`, which must come sorted ascending and distinct (else this panics: a
/// caller's bug, never data's).
pub fn encode(pairs: impl IntoIterator<Item = (i64, i64)>) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 << 16);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&0u64.to_le_bytes());
    let mut count = 0u64;
    let mut previous = (0i64, 0i64);
    for pair @ (user, track) in pairs {
        assert!(count == 0 || pair > previous, "seen pairs must be sorted and distinct: {pair:?} after {previous:?}");
        let track_from = if user == previous.0 { previous.1 } else { 0 };
        put_varint(&mut out, zigzag(user.wrapping_sub(previous.0)));
        put_varint(&mut out, zigzag(track.wrapping_sub(track_from)));
        previous = pair;
        count += 1;
    }
    out[8..16].copy_from_slice(&count.to_le_bytes());
    out
}

/// The pairs of [`encode`]'s bytes of the users `keep` accepts (the others' are checked, not
/// held); what is truncated, unordered or trailing is refused.
pub fn decode(data: &[u8], keep: &dyn Fn(i64) -> bool) -> Result<Vec<(i64, i64)>, String> {
    if data.len() < 16 || &data[..8] != MAGIC {
        return Err("not a seen-pairs file (bad magic)".into());
    }
    let count = u64::from_le_bytes(data[8..16].try_into().expect("8 bytes"));
    let mut at = 16;
    // Each pair takes at least two bytes: a count beyond that cannot be, and must not allocate.
    let mut pairs = Vec::with_capacity(count.min((data.len() / 2) as u64) as usize);
    let mut previous = (0i64, 0i64);
    for n in 0..count {
        let user = previous.0.wrapping_add(unzigzag(varint(data, &mut at)?));
        let track_from = if user == previous.0 { previous.1 } else { 0 };
        let pair = (user, track_from.wrapping_add(unzigzag(varint(data, &mut at)?)));
        if n > 0 && pair <= previous {
            return Err(format!("pair {n} {pair:?} is not after {previous:?}"));
        }
        if keep(pair.0) {
            pairs.push(pair);
        }
        previous = pair;
    }
    if at != data.len() {
        return Err(format!("{} bytes after {count} pairs", data.len() - at));
    }
    Ok(pairs)
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A LEB128 varint at `at` (moved past it). Its tenth byte may hold only the last bit, and then
/// ends it, so the loop stops by the tenth byte.
fn varint(data: &[u8], at: &mut usize) -> Result<u64, String> {
    let (mut v, mut shift) = (0u64, 0);
    loop {
        let Some(&byte) = data.get(*at) else { return Err(format!("truncated at byte {}", *at)) };
        *at += 1;
        if shift == 63 && byte > 1 {
            return Err(format!("a varint overflows at byte {}", *at - 1));
        }
        v |= u64::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            return Ok(v);
        }
        shift += 7;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_round_trip_in_a_few_bytes_each_and_damage_is_refused() {
        let mut pairs = vec![(i64::MIN, i64::MIN), (i64::MIN, i64::MAX), (-5, 3), (0, 0), (7, -2), (7, 1), (7, 900), (1 << 40, 12), (i64::MAX, 0)];
        pairs.extend((0..1000).flat_map(|u| (0..20).map(move |t| (10_000 + u, t * 37 + u % 5))));
        pairs.sort_unstable();
        let bytes = encode(pairs.iter().copied());
        assert_eq!(decode(&bytes, &|_| true).unwrap(), pairs);
        assert!(bytes.len() < 16 + 3 * pairs.len(), "{} bytes for {} pairs", bytes.len(), pairs.len());
        assert_eq!(decode(&encode([]), &|_| true).unwrap(), []);
        let odd_users: Vec<(i64, i64)> = pairs.iter().copied().filter(|(u, _)| u % 2 != 0).collect();
        assert_eq!(decode(&bytes, &|u| u % 2 != 0).unwrap(), odd_users, "only the kept users' pairs are held");
        // The format, pinned: (1, 2) (1, 5) (3, -1) as zigzagged differences.
        let pinned = [MAGIC.as_slice(), &3u64.to_le_bytes(), &[2, 4, 0, 6, 4, 1]].concat();
        assert_eq!(encode([(1, 2), (1, 5), (3, -1)]), pinned);

        assert!(decode(&bytes[..bytes.len() - 1], &|_| true).unwrap_err().contains("truncated"));
        let mut long = bytes.clone();
        long.push(0);
        assert!(decode(&long, &|_| true).unwrap_err().contains("1 bytes after"));
        let mut bad = bytes.clone();
        bad[0] = b'X';
        assert!(decode(&bad, &|_| true).unwrap_err().contains("magic"));
        // A repeated pair: the second's differences are zero.
        let mut repeated = encode([(3, 4)]);
        repeated[8] = 2;
        repeated.extend_from_slice(&[0, 0]);
        assert!(decode(&repeated, &|_| true).unwrap_err().contains("is not after"), "{:?}", decode(&repeated, &|_| true));
        // A count far beyond the bytes fails as truncated, without allocating for it.
        let mut absurd = encode([]);
        absurd[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(decode(&absurd, &|_| true).unwrap_err().contains("truncated"));
        let overlong = [MAGIC.as_slice(), &1u64.to_le_bytes(), &[0xff; 10], &[0]].concat();
        assert!(decode(&overlong, &|_| true).unwrap_err().contains("overflows"));
    }
}

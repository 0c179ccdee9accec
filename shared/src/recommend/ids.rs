//! The id maps of a model (`ids.bin`): which user and track each factor row is, and a hash of each user's training listens.

/// The id maps of a model: row `i` of the user factors is `users[i]`, and so on.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct IdTable {
    pub users: Vec<i64>,
    /// A hash of each user's training listens ([`listens_hash`]), to spot users who changed since.
    pub user_hashes: Vec<u64>,
    pub tracks: Vec<i64>,
}

const IDS_MAGIC: &[u8; 8] = b"MVXIDS01";

impl IdTable {
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(24 + 16 * self.users.len() + 8 * self.tracks.len());
        out.extend_from_slice(IDS_MAGIC);
        out.extend_from_slice(&(self.users.len() as u64).to_le_bytes());
        out.extend_from_slice(&(self.tracks.len() as u64).to_le_bytes());
        self.users.iter().for_each(|v| out.extend_from_slice(&v.to_le_bytes()));
        self.user_hashes.iter().for_each(|v| out.extend_from_slice(&v.to_le_bytes()));
        self.tracks.iter().for_each(|v| out.extend_from_slice(&v.to_le_bytes()));
        out
    }

    pub fn from_bytes(data: &[u8]) -> Result<Self, String> {
        if data.len() < 24 || &data[..8] != IDS_MAGIC {
            return Err("not an id table (bad magic)".into());
        }
        let word = |i: usize| u64::from_le_bytes(data[8 + 8 * i..16 + 8 * i].try_into().expect("8 bytes"));
        let (users, tracks) = (word(0) as usize, word(1) as usize);
        let words = users.checked_mul(2).and_then(|u| u.checked_add(tracks)).ok_or("absurd sizes")?;
        if data.len() != 24 + 8 * words {
            return Err(format!("{} bytes for {users} users and {tracks} tracks (expected {})", data.len(), 24 + 8 * words));
        }
        let read = |start: usize, n: usize| (0..n).map(move |i| word(2 + start + i));
        Ok(IdTable {
            users: read(0, users).map(|v| v as i64).collect(),
            user_hashes: read(users, users).collect(),
            tracks: read(2 * users, tracks).map(|v| v as i64).collect(),
        })
    }
}

/// A stable hash (FNV-1a) of a user's listened track ids, in any order.
pub fn listens_hash(tracks: &[i64]) -> u64 {
    let mut sorted = tracks.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for t in sorted {
        for b in t.to_le_bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids() -> IdTable {
        IdTable { users: vec![10, -3], user_hashes: vec![listens_hash(&[1, 2]), 7], tracks: vec![1, 2, 3] }
    }

    #[test]
    fn id_tables_round_trip_and_garbage_is_refused() {
        assert_eq!(IdTable::from_bytes(&ids().to_bytes()).unwrap(), ids());
        let mut bytes = ids().to_bytes();
        bytes.pop();
        assert!(IdTable::from_bytes(&bytes).unwrap_err().contains("expected"));
        assert!(IdTable::from_bytes(b"not an id table at all").is_err());
        assert_eq!(listens_hash(&[2, 1, 2]), listens_hash(&[1, 2]), "order and repeats do not matter");
        assert_ne!(listens_hash(&[1, 2]), listens_hash(&[1, 3]));
    }
}

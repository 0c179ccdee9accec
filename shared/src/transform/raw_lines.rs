//! The JSON lines of one raw object: read in order, or parsed on every core and handed over in order.
//!
//! Parsing a row (its JSON, read straight into the record's checks when it has the common shape,
//! else into a `Value` first: [`crate::records::Record::accept_common`]) is pure and is most of the
//! work of reading raw data; what follows it (duplicates, counts, quarantine, the kept rows) is
//! state that must see rows in the order fetch wrote them. [`for_each_parsed`] splits the two:
//! one thread decompresses the object into chunks of lines, the rayon pool parses a chunk while
//! the caller's function takes the previous one, row by row, in order. The caller sees exactly
//! what a sequential read would show it, so the output does not depend on the cores.

use super::raw_date::RawError;
use crate::manifest::ObjectEntry;
use crate::storage::Store;
use bytes::Bytes;
use flate2::read::GzDecoder;
use rayon::prelude::*;
use std::io::{BufRead, BufReader};
use std::ops::Range;

/// Decompressed text handed over at a time: large enough that a chunk is worth a parallel
/// parse, small enough that the five chunks at most in flight (being read, queued, parsed, taken)
/// cost a few MiB. A line longer than a chunk is a chunk of its own.
const CHUNK_BYTES: usize = 1 << 20;

/// Chunks queued between the decompressing thread and the parser.
const CHUNKS_AHEAD: usize = 2;

/// Consecutive non-empty lines of an object: each its 1-based number and its bytes in `text`.
#[derive(Default)]
struct Chunk {
    text: Vec<u8>,
    lines: Vec<(u64, Range<usize>)>,
}

impl Chunk {
    fn lines(&self) -> impl Iterator<Item = (u64, &[u8])> {
        self.lines.iter().map(|(n, r)| (*n, &self.text[r.clone()]))
    }
}

/// Reads one raw object and calls `f(line_number, line)` for each JSON line (1-based).
pub async fn for_each_line(store: &dyn Store, object: &ObjectEntry, mut f: impl FnMut(u64, &[u8])) -> Result<(), RawError> {
    let data = fetched(store, object).await?;
    chunks(object, &data, |chunk| {
        chunk.lines().for_each(|(n, text)| f(n, text));
        true
    })
}

/// Reads one raw object, parses every line with `parse` on the rayon pool, and calls
/// `f(line_number, line, parsed)` for each line in order, as [`for_each_line`] would.
pub async fn for_each_parsed<P: Send>(
    store: &dyn Store,
    object: &ObjectEntry,
    parse: impl Fn(&[u8]) -> P + Sync,
    mut f: impl FnMut(u64, &[u8], P) + Send,
) -> Result<(), RawError> {
    let data = fetched(store, object).await?;
    let parse_chunk = |chunk: Chunk| {
        let parsed: Vec<P> = chunk.lines.par_iter().map(|(_, r)| parse(&chunk.text[r.clone()])).collect();
        (chunk, parsed)
    };
    let mut take = |(chunk, parsed): (Chunk, Vec<P>)| {
        for ((n, text), p) in chunk.lines().zip(parsed) {
            f(n, text, p);
        }
    };
    std::thread::scope(|scope| {
        // Owned by this closure, so that a panic below drops the receiver before the scope joins
        // the reader: the reader's next send fails and it stops, and the panic goes on.
        let (send, receive) = std::sync::mpsc::sync_channel::<Chunk>(CHUNKS_AHEAD);
        let data = &data;
        let reader = scope.spawn(move || chunks(object, data, |chunk| send.send(chunk).is_ok()));
        let mut ready = receive.recv().ok().map(parse_chunk);
        while let Some(chunk) = ready.take() {
            let next = receive.recv().ok();
            ready = rayon::join(|| take(chunk), || next.map(parse_chunk)).1;
        }
        reader.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// The object's bytes, checked against the manifest's size.
async fn fetched(store: &dyn Store, object: &ObjectEntry) -> Result<Bytes, RawError> {
    let data = store.get(&object.key).await?.data;
    if data.len() as u64 != object.bytes {
        return Err(corrupt(object, format!("{} bytes, but the manifest says {}", data.len(), object.bytes)));
    }
    Ok(data)
}

fn corrupt(object: &ObjectEntry, detail: String) -> RawError {
    RawError::Corrupt { key: object.key.clone(), detail }
}

/// Decompresses `data` and hands its lines to `each` in chunks; checks the line count against
/// the manifest's once every line was read. `each` answering false (its taker is gone) stops
/// the read with an error: a part read in part is never reported as read.
fn chunks(object: &ObjectEntry, data: &[u8], mut each: impl FnMut(Chunk) -> bool) -> Result<(), RawError> {
    let mut reader = BufReader::with_capacity(1 << 16, GzDecoder::new(data));
    let stopped = |n: u64| corrupt(object, format!("reading stopped after line {n}: its reader is gone"));
    let mut chunk = Chunk::default();
    let mut n = 0;
    loop {
        let start = chunk.text.len();
        let read = reader.read_until(b'\n', &mut chunk.text).map_err(|e| corrupt(object, format!("not gzip: {e}")))?;
        if read == 0 {
            break;
        }
        n += 1;
        let end = if chunk.text.ends_with(b"\n") { chunk.text.len() - 1 } else { chunk.text.len() };
        if end > start {
            chunk.lines.push((n, start..end));
        }
        if chunk.text.len() >= CHUNK_BYTES && !each(std::mem::take(&mut chunk)) {
            return Err(stopped(n));
        }
    }
    if !chunk.lines.is_empty() && !each(chunk) {
        return Err(stopped(n));
    }
    if n != object.rows {
        return Err(corrupt(object, format!("{n} lines, but the manifest says {}", object.rows)));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::ObjectRole;
    use crate::storage::{MemoryStore, PutMode};
    use flate2::{Compression, write::GzEncoder};
    use std::io::Write;

    async fn object(store: &MemoryStore, text: &[u8], rows: u64) -> ObjectEntry {
        let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
        gz.write_all(text).unwrap();
        let data = Bytes::from(gz.finish().unwrap());
        store.put("raw/x/part-0.jsonl.gz", data.clone(), PutMode::Overwrite).await.unwrap();
        ObjectEntry { key: "raw/x/part-0.jsonl.gz".into(), bytes: data.len() as u64, rows, role: ObjectRole::Data, sha256: String::new() }
    }

    #[tokio::test]
    async fn parsed_lines_come_in_order_with_their_numbers_across_many_chunks() {
        let store = MemoryStore::default();
        // Lines of very different lengths, empty ones among them, over several chunks.
        let lines: Vec<String> = (0..40_000).map(|i| if i % 1000 == 7 { String::new() } else { format!("{i}:{}", "x".repeat(i % 97 * (1 + i / 10_000) * 7)) }).collect();
        let text = lines.join("\n") + "\n";
        assert!(text.len() > 4 * CHUNK_BYTES, "the test spans several chunks");
        let o = object(&store, text.as_bytes(), lines.len() as u64).await;
        let mut sequential = Vec::new();
        for_each_line(&store, &o, |n, line| sequential.push((n, line.to_vec()))).await.unwrap();
        let mut parallel = Vec::new();
        for_each_parsed(&store, &o, |line| line.len(), |n, line, len| parallel.push((n, line.to_vec(), len))).await.unwrap();
        let expected: Vec<(u64, Vec<u8>)> = lines.iter().enumerate().filter(|(_, l)| !l.is_empty()).map(|(i, l)| (i as u64 + 1, l.clone().into_bytes())).collect();
        assert_eq!(sequential, expected);
        assert_eq!(parallel.iter().map(|(n, l, _)| (*n, l.clone())).collect::<Vec<_>>(), expected);
        assert!(parallel.iter().all(|(_, l, len)| l.len() == *len), "each line's own parse");
    }

    #[tokio::test]
    async fn a_wrong_line_count_or_size_or_a_broken_gzip_is_an_error_naming_the_object() {
        let store = MemoryStore::default();
        let o = object(&store, b"{\"a\":1}\n{\"a\":2}\n", 3).await;
        let err = for_each_parsed(&store, &o, |_| (), |_, _, _| ()).await.unwrap_err();
        assert!(err.to_string().contains("raw/x/part-0.jsonl.gz: 2 lines, but the manifest says 3"), "{err}");
        let short = ObjectEntry { bytes: o.bytes + 1, ..o.clone() };
        let err = for_each_line(&store, &short, |_, _| ()).await.unwrap_err();
        assert!(err.to_string().contains("bytes, but the manifest says"), "{err}");
        store.put("raw/x/part-0.jsonl.gz", Bytes::from_static(b"not gzip at all"), PutMode::Overwrite).await.unwrap();
        let broken = ObjectEntry { bytes: 15, ..o };
        let err = for_each_parsed(&store, &broken, |_| (), |_, _, _| ()).await.unwrap_err();
        assert!(err.to_string().contains("not gzip"), "{err}");
    }

    /// A panic while taking or parsing rows fails the read (the invocation's error) instead of
    /// leaving the decompressing thread blocked on a full queue forever.
    #[tokio::test]
    async fn a_panic_in_the_parse_or_the_taker_comes_back_instead_of_hanging() {
        let store = std::sync::Arc::new(MemoryStore::default());
        let text: String = (0..200_000).map(|i| format!("{{\"id\":{i},\"pad\":\"{}\"}}\n", "x".repeat(60))).collect();
        let o = object(&store, text.as_bytes(), 200_000).await;
        for in_parse in [false, true] {
            let (store, o) = (store.clone(), o.clone());
            let (done, outcome) = std::sync::mpsc::channel();
            // Its own thread: a hang blocks that thread, and the wait below says so.
            std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
                let read = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    let parse = |line: &[u8]| if in_parse && line.starts_with(b"{\"id\":5,") { panic!("parse") } else { line.len() };
                    let take = |n: u64, _: &[u8], _| if !in_parse && n == 3 { panic!("take") };
                    runtime.block_on(for_each_parsed(store.as_ref(), &o, parse, take))
                }));
                let _ = done.send(read.is_err());
            });
            let panicked = outcome.recv_timeout(std::time::Duration::from_secs(60));
            assert_eq!(panicked, Ok(true), "the panic (in parse: {in_parse}) came back within a minute");
        }
    }
}

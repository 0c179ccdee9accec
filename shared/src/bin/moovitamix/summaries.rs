//! How each job's summary reads on the terminal: one table per stage and date.

use crate::console::say;
use moovitamix::fanout::FannedRun;
use moovitamix::fetch::FetchSummary;
use moovitamix::recommend::{ScoreSummary, TrainSummary};
use moovitamix::transform::TransformSummary;

pub(crate) fn print_fetch(s: &FetchSummary) {
    say!("\n{} fetch  run {}  {} ms  -> {}", s.date, s.run_id, s.duration_ms, s.run_manifest);
    say!("  {:<16} {:>9} {:>9} {:>9} {:>7} {:>8} {:>11}", "entity", "accepted", "warned", "rejected", "pages", "retries", "bytes");
    for (entity, e) in &s.entities {
        say!(
            "  {:<16} {:>9} {:>9} {:>9} {:>7} {:>8} {:>11}",
            entity.as_str(),
            e.accepted,
            e.warned,
            e.rejected,
            e.pages,
            e.retries,
            e.bytes_written
        );
    }
}

pub(crate) fn print_transform(s: &TransformSummary) {
    let after = s.previous_date.map_or("an empty history".to_owned(), |d| d.to_string());
    say!("\n{} transform  run {}  {} ms  (onto {after})  -> {}", s.date, s.run_id, s.duration_ms, s.run_manifest);
    say!("  {:<20} {:>9} {:>9} {:>11} {:>9} {:>9} {:>9}", "table", "rows in", "rows out", "quarantined", "warnings", "opened", "closed");
    let opt = |v: Option<u64>| v.map_or("-".to_owned(), |v| v.to_string());
    for (table, t) in &s.tables {
        say!(
            "  {:<20} {:>9} {:>9} {:>11} {:>9} {:>9} {:>9}",
            table,
            t.rows_in,
            t.rows_out,
            t.quarantined,
            t.warnings,
            opt(t.new_versions),
            opt(t.closed_versions)
        );
    }
}

/// `text` in lines of at most `width` characters, broken between words.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for word in text.split_whitespace() {
        match lines.last_mut() {
            Some(line) if line.chars().count() + 1 + word.chars().count() <= width => {
                line.push(' ');
                line.push_str(word);
            }
            _ => lines.push(word.to_owned()),
        }
    }
    lines
}

/// A gate reason without its parenthesised statistics (the model card and the report keep them):
/// one listing line per version.
pub(crate) fn without_parentheses(text: &str) -> String {
    let mut depth = 0usize;
    let kept: String = text
        .chars()
        .filter(|c| {
            match c {
                '(' => depth += 1,
                ')' => depth = depth.saturating_sub(1),
                _ => return depth == 0,
            }
            false
        })
        .collect();
    kept.split_whitespace().collect::<Vec<_>>().join(" ")
}

pub(crate) fn print_train(t: &TrainSummary) {
    let verdict = if t.promoted { "promoted" } else { "refused" };
    let sample = match t.hyper.train_user_share < 1.0 {
        true => format!(" (the ALS_TRAIN_USER_SHARE {} sample of users)", t.hyper.train_user_share),
        false => String::new(),
    };
    say!("\n  trained {} on curated {}: {} users, {} tracks, {} listens{sample}, {} ms; {verdict}:", t.version, t.date, t.users, t.tracks, t.listens, t.train_ms);
    // The gate's reason carries its statistics: wrapped, so the console stays readable.
    for line in wrap(&t.reason, 100) {
        say!("    {line}");
    }
    say!("  {:<10} {:>8} {:>8} {:>8} {:>8} {:>9}", "model", "ndcg@10", "prec@10", "rec@10", "map@10", "coverage");
    let e = &t.evaluation;
    for (name, s) in [("candidate", Some(e.candidate)), ("champion", e.champion), ("baseline", Some(e.baseline))] {
        if let Some(s) = s {
            say!("  {name:<10} {:>8.4} {:>8.4} {:>8.4} {:>8.4} {:>9.3}", s.ndcg_at_10, s.precision_at_10, s.recall_at_10, s.map_at_10, s.coverage);
        }
    }
    if e.champion.is_some() {
        println!("  (champion = its recipe trained on the same split)");
    }
    if let Some(s) = e.served.as_ref().filter(|s| s.users > 0) {
        println!(
            "  served champion on the {} held-out listens of {} users it never saw: NDCG@10 {:.4}, candidate {:.4}",
            s.listens, s.users, s.champion.ndcg_at_10, s.candidate.ndcg_at_10
        );
    }
}

pub(crate) fn print_score(s: &ScoreSummary) {
    let model = s.model_version.as_deref().unwrap_or("none (cold start only)");
    say!("\n{} recommend  run {}  {} ms  model {model}  -> {}", s.date, s.run_id, s.duration_ms, s.run_manifest);
    if let Some(t) = &s.trained {
        print_train(t);
    }
    say!(
        "  users {}  (model: {} as trained, {} folded in; cold start: {})  rows {}  catalogue coverage {:.3}",
        s.users, s.cf_trained, s.cf_folded_in, s.cold_start, s.rows, s.catalog_coverage
    );
    if let Some(first) = s.sample.first() {
        let tracks: Vec<String> = s.sample.iter().map(|r| format!("{} ({:.3}, {})", r.track_id, r.score, r.reason.as_str())).collect();
        say!("  user {}: {}", first.user_id, tracks.join(", "));
    }
}

/// A fanned-out run: its steps and what each bucket's child used, as the child measured it (`?`
/// where it printed no report), and the attempts the runner made.
pub(crate) fn print_fanout<S>(run: &FannedRun<S>) {
    say!("  fan-out: prepare {:.2} s, {} bucket(s), commit {:.2} s", run.prepare.as_secs_f64(), run.children.len(), run.commit.as_secs_f64());
    say!("  {:<14} {:>12} {:>8} {:>8} {:>9} {:>12} {:>8}", "bucket", "listen items", "wall s", "cpu s", "peak MiB", "µs cpu/item", "attempts");
    for c in &run.children {
        let bucket = format!("{} of {}", c.bucket.index, c.bucket.count);
        let Some(r) = &c.report else {
            say!("  {bucket:<14} {:>12} {:>8} {:>8} {:>9} {:>12} {:>8}", "?", "?", "?", "?", "?", c.attempts);
            continue;
        };
        let peak = r.peak_rss_mib.map_or("?".to_owned(), |p| format!("{p:.1}"));
        let per_item = r.cpu_us_per_item().map_or("-".to_owned(), |u| format!("{u:.3}"));
        say!("  {bucket:<14} {:>12} {:>8.2} {:>8.2} {peak:>9} {per_item:>12} {:>8}", r.listen_items, r.wall_ms as f64 / 1e3, r.cpu_ms as f64 / 1e3, c.attempts);
    }
}

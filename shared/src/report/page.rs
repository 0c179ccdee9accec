//! The report as one HTML page: inline CSS and SVG, no script, no external resource.
//!
//! Sections (their ids are what the tests look for): `last-runs`, `runs`, `quality` (with the
//! `dq-plot` chart), `models` (with the `ndcg-plot` chart), `gate`, `top-tracks`, and `problems`
//! when something could not be read.

use super::plot::{Series, line_chart};
use super::{Report, STAGES, StageRun};
use chrono::NaiveDate;
use std::collections::BTreeMap;
use std::fmt::Write;

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:72rem;color:#222;padding:0 1rem}\
h1{font-size:1.6rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ccc}\
table{border-collapse:collapse;font-size:.85rem;margin:.5rem 0}th,td{border:1px solid #ddd;padding:.2rem .5rem}\
th{background:#f3f3f3;text-align:left}td.n{text-align:right;font-variant-numeric:tabular-nums}\
.promoted{color:#17692f}.held{color:#8a5a00}.refused{color:#a4262c}.champion{font-weight:bold}\
.problems{background:#fff4ce;border:1px solid #e0c060;padding:.5rem 1rem}.muted{color:#666}";

/// The whole page.
pub fn render(r: &Report) -> String {
    let mut h = String::with_capacity(16 * 1024);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">\
         <title>MooVitamix report: {loc}</title><style>{STYLE}</style></head><body>\n<h1>MooVitamix report</h1>\
         <p class=\"muted\">Data folder <code>{loc}</code>, generated {at} UTC.</p>\n",
        loc = escape(&r.location),
        at = r.generated_at.format("%Y-%m-%d %H:%M:%S")
    );
    if !r.problems.is_empty() {
        h.push_str("<section id=\"problems\" class=\"problems\"><h2>Could not be read</h2><ul>");
        for p in &r.problems {
            let _ = write!(h, "<li>{}</li>", escape(p));
        }
        h.push_str("</ul></section>\n");
    }
    last_runs(&mut h, r);
    runs_over_time(&mut h, r);
    quality(&mut h, r);
    models(&mut h, r);
    gate(&mut h, r);
    top_tracks(&mut h, r);
    h.push_str("</body></html>\n");
    h
}

fn last_runs(h: &mut String, r: &Report) {
    h.push_str("<section id=\"last-runs\"><h2>Last runs</h2><table><thead><tr><th>stage</th><th>date</th><th>run</th><th>finished (UTC)</th><th>duration</th><th>counts</th></tr></thead><tbody>");
    for (stage, _, _) in STAGES {
        match r.runs.iter().filter(|run| run.stage == stage).max_by_key(|run| run.date) {
            Some(run) => {
                let counts: Vec<String> = run.counts.iter().map(|(n, v)| format!("{n} {v}")).collect();
                let _ = write!(
                    h,
                    "<tr data-stage=\"{stage}\"><td>{stage}</td><td>{}</td><td><code>{}</code></td><td>{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
                    run.date,
                    escape(&run.run_id),
                    run.finished_at.format("%Y-%m-%d %H:%M:%S"),
                    duration(run),
                    escape(&counts.join(", "))
                );
            }
            None => {
                let _ = write!(h, "<tr data-stage=\"{stage}\"><td>{stage}</td><td colspan=\"5\" class=\"muted\">no committed run</td></tr>");
            }
        }
    }
    h.push_str("</tbody></table></section>\n");
}

/// One row per date: each stage's counts and duration.
fn runs_over_time(h: &mut String, r: &Report) {
    let by_date = by_date(r);
    h.push_str("<section id=\"runs\"><h2>Runs by date</h2><table><thead><tr><th rowspan=\"2\">date</th>");
    for (stage, _, columns) in STAGES {
        let _ = write!(h, "<th colspan=\"{}\">{stage}</th>", columns.len() + 1);
    }
    h.push_str("</tr><tr>");
    for (_, _, columns) in STAGES {
        for c in columns {
            let _ = write!(h, "<th>{}</th>", c.replace('_', " "));
        }
        h.push_str("<th>duration</th>");
    }
    h.push_str("</tr></thead><tbody>");
    for (date, runs) in by_date.iter().rev() {
        let _ = write!(h, "<tr><td>{date}</td>");
        for (stage, _, columns) in STAGES {
            match runs.get(stage) {
                Some(run) => {
                    for c in columns {
                        let _ = write!(h, "<td class=\"n\">{}</td>", run.count(c).unwrap_or(0));
                    }
                    let _ = write!(h, "<td class=\"n\">{}</td>", duration(run));
                }
                None => {
                    let _ = write!(h, "<td colspan=\"{}\" class=\"muted\">not run</td>", columns.len() + 1);
                }
            }
        }
        h.push_str("</tr>");
    }
    if by_date.is_empty() {
        h.push_str("<tr><td colspan=\"99\" class=\"muted\">no committed run yet: <code>cargo run --release -- run</code></td></tr>");
    }
    h.push_str("</tbody></table></section>\n");
}

/// Data-quality warnings over time: fetch's warned and rejected rows, transform's warnings.
fn quality(h: &mut String, r: &Report) {
    let by_date = by_date(r);
    let labels: Vec<String> = by_date.keys().map(|d| d.format("%m-%d").to_string()).collect();
    let pick = |stage: &str, f: &dyn Fn(&StageRun) -> Option<f64>| -> Vec<Option<f64>> {
        by_date.values().map(|runs| runs.get(stage).and_then(|run| f(run))).collect()
    };
    let series = [
        Series { name: "fetch: warned rows", colour: "#c58a00", values: pick("fetch", &|run| run.count("warned").map(|v| v as f64)) },
        Series { name: "fetch: rejected rows", colour: "#a4262c", values: pick("fetch", &|run| run.count("rejected").map(|v| v as f64)) },
        Series { name: "transform: warnings", colour: "#3a6ea5", values: pick("transform", &|run| run.dq_warnings.map(|v| v as f64)) },
    ];
    h.push_str("<section id=\"quality\"><h2>Data quality over time</h2>");
    h.push_str(&line_chart("dq-plot", "Data-quality warnings and rejected rows by date", &labels, &series));
    h.push_str("<table><thead><tr><th>date</th><th>fetch warned</th><th>fetch rejected</th><th>transform warnings</th><th>transform quarantined</th><th>largest quarantined share</th></tr></thead><tbody>");
    for (date, runs) in by_date.iter().rev() {
        let count = |stage: &str, c: &str| runs.get(stage).and_then(|r| r.count(c)).map_or("-".to_owned(), |v| v.to_string());
        let t = runs.get("transform");
        let _ = write!(
            h,
            "<tr><td>{date}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            count("fetch", "warned"),
            count("fetch", "rejected"),
            t.and_then(|t| t.dq_warnings).map_or("-".to_owned(), |v| v.to_string()),
            count("transform", "quarantined"),
            t.and_then(|t| t.quarantine_share).map_or("-".to_owned(), |v| format!("{:.2}%", v * 100.0))
        );
    }
    h.push_str("</tbody></table></section>\n");
}

/// Model versions: NDCG@10 beside the baseline and the champion at the time, as a plot and a table.
fn models(h: &mut String, r: &Report) {
    let champion = r.champion.as_ref().map(|c| c.version.as_str());
    h.push_str("<section id=\"models\"><h2>Models</h2>");
    let labels: Vec<String> = r.models.iter().map(|m| m.trained_at.format("%m-%d %H:%M").to_string()).collect();
    let series = [
        Series { name: "candidate", colour: "#3a6ea5", values: r.models.iter().map(|m| Some(m.evaluation.candidate.ndcg_at_10)).collect() },
        Series { name: "baseline (popularity)", colour: "#888888", values: r.models.iter().map(|m| Some(m.evaluation.baseline.ndcg_at_10)).collect() },
        Series { name: "champion", colour: "#17692f", values: r.models.iter().map(|m| m.evaluation.champion_shown().map(|s| s.ndcg_at_10)).collect() },
    ];
    h.push_str(&line_chart("ndcg-plot", "NDCG@10 of each trained model, the popularity baseline and the champion at the time", &labels, &series));
    let _ = write!(h, "<p>Champion: {}</p>", champion.map_or("none yet".to_owned(), |c| format!("<code class=\"champion\">{}</code>", escape(c))));
    h.push_str("<table><thead><tr><th>version</th><th>data date</th><th>users</th><th>tracks</th><th>listens</th><th>NDCG@10</th><th>baseline</th><th>champion</th><th>coverage</th><th>train ms</th></tr></thead><tbody>");
    for m in r.models.iter().rev() {
        let e = &m.evaluation;
        let is_champion = champion == Some(m.version.as_str());
        // Trained on a sample of users: its counts are the sample's, not a fall in the data.
        let sample = match m.hyper.train_user_share < 1.0 {
            true => format!(" <span class=\"muted\">(a {} sample)</span>", m.hyper.train_user_share),
            false => String::new(),
        };
        let _ = write!(
            h,
            "<tr{}><td><code>{}</code>{}</td><td>{}</td><td class=\"n\">{}{sample}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{:.4}</td><td class=\"n\">{:.4}</td><td class=\"n\">{}</td><td class=\"n\">{:.3}</td><td class=\"n\">{}</td></tr>",
            if is_champion { " class=\"champion\"" } else { "" },
            escape(&m.version),
            if is_champion { " (champion)" } else { "" },
            m.data_date,
            m.users,
            m.tracks,
            m.listens,
            e.candidate.ndcg_at_10,
            e.baseline.ndcg_at_10,
            e.champion_shown().map_or("-".to_owned(), |s| format!("{:.4}", s.ndcg_at_10)),
            e.candidate.coverage,
            m.train_ms
        );
    }
    if r.models.is_empty() {
        h.push_str("<tr><td colspan=\"10\" class=\"muted\">no trained model yet</td></tr>");
    }
    h.push_str("</tbody></table></section>\n");
}

fn gate(h: &mut String, r: &Report) {
    h.push_str("<section id=\"gate\"><h2>The gate's decisions</h2><ol class=\"decisions\">");
    for m in &r.models {
        let held = m.held();
        let (class, verdict) = match (m.decision.promoted(), &held) {
            (true, None) => ("promoted", "promoted"),
            (true, Some(_)) => ("held", "promoted by the gate, kept as a candidate"),
            (false, _) => ("refused", "refused"),
        };
        let _ = write!(
            h,
            "<li class=\"{class}\"><code>{}</code> ({} UTC): <strong>{verdict}</strong>: {}{}</li>",
            escape(&m.version),
            m.trained_at.format("%Y-%m-%d %H:%M"),
            escape(m.decision.reason()),
            held.map(|h| format!(" <em>({})</em>", escape(&h))).unwrap_or_default()
        );
    }
    h.push_str("</ol>");
    if let Some(c) = &r.champion {
        let _ = write!(
            h,
            "<p>The champion <code>{}</code> since {} UTC ({}; before it: {}).</p>",
            escape(&c.version),
            c.since.format("%Y-%m-%d %H:%M"),
            escape(&c.how),
            c.previous.as_deref().map_or("none".to_owned(), |p| format!("<code>{}</code>", escape(p)))
        );
    }
    h.push_str("</section>\n");
}

fn top_tracks(h: &mut String, r: &Report) {
    h.push_str("<section id=\"top-tracks\"><h2>Top tracks recommended</h2>");
    match &r.top_tracks {
        None => h.push_str("<p class=\"muted\">no recommendations yet</p>"),
        Some(t) => {
            let _ = write!(
                h,
                "<p>On {}, to {} users (model {}): the tracks in the most lists.</p><table><thead><tr><th>track</th><th>name</th><th>artist</th><th>lists</th><th>best rank</th></tr></thead><tbody>",
                t.date,
                t.users,
                escape(&t.model_versions.join(", "))
            );
            for track in &t.tracks {
                let _ = write!(
                    h,
                    "<tr><td class=\"n\">{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
                    track.track_id,
                    escape(track.name.as_deref().unwrap_or("-")),
                    escape(track.artist.as_deref().unwrap_or("-")),
                    track.lists,
                    track.best_rank
                );
            }
            h.push_str("</tbody></table>");
        }
    }
    h.push_str("</section>\n");
}

fn by_date(r: &Report) -> BTreeMap<NaiveDate, BTreeMap<&'static str, &StageRun>> {
    let mut out: BTreeMap<NaiveDate, BTreeMap<&'static str, &StageRun>> = BTreeMap::new();
    for run in &r.runs {
        out.entry(run.date).or_default().insert(run.stage, run);
    }
    out
}

fn duration(run: &StageRun) -> String {
    match run.duration_ms() {
        ms if ms < 10_000 => format!("{ms} ms"),
        ms => format!("{:.1} s", ms as f64 / 1000.0),
    }
}

/// Text for HTML content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

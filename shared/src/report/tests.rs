use super::*;
use crate::recommend::als::AlsParams;
use crate::recommend::gate::Decision;
use crate::recommend::evaluation::{Evaluation, Scores};
use crate::recommend::ids::IdTable;
use crate::recommend::recipe::Recipe;
use crate::storage::MemoryStore;

fn scores(ndcg: f64) -> Scores {
    Scores { ndcg_at_10: ndcg, coverage: 0.3, ..Scores::default() }
}

fn card(version: &str, trained_at: &str, ndcg: f64, champion: Option<f64>, decision: Decision) -> ModelCard {
    ModelCard {
        version: version.into(),
        trained_at: trained_at.parse().unwrap(),
        data_date: "2026-11-21".parse().unwrap(),
        hyper: Recipe { als: AlsParams::default(), recency_beta: 0.0, recency_power: 1.0, max_tracks_per_user: 0, train_user_share: 1.0 },
        users: 100,
        tracks: 50,
        listens: 1000,
        first_listen: None,
        last_listen: None,
        evaluation: Evaluation { candidate: scores(ndcg), baseline: scores(0.05), champion: champion.map(scores), champion_version: None, test_users: 90, test_listens: 200, served: None, served_unavailable: None, gate: None, cold_start: None, drift: None },
        decision,
        held_by_pin: None,
        held_by_newer_champion: None,
        train_ms: 12,
        code_version: "test".into(),
    }
}

fn run(stage: &'static str, date: &str, counts: Vec<(&'static str, u64)>, dq_warnings: Option<u64>) -> StageRun {
    StageRun {
        stage,
        date: date.parse().unwrap(),
        run_id: format!("{stage}-{date}"),
        started_at: format!("{date}T06:00:00Z").parse().unwrap(),
        finished_at: format!("{date}T06:00:01.5Z").parse().unwrap(),
        counts,
        dq_warnings,
        quarantine_share: dq_warnings.map(|_| 0.01),
    }
}

fn sample() -> Report {
    let promote = |r: &str| Decision::Promote { reason: r.into() };
    Report {
        location: "/data & <friends>".into(),
        generated_at: "2026-11-23T08:00:00Z".parse().unwrap(),
        runs: vec![
            run("fetch", "2026-11-21", vec![("accepted", 2900), ("warned", 700), ("rejected", 3)], None),
            run("fetch", "2026-11-22", vec![("accepted", 2950), ("warned", 710), ("rejected", 0)], None),
            run("transform", "2026-11-21", vec![("rows_in", 9000), ("rows", 9000), ("warned", 650), ("quarantined", 2)], Some(812)),
            run("recommend", "2026-11-21", vec![("users", 1000), ("rows", 10000), ("cold_start", 40)], None),
        ],
        models: vec![
            card("v1", "2026-11-21T06:00:00Z", 0.21, None, promote("beats the baseline")),
            card("v2", "2026-11-22T06:00:00Z", 0.15, Some(0.21), Decision::Refuse { reason: "trails the champion <by 0.06>".into() }),
        ],
        champion: Some(Champion { version: "v1".into(), since: "2026-11-21T06:00:01Z".parse().unwrap(), how: "promoted".into(), previous: None, pinned: false }),
        top_tracks: Some(TopTracks {
            date: "2026-11-21".parse().unwrap(),
            model_versions: vec!["v1".into()],
            users: 1000,
            tracks: vec![TopTrack { track_id: 7, name: Some("<script>alert(1)</script>".into()), artist: Some("Ann".into()), lists: 400, best_rank: 1 }],
        }),
        problems: vec![],
    }
}

/// The text between `<section id="{id}"` and its `</section>`.
fn section<'a>(html: &'a str, id: &str) -> &'a str {
    let start = html.find(&format!("<section id=\"{id}\"")).unwrap_or_else(|| panic!("no section {id}"));
    let end = html[start..].find("</section>").expect("a closed section") + start;
    &html[start..end]
}

#[test]
fn the_page_shows_every_section_from_the_report() {
    let html = page::render(&sample());
    assert!(html.starts_with("<!DOCTYPE html>"));
    let last = section(&html, "last-runs");
    // The last fetch is the 22nd's, with its counts and its duration.
    assert!(last.contains("<td>fetch</td><td>2026-11-22</td>") && last.contains("accepted 2950, warned 710, rejected 0"), "{last}");
    assert!(last.contains("1500 ms"), "{last}");
    let runs = section(&html, "runs");
    assert!(runs.find("2026-11-22").unwrap() < runs.find("2026-11-21").unwrap(), "newest first: {runs}");
    assert!(runs.contains("not run"), "the 22nd has no transform: {runs}");
    let quality = section(&html, "quality");
    assert!(quality.contains("<svg id=\"dq-plot\"") && quality.contains("<td class=\"n\">812</td>") && quality.contains("1.00%"), "{quality}");
    let models = section(&html, "models");
    assert!(models.contains("<svg id=\"ndcg-plot\""), "{models}");
    // Three series; the champion's has one point (v1 had no champion to compare with).
    for (series, points) in [("candidate", 2), ("baseline (popularity)", 2), ("champion", 1)] {
        let start = models.find(&format!("data-series=\"{series}\"")).unwrap_or_else(|| panic!("no series {series}"));
        let group = &models[start..start + models[start..].find("</g>").unwrap()];
        assert_eq!(group.matches("<circle").count(), points, "{series}: {group}");
    }
    assert!(models.contains("0.2100") && models.contains("0.1500") && models.contains("v1</code> (champion)"), "{models}");
    assert!(!models.contains("sample)"), "trained on everyone: {models}");
    let gate = section(&html, "gate");
    assert!(gate.contains("<strong>promoted</strong>: beats the baseline"), "{gate}");
    assert!(gate.contains("<strong>refused</strong>: trails the champion &lt;by 0.06&gt;"), "escaped: {gate}");
    let top = section(&html, "top-tracks");
    assert!(top.contains("&lt;script&gt;alert(1)&lt;/script&gt;") && top.contains("<td class=\"n\">400</td>"), "{top}");
    assert!(!html.contains("<script"), "no script, and none injected by the data");
    assert!(html.contains("/data &amp; &lt;friends&gt;"));
    assert!(!html.contains("id=\"problems\""));
}

#[test]
fn the_page_loads_nothing_from_outside() {
    let html = page::render(&sample());
    // The only URL is the SVG namespace, an identifier that nothing fetches.
    let urls: Vec<&str> = html.match_indices("http").map(|(i, _)| &html[i..(i + 40).min(html.len())]).collect();
    assert!(urls.iter().all(|u| u.starts_with("http://www.w3.org/2000/svg")), "{urls:?}");
    for attribute in ["src=", "href=", "@import", "url("] {
        assert!(!html.contains(attribute), "{attribute} in the page");
    }
}

#[test]
fn problems_and_an_empty_folder_are_shown_not_hidden() {
    let mut report = sample();
    report.problems.push("transform 2026-11-22: <broken>".into());
    let html = page::render(&report);
    assert!(section(&html, "problems").contains("transform 2026-11-22: &lt;broken&gt;"));
    let empty = Report { runs: vec![], models: vec![], champion: None, top_tracks: None, ..sample() };
    let html = page::render(&empty);
    assert!(section(&html, "runs").contains("no committed run yet"));
    assert!(section(&html, "models").contains("no trained model yet"));
    assert!(section(&html, "top-tracks").contains("no recommendations yet"));
    assert!(section(&html, "last-runs").matches("no committed run").count() == 3);
}

#[tokio::test]
async fn gather_reads_model_cards_and_the_champion_through_the_store_and_notes_what_it_cannot_read() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::default());
    let models = ModelStore::new(store.clone());
    let ids = IdTable { users: vec![1], user_hashes: vec![0], tracks: vec![2] };
    let first = card("20261121T060000Z-aaaa", "2026-11-21T06:00:00Z", 0.2, None, Decision::Promote { reason: "ok".into() });
    let second = card("20261122T060000Z-bbbb", "2026-11-22T06:00:00Z", 0.1, Some(0.2), Decision::Refuse { reason: "no".into() });
    // Saved newest first: the report orders them by training time.
    models.save(&second, vec![0; 8], &ids, crate::recommend::seen::encode([])).await.unwrap();
    models.save(&first, vec![0; 8], &ids, crate::recommend::seen::encode([])).await.unwrap();
    models.set_champion(&first.version, "promoted", None, "2026-11-21T06:00:01Z".parse().unwrap()).await.unwrap();
    // A run manifest that names a partition manifest that is not there: a problem, not a failure.
    let broken = Partition::run(Zone::Raw, "2026-11-20".parse().unwrap()).manifest_key();
    let manifest = Manifest {
        format_version: crate::manifest::FORMAT_VERSION,
        stage: "fetch".into(),
        partition: Partition::run(Zone::Raw, "2026-11-20".parse().unwrap()).prefix(),
        run_id: "r1".into(),
        logical_date: "2026-11-20".parse().unwrap(),
        counts: Default::default(),
        objects: vec![crate::manifest::ObjectEntry::new("raw/tracks/dt=2026-11-20/run=r1/_manifest.json".into(), b"", 0, crate::manifest::ObjectRole::Manifest)],
        source: "test".into(),
        started_at: "2026-11-20T06:00:00Z".parse().unwrap(),
        finished_at: "2026-11-20T06:00:01Z".parse().unwrap(),
        code_version: "test".into(),
        details: serde_json::Value::Null,
    };
    store.put(&broken, manifest.to_json().into(), crate::storage::PutMode::Create).await.unwrap();

    let report = gather(store.clone(), "2026-11-23T00:00:00Z".parse().unwrap()).await.unwrap();
    let versions: Vec<&str> = report.models.iter().map(|m| m.version.as_str()).collect();
    assert_eq!(versions, [first.version.as_str(), second.version.as_str()]);
    assert_eq!(report.champion.as_ref().map(|c| c.version.as_str()), Some(first.version.as_str()));
    assert!(report.runs.is_empty() && report.top_tracks.is_none());
    assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
    assert!(report.problems[0].starts_with("fetch 2026-11-20"), "{:?}", report.problems);

    let (location, _) = write(store.clone(), &Destination::DataFolder, report.generated_at).await.unwrap();
    assert_eq!(location, store.url_of(REPORT_KEY));
    let page = String::from_utf8(store.get(REPORT_KEY).await.unwrap().data.to_vec()).unwrap();
    assert!(page.contains("20261122T060000Z-bbbb") && page.contains("id=\"problems\""));
}

#[test]
fn a_model_trained_on_a_sample_of_users_says_so_beside_its_counts() {
    let mut report = sample();
    report.models[1].hyper.train_user_share = 0.02;
    let models = page::render(&report);
    let models = section(&models, "models");
    assert!(models.contains("<td class=\"n\">100 <span class=\"muted\">(a 0.02 sample)</span></td>"), "{models}");
    assert_eq!(models.matches("sample)").count(), 1, "only the sampled model: {models}");
}

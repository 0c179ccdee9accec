//! `moovitamix report`'s page, opened in a real browser: headless Chromium (Debian's package,
//! installed by `tests/run.sh`) renders the page of a data folder the pipeline filled (three
//! dates, a second training), with every section and plot in the DOM, no console message, and no
//! request leaving the page. A screenshot is saved in the system's temporary folder.
//!
//! Skips without Chromium on a developer's machine; fails without it in CI.

use moovitamix::config::Config;
use moovitamix::fetch::Fetcher;
use moovitamix::recommend::request::Request;
use moovitamix::recommend::{Outcome, Recommender};
use moovitamix::report::{self, Destination};
use moovitamix::simulator::{RunningSimulator, SimulatorConfig};
use moovitamix::transform::Transformer;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// `MOOVITAMIX_CHROMIUM`, else `chromium` (Debian) or `chromium-browser` on PATH.
fn chromium() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("MOOVITAMIX_CHROMIUM") {
        return Some(path.into());
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths).flat_map(|dir| ["chromium", "chromium-browser"].map(|n| dir.join(n))).find(|p| p.is_file())
    })
}

/// What Chromium made of a page.
struct Rendered {
    dom: String,
    /// Lines the page wrote to its console (errors, warnings, logs).
    console: Vec<String>,
    /// Requests the page made beyond its own file (the browser's own background requests aside).
    requests: Vec<String>,
}

/// Opens `page` in headless Chromium: the DOM after rendering, console lines, the page's requests.
fn render(chromium: &Path, page: &Path, work: &Path) -> Rendered {
    let net_log = work.join("net-log.json");
    let output = Command::new(chromium)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update"])
        .arg(format!("--user-data-dir={}", work.join("profile").display()))
        .args(["--enable-logging=stderr", "--v=0"])
        .arg(format!("--log-net-log={}", net_log.display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .output()
        .expect("running chromium");
    assert!(output.status.success(), "chromium failed ({}):\n{}", output.status, String::from_utf8_lossy(&output.stderr));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let console = stderr.lines().filter(|l| l.contains(":CONSOLE")).map(str::to_owned).collect();
    // Requests the page started carry its (file, hence opaque: "null") origin as initiator;
    // the browser's own carry "not an origin".
    let log: Value = serde_json::from_slice(&std::fs::read(&net_log).expect("the net log")).expect("a net log is JSON");
    let requests = log["events"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| {
            let p = &e["params"];
            let url = p["url"].as_str()?;
            (p["initiator"].as_str().is_some_and(|i| i != "not an origin") && !url.starts_with("file://")).then(|| url.to_owned())
        })
        .collect();
    Rendered { dom: String::from_utf8_lossy(&output.stdout).into_owned(), console, requests }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_report_renders_in_chromium_with_every_section_and_nothing_from_outside() {
    let Some(chromium) = chromium() else {
        let reason = "no chromium on PATH (bash tests/run.sh installs Debian's)";
        assert!(!moovitamix_tests::required_by_environment(), "{reason}, and CI or MOOVITAMIX_TEST_AWS says the report test must run");
        println!("skipped: {reason}");
        return;
    };
    let work = tempfile::tempdir().unwrap();

    // The browser and the detectors work: a page with a console error and an outside image.
    let bad = work.path().join("bad.html");
    std::fs::write(&bad, "<!DOCTYPE html><html><body><p id=\"x\">x</p><script>console.error(\"boom\")</script><img src=\"http://example.invalid/a.png\"></body></html>").unwrap();
    let control = render(&chromium, &bad, &work.path().join("control"));
    assert!(control.dom.contains("<p id=\"x\">x</p>"), "{}", control.dom);
    assert!(control.console.iter().any(|l| l.contains("boom")), "the console detector missed an error: {:?}", control.console);
    assert!(control.requests.iter().any(|u| u.contains("example.invalid")), "the request detector missed one: {:?}", control.requests);

    // A data folder the pipeline filled: three dates (the first trains), then a second training.
    let data = tempfile::tempdir().unwrap();
    let data_url = data.path().to_str().unwrap().to_owned();
    let simulator = RunningSimulator::start(SimulatorConfig::default()).await.expect("starting the simulator");
    let config = Config::from_lookup(|k| match k {
        "SOURCE_API_URL" => Some(simulator.url()),
        "DATA_URL" => Some(data_url.clone()),
        "METRICS_BACKEND" => Some("log".into()),
        "PII_SALT" => Some("report-test".into()),
        _ => None,
    })
    .unwrap();
    let aws = moovitamix::aws::AwsConfig::new();
    let fetcher = Fetcher::from_config(&config, &aws).await.unwrap();
    let transformer = Transformer::from_config(&config, &aws).await.unwrap();
    let recommender = Recommender::from_config(&config, &aws).await;
    for date in ["2026-11-20", "2026-11-21", "2026-11-22"] {
        let date = date.parse().unwrap();
        simulator.control().set_date(date);
        fetcher.run(date, format!("fetch-{date}").as_str()).await.unwrap();
        transformer.run(date, format!("transform-{date}").as_str()).await.unwrap();
        recommender.run(Request::Score { date }, format!("recommend-{date}").as_str()).await.unwrap();
    }
    let Outcome::Train(second) = recommender.run(Request::Train { date: None, scheduled: false }, "train-2").await.unwrap() else { panic!("a train request answers a training") };
    simulator.shutdown().await;

    let store = moovitamix::storage::open(&config.data_url, &aws).await;
    let page = work.path().join("report.html");
    let (location, gathered) = report::write(store, &Destination::File(page.clone()), chrono::Utc::now()).await.unwrap();
    assert_eq!(location, page.display().to_string());
    assert_eq!(gathered.runs.len(), 9, "three stages of three dates");
    assert_eq!(gathered.models.len(), 2, "{:?}", gathered.models.iter().map(|m| &m.version).collect::<Vec<_>>());
    assert!(gathered.problems.is_empty(), "{:?}", gathered.problems);

    let shown = render(&chromium, &page, &work.path().join("report"));
    assert!(shown.console.is_empty(), "console messages: {:?}", shown.console);
    assert!(shown.requests.is_empty(), "the page requested {:?}", shown.requests);
    let dom = &shown.dom;
    for id in ["last-runs", "runs", "quality", "models", "gate", "top-tracks"] {
        assert!(dom.contains(&format!("<section id=\"{id}\"")), "no {id} section in the rendered page");
    }
    for stage in ["fetch", "transform", "recommend"] {
        assert!(dom.contains(&format!("<tr data-stage=\"{stage}\"><td>{stage}</td><td>2026-11-22</td>")), "last {stage} run is not 2026-11-22");
    }
    // One point per model on the candidate and baseline lines; the champion line has the second only.
    let ndcg = &dom[dom.find("<svg id=\"ndcg-plot\"").expect("the NDCG plot")..];
    let ndcg = &ndcg[..ndcg.find("</svg>").unwrap()];
    for (series, points) in [("candidate", 2), ("baseline (popularity)", 2), ("champion", 1)] {
        let group = &ndcg[ndcg.find(&format!("data-series=\"{series}\"")).unwrap_or_else(|| panic!("no {series} line"))..];
        assert_eq!(group[..group.find("</g>").unwrap()].matches("<circle").count(), points, "{series}");
    }
    assert!(dom.contains(&second.version), "the second model is listed");
    assert!(dom.contains(if second.promoted { "<strong>promoted</strong>" } else { "<strong>refused</strong>" }), "its decision is shown");
    let top = &dom[dom.find("<section id=\"top-tracks\"").unwrap()..];
    assert!(top.contains("On 2026-11-22") && top.matches("<tr>").count() >= 1 + moovitamix::report::TOP_TRACKS.min(5), "{top}");

    // A picture for a person, outside the repository.
    let shot = std::env::temp_dir().join("moovitamix-report-screenshot.png");
    let status = Command::new(&chromium)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--hide-scrollbars", "--window-size=1280,2200"])
        .arg(format!("--user-data-dir={}", work.path().join("shot-profile").display()))
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("running chromium");
    assert!(status.success() && std::fs::metadata(&shot).is_ok_and(|m| m.len() > 10_000), "no screenshot at {}", shot.display());
    println!("screenshot: {}", shot.display());
}

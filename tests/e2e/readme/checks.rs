//! What each README command must do, checked after it ran: the match on its [`Plan`], and the
//! console a person sees.

use super::session::{Output, Session, http_get, tail};
use super::{Dates, Plan};
use chrono::Utc;
use moovitamix_tests::readme;
use serde_json::Value;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

impl Session {
    pub(crate) fn step(&mut self, command: &readme::Command, plan: &Plan) {
        let text = command.text.as_str();
        match plan {
            Plan::Exempt(why) => println!("not run ({why}): {text}"),
            Plan::Run { dates } => {
                let today = Utc::now().date_naive();
                let out = self.succeed(text);
                let dates = match dates {
                    // The date the command took as today (a run across midnight may take the next).
                    Dates::Today => vec![if out.stdout.contains(&format!("{today} fetch")) { today } else { today.succ_opt().unwrap() }],
                    Dates::These(d) => d.clone(),
                };
                for date in &dates {
                    for (stage, zone) in [("fetch", "raw"), ("transform", "curated"), ("recommend", "recommendations")] {
                        assert!(out.stdout.contains(&format!("{date} {stage}  run ")), "`{text}`: no {stage} line for {date}:\n{}", out.stdout);
                        let manifest = self.data().join(format!("{zone}/_run/dt={date}/_manifest.json"));
                        assert!(manifest.is_file(), "`{text}`: {} was not committed", manifest.display());
                    }
                }
                check_console(&self.root, text, &out, true);
            }
            Plan::Train => {
                let out = self.succeed(text);
                assert!(out.stdout.contains("trained ") && (out.stdout.contains("; promoted:") || out.stdout.contains("; refused:")), "{}", out.stdout);
                for model in ["candidate", "baseline"] {
                    assert!(out.stdout.lines().any(|l| l.trim_start().starts_with(model)), "`{text}`: no {model} row:\n{}", out.stdout);
                }
                check_console(&self.root, text, &out, true);
            }
            Plan::Models => {
                let out = self.succeed(text);
                self.versions.clear();
                self.champion = None;
                for line in out.stdout.lines().skip_while(|l| !l.starts_with("version")).skip(1) {
                    let version = line.split_whitespace().next().unwrap_or_default().to_owned();
                    let card = self.data().join(format!("models/als/version={version}/model.json"));
                    assert!(card.is_file(), "`{text}` lists {version}, which has no {}", card.display());
                    if line.ends_with("<- champion") {
                        self.champion = Some(version.clone());
                    }
                    self.versions.push(version);
                }
                assert!(!self.versions.is_empty() && self.champion.is_some(), "`{text}`: no versions or no champion:\n{}", out.stdout);
                check_console(&self.root, text, &out, false);
            }
            Plan::Rollback => {
                // Another version than the champion, when there is one: the rollback then shows.
                let champion = self.champion.clone().expect("`models` runs before `rollback <version>` in the README");
                let version = self.versions.iter().find(|v| **v != champion).unwrap_or(&champion).clone();
                let out = self.succeed(&text.replace("<version>", &version));
                assert!(out.stdout.contains(&format!("champion: {version} (was {champion})")), "{}", out.stdout);
                let pointer: Value = serde_json::from_slice(&std::fs::read(self.data().join("models/als/champion.json")).unwrap()).unwrap();
                assert_eq!(pointer["version"], version.as_str());
                self.champion = Some(version);
            }
            Plan::Unpin => {
                let champion = self.champion.clone().expect("`rollback <version>` runs before `unpin` in the README");
                let out = self.succeed(text);
                assert!(out.stdout.contains(&format!("champion {champion} unpinned")), "`{text}`:\n{}", out.stdout);
                let pointer: Value = serde_json::from_slice(&std::fs::read(self.data().join("models/als/champion.json")).unwrap()).unwrap();
                assert_eq!((&pointer["version"], &pointer["pinned"]), (&Value::from(champion.as_str()), &Value::Bool(false)), "{pointer}");
            }
            Plan::Erase { user_id } => {
                let out = self.succeed(text);
                assert!(out.stdout.contains(&format!("erased users [{user_id}]")) && out.stdout.contains("date(s) rewritten"), "`{text}`:\n{}", out.stdout);
                check_console(&self.root, text, &out, false);
            }
            Plan::Report { out: path } => {
                let out = self.succeed(text);
                let page = match path {
                    Some(p) => self.root.join(p),
                    None => self.data().join(moovitamix::report::REPORT_KEY),
                };
                let said = out.stdout.lines().find_map(|l| l.strip_prefix("report: ")).unwrap_or_else(|| panic!("`{text}` does not say where:\n{}", out.stdout));
                let said = said.split("  (").next().unwrap().trim();
                assert_eq!(std::fs::canonicalize(self.root.join(said)).ok(), std::fs::canonicalize(&page).ok(), "`{text}` says {said}");
                let html = std::fs::read_to_string(&page).unwrap_or_else(|e| panic!("{}: {e}", page.display()));
                for id in ["last-runs", "runs", "quality", "models", "gate", "top-tracks"] {
                    assert!(html.contains(&format!("<section id=\"{id}\"")), "{}: no {id} section", page.display());
                }
                assert!(html.contains("<svg id=\"ndcg-plot\"") && !html.contains("id=\"problems\""), "{}", page.display());
                check_console(&self.root, text, &out, false);
            }
            Plan::Help => {
                let out = self.succeed(text);
                for sub in ["run", "train", "models", "rollback", "report", "simulate", "bench"] {
                    assert!(out.stdout.lines().any(|l| l.trim_start().starts_with(sub)), "`{text}`: no {sub}:\n{}", out.stdout);
                }
            }
            Plan::Simulator { listen } => {
                self.start(text, *listen, Duration::from_secs(900));
                let page = http_get(*listen, "/tracks?page=1&size=1");
                assert!(page.lines().next().is_some_and(|l| l.ends_with(" 200 OK")) && page.contains("\"total\""), "`{text}`: GET /tracks answered:\n{page}");
            }
            Plan::Emulator { port } => self.start(text, SocketAddr::from(([127, 0, 0, 1], *port)), Duration::from_secs(120)),
            Plan::Invoke { function, event } => {
                let out = self.succeed(text);
                let answer: Value = serde_json::from_str(out.stdout.trim()).unwrap_or_else(|e| panic!("`{text}` answered no JSON ({e}):\n{}\n{}", out.stdout, tail(&out.stderr)));
                let sent: Value = serde_json::from_str(&std::fs::read_to_string(self.root.join(event)).unwrap()).unwrap();
                let date = sent["date"].as_str().map(|d| d[..10].to_owned()).unwrap_or_else(|| panic!("{event} names no date"));
                assert_eq!(answer["date"], date.as_str(), "`{text}`: {answer:#}");
                let zone = match function.as_str() {
                    "fetch" => "raw",
                    "transform" => "curated",
                    "recommend" => "recommendations",
                    other => panic!("`{text}`: no function {other}"),
                };
                let manifest = self.data().join(format!("{zone}/_run/dt={date}/_manifest.json"));
                let committed: Value = serde_json::from_slice(&std::fs::read(&manifest).unwrap_or_else(|e| panic!("`{text}`: {}: {e}", manifest.display()))).unwrap();
                assert_eq!(committed["run_id"], answer["run_id"], "`{text}`: the committed run is not the one that answered");
            }
        }
    }
}

/// The console a person sees: summary lines, warnings; no info log lines, no metrics dump, and
/// the full log in the file the command names.
fn check_console(root: &Path, text: &str, out: &Output, metrics_logged: bool) {
    for line in out.stderr.lines() {
        assert!(!line.contains(" INFO ") && !line.contains("metrics"), "`{text}` logged on the terminal: {line}");
    }
    for line in out.stdout.lines() {
        assert!(line.len() <= 400, "`{text}`: a line of {} characters: {line}", line.len());
    }
    let log = out.stdout.lines().find_map(|l| l.strip_prefix("log:")).unwrap_or_else(|| panic!("`{text}` names no log file:\n{}", out.stdout));
    let log = std::fs::read_to_string(root.join(log.trim())).unwrap_or_else(|e| panic!("`{text}`: log file {}: {e}", log.trim()));
    if metrics_logged {
        assert!(log.contains(" INFO ") && log.contains("metrics"), "`{text}`: the run's log and metrics are not in the log file:\n{}", tail(&log));
    }
}

//! Every command the README gives a user, run as written on a fresh copy of the repository, and
//! checked against what the README says it does.
//!
//! The commands are the README's `sh` blocks ([`moovitamix_tests::readme`]), in order, in one copy
//! of the working tree (tracked and untracked-not-ignored files, so uncommitted changes are
//! included), from its root, in a shell environment without the pipeline's variables. The build
//! is shared with the checkout (`CARGO_TARGET_DIR`); the command text is the README's.
//!
//! [`plan`] is the table of what each command must produce: a command it does not know fails the
//! test, so a new README command needs a check here (one match arm). Not run, with their reasons:
//! the few commands in [`EXEMPT`], and blocks marked `# not run by the tests:` in the README,
//! which may only hold commands that need an AWS account ([`AWS_ACCOUNT_COMMANDS`]).
//!
//! Needs `cargo lambda` (the README's cargo-lambda section): skips without it on a developer's
//! machine, fails without it in CI.

use chrono::{NaiveDate, Utc};
use moovitamix_tests::readme::{self, Block};
use serde_json::Value;
use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Commands not run, each with why.
const EXEMPT: &[(&str, &str)] = &[
    ("bash tests/run.sh", "it is the command that runs this test"),
    ("pip install cargo-lambda ziglang", "installs tools from PyPI: the test uses the ones tests/run.sh installed"),
];

/// What a block marked as not run may hold: commands that need an AWS account.
const AWS_ACCOUNT_COMMANDS: &[&str] = &["aws ", "sam "];

/// A foreground command's time limit: the first `cargo run --release` builds the local command
/// in release from cold (no other CI step builds x86-64 release), 25 minutes on a busy 2-core
/// machine.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(3600);

/// What running one README command must show.
#[derive(Debug, Clone, PartialEq)]
enum Plan {
    /// `cargo run --release -- run [--date D | --from A --to B]`: the three stages of each date.
    Run { dates: Dates },
    /// `cargo run --release -- train`: a model trained, evaluated and gated.
    Train,
    /// `cargo run --release -- models`: the stored versions and the champion.
    Models,
    /// `cargo run --release -- rollback <version>`: `<version>` is one that `models` listed.
    Rollback,
    /// `cargo run --release -- unpin`: the champion set by the rollback is no longer pinned.
    Unpin,
    /// `cargo run --release -- erase --user-id N`: the erasure runs and says what it rewrote.
    Erase { user_id: i64 },
    /// `cargo run --release -- report [--out PATH]`: the page, where it says.
    Report { out: Option<String> },
    /// `cargo run --release -- --help`: the commands.
    Help,
    /// `cargo run --release -- simulate [--listen ADDR] &`: a source API on ADDR.
    Simulator { listen: SocketAddr },
    /// `cargo lambda watch ... -P PORT ... &`: one emulator for the three functions.
    Emulator { port: u16 },
    /// `cargo lambda invoke <function> ... --data-file EVENT`: the function's answer, its commit.
    Invoke { function: String, event: String },
    Exempt(&'static str),
}

#[derive(Debug, Clone, PartialEq)]
enum Dates {
    Today,
    These(Vec<NaiveDate>),
}

/// The check table: one arm per kind of README command.
fn plan(command: &readme::Command) -> Result<Plan, String> {
    if let Some((_, why)) = EXEMPT.iter().find(|(c, _)| *c == command.text) {
        return Ok(Plan::Exempt(why));
    }
    let words = readme::words(&command.text);
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    let date = |s: &str| s.parse::<NaiveDate>().map_err(|e| format!("`{s}` is not a date: {e}"));
    let plan = match words.as_slice() {
        ["cargo", "run", "--release", "--", rest @ ..] => match rest {
            ["run"] => Plan::Run { dates: Dates::Today },
            ["run", "--date", d] => Plan::Run { dates: Dates::These(vec![date(d)?]) },
            // The fan-out runner commits the same three stages per date (tests/e2e/fanout.rs proves the rows equal).
            ["run", "--date", d, "--buckets", _, "--workers", _] => Plan::Run { dates: Dates::These(vec![date(d)?]) },
            ["run", "--from", a, "--to", b] => {
                let (a, b) = (date(a)?, date(b)?);
                Plan::Run { dates: Dates::These(a.iter_days().take_while(|d| *d <= b).collect()) }
            }
            ["train"] => Plan::Train,
            ["models"] => Plan::Models,
            ["rollback", "<version>"] => Plan::Rollback,
            ["unpin"] => Plan::Unpin,
            ["erase", "--user-id", id] => Plan::Erase { user_id: id.parse().map_err(|e| format!("`{id}` is not a user id: {e}"))? },
            ["report"] => Plan::Report { out: None },
            ["report", "--out", path] => Plan::Report { out: Some(path.to_string()) },
            ["--help"] => Plan::Help,
            ["simulate"] => Plan::Simulator { listen: "127.0.0.1:8000".parse().unwrap() },
            ["simulate", "--listen", addr] => Plan::Simulator { listen: addr.parse().map_err(|e| format!("{addr}: {e}"))? },
            _ => return Err("a local command the test has no check for".into()),
        },
        ["cargo", "lambda", "watch", args @ ..] => {
            let port = args.windows(2).find(|w| w[0] == "-P").map(|w| w[1]).ok_or("watch without -P PORT")?;
            Plan::Emulator { port: port.parse().map_err(|e| format!("{port}: {e}"))? }
        }
        ["cargo", "lambda", "invoke", function, args @ ..] => {
            let event = args.windows(2).find(|w| w[0] == "--data-file").map(|w| w[1]).ok_or("invoke without --data-file")?;
            Plan::Invoke { function: function.to_string(), event: event.to_string() }
        }
        _ => return Err("a command the test has no check for".into()),
    };
    if command.background != matches!(plan, Plan::Simulator { .. } | Plan::Emulator { .. }) {
        return Err(format!("{} in the background", if command.background { "must not run" } else { "must run" }));
    }
    Ok(plan)
}

/// The README's commands with their plans; every command without a check, every block marked as
/// not run that holds something other than AWS-account commands, is an error.
fn planned(blocks: &[Block]) -> Result<Vec<(readme::Command, Plan)>, Vec<String>> {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for block in blocks {
        let at = format!("README.md:{} ({})", block.line, block.section);
        if let Some(why) = &block.unchecked {
            if why.is_empty() {
                errors.push(format!("{at}: a block not run by the tests must say why"));
            }
            for c in &block.commands {
                if !AWS_ACCOUNT_COMMANDS.iter().any(|p| c.text.starts_with(p)) {
                    errors.push(format!("{at}: `{}` is in a block marked as not run, but needs no AWS account: run it (a check in tests/e2e/readme.rs)", c.text));
                }
            }
            continue;
        }
        for c in &block.commands {
            match plan(c) {
                Ok(p) => out.push((c.clone(), p)),
                Err(why) => errors.push(format!("{at}: `{}`: {why}; add its check to `plan` in tests/e2e/readme.rs", c.text)),
            }
        }
    }
    if errors.is_empty() { Ok(out) } else { Err(errors) }
}

#[test]
fn every_readme_command_has_a_check() {
    let text = std::fs::read_to_string(readme::path(&moovitamix_tests::events::workspace_root())).expect("README.md");
    let untagged = readme::untagged(&text);
    assert!(untagged.is_empty(), "README blocks whose commands the tests would not see:\n{}", untagged.join("\n"));
    let planned = planned(&readme::blocks(&text)).unwrap_or_else(|errors| panic!("README commands without a check:\n{}", errors.join("\n")));
    // The README's paths a user is promised: the issue's list, so a section cannot silently drop one.
    let has = |f: &dyn Fn(&Plan) -> bool| planned.iter().any(|(_, p)| f(p));
    assert!(has(&|p| *p == Plan::Run { dates: Dates::Today }), "the run of today");
    assert!(has(&|p| matches!(p, Plan::Run { dates: Dates::These(d) } if d.len() == 1)), "run --date");
    assert!(has(&|p| matches!(p, Plan::Run { dates: Dates::These(d) } if d.len() > 1)), "run --from --to");
    for (name, wanted) in [("train", Plan::Train), ("models", Plan::Models), ("rollback", Plan::Rollback)] {
        assert!(has(&|p| *p == wanted), "{name}");
    }
    assert!(has(&|p| matches!(p, Plan::Report { .. })), "report");
    assert!(has(&|p| matches!(p, Plan::Simulator { .. })), "simulate");
    assert!(has(&|p| matches!(p, Plan::Emulator { .. })), "cargo lambda watch");
    for function in ["fetch", "transform", "recommend"] {
        assert!(has(&|p| matches!(p, Plan::Invoke { function: f, .. } if f == function)), "cargo lambda invoke {function}");
    }
}

#[test]
fn a_command_without_a_check_fails_the_plan() {
    let blocks = readme::blocks("## S\n\n```sh\ncargo run --release -- run\nrm -rf data   # new\n```\n\n```sh\n# not run by the tests: needs an AWS account\naws s3 ls\ncargo run --release -- models\n```\n");
    let errors = planned(&blocks).expect_err("two commands have no check");
    assert_eq!(errors.len(), 2, "{errors:#?}");
    assert!(errors[0].contains("`rm -rf data`") && errors[1].contains("`cargo run --release -- models`"), "{errors:#?}");
}

#[test]
fn every_readme_command_works_as_written() {
    if !moovitamix_tests::lambda::cargo_lambda_available() {
        let reason = "`cargo lambda` is not on PATH (bash tests/run.sh installs it into .tools/)";
        assert!(!moovitamix_tests::required_by_environment(), "{reason}, and CI or MOOVITAMIX_TEST_AWS says every README command must run");
        println!("skipped: {reason}");
        return;
    }
    let checkout = moovitamix_tests::events::workspace_root();
    let text = std::fs::read_to_string(readme::path(&checkout)).expect("README.md");
    let planned = planned(&readme::blocks(&text)).unwrap_or_else(|errors| panic!("{}", errors.join("\n")));
    let copy = fresh_copy(&checkout);
    let mut session = Session::new(copy.path(), &checkout);
    let started = Instant::now();
    for (command, plan) in &planned {
        let t0 = Instant::now();
        session.step(command, plan);
        if !matches!(plan, Plan::Exempt(_)) {
            println!("ok  {:>6.1}s  {}", t0.elapsed().as_secs_f64(), command.text);
        }
    }
    println!("every README command: {:.1}s", started.elapsed().as_secs_f64());
}

/// A copy of the checkout's tracked and untracked-not-ignored files.
fn fresh_copy(checkout: &Path) -> tempfile::TempDir {
    let listed = Command::new("git")
        .current_dir(checkout)
        .args(["ls-files", "-z", "--cached", "--others", "--exclude-standard"])
        .output()
        .expect("git ls-files");
    assert!(listed.status.success(), "git ls-files: {}", String::from_utf8_lossy(&listed.stderr));
    let copy = tempfile::Builder::new().prefix("moovitamix-readme-").tempdir().expect("a temporary folder");
    for name in listed.stdout.split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let name = std::str::from_utf8(name).expect("UTF-8 file names");
        let from = checkout.join(name);
        if !from.is_file() {
            continue; // deleted in the working tree
        }
        let to = copy.path().join(name);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(&from, &to).unwrap_or_else(|e| panic!("copying {name}: {e}"));
    }
    copy
}

/// The state carried from one command to the next, and the background processes.
struct Session {
    root: PathBuf,
    target: PathBuf,
    /// The background commands' output (stdout and stderr together).
    logs: tempfile::TempDir,
    background: Vec<(String, Child, PathBuf)>,
    /// Versions and champion as the last `models` listed them.
    versions: Vec<String>,
    champion: Option<String>,
}

/// What a finished command printed.
struct Output {
    status: std::process::ExitStatus,
    stdout: String,
    stderr: String,
}

impl Session {
    fn new(root: &Path, checkout: &Path) -> Self {
        let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| checkout.join("target"));
        let logs = tempfile::Builder::new().prefix("moovitamix-readme-logs-").tempdir().expect("a temporary folder");
        Self { root: root.to_path_buf(), target, logs, background: Vec::new(), versions: Vec::new(), champion: None }
    }

    /// `bash -c <text>` from the copy's root, in a user's environment: none of the pipeline's
    /// variables, nor the test set-up's AWS ones, but the shared build folder.
    fn command(&self, text: &str) -> Command {
        let mut c = Command::new("bash");
        c.current_dir(&self.root).args(["-c", text]).stdin(Stdio::null());
        for (key, _) in std::env::vars_os() {
            let key = key.to_string_lossy().into_owned();
            let pipeline = moovitamix::config::variables().any(|v| v.name == key);
            if pipeline || key.starts_with("AWS_") || key.starts_with("MOOVITAMIX_") || key == "RUST_LOG" || key == "CI" {
                c.env_remove(&key);
            }
        }
        for key in moovitamix_tests::cargo_test_variables() {
            c.env_remove(key);
        }
        c.env("CARGO_TARGET_DIR", &self.target);
        std::os::unix::process::CommandExt::process_group(&mut c, 0);
        c
    }

    fn run(&self, text: &str) -> Output {
        let logs = tempfile::tempdir().unwrap();
        let (out_path, err_path) = (logs.path().join("stdout"), logs.path().join("stderr"));
        let mut child = self
            .command(text)
            .stdout(std::fs::File::create(&out_path).unwrap())
            .stderr(std::fs::File::create(&err_path).unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("`{text}`: {e}"));
        let started = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if started.elapsed() > COMMAND_TIMEOUT {
                stop(&mut child);
                panic!("`{text}` did not finish within {COMMAND_TIMEOUT:?}; stderr:\n{}", tail(&std::fs::read_to_string(&err_path).unwrap_or_default()));
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
        Output { status, stdout: read(&out_path), stderr: read(&err_path) }
    }

    /// Runs a foreground command and checks that it succeeded.
    fn succeed(&self, text: &str) -> Output {
        let out = self.run(text);
        assert!(out.status.success(), "`{text}` failed ({}):\n--- stdout ---\n{}\n--- stderr ---\n{}", out.status, tail(&out.stdout), tail(&out.stderr));
        out
    }

    fn data(&self) -> PathBuf {
        self.root.join("data")
    }

    fn step(&mut self, command: &readme::Command, plan: &Plan) {
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

    /// Starts a background command and waits until `addr` accepts connections.
    fn start(&mut self, text: &str, addr: SocketAddr, ready_within: Duration) {
        assert!(TcpStream::connect(addr).is_err(), "`{text}`: {addr} is already taken by another program; free it to run this test");
        // Outside the copy: `cargo lambda watch` rebuilds the functions whenever a file of the
        // folder it watches changes, and its own build output would restart its build forever.
        let log = self.logs.path().join(format!("background-{}.log", self.background.len()));
        let file = std::fs::File::create(&log).unwrap();
        let child = self.command(text).stdout(file.try_clone().unwrap()).stderr(file).spawn().unwrap_or_else(|e| panic!("`{text}`: {e}"));
        self.background.push((text.to_owned(), child, log.clone()));
        let started = Instant::now();
        while TcpStream::connect(addr).is_err() {
            let (_, child, _) = self.background.last_mut().unwrap();
            if let Some(status) = child.try_wait().unwrap() {
                panic!("`{text}` exited ({status}):\n{}", tail(&std::fs::read_to_string(&log).unwrap_or_default()));
            }
            assert!(started.elapsed() < ready_within, "`{text}`: nothing on {addr} after {ready_within:?}:\n{}", tail(&std::fs::read_to_string(&log).unwrap_or_default()));
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        for (text, child, log) in self.background.iter_mut().rev() {
            stop(child);
            if std::thread::panicking() {
                eprintln!("--- background `{text}` ---\n{}", tail(&std::fs::read_to_string(log).unwrap_or_default()));
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

fn stop(child: &mut Child) {
    let group = format!("-{}", child.id());
    let _ = Command::new("kill").args(["-TERM", "--", &group]).stderr(Stdio::null()).status();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = Command::new("kill").args(["-KILL", "--", &group]).stderr(Stdio::null()).status();
    let _ = child.wait();
}

fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(60)..].join("\n")
}

/// A plain HTTP/1.0 GET, answered whole.
fn http_get(addr: SocketAddr, path: &str) -> String {
    use std::io::Write;
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer
}

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
//! The commands run in a [`session::Session`] (a user's shell on the copy); what each plan must
//! show is checked in [`checks`].
//!
//! Needs `cargo lambda` (the README's cargo-lambda section): skips without it on a developer's
//! machine, fails without it in CI.

#[path = "readme/checks.rs"]
mod checks;
#[path = "readme/session.rs"]
mod session;

use chrono::NaiveDate;
use moovitamix_tests::readme::{self, Block};
use session::{Session, fresh_copy};
use std::net::SocketAddr;
use std::time::Instant;

/// Commands not run, each with why.
const EXEMPT: &[(&str, &str)] = &[
    ("bash tests/run.sh", "it is the command that runs this test"),
    ("pip install cargo-lambda ziglang", "installs tools from PyPI: the test uses the ones tests/run.sh installed"),
];

/// What a block marked as not run may hold: commands that need an AWS account.
const AWS_ACCOUNT_COMMANDS: &[&str] = &["aws ", "sam "];

/// What running one README command must show.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Plan {
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
pub(crate) enum Dates {
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

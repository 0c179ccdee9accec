//! cargo-lambda's Lambda emulator as a child process: `cargo lambda watch` on a free loopback
//! port, and `cargo lambda invoke` of a function with a sample event through it.
//!
//! ```no_run
//! # async fn demo() -> Result<(), moovitamix_tests::lambda::LambdaError> {
//! use moovitamix_tests::{events::event_path, lambda::LambdaEmulator};
//! let Some(emulator) = LambdaEmulator::start("fetch", &[("DATA_URL", "/tmp/data")]).await? else { return Ok(()) };
//! let summary = emulator.invoke("fetch", &event_path("fetch-manual.json")).await?;
//! # let _ = summary; Ok(()) }
//! ```
//!
//! The emulator runs from the workspace root as the README's command does, so one emulator serves
//! every function: watch runs a function as `cargo run --bin <name>`, which the workspace's
//! default members (the common crate and the three functions) resolve. The binary is built
//! lazily, in debug, on the first invoke; `tests/run.sh` builds it beforehand
//! (`cargo build --bin fetch --bin transform --bin recommend` from the root, the same build) so
//! that no cold build runs under a test timeout.

use std::fs::File;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// How long `start` waits for the emulator to accept connections.
const READY_TIMEOUT: Duration = Duration::from_secs(120);

/// How long one invoke may take by default (it may include the function's debug build):
/// `MOOVITAMIX_LAMBDA_INVOKE_TIMEOUT` (seconds) overrides it.
const DEFAULT_INVOKE_TIMEOUT: Duration = Duration::from_secs(900);

#[derive(Debug, thiserror::Error)]
pub enum LambdaError {
    #[error("no function package `{function}`: {} does not exist", .manifest.display())]
    NoSuchFunction { function: String, manifest: PathBuf },
    #[error("could not run `cargo lambda {what}`: {source}")]
    Spawn {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("`cargo lambda watch` exited ({status}) before accepting connections; its output:\n{log}")]
    Exited { status: ExitStatus, log: String },
    #[error("`cargo lambda watch` did not accept connections on 127.0.0.1:{port} within {waited:?}; its output:\n{log}")]
    NotReady { port: u16, waited: Duration, log: String },
    #[error("invoking `{function}` with {} failed ({status}): {stderr}", .event.display())]
    Invoke { function: String, event: PathBuf, status: ExitStatus, stderr: String },
    #[error("invoking `{function}` did not finish within {waited:?}")]
    Timeout { function: String, waited: Duration },
    #[error("`{function}` answered something that is not JSON ({source}): {stdout}")]
    NotJson {
        function: String,
        stdout: String,
        #[source]
        source: serde_json::Error,
    },
}

/// True when `cargo lambda --version` runs.
pub fn cargo_lambda_available() -> bool {
    Command::new("cargo")
        .args(["lambda", "--version"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// A running `cargo lambda watch`; dropping it stops the emulator and the functions it started.
#[derive(Debug)]
pub struct LambdaEmulator {
    child: Child,
    port: u16,
    log_path: PathBuf,
    _log_dir: tempfile::TempDir,
}

impl LambdaEmulator {
    /// Starts `cargo lambda watch -A 127.0.0.1 -P <free port>` from the workspace root (it serves
    /// every function; `function` names the one the caller will invoke, which must exist), passing
    /// `env` to the functions as `--env-var K=V`, and waits until it accepts connections.
    ///
    /// `Ok(None)` (after printing why) when `cargo lambda` is missing and neither `CI` nor
    /// `MOOVITAMIX_TEST_AWS` is set; when one of them is, a missing `cargo lambda` panics.
    pub async fn start(function: &str, env: &[(&str, &str)]) -> Result<Option<Self>, LambdaError> {
        if !cargo_lambda_available() {
            let reason = "`cargo lambda` is not on PATH (bash tests/run.sh installs it into .tools/)";
            if crate::required_by_environment() {
                panic!("{reason}, and CI or MOOVITAMIX_TEST_AWS says the cargo-lambda tests must run");
            }
            println!("skipped: {reason}");
            return Ok(None);
        }
        let root = crate::events::workspace_root();
        let manifest = root.join("functions").join(function).join("Cargo.toml");
        if !manifest.is_file() {
            return Err(LambdaError::NoSuchFunction { function: function.to_owned(), manifest });
        }
        let port = free_port();
        let log_dir = tempfile::tempdir().map_err(|source| LambdaError::Spawn { what: "watch", source })?;
        let log_path = log_dir.path().join("watch.log");
        let log = File::create(&log_path).map_err(|source| LambdaError::Spawn { what: "watch", source })?;
        let log_err = log.try_clone().map_err(|source| LambdaError::Spawn { what: "watch", source })?;

        let mut command = Command::new("cargo");
        command
            .current_dir(&root)
            .args(["lambda", "watch", "--ignore-changes", "-A", "127.0.0.1", "-P", &port.to_string()])
            .args(["--timeout", &invoke_timeout().as_secs().to_string()])
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err);
        for (key, value) in env {
            command.arg("--env-var").arg(format!("{key}={value}"));
        }
        for key in crate::cargo_test_variables() {
            command.env_remove(key);
        }
        // Its own process group, so that drop can stop it and everything it started.
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let child = command.spawn().map_err(|source| LambdaError::Spawn { what: "watch", source })?;
        let mut emulator = LambdaEmulator { child, port, log_path, _log_dir: log_dir };

        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = emulator.child.try_wait() {
                return Err(LambdaError::Exited { status, log: emulator.log() });
            }
            if TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_ok() {
                return Ok(Some(emulator));
            }
            if started.elapsed() > READY_TIMEOUT {
                return Err(LambdaError::NotReady { port, waited: READY_TIMEOUT, log: emulator.log() });
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The port the emulator listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// What the emulator and the functions it ran have printed so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// `cargo lambda invoke <function> --data-file <event_file>` through this emulator; the
    /// function's JSON response, or its error with what `cargo lambda invoke` printed.
    pub async fn invoke(&self, function: &str, event_file: &Path) -> Result<serde_json::Value, LambdaError> {
        let waited = invoke_timeout();
        let port = self.port.to_string();
        let mut command = tokio::process::Command::new("cargo");
        command
            .current_dir(crate::events::workspace_root())
            .args(["lambda", "invoke", function, "-A", "127.0.0.1", "-P", &port, "-o", "json", "--data-file"])
            .arg(event_file)
            .stdin(Stdio::null())
            .kill_on_drop(true);
        let output = tokio::time::timeout(waited, command.output())
            .await
            .map_err(|_| LambdaError::Timeout { function: function.to_owned(), waited })?
            .map_err(|source| LambdaError::Spawn { what: "invoke", source })?;
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        if !output.status.success() {
            let mut stderr = String::from_utf8_lossy(&output.stderr).trim().to_owned();
            if stderr.is_empty() {
                stderr = stdout.trim().to_owned();
            }
            return Err(LambdaError::Invoke {
                function: function.to_owned(),
                event: event_file.to_path_buf(),
                status: output.status,
                stderr,
            });
        }
        serde_json::from_str(stdout.trim()).map_err(|source| LambdaError::NotJson {
            function: function.to_owned(),
            stdout,
            source,
        })
    }
}

impl Drop for LambdaEmulator {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        // SIGTERM lets watch stop the functions it runs (their own process groups) and exit.
        let _ = Command::new("kill").args(["-TERM", "--", &group]).stderr(Stdio::null()).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = Command::new("kill").args(["-KILL", "--", &group]).stderr(Stdio::null()).status();
        let _ = self.child.wait();
    }
}

fn invoke_timeout() -> Duration {
    std::env::var("MOOVITAMIX_LAMBDA_INVOKE_TIMEOUT")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_INVOKE_TIMEOUT)
}

/// A TCP port free on 127.0.0.1 right now (the OS picks it).
pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("binding 127.0.0.1:0")
}

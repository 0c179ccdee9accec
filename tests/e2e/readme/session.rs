//! The README's commands run as a user runs them: from the root of a fresh copy of the checkout,
//! in a shell without the pipeline's variables, background commands stopped (and their output
//! shown on a failure) when the session ends.

use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A foreground command's time limit: the first `cargo run --release` builds the local command
/// in release from cold (no other CI step builds x86-64 release), 25 minutes on a busy 2-core
/// machine.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(3600);

/// A copy of the checkout's tracked and untracked-not-ignored files.
pub(crate) fn fresh_copy(checkout: &Path) -> tempfile::TempDir {
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
pub(crate) struct Session {
    pub(crate) root: PathBuf,
    target: PathBuf,
    /// The background commands' output (stdout and stderr together).
    logs: tempfile::TempDir,
    background: Vec<(String, Child, PathBuf)>,
    /// Versions and champion as the last `models` listed them.
    pub(crate) versions: Vec<String>,
    pub(crate) champion: Option<String>,
}

/// What a finished command printed.
pub(crate) struct Output {
    pub(crate) status: std::process::ExitStatus,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Session {
    pub(crate) fn new(root: &Path, checkout: &Path) -> Self {
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
    pub(crate) fn succeed(&self, text: &str) -> Output {
        let out = self.run(text);
        assert!(out.status.success(), "`{text}` failed ({}):\n--- stdout ---\n{}\n--- stderr ---\n{}", out.status, tail(&out.stdout), tail(&out.stderr));
        out
    }

    pub(crate) fn data(&self) -> PathBuf {
        self.root.join("data")
    }
    /// Starts a background command and waits until `addr` accepts connections.
    pub(crate) fn start(&mut self, text: &str, addr: SocketAddr, ready_within: Duration) {
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

pub(crate) fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(60)..].join("\n")
}

/// A plain HTTP/1.0 GET, answered whole.
pub(crate) fn http_get(addr: SocketAddr, path: &str) -> String {
    use std::io::Write;
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer
}

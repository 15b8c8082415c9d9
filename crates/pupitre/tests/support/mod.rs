//! What the binary's tests share: a `pupitre serve` child process and an HTTP client.
#![allow(dead_code, reason = "each test file uses its own part of this")]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_pupitre");

/// A running `pupitre serve`, stopped with SIGTERM when dropped.
pub struct Server {
    pub child: Child,
    pub base: String,
    pub lines: Vec<String>,
}

impl Server {
    pub fn start(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Server {
        let mut cmd = Command::new(BIN);
        cmd.arg("serve")
            .args(args)
            .current_dir(dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        cmd.env("PUPITRE_LISTEN", "127.0.0.1:0")
            .env_remove("PUPITRE_ADMIN_PASSWORD");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let mut reader = BufReader::new(child.stdout.take().unwrap());
        let mut lines = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        let base = loop {
            let mut line = String::new();
            assert!(
                reader.read_line(&mut line).unwrap() > 0,
                "pupitre exited early: {lines:?}"
            );
            if let Some(addr) = line.trim().strip_prefix("pupitre listening on ") {
                break addr.to_owned();
            }
            lines.push(line.trim().to_owned());
            assert!(Instant::now() < deadline, "no listening line");
        };
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in reader.lines() {});
        Server { child, base, lines }
    }

    pub fn stop(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "pupitre did not stop within 20 s of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

pub fn client() -> reqwest::Client {
    // reqwest is built with `rustls-no-provider` (for the HTTP probe), so a client needs a
    // crypto provider installed first, even for plain http.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// An API token for `admin`, made with `pupitre admin tokens create` in the server's
/// directory.
pub fn admin_token(dir: &Path, name: &str) -> String {
    let out = Command::new(BIN)
        .args([
            "admin", "tokens", "create", "--login", "admin", "--name", name,
        ])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

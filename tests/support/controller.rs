//! A `tug controller` child process: its logs, its endpoints, its end.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::Stdio;
use std::time::{Duration, Instant};

use super::Tug;

/// GET over plain HTTP/1.1; (status, body).
pub fn get(address: &str, path: &str) -> (u16, String) {
    let Ok(mut stream) = TcpStream::connect(address) else {
        return (0, String::new());
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    );
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// Polls `probe` every 100 ms for at most `limit` (a bound on waiting, not a timing assertion).
pub fn eventually(limit: Duration, mut probe: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if probe() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

/// A `tug controller` process logging JSON (the caller passes `--log-format json` and a
/// `--listen` address), found by the address it logs.
pub struct Controller {
    pub child: std::process::Child,
    pub address: String,
    logs: std::sync::mpsc::Receiver<String>,
    /// Every log line read so far.
    pub seen: Vec<String>,
}

impl Controller {
    /// Starts `tug controller ARGS` with `env` added, and waits until it serves.
    pub fn start(tug: &Tug, args: &[&str], env: &[(&'static str, String)]) -> Self {
        let mut child = tug
            .command()
            .arg("controller")
            .args(args)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("controller starts");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, logs) = std::sync::mpsc::channel::<String>();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut controller = Self {
            child,
            address: String::new(),
            logs,
            seen: Vec::new(),
        };
        let found = eventually(Duration::from_secs(30), || {
            controller.drain();
            !controller.address.is_empty()
        });
        assert!(found, "no listening address logged: {:?}", controller.seen);
        controller
    }

    /// Takes the log lines written so far.
    pub fn drain(&mut self) {
        while let Ok(line) = self.logs.try_recv() {
            if let Ok(event) = serde_json::from_str::<serde_json::Value>(&line)
                && let Some(a) = event["fields"]["address"].as_str()
            {
                self.address = a.to_owned();
            }
            self.seen.push(line);
        }
    }

    /// Whether a line logged so far contains `words`.
    pub fn logged(&mut self, words: &str) -> bool {
        self.drain();
        self.seen.iter().any(|l| l.contains(words))
    }

    /// A metric's value as `/metrics` shows it now (`name` with its labels, as printed).
    pub fn metric(&self, name: &str) -> Option<f64> {
        let (_, body) = get(&self.address, "/metrics");
        body.lines()
            .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
    }

    /// SIGKILL: no goodbye.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then its exit code (-1 if it had to be killed after 30 s).
    pub fn terminate(mut self) -> i32 {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(30) {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code().unwrap_or(-1);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        -1
    }
}

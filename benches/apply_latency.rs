//! Benchmark: apply-to-first-action latency of the daemon (issue 4, target < 1 s): how long after
//! `tug apply` returns the running `tug controller --cloud sim` has acted on the new stack (its
//! first decision saved in the store). Prints figures; asserts nothing about time.
//!
//! Run with `cargo bench --bench apply_latency`.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::report;

const TRIALS: usize = 8;

fn main() {
    let temp = tempfile::tempdir().expect("temporary directory");
    let store = format!("file://{}", temp.path().join("store").display());
    let tug = env!("CARGO_BIN_EXE_tug");
    let root = env!("CARGO_MANIFEST_DIR");
    let mut controller = Command::new(tug)
        .args([
            "controller",
            "--cloud",
            "sim",
            "--listen",
            "127.0.0.1:0",
            "--resync",
            "30s",
        ])
        .env("TUG_STORE", &store)
        .env("RUST_LOG", "info")
        .current_dir(root)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("controller starts");
    // Wait until it serves (its first pass over an empty store is done right after).
    let stderr = controller.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    for line in lines.by_ref().map_while(Result::ok) {
        if line.contains("serving /metrics") {
            break;
        }
    }
    std::thread::spawn(move || for _ in lines {});
    std::thread::sleep(Duration::from_secs(2));

    let mut latencies = Vec::new();
    for trial in 0..TRIALS {
        let stack = std::fs::read_to_string(format!("{root}/manifests/fargate-test1.yaml"))
            .expect("example")
            .replace("name: fargate-test1", &format!("name: latency-{trial}"))
            .replace("test1Service", &format!("latency{trial}Service"));
        let path = temp.path().join(format!("latency-{trial}.yaml"));
        std::fs::write(&path, stack).expect("write");
        let memory = temp.path().join(format!(
            "store/memory/latency-{trial}/latency{trial}Service.json"
        ));
        let applied = Command::new(tug)
            .args(["apply", "-f"])
            .arg(&path)
            .env("TUG_STORE", &store)
            .output()
            .expect("apply");
        assert!(
            applied.status.success(),
            "{}",
            String::from_utf8_lossy(&applied.stderr)
        );
        let start = Instant::now();
        while !memory.exists() && start.elapsed() < Duration::from_secs(60) {
            std::thread::sleep(Duration::from_millis(5));
        }
        latencies.push(start.elapsed());
        // Let the next apply land between the store checks at a different phase.
        std::thread::sleep(Duration::from_millis(137 * (trial as u64 % 4) + 300));
    }
    let _ = Command::new("kill")
        .args(["-TERM", &controller.id().to_string()])
        .status();
    let _ = controller.wait();
    latencies.sort();
    println!("apply-to-first-action latency of `tug controller --cloud sim`, {TRIALS} applies:");
    report("apply returned -> first decision saved", &latencies);
}

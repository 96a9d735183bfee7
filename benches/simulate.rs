//! Benchmark: 3 simulated hours of `manifests/fargate-test1.yaml` under the step trace (50 -> 400
//! rps), scaler `aas`. Target: under 5 s of wall time in release. Prints figures; asserts none.
//!
//! Run with `cargo bench --bench simulate`.

mod support;

use std::process::Command;

use support::{report, time_runs};

use tugboat::cloud::sim::load::LoadTrace;
use tugboat::cloud::sim::world::World;
use tugboat::simulate::{Scaler, Simulation};

const RUNS: usize = 10;
const SECONDS: u64 = 3 * 3600;

fn main() {
    let root = env!("CARGO_MANIFEST_DIR");
    let sources =
        tugboat::manifest::load_sources(&[format!("{root}/manifests/fargate-test1.yaml")])
            .expect("stack");
    let stacks = tugboat::manifest::parse_sources(&sources).expect("valid");
    let trace_text =
        std::fs::read_to_string(format!("{root}/tests/traces/step.csv")).expect("trace");
    println!(
        "simulate benchmark: fargate-test1, step trace, {SECONDS} simulated seconds, {RUNS} runs each"
    );

    let in_process = time_runs(RUNS, || {
        let trace = LoadTrace::parse(&trace_text).expect("trace");
        let mut simulation =
            Simulation::new(&stacks, World::default(), trace, 1, Scaler::Aas).expect("setup");
        for _ in 0..SECONDS {
            simulation.step().expect("step");
        }
    });
    report("in process (no timeline)", &in_process);

    let temp = tempfile::tempdir().expect("temp");
    let out = temp.path().join("timeline.csv");
    let whole = time_runs(RUNS, || {
        let status = Command::new(env!("CARGO_BIN_EXE_tug"))
            .args([
                "simulate",
                "-f",
                "manifests/fargate-test1.yaml",
                "--load",
                "tests/traces/step.csv",
                "-o",
                "json",
                "--out",
            ])
            .arg(&out)
            .current_dir(root)
            .output()
            .expect("tug runs");
        assert!(status.status.success());
    });
    report("tug simulate --out TIMELINE.csv (whole process)", &whole);
    let speedup = SECONDS as f64 / whole[whole.len() / 2].as_secs_f64();
    println!("simulated seconds per wall second (median, whole process): {speedup:.0}");
}

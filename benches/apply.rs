//! Benchmark: `tug apply -f` of a generated 500-service stack, wall time (target: under 1 s).
//!
//! Run with `cargo bench --bench apply`. Prints figures; asserts nothing about time.
//! Measures the whole process (start, read, parse, validate, lock, write, fsync) for the three
//! outcomes of an apply, and separately the in-process parse + validate step.

mod support;

use std::path::Path;
use std::process::Command;

use support::{report, time_runs};

const SERVICES: usize = 500;
const RUNS: usize = 15;

fn main() {
    let temp = tempfile::tempdir().expect("temporary directory");
    let manifest = temp.path().join("big.yaml");
    let changed = temp.path().join("big-changed.yaml");
    let text = support::generate(SERVICES, 2);
    std::fs::write(&manifest, &text).expect("write manifest");
    std::fs::write(&changed, support::generate(SERVICES, 3)).expect("write manifest");
    println!(
        "apply benchmark: 1 stack, {SERVICES} services, {} KiB of YAML, {RUNS} runs each",
        text.len() / 1024
    );

    let parse = time_runs(RUNS, || {
        let sources = tugboat::manifest::load_sources(&[manifest.to_string_lossy().into_owned()])
            .expect("loads");
        let stacks = tugboat::manifest::parse_sources(&sources).expect("valid");
        assert_eq!(stacks[0].spec().services.len(), SERVICES);
    });
    report("parse + validate (in process)", &parse);

    let created = time_runs(RUNS, || {
        let store = tempfile::tempdir().expect("store");
        apply(store.path(), &manifest, "created");
    });
    report("tug apply, new store (created)", &created);

    let store = tempfile::tempdir().expect("store");
    apply(store.path(), &manifest, "created");
    let unchanged = time_runs(RUNS, || apply(store.path(), &manifest, "unchanged"));
    report("tug apply, same manifest (unchanged)", &unchanged);

    let mut flip = false;
    let configured = time_runs(RUNS, || {
        flip = !flip;
        apply(
            store.path(),
            if flip { &changed } else { &manifest },
            "configured",
        );
    });
    report("tug apply, changed manifest (configured)", &configured);
}

fn apply(store: &Path, manifest: &Path, outcome: &str) {
    let output = Command::new(env!("CARGO_BIN_EXE_tug"))
        .args(["apply", "-f"])
        .arg(manifest)
        .env("TUG_STORE", format!("file://{}", store.display()))
        .output()
        .expect("tug runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains(outcome),
        "unexpected result: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

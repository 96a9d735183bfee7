//! Benchmark: one controller sweep over 100 steady services through the real AWS adapter, against
//! a moto server over HTTP. Prints the API calls per sweep by operation (the target: exactly 10
//! DescribeServices, no DescribeTargetHealth) and the wall time per sweep. Asserts nothing about
//! time. moto answers from memory on loopback, so the wall time is the adapter's and the SDK's
//! own cost plus moto's, not AWS's latency.
//!
//! Run with `cargo bench --bench aws_sweep`. It uses the moto server in `TUG_MOTO_URL` if set,
//! otherwise starts one from `target/moto-venv` (which `scripts/test` installs).
//! A sweep is one round of the daemon (`tug controller --once`: every service observed and
//! reconciled once) with the controller's memory in an in-memory store. Calls are counted per
//! adapter operation (`tug_aws_requests_total`); once target groups are resolved (the first
//! sweep), each is one HTTP request.

#![allow(clippy::disallowed_methods)] // a benchmark measures wall time

#[allow(dead_code)] // the tests' skip logic and process environment are not needed here
#[path = "../tests/support/moto.rs"]
mod moto;
mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use moto::Moto;
use tokio::sync::watch;
use tugboat::cloud::aws::AwsCloud;
use tugboat::cloud::{Clock, Layered, Operation};
use tugboat::controller::daemon::{Daemon, DaemonConfig, Readiness};
use tugboat::controller::layers;
use tugboat::controller::metrics::{CALL_OUTCOMES, Metrics};
use tugboat::store::{MemoryStore, Store};

const SERVICES: usize = 100;
const SWEEPS: usize = 10;

fn moto() -> (Moto, support::Server) {
    let python = concat!(env!("CARGO_MANIFEST_DIR"), "/target/moto-venv/bin/python").to_owned();
    let (url, server) = support::moto_server();
    (Moto { url, python }, server)
}

fn calls(metrics: &Metrics) -> BTreeMap<&'static str, u64> {
    Operation::CONTROLLER
        .iter()
        .map(|op| {
            let n = CALL_OUTCOMES
                .iter()
                .map(|o| {
                    metrics
                        .aws_requests
                        .with_label_values(&[op.service(), op.name(), o])
                        .get()
                })
                .sum();
            (op.name(), n)
        })
        .collect()
}

fn main() {
    let (moto, _server) = moto();
    let url = moto.url.clone();
    let groups: Vec<String> = (0..SERVICES).map(|i| format!("tg-{i}")).collect();
    let names: Vec<&str> = groups.iter().map(String::as_str).collect();
    let fixtures = moto.fixtures("bench", &names);
    let text = support::generate(SERVICES, 2)
        .replace("bigCluster", fixtures["cluster"].as_str().expect("cluster"))
        .replace(
            "[subnet-0a1b2c3d, subnet-4e5f6a7b]",
            &format!("[{}]", fixtures["subnets"][0].as_str().expect("subnet")),
        )
        .replace(
            "[sg-0a1b2c3d]",
            &format!("[{}]", fixtures["securityGroup"].as_str().expect("sg")),
        );
    let stacks = tugboat::manifest::parse_sources(&[tugboat::manifest::Source {
        name: "big.yaml".into(),
        bytes: text.into_bytes(),
    }])
    .expect("valid");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let config = runtime.block_on(moto.config());
    let metrics = Metrics::new().expect("metrics");
    let store = MemoryStore::new();
    runtime
        .block_on(store.apply(stacks.clone(), std::time::SystemTime::UNIX_EPOCH, false))
        .expect("applied");
    let clock = Clock::Wall;
    let cloud = Layered::new(layers(&clock, &metrics), AwsCloud::new(config));
    let sweep = || {
        let daemon = Daemon {
            store: store.clone(),
            cloud: cloud.clone(),
            clock: clock.clone(),
            metrics: metrics.clone(),
            readiness: Arc::new(Readiness::default()),
            config: DaemonConfig {
                once: true,
                ..DaemonConfig::default()
            },
        };
        let (_stop, stopped) = watch::channel(false);
        let report = runtime.block_on(daemon.run(stopped)).expect("round");
        for failed in &report.failed {
            eprintln!("{failed}: calls failed");
        }
    };
    let keys: Vec<String> = stacks[0]
        .spec()
        .services
        .iter()
        .map(|s| s.name.clone())
        .collect();
    let stack = stacks[0].name().to_owned();
    let steady = || {
        keys.iter().all(|k| {
            store
                .memory_of(&stack, k)
                .is_some_and(|m| m.rollout.is_none() && m.verified_good.is_some())
        })
    };

    // Create, then wait for every rollout to be verified (60 s after it completes): steady.
    let setup = Instant::now();
    sweep();
    let created = setup.elapsed();
    while !steady() {
        assert!(setup.elapsed() < Duration::from_secs(300), "never steady");
        std::thread::sleep(Duration::from_secs(5));
        sweep();
    }
    println!(
        "aws_sweep benchmark: {SERVICES} services against moto ({url}); first sweep (register, create, health checks) {:.1} s; steady after {:.0} s",
        created.as_secs_f64(),
        setup.elapsed().as_secs_f64()
    );

    let before = calls(&metrics);
    let mut times = Vec::with_capacity(SWEEPS);
    for _ in 0..SWEEPS {
        let start = Instant::now();
        sweep();
        times.push(start.elapsed());
    }
    let after = calls(&metrics);
    let per_sweep: Vec<String> = after
        .iter()
        .map(|(op, n)| {
            (
                op,
                (n - before.get(op).copied().unwrap_or(0)) as f64 / SWEEPS as f64,
            )
        })
        .filter(|(_, n)| *n > 0.0)
        .map(|(op, n)| format!("{op} {n}"))
        .collect();
    times.sort();
    println!("calls per steady sweep: {}", per_sweep.join(", "));
    println!(
        "wall time per sweep over {SWEEPS}: median {:.0} ms, min {:.0} ms, max {:.0} ms",
        times[SWEEPS / 2].as_secs_f64() * 1000.0,
        times[0].as_secs_f64() * 1000.0,
        times[SWEEPS - 1].as_secs_f64() * 1000.0
    );
}

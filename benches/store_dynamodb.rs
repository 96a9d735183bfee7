//! Benchmark: the DynamoDB store on moto. Prints (1) `tug apply -f` of the generated 500-service
//! stack into `dynamodb://` (new store, unchanged re-apply, changed re-apply), whole process, wall
//! time; (2) the store requests of the daemon per sweep of 1,000 steady services (the simulated
//! AWS answering in process, on a clock 20 times wall time, the store on moto over HTTP).
//! Asserts nothing about time; moto answers from memory on loopback, so the latency is not
//! DynamoDB's.
//!
//! Run with `cargo bench --bench store_dynamodb`. It uses the moto server in `TUG_MOTO_URL` if
//! set, otherwise starts one from `target/moto-venv` (which `scripts/test` installs).

#![allow(clippy::disallowed_methods)] // a benchmark measures wall time

mod support;

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use support::{report, time_runs};
use tokio::sync::watch;
use tugboat::cloud::sim::Sim;
use tugboat::cloud::sim::load::LoadTrace;
use tugboat::cloud::sim::world::World;
use tugboat::cloud::{Clock, Layered, SimCloud};
use tugboat::controller::daemon::{Daemon, DaemonConfig, Readiness};
use tugboat::controller::layers;
use tugboat::controller::metrics::Metrics;
use tugboat::manifest::{Source, parse_sources};
use tugboat::plan::render::render;
use tugboat::simulate::baseline::create_input;
use tugboat::store::{DynamoDbStore, Store};

const APPLY_SERVICES: usize = 500;
const RUNS: usize = 5;
const SWEEP_SERVICES: usize = 1000;
const SPEED: f64 = 20.0;
const RESYNC_S: u64 = 30;
const SWEEPS: u64 = 5;

fn env(url: &str) -> [(&'static str, String); 5] {
    [
        ("AWS_ENDPOINT_URL", url.to_owned()),
        ("AWS_REGION", "us-east-1".to_owned()),
        ("AWS_ACCESS_KEY_ID", "testing".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "testing".to_owned()),
        ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
    ]
}

fn tug(url: &str, store: &str, args: &[&str]) -> std::process::Output {
    let output = Command::new(env!("CARGO_BIN_EXE_tug"))
        .env("TUG_STORE", store)
        .envs(env(url))
        .args(args)
        .output()
        .expect("tug runs");
    assert!(
        output.status.success(),
        "tug {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn main() {
    let (url, _server) = support::moto_server();
    let pid = std::process::id();
    let temp = tempfile::tempdir().expect("dir");
    let manifest = temp.path().join("big.yaml");
    let changed = temp.path().join("big-changed.yaml");
    std::fs::write(&manifest, support::generate(APPLY_SERVICES, 2)).expect("written");
    std::fs::write(&changed, support::generate(APPLY_SERVICES, 3)).expect("written");
    let (manifest, changed) = (
        manifest.to_string_lossy().into_owned(),
        changed.to_string_lossy().into_owned(),
    );
    println!(
        "store_dynamodb benchmark against moto ({url}): apply of {APPLY_SERVICES} services, {RUNS} runs each"
    );
    let created = {
        let mut times = Vec::new();
        for i in 0..RUNS {
            let store = format!("dynamodb://applied-{pid}-{i}");
            tug(&url, &store, &["store", "init", &store]);
            let start = std::time::Instant::now();
            tug(&url, &store, &["apply", "-f", &manifest]);
            times.push(start.elapsed());
        }
        times.sort();
        times
    };
    report("tug apply to dynamodb://, new store (created)", &created);
    let store = format!("dynamodb://applied-{pid}-0");
    let unchanged = time_runs(RUNS, || {
        tug(&url, &store, &["apply", "-f", &manifest]);
    });
    report("tug apply to dynamodb://, unchanged", &unchanged);
    let mut flip = false;
    let configured = time_runs(RUNS, || {
        flip = !flip;
        tug(
            &url,
            &store,
            &["apply", "-f", if flip { &changed } else { &manifest }],
        );
    });
    report(
        "tug apply to dynamodb://, changed (configured)",
        &configured,
    );

    sweep(&url, pid);
}

/// The daemon over 1,000 steady services with the store on moto: store requests per sweep.
fn sweep(url: &str, pid: u32) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let stacks = parse_sources(&[Source {
        name: "big.yaml".into(),
        bytes: support::generate(SWEEP_SERVICES, 2).into_bytes(),
    }])
    .expect("valid");
    let table = format!("sweep-{pid}");
    let config = runtime.block_on(
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(url)
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_credential_types::Credentials::new(
                "testing", "testing", None, None, "bench",
            ))
            .load(),
    );
    let store = DynamoDbStore::with_client(table, aws_sdk_dynamodb::Client::new(&config));
    runtime
        .block_on(store.create_table(Duration::from_secs(30)))
        .expect("table");
    runtime
        .block_on(store.apply(stacks.clone(), SystemTime::UNIX_EPOCH, false))
        .expect("applied");
    let mut world = World::default();
    world.api.throttling = false;
    let cloud = {
        let _inside = runtime.enter();
        SimCloud::new(
            Sim::new(world, LoadTrace::constant(20.0), 1),
            Clock::scaled(0, SPEED),
            0,
        )
    };
    cloud.with(|s| {
        tugboat::simulate::provide_infrastructure(s, &stacks);
        for stack in &stacks {
            for service in &stack.spec().services {
                let id = s
                    .register_task_definition(render(service, None))
                    .expect("register")
                    .id;
                s.create_service(create_input(
                    &stack.spec().cluster,
                    service,
                    id,
                    false,
                    None,
                ))
                .expect("create");
            }
        }
    });
    let clock = cloud.clock().clone();
    let metrics = Metrics::new().expect("metrics");
    let daemon = Daemon {
        store: store.clone(),
        cloud: Layered::new(layers(&clock, &metrics), cloud.clone()),
        clock: clock.clone(),
        metrics,
        readiness: Arc::new(Readiness::default()),
        config: DaemonConfig {
            resync_ms: RESYNC_S * 1000,
            ..DaemonConfig::default()
        },
    };
    let (stop, stopped) = watch::channel(false);
    let handle = runtime.spawn(daemon.run(stopped));
    let advance = {
        let cloud = cloud.clone();
        runtime.spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(50)).await;
                cloud.with(|s| s.advance_to(s.now_ms()));
            }
        })
    };
    // Steady: every service adopted, its revision verified, nothing left to write.
    let setup = std::time::Instant::now();
    loop {
        runtime.block_on(async { tokio::time::sleep(Duration::from_secs(2)).await });
        let memory = runtime
            .block_on(store.load_memory("big"))
            .unwrap_or_default();
        let verified = memory
            .values()
            .filter(|m| m.rollout.is_none() && m.verified_good.is_some())
            .count();
        if verified == SWEEP_SERVICES {
            break;
        }
        assert!(
            setup.elapsed() < Duration::from_secs(600),
            "never steady: {verified} of {SWEEP_SERVICES} verified"
        );
    }
    // Let the last saves land, then count a window of whole sweeps.
    runtime.block_on(clock.sleep_ms(RESYNC_S * 1000));
    let before = store.requests();
    runtime.block_on(clock.sleep_ms(SWEEPS * RESYNC_S * 1000));
    let after = store.requests();
    let _ = stop.send(true);
    let _ = runtime.block_on(handle);
    advance.abort();
    let per_sweep: BTreeMap<&str, f64> = after
        .iter()
        .map(|(op, n)| {
            (
                *op,
                (n - before.get(op).copied().unwrap_or(0)) as f64 / SWEEPS as f64,
            )
        })
        .filter(|(_, n)| *n > 0.0)
        .collect();
    let text: Vec<String> = per_sweep
        .iter()
        .map(|(op, n)| format!("{op} {n:.1}"))
        .collect();
    println!(
        "store requests per {RESYNC_S} s sweep of {SWEEP_SERVICES} steady services (mean over {SWEEPS}; setup {:.0} s wall): {}",
        setup.elapsed().as_secs_f64(),
        if text.is_empty() {
            "none".to_owned()
        } else {
            text.join(", ")
        }
    );
}

//! Benchmark: the daemon's steady state over 10, 100 and 1,000 services on the simulator, in
//! virtual time. Each service is reconciled once per resync (30 s); a "sweep" is one resync's worth
//! of reconciles. Prints, per size: API calls per sweep by operation, CPU time per sweep with the
//! part spent inside the simulator's answers (the simulated world moves inside them, so it is timed
//! and taken out: what is left is the controller's own), and the process's RSS (which includes the
//! simulated AWS itself, so it overstates the controller's own memory).
//! Targets: < 20 ms CPU and < 40 MiB RSS per sweep at 1,000 services; 100 DescribeServices and no
//! DescribeTargetHealth per sweep of 1,000 steady services. Asserts nothing about time.
//!
//! Run with `cargo bench --bench sweep`. Setup uses a world without API throttling so the
//! services can be created quickly; the measured sweeps are of steady services.

#![allow(clippy::disallowed_methods)] // a benchmark measures wall and CPU time

mod support;

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tugboat::cloud::sim::Sim;
use tugboat::cloud::sim::load::LoadTrace;
use tugboat::cloud::sim::world::World;
use tugboat::cloud::{Clock, CloudError, Layer, Layered, Operation, SimCloud};
use tugboat::controller::daemon::{Daemon, DaemonConfig, Readiness};
use tugboat::controller::layers;
use tugboat::controller::metrics::Metrics;
use tugboat::plan::DesiredService;
use tugboat::store::{MemoryStore, Store};

/// Resync of the daemon, simulated seconds.
const RESYNC_S: u64 = 30;

/// Measured sweeps per size (`TUG_SWEEPS` overrides, e.g. for a profiler).
fn sweeps() -> u64 {
    std::env::var("TUG_SWEEPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20)
}

fn main() {
    println!(
        "sweep benchmark: steady services on the simulator, the daemon in virtual time, {} measured sweeps each",
        sweeps()
    );
    // `TUG_SWEEP_SIZES=1000` measures one size only (for a profiler).
    let sizes: Vec<usize> = std::env::var("TUG_SWEEP_SIZES")
        .ok()
        .map(|s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![10, 100, 1000]);
    for services in sizes {
        measure(services);
    }
}

/// Time spent inside the simulator's answers.
#[derive(Clone, Default)]
struct Timing(Arc<Mutex<Duration>>);

impl Layer for Timing {
    async fn around<T: Send>(
        &self,
        _operation: Operation,
        call: impl Future<Output = Result<T, CloudError>> + Send,
    ) -> Result<T, CloudError> {
        let start = Instant::now();
        let result = call.await;
        if let Ok(mut spent) = self.0.lock() {
            *spent += start.elapsed();
        }
        result
    }
}

fn measure(services: usize) {
    let text = support::generate(services, 2);
    let sources = [tugboat::manifest::Source {
        name: "big.yaml".into(),
        bytes: text.into_bytes(),
    }];
    let stacks = tugboat::manifest::parse_sources(&sources).expect("valid");
    // The process's memory is the daemon's and the simulator's: the benchmark's own copies of
    // the input go once they are handed over.
    drop(sources);
    // What the daemon does when a stack changes: the desired state of every service.
    let build = Instant::now();
    for _ in 0..sweeps() {
        let built: Vec<DesiredService> = stacks.iter().flat_map(DesiredService::of_stack).collect();
        std::hint::black_box(built);
    }
    let build_ms = build.elapsed().as_secs_f64() * 1000.0 / sweeps() as f64;

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .expect("runtime");
    let mut world = World::default();
    world.api.throttling = false;
    let (cloud, store, metrics, timing) = {
        let _guard = runtime.enter();
        let cloud = SimCloud::new(
            Sim::new(world, LoadTrace::constant(50.0), 1),
            Clock::scaled(0, 1.0),
            0,
        );
        cloud.with(|s| tugboat::simulate::provide_infrastructure(s, &stacks));
        (
            cloud,
            MemoryStore::new(),
            Metrics::new().expect("metrics"),
            Timing::default(),
        )
    };
    runtime
        .block_on(store.apply(stacks.clone(), std::time::SystemTime::UNIX_EPOCH, false))
        .expect("applied");
    let clock = cloud.clock().clone();
    let daemon = Daemon {
        store: store.clone(),
        cloud: Layered::new(
            layers(&clock, &metrics),
            Layered::new(timing.clone(), cloud.clone()),
        ),
        clock: clock.clone(),
        metrics: metrics.clone(),
        readiness: Arc::new(Readiness::default()),
        config: DaemonConfig {
            resync_ms: RESYNC_S * 1000,
            ..DaemonConfig::default()
        },
    };
    let (stop, stopped) = watch::channel(false);
    let handle = runtime.spawn(daemon.run(stopped));
    // The simulated world moves on every second by itself, timed apart: what is left inside the
    // calls is the simulator answering them.
    let world = Timing::default();
    {
        let (cloud, world, clock) = (cloud.clone(), world.clone(), clock.clone());
        runtime.spawn(async move {
            loop {
                clock.sleep_ms(1000).await;
                let start = Instant::now();
                cloud.with(|_| {});
                if let Ok(mut spent) = world.0.lock() {
                    *spent += start.elapsed();
                }
            }
        });
    }

    // Create everything, then let it settle and be verified.
    let setup = Instant::now();
    let keys: Vec<(String, String)> = stacks
        .iter()
        .flat_map(|s| {
            s.spec()
                .services
                .iter()
                .map(|svc| (s.name().to_owned(), svc.name.clone()))
        })
        .collect();
    drop(stacks);
    let steady = || {
        keys.iter()
            .filter(|(stack, service)| {
                store
                    .memory_of(stack, service)
                    .is_some_and(|m| m.verified_good.is_some() && m.rollout.is_none())
            })
            .count()
    };
    for _ in 0..60 {
        runtime.block_on(clock.sleep_ms(RESYNC_S * 1000));
        if steady() == keys.len() {
            break;
        }
    }
    // Ten more resyncs: the last verifications end and every service is on its steady rhythm
    // (the registrations alone take about 20 minutes at RegisterTaskDefinition's 1 per second).
    runtime.block_on(clock.sleep_ms(10 * RESYNC_S * 1000));
    let settled = steady();

    let before = cloud.with(|s| s.api().counts());
    let spent = || timing.0.lock().map(|d| d.as_secs_f64()).unwrap_or(0.0);
    let moved = || world.0.lock().map(|d| d.as_secs_f64()).unwrap_or(0.0);
    // Per sweep: the process's CPU time (nanosecond resolution) and the part inside the
    // simulator's answers; the median sweep is reported, so one slow sweep does not move it.
    let mut totals = Vec::new();
    let mut own = Vec::new();
    let mut in_sim = Vec::new();
    let mut in_world = Vec::new();
    for _ in 0..sweeps() {
        let (cpu0, sim0, world0) = (cpu_seconds(), spent(), moved());
        runtime.block_on(clock.sleep_ms(RESYNC_S * 1000));
        let (cpu1, sim1, world1) = (cpu_seconds(), spent(), moved());
        totals.push(cpu1 - cpu0);
        in_sim.push(sim1 - sim0);
        in_world.push(world1 - world0);
        own.push((cpu1 - cpu0) - (sim1 - sim0) - (world1 - world0));
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (cpu, simulator, moving) = (
        median(&mut totals),
        median(&mut in_sim),
        median(&mut in_world),
    );
    let own_range = {
        own.sort_by(f64::total_cmp);
        (own[0], median(&mut own), own[own.len() - 1])
    };
    let after = cloud.with(|s| s.api().counts());
    let per_sweep: Vec<String> = after
        .iter()
        .map(|(op, outcomes)| {
            let total: u64 = outcomes.values().sum();
            let earlier: u64 = before.get(op).map_or(0, |o| o.values().sum());
            (op, (total - earlier) as f64 / sweeps() as f64)
        })
        .filter(|(_, n)| *n > 0.0)
        .map(|(op, n)| format!("{op} {n}"))
        .collect();
    println!(
        "{services:>5} services ({settled} steady; setup {:.1} s wall): desired state built in {build_ms:.2} ms; per sweep (median) {:.2} ms CPU: {:.2} ms moving the simulated world 30 s on, {:.2} ms the simulator answering the calls, the controller's own {:.2} ms (median; {:.2} to {:.2} over {} sweeps); RSS {:.1} MiB; calls per sweep: {}",
        setup.elapsed().as_secs_f64(),
        cpu * 1000.0,
        moving * 1000.0,
        simulator * 1000.0,
        own_range.1 * 1000.0,
        own_range.0 * 1000.0,
        own_range.2 * 1000.0,
        sweeps(),
        rss_mib(),
        per_sweep.join(", ")
    );
    let _ = stop.send(true);
    let _ = runtime.block_on(handle);
}

/// CPU time of this process's main thread so far, in seconds, to the nanosecond (Linux's
/// /proc/self/schedstat: time spent running).
fn cpu_seconds() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .next()
                .and_then(|n| n.parse::<f64>().ok())
        })
        .map_or(0.0, |ns| ns / 1e9)
}

/// Resident set size of this process, from /proc (Linux).
fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

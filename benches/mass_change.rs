//! Benchmark: a mass change of 1,000 services (every desiredCount and minTasks 2 -> 3, one apply), the daemon
//! on the simulator in virtual time with the documented API throttling on. Prints the time to
//! converge against the bound ECS's ServiceModify bucket sets (50 burst, 5 per second: (N - 50) / 5
//! seconds for N UpdateService calls; the controller allows itself 80 % of it), and the shutdown
//! latency when SIGTERM comes in the middle of the change (virtual time, and wall time spent).
//! Asserts nothing about time.
//!
//! Run with `cargo bench --bench mass_change`. The services are created in the simulated account
//! first, as existing templates would have (the controller adopts them), so setup is quick.

#![allow(clippy::disallowed_methods)] // a benchmark measures wall time

mod support;

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use tokio::sync::watch;
use tugboat::cloud::sim::Sim;
use tugboat::cloud::sim::load::LoadTrace;
use tugboat::cloud::sim::world::World;
use tugboat::cloud::{Clock, Layered, SimCloud};
use tugboat::controller::daemon::{Daemon, DaemonConfig, Readiness};
use tugboat::controller::layers;
use tugboat::controller::metrics::Metrics;
use tugboat::manifest::{Source, parse_sources};
use tugboat::model::Stack;
use tugboat::plan::render::render;
use tugboat::simulate::baseline::create_input;
use tugboat::store::{MemoryStore, Store};

const SERVICES: usize = 1000;
/// Simulated seconds after which a change that has not converged is reported as such.
const GIVE_UP_S: u64 = 1_800;

/// The stack with every service's desired count (and scaling floor, since the controller is
/// the one writer of the count of a scaled service) at `count`.
fn stacks(count: u32) -> Vec<Stack> {
    let text =
        support::generate(SERVICES, count).replace("minTasks: 2", &format!("minTasks: {count}"));
    parse_sources(&[Source {
        name: "big.yaml".into(),
        bytes: text.into_bytes(),
    }])
    .expect("valid")
}

fn main() {
    println!(
        "mass_change benchmark: {SERVICES} services, desiredCount and minTasks 2 -> 3 in one apply"
    );
    let before = stacks(2);
    let after = stacks(3);
    let bound = (SERVICES as f64 - 50.0) / 5.0;
    let ours = (SERVICES as f64 - 40.0) / 4.0;

    // Converge.
    let (seconds, wall, calls) = run(&before, &after, None);
    if seconds >= GIVE_UP_S {
        println!(
            "did not converge within {GIVE_UP_S} s of simulated time ({calls} UpdateService calls)"
        );
        return;
    }
    println!(
        "converged in {seconds} s of simulated time ({:.1} s wall from the apply): ECS's ServiceModify bucket allows it in {bound:.0} s at best, the controller's 80 % share in {ours:.0} s; {calls} UpdateService calls",
        wall.as_secs_f64()
    );
    // SIGTERM in the middle.
    let (stopped_after, wall, calls) = run(&before, &after, Some(60));
    println!(
        "SIGTERM 60 s into the change ({calls} UpdateService calls made by then): the daemon returned {stopped_after} s of simulated time later, its in-flight reconciles drained ({:.1} s wall from the apply)",
        wall.as_secs_f64()
    );
}

/// Sets the account up with `before` (created directly, without throttling), starts the daemon,
/// applies `after`; with `stop_at`, asks the daemon to stop that many simulated seconds in and
/// returns how long it took to return, else how long the change took. Also the wall time and the
/// UpdateService calls made.
fn run(before: &[Stack], after: &[Stack], stop_at: Option<u64>) -> (u64, std::time::Duration, u64) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .expect("runtime");
    let mut world = World::default();
    world.api.throttling = false;
    let cloud = {
        let _inside = runtime.enter();
        SimCloud::new(
            Sim::new(world, LoadTrace::constant(20.0), 1),
            Clock::scaled(0, 1.0),
            0,
        )
    };
    cloud.with(|s| {
        tugboat::simulate::provide_infrastructure(s, before);
        for stack in before {
            for service in &stack.spec().services {
                let id = s
                    .register_task_definition(render(service, None))
                    .expect("register")
                    .id;
                let input = create_input(&stack.spec().cluster, service, id, false, None);
                s.create_service(input).expect("create");
            }
        }
        // From now on the documented throttling applies.
        s.set_throttling(true);
    });
    let clock = cloud.clock().clone();
    let store = MemoryStore::new();
    runtime
        .block_on(store.apply(before.to_vec(), SystemTime::UNIX_EPOCH, false))
        .expect("applied");
    let metrics = Metrics::new().expect("metrics");
    let daemon = Daemon {
        store: store.clone(),
        cloud: Layered::new(layers(&clock, &metrics), cloud.clone()),
        clock: clock.clone(),
        metrics,
        readiness: Arc::new(Readiness::default()),
        config: DaemonConfig::default(),
    };
    let (stop, stopped) = watch::channel(false);
    let handle = runtime.spawn(daemon.run(stopped));
    // Adopted and steady first: tasks started, revisions verified.
    runtime.block_on(clock.sleep_ms(300_000));
    let stack = &after[0];
    let at_three = || {
        cloud.with(|s| {
            stack
                .spec()
                .services
                .iter()
                .filter(|svc| {
                    s.peek_service(&stack.spec().cluster, &svc.name)
                        .is_some_and(|d| d.desired_count == 3)
                })
                .count()
        })
    };
    let updates = || {
        cloud.with(|s| {
            s.api()
                .counts()
                .get("UpdateService")
                .map_or(0, |o| o.values().sum::<u64>())
        })
    };
    let calls_before = updates();
    runtime
        .block_on(store.apply(after.to_vec(), SystemTime::UNIX_EPOCH, false))
        .expect("applied");
    let start_ms = clock.now_ms();
    let wall = Instant::now();
    let seconds = match stop_at {
        None => {
            while at_three() < SERVICES && clock.now_ms() - start_ms < GIVE_UP_S * 1000 {
                runtime.block_on(clock.sleep_ms(1_000));
            }
            let seconds = (clock.now_ms() - start_ms) / 1000;
            let _ = stop.send(true);
            let _ = runtime.block_on(handle);
            seconds
        }
        Some(at_s) => {
            runtime.block_on(clock.sleep_ms(at_s * 1000));
            let asked = clock.now_ms();
            let _ = stop.send(true);
            let _ = runtime.block_on(handle);
            (clock.now_ms() - asked) / 1000
        }
    };
    (seconds, wall.elapsed(), updates() - calls_before)
}

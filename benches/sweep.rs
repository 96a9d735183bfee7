//! Benchmark: the controller's steady-state sweep over 10, 100 and 1,000 services on the simulator.
//! Prints, per size: API calls per sweep by operation, CPU time per sweep with the part spent
//! inside the simulator's answers (timed around each call), and the process's RSS (which includes
//! the simulated AWS itself, so it overstates the controller's own memory).
//! Targets (issue 4): < 20 ms CPU and < 40 MiB RSS per sweep at 1,000 services; 100 DescribeServices
//! and no DescribeTargetHealth per sweep of 1,000 steady services. Asserts nothing about time.
//!
//! Run with `cargo bench --bench sweep`. Setup uses a world without API throttling so the
//! services can be created quickly; the measured sweeps are of steady services.

mod support;

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tugboat::cloud::SimAccess;
use tugboat::cloud::sim::Sim;
use tugboat::cloud::sim::load::LoadTrace;
use tugboat::cloud::sim::simulation::complete;
use tugboat::cloud::sim::world::World;
use tugboat::controller::reconcile::reconcile;
use tugboat::model::{ServiceKey, ServiceMemory};
use tugboat::plan::DesiredService;

/// Measured sweeps per size (`TUG_SWEEPS` overrides, e.g. for a profiler).
fn sweeps() -> u64 {
    std::env::var("TUG_SWEEPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20)
}

fn main() {
    println!(
        "sweep benchmark: steady services on the simulator, {} measured sweeps each",
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

fn measure(services: usize) {
    let text = support::generate(services, 2);
    let sources = [tugboat::manifest::Source {
        name: "big.yaml".into(),
        bytes: text.into_bytes(),
    }];
    let stacks = tugboat::manifest::parse_sources(&sources).expect("valid");
    // What the daemon does at the start of every pass: the desired state of every service.
    let build = Instant::now();
    for _ in 0..sweeps() {
        let built: Vec<DesiredService> = stacks.iter().flat_map(DesiredService::of_stack).collect();
        std::hint::black_box(built);
    }
    let build_ms = build.elapsed().as_secs_f64() * 1000.0 / sweeps() as f64;
    let desired: Vec<DesiredService> = stacks.iter().flat_map(DesiredService::of_stack).collect();
    let mut world = World::default();
    world.api.throttling = false;
    let mut sim = Sim::new(world, LoadTrace::constant(50.0), 1);
    for stack in &stacks {
        for group in &stack.spec().target_groups {
            sim.create_target_group(&group.name, stack.name(), None);
        }
    }
    let mut memories: BTreeMap<ServiceKey, ServiceMemory> = BTreeMap::new();
    let in_sim = Mutex::new(Duration::ZERO);
    let sweep = |sim: &mut Sim, memories: &mut BTreeMap<ServiceKey, ServiceMemory>| {
        let now = sim.now_ms() / 1000;
        let lent = Timed {
            sim: Mutex::new(sim),
            spent: &in_sim,
        };
        let outcomes = complete(reconcile(&lent, &desired, memories, now))
            .expect("the simulator answers at once")
            .expect("observed");
        for o in outcomes {
            memories.insert(o.key, o.memory);
        }
    };
    // Create everything, then let it settle and be verified.
    let setup = Instant::now();
    for _ in 0..30 {
        sweep(&mut sim, &mut memories);
        let next = sim.now_ms() + 30_000;
        sim.advance_to(next);
    }
    let settled = memories
        .values()
        .filter(|m| m.verified_good.is_some() && m.rollout.is_none())
        .count();
    let before = sim.api().counts();
    *in_sim.lock().expect("lock") = Duration::ZERO;
    let cpu_before = cpu_seconds();
    for _ in 0..sweeps() {
        sweep(&mut sim, &mut memories);
    }
    let cpu = (cpu_seconds() - cpu_before) / sweeps() as f64;
    let simulator = in_sim.lock().expect("lock").as_secs_f64() / sweeps() as f64;
    let after = sim.api().counts();
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
        "{services:>5} services ({settled} steady; setup {:.1} s wall): desired state built in {build_ms:.2} ms; {:.2} ms CPU per sweep, of which about {:.2} ms answering in the simulator; RSS {:.1} MiB; calls per sweep: {}",
        setup.elapsed().as_secs_f64(),
        cpu * 1000.0,
        simulator * 1000.0,
        rss_mib(),
        per_sweep.join(", ")
    );
}

/// The simulator lent for one sweep, with the time spent inside its answers added up.
struct Timed<'a, 'b> {
    sim: Mutex<&'a mut Sim>,
    spent: &'b Mutex<Duration>,
}

impl SimAccess for Timed<'_, '_> {
    fn with<T>(&self, f: impl FnOnce(&mut Sim) -> T) -> T {
        let start = Instant::now();
        let result = self.sim.with(f);
        if let Ok(mut spent) = self.spent.lock() {
            *spent += start.elapsed();
        }
        result
    }
}

/// User + system CPU time of this process, from /proc (Linux).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks: f64 = fields.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0)
        + fields
            .get(12)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0);
    ticks / 100.0
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

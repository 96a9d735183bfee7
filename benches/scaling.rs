//! Benchmark: tugboat's scaler against Application Auto Scaling and against the limits
//! ([`tugboat::simulate::limit`]), on every CPU- or 5XX-scaled example stack, every shipped trace,
//! seeds 1 to 3. Prints, per stack and trace, the avoidable overload (overloaded seconds less the
//! unavoidable ones, summed over seeds) of each scaler and of the reactive limit, the ratios, and
//! task-seconds; then the totals the goals are stated in. Asserts nothing.
//!
//! Run with `cargo bench --bench scaling` (about two minutes in release).

use tugboat::cloud::sim::load::LoadTrace;
use tugboat::cloud::sim::world::World;
use tugboat::simulate::{Scaler, Simulation, Summary};

const STACKS: [&str; 3] = ["fargate-test1", "hello-world", "todo"];
const TRACES: [(&str, u64); 4] = [
    ("step", 3 * 3600),
    ("ramp", 3 * 3600),
    ("spike", 3 * 3600),
    ("diurnal", 24 * 3600),
];
const SEEDS: [u64; 3] = [1, 2, 3];

/// Sums over services and seeds.
#[derive(Default, Clone, Copy)]
struct Totals {
    avoidable: u64,
    limit: u64,
    task_seconds: u64,
}

impl Totals {
    fn add(&mut self, summary: &Summary) {
        for s in summary.services.values() {
            self.avoidable += s
                .seconds_overloaded
                .saturating_sub(s.unavoidable_seconds_overloaded);
            self.limit += s
                .reactive_limit_seconds_overloaded
                .saturating_sub(s.unavoidable_seconds_overloaded);
            self.task_seconds += s.task_seconds;
        }
    }
}

fn ratio(a: u64, b: u64) -> String {
    if b == 0 {
        "-".to_owned()
    } else {
        format!("{:.2}", a as f64 / b as f64)
    }
}

fn main() {
    let root = env!("CARGO_MANIFEST_DIR");
    println!(
        "scaling benchmark: avoidable overload (s, summed over seeds {SEEDS:?}) and task-seconds"
    );
    println!(
        "| stack, trace | limit | aas | tug | tug/aas | tug/limit | aas/limit | task-s tug/aas |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
    let mut all: [(Totals, Totals); 3] = Default::default();
    for (i, stack) in STACKS.iter().enumerate() {
        let sources = tugboat::manifest::load_sources(&[format!("{root}/manifests/{stack}.yaml")])
            .expect("stack");
        let stacks = tugboat::manifest::parse_sources(&sources).expect("valid");
        for (trace, seconds) in TRACES {
            let text =
                std::fs::read_to_string(format!("{root}/tests/traces/{trace}.csv")).expect("trace");
            let (mut aas, mut tug) = (Totals::default(), Totals::default());
            for seed in SEEDS {
                for (scaler, totals) in [
                    (Scaler::Aas, &mut aas),
                    (Scaler::Tug { resync_seconds: 30 }, &mut tug),
                ] {
                    let load = LoadTrace::parse(&text).expect("trace");
                    let mut simulation =
                        Simulation::new(&stacks, World::default(), load, seed, scaler)
                            .expect("setup");
                    for _ in 0..seconds {
                        simulation.step().expect("step");
                    }
                    totals.add(&simulation.summary());
                }
            }
            println!(
                "| {stack}, {trace} | {} | {} | {} | {} | {} | {} | {} |",
                aas.limit,
                aas.avoidable,
                tug.avoidable,
                ratio(tug.avoidable, aas.avoidable),
                ratio(tug.avoidable, tug.limit),
                ratio(aas.avoidable, aas.limit),
                ratio(tug.task_seconds, aas.task_seconds)
            );
            for (sum, one) in [(&mut all[i].0, aas), (&mut all[i].1, tug)] {
                sum.avoidable += one.avoidable;
                sum.limit += one.limit;
                sum.task_seconds += one.task_seconds;
            }
        }
    }
    for (stack, (aas, tug)) in STACKS.iter().zip(all) {
        println!(
            "{stack}, every trace: tug/aas {} (goal <= 0.6 for CPU stacks), tug/limit {} (goal <= 1.3; 1.2 for todo), task-seconds tug/aas {}",
            ratio(tug.avoidable, aas.avoidable),
            ratio(tug.avoidable, tug.limit),
            ratio(tug.task_seconds, aas.task_seconds)
        );
    }
}

//! Benchmark: tugboat's scaler against Application Auto Scaling and against the limits
//! ([`tugboat::simulate::limit`]), on every CPU- or 5XX-scaled example stack, every shipped trace,
//! seeds 1 to 3. Prints, per stack and trace, the avoidable overload (overloaded seconds less the
//! unavoidable ones, summed over seeds) of each scaler and of the reactive limit, the ratios, and
//! task-seconds; then the totals the goals are stated in. Asserts nothing.
//!
//! Each stack runs four ways: `aas`, `aas-hr`, `tug`, and `tug` with `metricResolutionSeconds: 20`
//! (where every scaling section of the stack scales on CPU).
//!
//! Run with `cargo bench --bench scaling` (about five minutes in release).

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
    limit_20s: u64,
    task_seconds: u64,
}

impl Totals {
    fn add(&mut self, summary: &Summary) {
        for s in summary.services.values() {
            let beyond = |o: u64| o.saturating_sub(s.unavoidable_seconds_overloaded);
            self.avoidable += beyond(s.seconds_overloaded);
            self.limit += beyond(s.reactive_limit_seconds_overloaded);
            self.limit_20s += beyond(s.reactive_limit_20s_seconds_overloaded);
            self.task_seconds += s.task_seconds;
        }
    }

    fn plus(&mut self, other: Totals) {
        self.avoidable += other.avoidable;
        self.limit += other.limit;
        self.limit_20s += other.limit_20s;
        self.task_seconds += other.task_seconds;
    }
}

fn ratio(a: u64, b: u64) -> String {
    if b == 0 {
        "-".to_owned()
    } else {
        format!("{:.2}", a as f64 / b as f64)
    }
}

/// The runs of one stack: `aas`, `aas-hr`, `tug` as the manifest says, and `tug` with
/// `metricResolutionSeconds: 20` on every scaling section (only where every one scales on CPU).
const RUNS: usize = 4;

fn main() {
    let root = env!("CARGO_MANIFEST_DIR");
    println!(
        "scaling benchmark: avoidable overload (s, summed over seeds {SEEDS:?}) and task-seconds; tug-20s: the stack with metricResolutionSeconds: 20"
    );
    println!(
        "| stack, trace | limit | limit-20s | aas | aas-hr | tug | tug-20s | tug/aas | tug/aas-hr | tug-20s/aas-hr | tug/limit | tug-20s/limit-20s | task-s tug/aas | task-s tug-20s/aas-hr |"
    );
    println!(
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
    );
    let mut all: Vec<[Totals; RUNS]> = vec![Default::default(); STACKS.len()];
    for (i, stack) in STACKS.iter().enumerate() {
        let path = format!("{root}/manifests/{stack}.yaml");
        let sources = tugboat::manifest::load_sources(std::slice::from_ref(&path)).expect("stack");
        let stacks = tugboat::manifest::parse_sources(&sources).expect("valid");
        let text = std::fs::read_to_string(&path).expect("stack");
        let fine_text = text.replace(
            "      scaling:\n",
            "      scaling:\n        metricResolutionSeconds: 20\n",
        );
        let fine = tugboat::manifest::parse_sources(&[tugboat::manifest::Source {
            name: format!("{path} (20-second CPU)"),
            bytes: fine_text.into_bytes(),
        }])
        .ok();
        for (trace, seconds) in TRACES {
            let csv =
                std::fs::read_to_string(format!("{root}/tests/traces/{trace}.csv")).expect("trace");
            let mut totals: [Totals; RUNS] = Default::default();
            for seed in SEEDS {
                let runs: [(Scaler, Option<&Vec<tugboat::model::Stack>>); RUNS] = [
                    (Scaler::Aas, Some(&stacks)),
                    (Scaler::AasHr, Some(&stacks)),
                    (Scaler::Tug { resync_seconds: 30 }, Some(&stacks)),
                    (Scaler::Tug { resync_seconds: 30 }, fine.as_ref()),
                ];
                for (j, (scaler, stacks)) in runs.into_iter().enumerate() {
                    let Some(stacks) = stacks else { continue };
                    let load = LoadTrace::parse(&csv).expect("trace");
                    let mut simulation =
                        Simulation::new(stacks, World::default(), load, seed, scaler)
                            .expect("setup");
                    for _ in 0..seconds {
                        simulation.step().expect("step");
                    }
                    totals[j].add(&simulation.summary());
                }
            }
            let [aas, hr, tug, tug20] = totals;
            let fine_cell = |v: String| if fine.is_some() { v } else { "-".to_owned() };
            println!(
                "| {stack}, {trace} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                aas.limit,
                aas.limit_20s,
                aas.avoidable,
                hr.avoidable,
                tug.avoidable,
                fine_cell(tug20.avoidable.to_string()),
                ratio(tug.avoidable, aas.avoidable),
                ratio(tug.avoidable, hr.avoidable),
                fine_cell(ratio(tug20.avoidable, hr.avoidable)),
                ratio(tug.avoidable, tug.limit),
                fine_cell(ratio(tug20.avoidable, tug20.limit_20s)),
                ratio(tug.task_seconds, aas.task_seconds),
                fine_cell(ratio(tug20.task_seconds, hr.task_seconds)),
            );
            for (sum, one) in all[i].iter_mut().zip(totals) {
                sum.plus(one);
            }
        }
    }
    for (stack, [aas, hr, tug, tug20]) in STACKS.iter().zip(all) {
        println!(
            "{stack}, every trace: tug/aas {} (goal <= 0.6 for CPU stacks), tug/aas-hr {} (goal <= 0.8), tug/limit {} (goal <= 1.3; 1.2 for todo), task-seconds tug/aas {} (goal <= 1.05)",
            ratio(tug.avoidable, aas.avoidable),
            ratio(tug.avoidable, hr.avoidable),
            ratio(tug.avoidable, tug.limit),
            ratio(tug.task_seconds, aas.task_seconds)
        );
        if tug20.task_seconds > 0 {
            println!(
                "{stack}, every trace, 20-second CPU: tug-20s/aas-hr {}, tug-20s/limit-20s {}, task-seconds tug-20s/aas-hr {}",
                ratio(tug20.avoidable, hr.avoidable),
                ratio(tug20.avoidable, tug20.limit_20s),
                ratio(tug20.task_seconds, hr.task_seconds)
            );
        }
    }
}

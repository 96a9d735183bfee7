//! Benchmark: EC2 capacity owned by tugboat against ECS's capacity provider with managed scaling
//! (the baseline: Application Auto Scaling on the same CPU rule, the group scaled by ECS on
//! CapacityProviderReservation with its 300 s warm-up and 15-minute scale-in). The first seed's
//! app stack (static host ports: one task per instance) with the CPU scaling section of
//! `tests/traces/app-scaling.part.yaml`, on the project's traces, seeds 1 to 3.
//!
//! Per run: the time from the first load the serving tasks cannot carry (after the service is
//! up) to enough tasks serving it (healthy tasks x capacityRps >= the load); the seconds any load
//! went unserved that way; instance-hours billed. Prints figures; asserts none.
//!
//! Run with `cargo bench --bench capacity`.

use tugboat::cloud::sim::load::LoadTrace;
use tugboat::cloud::sim::world::{Ec2Capacity, World};
use tugboat::simulate::{Scaler, Simulation};

const TRACES: [&str; 3] = ["step", "ramp", "spike"];
const SECONDS: u64 = 3 * 3600;
const SEEDS: [u64; 3] = [1, 2, 3];
/// The service is up (created, healthy) well before this; overload before it is start-up.
const UP_AT: u64 = 900;

#[derive(Default, Clone, Copy)]
struct Totals {
    /// Seconds from the first unserved load to enough tasks serving, summed over seeds.
    to_serve: u64,
    /// Seconds with load unserved.
    unserved: u64,
    /// Instance-hours.
    instance_hours: f64,
}

/// The app stack with the scaling section; `edit` changes the text further.
fn app_with_scaling(root: &str, edit: impl Fn(String) -> String) -> Vec<tugboat::model::Stack> {
    let path = format!("{root}/manifests/app.yaml");
    let text = std::fs::read_to_string(&path).expect("example");
    let part = std::fs::read_to_string(format!("{root}/tests/traces/app-scaling.part.yaml"))
        .expect("scaling section");
    let scaled = edit(text.replace("      deployment:\n", &format!("{part}      deployment:\n")));
    tugboat::manifest::parse_sources(&[tugboat::manifest::Source {
        name: path,
        bytes: scaled.into_bytes(),
    }])
    .expect("valid")
}

fn run(stacks: &[tugboat::model::Stack], csv: &str, seed: u64, scaler: Scaler) -> Totals {
    let world = World {
        ec2: Ec2Capacity {
            instances: 0,
            ..Ec2Capacity::default()
        },
        ..World::default()
    };
    let per_task = world.tasks.capacity_rps;
    let load = LoadTrace::parse(csv).expect("trace");
    let mut simulation = Simulation::new(stacks, world, load, seed, scaler).expect("setup");
    let mut totals = Totals::default();
    let mut first_short: Option<u64> = None;
    let mut served_at: Option<u64> = None;
    for t in 1..=SECONDS {
        for row in simulation.step().expect("step") {
            let s = &row.sample;
            let short = f64::from(s.healthy) * per_task < s.rps;
            if t < UP_AT {
                continue;
            }
            if short {
                totals.unserved += 1;
                first_short.get_or_insert(t);
            } else if first_short.is_some() && served_at.is_none() {
                served_at = Some(t);
            }
        }
    }
    if let Some(from) = first_short {
        totals.to_serve = served_at.unwrap_or(SECONDS) - from;
    }
    totals.instance_hours = simulation.with_sim(|s| s.instance_hours());
    totals
}

fn main() {
    let root = env!("CARGO_MANIFEST_DIR");
    let stacks = app_with_scaling(root, |t| t);
    // The same with 20-second CPU datapoints, and with one spare instance kept warm.
    let fine = app_with_scaling(root, |t| {
        t.replace(
            "      scaling:\n",
            "      scaling:\n        metricResolutionSeconds: 20\n",
        )
    });
    let spare = app_with_scaling(root, |t| {
        t.replace(
            "    maxInstances: 10\n",
            "    maxInstances: 10\n    spareInstances: 1\n",
        )
    });
    println!(
        "capacity benchmark: app (EC2, static host ports) with CPU scaling 2..6, an empty group at the start; sums over seeds {SEEDS:?}"
    );
    println!(
        "| trace | run | to serve (s) | baseline/run | unserved (s) | instance-h | run/baseline |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    for trace in TRACES {
        let csv =
            std::fs::read_to_string(format!("{root}/tests/traces/{trace}.csv")).expect("trace");
        let tug = Scaler::Tug { resync_seconds: 30 };
        let runs = [
            ("baseline (aas + managed scaling)", &stacks, Scaler::Aas),
            ("tug", &stacks, tug),
            ("tug, 20-second CPU", &fine, tug),
            ("tug, 1 spare instance", &spare, tug),
        ];
        let mut totals = [Totals::default(); 4];
        for seed in SEEDS {
            for ((_, stacks, scaler), totals) in runs.iter().zip(totals.iter_mut()) {
                let r = run(stacks, &csv, seed, *scaler);
                totals.to_serve += r.to_serve;
                totals.unserved += r.unserved;
                totals.instance_hours += r.instance_hours;
            }
        }
        let base = totals[0];
        let ratio = |a: f64, b: f64| {
            if b > 0.0 {
                format!("{:.2}", a / b)
            } else {
                "-".to_owned()
            }
        };
        for ((name, _, _), t) in runs.iter().zip(totals) {
            println!(
                "| {trace} | {name} | {} | {} | {} | {:.2} | {} |",
                t.to_serve,
                ratio(base.to_serve as f64, t.to_serve as f64),
                t.unserved,
                t.instance_hours,
                ratio(t.instance_hours, base.instance_hours),
            );
        }
    }
}

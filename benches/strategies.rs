//! Benchmark: a bad image on a 10-task service, tugboat with ECS's CANARY strategy against ECS's
//! native rolling deployment with the circuit breaker (rollback on), both on the simulator at a
//! constant 200 rps. For each kind of bad image it prints the time from the deployment to the
//! rollback (tugboat's StopServiceDeployment, or ECS marking the deployment FAILED), the minutes
//! in which users got 5XX, how many 5XX they got, and the tasks started for the rollback.
//! Prints figures; asserts none.
//!
//! Run with `cargo bench --bench strategies`.

use tugboat::cloud::sim::load::LoadTrace;
use tugboat::cloud::sim::world::{FailingImage, Failure, ScheduledDeployment, World};
use tugboat::model::DecisionKind;
use tugboat::model::aws::RolloutState;
use tugboat::simulate::{Scaler, Simulation};

const DEPLOY_AT: u64 = 1800;
const AFTER: u64 = 3600;
const IMAGE: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com/shop:1.1.0";

/// The canary example as a team deploys it today without tugboat: ECS's rolling update with the
/// circuit breaker (and its rollback), no traffic shifting.
fn rolling(canary: &str) -> String {
    canary
        .lines()
        .filter(|l| {
            let t = l.trim_start();
            !(t.starts_with("alternateTargetGroup:")
                || t.starts_with("productionListenerRule:")
                || t.starts_with("roleArn:")
                || t.starts_with("strategy:")
                || t.starts_with("canary:"))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

struct Outcome {
    detected_after: Option<u64>,
    minutes_with_5xx: usize,
    total_5xx: f64,
    started_for_rollback: u64,
}

fn run(text: &str, scaler: Scaler, failure: Failure, fraction: Option<f64>) -> Outcome {
    let stacks = tugboat::manifest::parse_sources(&[tugboat::manifest::Source {
        name: "canary.yaml".into(),
        bytes: text.as_bytes().to_vec(),
    }])
    .expect("valid");
    let mut world = World::default();
    world.images.push(FailingImage {
        image: IMAGE.into(),
        failure,
        after_seconds: None,
        fraction,
    });
    world.deployments.push(ScheduledDeployment {
        at_seconds: DEPLOY_AT,
        service: "shop".into(),
        image: IMAGE.into(),
    });
    let mut simulation =
        Simulation::new(&stacks, world, LoadTrace::constant(200.0), 1, scaler).expect("setup");
    let mut minutes = std::collections::BTreeSet::new();
    let mut total = 0.0;
    let mut detected = None;
    let mut launched_at_detection = 0;
    let mut launched = 0;
    let mut deployed = false;
    for _ in 0..DEPLOY_AT + AFTER {
        for row in simulation.step().expect("step") {
            if row.t_seconds > DEPLOY_AT && row.sample.http_5xx > 0.0 {
                minutes.insert(row.t_seconds / 60);
                total += row.sample.http_5xx;
            }
            launched = row.sample.launched;
        }
        let t = simulation.now();
        if t <= DEPLOY_AT || detected.is_some() {
            continue;
        }
        // The rollback: tugboat's decision, or ECS failing the deployment (or running the old
        // revision again) on its own.
        let decided = !simulation.decisions_of(DecisionKind::Rollback).is_empty();
        let service = simulation
            .with_sim(|s| s.peek_service("shopCluster", "shop"))
            .expect("service");
        deployed |= service.task_definition.revision == 2;
        let by_ecs = service
            .deployments
            .iter()
            .any(|d| d.rollout_state == RolloutState::Failed)
            || (deployed && service.task_definition.revision == 1);
        if decided || by_ecs {
            detected = Some(t - DEPLOY_AT);
            launched_at_detection = launched;
        }
    }
    Outcome {
        detected_after: detected,
        minutes_with_5xx: minutes.len(),
        total_5xx: total,
        started_for_rollback: if detected.is_some() {
            launched - launched_at_detection
        } else {
            0
        },
    }
}

fn main() {
    let root = env!("CARGO_MANIFEST_DIR");
    let canary = std::fs::read_to_string(format!("{root}/manifests/strategies/canary.yaml"))
        .expect("canary");
    let rolling = rolling(&canary);
    println!(
        "strategies benchmark: shop (10 tasks, 200 rps), a bad image deployed at {DEPLOY_AT} s, watched {AFTER} s"
    );
    println!(
        "{:<34} {:<40} {:>10} {:>12} {:>10} {:>10}",
        "bad image", "deployment", "detected", "5XX minutes", "5XX", "started"
    );
    for (what, failure, fraction) in [
        ("serves 20 % 5XX", Failure::Serves5xx, Some(0.2)),
        ("fails its health checks", Failure::FailsHealthChecks, None),
        ("never starts", Failure::NeverRuns, None),
    ] {
        for (how, text, scaler) in [
            (
                "tugboat + ECS CANARY 10 % / 5 min",
                canary.as_str(),
                Scaler::Tug { resync_seconds: 30 },
            ),
            (
                "ECS rolling + circuit breaker rollback",
                rolling.as_str(),
                Scaler::None,
            ),
        ] {
            let o = run(text, scaler, failure, fraction);
            println!(
                "{what:<34} {how:<40} {:>10} {:>12} {:>10.0} {:>10}",
                o.detected_after
                    .map_or_else(|| "never".to_owned(), |s| format!("{s} s")),
                o.minutes_with_5xx,
                o.total_5xx,
                o.started_for_rollback
            );
        }
    }
}

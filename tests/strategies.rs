//! ECS's traffic-shifting strategies (canary, linear, blue/green) in the simulator, driven by
//! tugboat's controller in virtual time: a good image completes with production traffic moved in
//! the configured steps; a bad one is caught during the first step (or before any traffic moves)
//! and tugboat stops the deployment with ROLLBACK, so traffic returns to the old tasks and no task
//! is started for the rollback. Invariants are checked at every simulated second.

mod support;

use support::example_stacks;
use tugboat::cloud::sim::load::LoadTrace;
use tugboat::cloud::sim::world::{FailingImage, Failure, ScheduledDeployment, World};
use tugboat::model::DecisionKind;
use tugboat::model::aws::AlarmStateValue;
use tugboat::simulate::{Scaler, Simulation, TimelineRow};

const DEPLOY_AT: u64 = 1800;
const LOAD_RPS: f64 = 200.0;

struct Case {
    manifest: &'static str,
    cluster: &'static str,
    service: &'static str,
    image: &'static str,
    /// The production shares green passes through, in order.
    steps: &'static [f64],
}

const CANARY: Case = Case {
    manifest: "manifests/strategies/canary.yaml",
    cluster: "shopCluster",
    service: "shop",
    image: "123456789012.dkr.ecr.us-east-1.amazonaws.com/shop:1.1.0",
    steps: &[0.0, 10.0, 100.0],
};
const LINEAR: Case = Case {
    manifest: "manifests/strategies/linear.yaml",
    cluster: "shopCluster",
    service: "shop-linear",
    image: "123456789012.dkr.ecr.us-east-1.amazonaws.com/shop:1.1.0",
    steps: &[0.0, 25.0, 50.0, 75.0, 100.0],
};
const BLUE_GREEN: Case = Case {
    manifest: "manifests/strategies/blue-green.yaml",
    cluster: "shopCluster",
    service: "shop-bg",
    image: "123456789012.dkr.ecr.us-east-1.amazonaws.com/shop:1.1.0",
    steps: &[0.0, 100.0],
};

/// What a run saw, second by second.
#[derive(Default)]
struct Seen {
    /// Green's production share, each time it changed: (second, percent).
    shares: Vec<(u64, Option<f64>)>,
    /// (second, tasks started so far).
    launched: Vec<(u64, u64)>,
    /// 5XX served per second, summed.
    http_5xx: f64,
}

fn run(case: &Case, failure: Option<(Failure, Option<f64>)>, seconds: u64) -> (Simulation, Seen) {
    let mut simulation = setup(case, failure);
    let mut seen = Seen::default();
    watch(&mut simulation, seconds, &mut seen);
    (simulation, seen)
}

/// The case's stack deployed in the simulator, with the image failing as given.
fn setup(case: &Case, failure: Option<(Failure, Option<f64>)>) -> Simulation {
    let stacks = example_stacks(case.manifest);
    let mut world = World::default();
    if let Some((failure, fraction)) = failure {
        world.images.push(FailingImage {
            image: case.image.into(),
            failure,
            after_seconds: None,
            fraction,
        });
    }
    world.deployments.push(ScheduledDeployment {
        at_seconds: DEPLOY_AT,
        service: case.service.into(),
        image: case.image.into(),
    });
    Simulation::new(
        &stacks,
        world,
        LoadTrace::constant(LOAD_RPS),
        1,
        Scaler::Tug { resync_seconds: 30 },
    )
    .expect("setup")
}

/// Runs `seconds` more, checking the invariants every second and adding to `seen`.
fn watch(simulation: &mut Simulation, seconds: u64, seen: &mut Seen) {
    simulation
        .run(seconds, |row: &TimelineRow| {
            let s = &row.sample;
            if row.t_seconds > 600 {
                // Never fewer healthy tasks than desired once the service first settled: blue
                // keeps serving until green is healthy, and after a rollback.
                assert!(s.healthy >= s.desired, "{row:?}");
                // Green at full size beside blue, never more.
                assert!(s.running + s.pending <= 2 * s.desired, "{row:?}");
            }
            if seen.shares.last().map(|(_, p)| *p) != Some(s.traffic_shifted_percent) {
                seen.shares.push((row.t_seconds, s.traffic_shifted_percent));
            }
            if seen.launched.last().map(|(_, n)| *n) != Some(s.launched) {
                seen.launched.push((row.t_seconds, s.launched));
            }
            if row.t_seconds > DEPLOY_AT {
                seen.http_5xx += s.http_5xx;
            }
        })
        .expect("run");
}

/// The shares green went through during the deployment, without the "no deployment" gaps.
fn shares(seen: &Seen) -> Vec<f64> {
    seen.shares.iter().filter_map(|(_, p)| *p).collect()
}

fn a_good_image_shifts_traffic_in_the_configured_steps(case: &Case, held: &[(f64, u64)]) {
    let (simulation, seen) = run(case, None, 3600);
    assert_eq!(shares(&seen), case.steps, "{:?}", seen.shares);
    // Each step is held as configured (to the second: the simulator's clock is exact).
    for (share, minutes) in held {
        let at = seen
            .shares
            .iter()
            .position(|(_, p)| *p == Some(*share))
            .expect("step seen");
        let (from, until) = (seen.shares[at].0, seen.shares[at + 1].0);
        assert_eq!(
            until - from,
            minutes * 60,
            "{share} % held {}",
            until - from
        );
    }
    assert_eq!(seen.http_5xx, 0.0, "a good image serves no 5XX");
    assert_eq!(
        simulation.decisions_of(DecisionKind::RolloutVerified).len(),
        2,
        "creation and the new image: {:?}",
        simulation.decisions()
    );
    let memory = simulation.memory(case.service).expect("memory");
    assert_eq!(
        memory.verified_good.as_ref().map(|r| r.id.revision),
        Some(2)
    );
    let service = simulation
        .with_sim(|s| s.peek_service(case.cluster, case.service))
        .expect("service");
    assert_eq!(service.task_definition.revision, 2);
    assert_eq!(service.running_count, 10, "blue is gone");
    assert!(simulation.decisions_of(DecisionKind::Rollback).is_empty());
}

#[test]
fn canary_a_good_image_moves_10_percent_then_all_of_the_traffic() {
    a_good_image_shifts_traffic_in_the_configured_steps(&CANARY, &[(10.0, 5), (100.0, 2)]);
}

#[test]
fn linear_a_good_image_moves_25_percent_every_4_minutes() {
    a_good_image_shifts_traffic_in_the_configured_steps(
        &LINEAR,
        &[(25.0, 4), (50.0, 4), (75.0, 4), (100.0, 2)],
    );
}

#[test]
fn blue_green_a_good_image_moves_all_of_the_traffic_and_keeps_blue_for_the_bake() {
    a_good_image_shifts_traffic_in_the_configured_steps(&BLUE_GREEN, &[(100.0, 10)]);
}

/// The bad image is caught at `caught_at_share` (the first step that gave green traffic, or
/// before any did), tugboat stops the deployment with ROLLBACK, traffic returns to blue, no task
/// is started from then on, the failed digest is recorded and verified-good kept.
fn a_bad_image_is_rolled_back_by_moving_the_traffic_back(
    case: &Case,
    failure: (Failure, Option<f64>),
    caught_at_share: f64,
) -> Seen {
    let (simulation, seen) = run(case, Some(failure), 3600);
    let rollbacks = simulation.decisions_of(DecisionKind::Rollback);
    assert_eq!(rollbacks.len(), 1, "{:?}", simulation.decisions());
    let (at, reason) = &rollbacks[0];
    assert!(
        reason.contains("with ROLLBACK") && reason.contains("none is started"),
        "{reason}"
    );
    let share_then = seen
        .shares
        .iter()
        .rev()
        .find(|(t, _)| t <= at)
        .and_then(|(_, p)| *p);
    assert_eq!(
        share_then,
        Some(caught_at_share),
        "{:?} at {at}",
        seen.shares
    );
    let launched_then = seen
        .launched
        .iter()
        .rev()
        .find(|(t, _)| t <= at)
        .map(|(_, n)| *n);
    assert_eq!(
        seen.launched.last().map(|(_, n)| *n),
        launched_then,
        "tasks started after the rollback at {at}: {:?}",
        seen.launched
    );
    let memory = simulation.memory(case.service).expect("memory");
    assert_eq!(memory.failed_digests.len(), 1);
    assert_eq!(
        memory.verified_good.as_ref().map(|r| r.id.revision),
        Some(1)
    );
    assert!(memory.rollout.is_none(), "the rollback was verified");
    let service = simulation
        .with_sim(|s| s.peek_service(case.cluster, case.service))
        .expect("service");
    assert_eq!(service.task_definition.revision, 1);
    assert_eq!(service.running_count, 10);
    assert_eq!(
        simulation.decisions_of(DecisionKind::RolloutStart).len(),
        1,
        "the failed digest was retried"
    );
    seen
}

#[test]
fn canary_a_bad_image_serving_20_percent_5xx_is_caught_during_the_canary_step() {
    a_bad_image_is_rolled_back_by_moving_the_traffic_back(
        &CANARY,
        (Failure::Serves5xx, Some(0.2)),
        10.0,
    );
}

#[test]
fn linear_a_bad_image_serving_20_percent_5xx_is_caught_during_the_first_step() {
    a_bad_image_is_rolled_back_by_moving_the_traffic_back(
        &LINEAR,
        (Failure::Serves5xx, Some(0.2)),
        25.0,
    );
}

#[test]
fn a_bad_image_failing_health_checks_never_gets_production_traffic() {
    for case in [&CANARY, &LINEAR, &BLUE_GREEN] {
        let seen = a_bad_image_is_rolled_back_by_moving_the_traffic_back(
            case,
            (Failure::FailsHealthChecks, None),
            0.0,
        );
        assert_eq!(seen.http_5xx, 0.0, "{}: users saw 5XX", case.service);
    }
}

/// An image that never starts trips ECS's own circuit breaker, and ECS rolls the traffic-shifting
/// deployment back itself (tugboat turns rollback on for these strategies). tugboat takes that
/// as the rollout failing, even once the failed deployment has left DescribeServices: the digest
/// is recorded, nothing is deployed again, and no task is started after the rollback.
#[test]
fn a_rollback_ecs_makes_itself_is_a_failed_rollout_not_drift() {
    let (simulation, seen) = run(&CANARY, Some((Failure::NeverRuns, None)), 3600);
    let rollbacks = simulation.decisions_of(DecisionKind::Rollback);
    assert_eq!(rollbacks.len(), 1, "{:?}", simulation.decisions());
    assert!(
        rollbacks[0].1.contains("ECS rolled the deployment back"),
        "{rollbacks:?}"
    );
    assert_eq!(
        simulation.decisions_of(DecisionKind::RolloutStart).len(),
        1,
        "deployed again: {:?}",
        simulation.decisions()
    );
    // Green's tasks kept failing to start until the breaker tripped; none was started after.
    let rolled_back_at = rollbacks[0].0;
    let launched_then = seen
        .launched
        .iter()
        .rev()
        .find(|(t, _)| *t <= rolled_back_at)
        .map(|(_, n)| *n);
    assert_eq!(
        seen.launched.last().map(|(_, n)| *n),
        launched_then,
        "{:?}",
        seen.launched
    );
    assert_eq!(
        shares(&seen).iter().copied().fold(0.0, f64::max),
        0.0,
        "green never got traffic"
    );
    let memory = simulation.memory(CANARY.service).expect("memory");
    assert_eq!(memory.failed_digests.len(), 1);
    assert_eq!(
        memory.verified_good.as_ref().map(|r| r.id.revision),
        Some(1)
    );
}

/// A named alarm (`deployment.alarms`) that goes into ALARM during the canary step fails the
/// deployment: the traffic goes back to blue and no task is started for it; tugboat takes it as
/// the rollout failing, records the digest and keeps verified good. The image itself is good:
/// only the alarm says otherwise (what it watches is the team's, not the simulator's).
#[test]
fn canary_an_alarm_going_into_alarm_during_the_canary_step_moves_the_traffic_back() {
    let mut simulation = setup(&CANARY, None);
    let mut seen = Seen::default();
    let alarm_at = DEPLOY_AT + 300;
    watch(&mut simulation, alarm_at, &mut seen);
    assert_eq!(shares(&seen).last(), Some(&10.0), "{:?}", seen.shares);
    simulation.with_sim(|s| {
        s.set_alarm_state(
            "shop-latency-p99",
            AlarmStateValue::Alarm,
            "Threshold Crossed: 3 datapoints were greater than the threshold (0.5)",
        );
    });
    let launched_then = seen.launched.last().map(|(_, n)| *n);
    watch(&mut simulation, 3600 - alarm_at, &mut seen);
    let rollbacks = simulation.decisions_of(DecisionKind::Rollback);
    assert_eq!(rollbacks.len(), 1, "{:?}", simulation.decisions());
    assert!(
        rollbacks[0].1.contains("shop-latency-p99 went into ALARM"),
        "{rollbacks:?}"
    );
    assert!(rollbacks[0].0 >= alarm_at && rollbacks[0].0 <= alarm_at + 30);
    assert_eq!(
        seen.launched.last().map(|(_, n)| *n),
        launched_then,
        "tasks started after the alarm: {:?}",
        seen.launched
    );
    let memory = simulation.memory(CANARY.service).expect("memory");
    assert_eq!(memory.failed_digests.len(), 1);
    assert_eq!(
        memory.verified_good.as_ref().map(|r| r.id.revision),
        Some(1)
    );
    let service = simulation
        .with_sim(|s| s.peek_service(CANARY.cluster, CANARY.service))
        .expect("service");
    assert_eq!(
        (service.task_definition.revision, service.running_count),
        (1, 10)
    );
}

/// An alarm already in ALARM when the rollout starts gates nothing (ECS ignores it, and so does
/// tugboat, saying so): the good image completes and is verified.
#[test]
fn an_alarm_in_alarm_before_the_rollout_started_does_not_fail_it_and_is_said() {
    let mut simulation = setup(&CANARY, None);
    let mut seen = Seen::default();
    watch(&mut simulation, DEPLOY_AT - 60, &mut seen);
    simulation.with_sim(|s| {
        s.set_alarm_state(
            "shop-latency-p99",
            AlarmStateValue::Alarm,
            "noisy since lunch",
        );
    });
    watch(&mut simulation, 3600 - (DEPLOY_AT - 60), &mut seen);
    assert!(
        simulation.decisions_of(DecisionKind::Rollback).is_empty(),
        "{:?}",
        simulation.decisions()
    );
    assert_eq!(shares(&seen), CANARY.steps);
    assert!(
        simulation
            .decisions_of(DecisionKind::Hold)
            .iter()
            .any(
                |(_, r)| r.contains("shop-latency-p99 has been in ALARM since")
                    && r.contains("before the rollout started")
            ),
        "{:?}",
        simulation.decisions()
    );
}

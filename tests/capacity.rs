//! EC2 capacity owned by tugboat (a stack's `capacity`), on the simulated AWS in virtual time: the
//! first seed's app stack from an empty Auto Scaling group to its tasks serving, a rollout within
//! its bounds on the instances it has, and a scale-out that gets its instances first. Invariants
//! are checked at every simulated second.

mod support;

use support::example_stacks;
use tugboat::cloud::sim::load::LoadTrace;
use tugboat::cloud::sim::world::{Ec2Capacity, ScheduledDeployment, World};
use tugboat::cloud::sim::{maximum_total, minimum_healthy};
use tugboat::model::{DecisionKind, Stack};
use tugboat::simulate::{Scaler, Simulation};

const CLUSTER: &str = "appCluster";

/// A world whose Auto Scaling group starts with no instance, as the seed's does.
fn empty_group() -> World {
    World {
        ec2: Ec2Capacity {
            instances: 0,
            ..Ec2Capacity::default()
        },
        ..World::default()
    }
}

/// `manifests/app.yaml` with the CPU scaling section of `tests/traces/app-scaling.part.yaml`: 2
/// to 6 tasks.
fn app_with_scaling() -> Vec<Stack> {
    let root = env!("CARGO_MANIFEST_DIR");
    let path = format!("{root}/manifests/app.yaml");
    let text = std::fs::read_to_string(&path).expect("example");
    let part = std::fs::read_to_string(format!("{root}/tests/traces/app-scaling.part.yaml"))
        .expect("scaling section");
    let scaled = text.replace("      deployment:\n", &format!("{part}      deployment:\n"));
    assert_ne!(scaled, text, "the example has a deployment section");
    tugboat::manifest::parse_sources(&[tugboat::manifest::Source {
        name: path,
        bytes: scaled.into_bytes(),
    }])
    .expect("valid")
}

fn tug(stacks: &[Stack], world: World, load: LoadTrace) -> Simulation {
    Simulation::new(stacks, world, load, 1, Scaler::Tug { resync_seconds: 30 }).expect("setup")
}

/// The group's instances: (in the group, registered and ACTIVE, DRAINING).
fn instances(simulation: &Simulation) -> (u32, u32, u32) {
    simulation.with_sim(|s| s.instance_counts(CLUSTER))
}

/// The capacity decisions in the stack's status, oldest first.
fn capacity_decisions(simulation: &Simulation) -> Vec<(DecisionKind, String)> {
    simulation
        .store()
        .status_of("app")
        .and_then(|s| s.capacity)
        .map(|c| {
            c.decisions
                .into_iter()
                .map(|d| (d.kind, d.reason))
                .collect()
        })
        .unwrap_or_default()
}

/// Acceptance: the seed's app stack (0..10 instances, starting empty; host ports 80 and 8000; 2
/// tasks; minimum healthy 50 %, maximum 100 %). tugboat provisions 2 instances, creates the
/// service once they have room, and rolls a new image out on those 2 instances: at maximum 100 %
/// one task stops before its replacement starts, so no third instance is launched.
#[test]
fn app_goes_from_an_empty_group_to_two_tasks_and_rolls_out_on_the_same_two_instances() {
    let stacks = example_stacks("manifests/app.yaml");
    let mut world = empty_group();
    world.deployments.push(ScheduledDeployment {
        at_seconds: 1800,
        service: "appService".into(),
        image: "123456789012.dkr.ecr.us-east-2.amazonaws.com/app_repository:1.1.0".into(),
    });
    let mut simulation = tug(&stacks, world, LoadTrace::constant(60.0));
    let mut first_healthy = None;
    for t in 1..=3 * 3600u64 {
        let rows = simulation.step().expect("step");
        let (total, active, _) = instances(&simulation);
        assert!(
            total <= 2,
            "t={t}: {total} instances: no more than 2 are ever needed"
        );
        for row in rows {
            let s = &row.sample;
            assert!(
                s.running + s.pending <= maximum_total(s.desired, 100),
                "t={t}: {s:?}"
            );
            // Every task ECS is asked for has an instance with room: none waits.
            assert!(
                s.desired <= active,
                "t={t}: {} desired on {active} instances",
                s.desired
            );
            if s.healthy == 2 && first_healthy.is_none() {
                first_healthy = Some(t);
            }
            if first_healthy.is_some() {
                assert!(s.healthy >= minimum_healthy(2, 50), "t={t}: {s:?}");
            }
        }
    }
    let first_healthy = first_healthy.expect("2 tasks healthy");
    // Launch (180 s) + task start + the health checks: well within 15 minutes of nothing.
    assert!(first_healthy < 900, "healthy at {first_healthy} s");
    let decisions = capacity_decisions(&simulation);
    assert_eq!(
        decisions.first(),
        Some(&(
            DecisionKind::ScaleOut,
            "+2 instances (0 -> 2): 2 tasks need 2 instances".to_owned()
        )),
        "{decisions:?}"
    );
    assert!(
        !decisions.iter().any(|(k, _)| *k == DecisionKind::ScaleIn),
        "{decisions:?}"
    );
    assert_eq!(
        simulation.decisions_of(DecisionKind::RolloutVerified).len(),
        2,
        "creation and the new image"
    );
    let memory = simulation.memory("appService").expect("memory");
    assert_eq!(
        memory.verified_good.map(|r| r.id.revision),
        Some(2),
        "{:?}",
        simulation.decisions()
    );
    assert_eq!(instances(&simulation), (2, 2, 0));
    let status = simulation.store().status_of("app").and_then(|s| s.capacity);
    let status = status.expect("capacity status");
    assert_eq!(
        (status.desired, status.running, status.tasks_waiting),
        (2, 2, 0)
    );
    // Hours steady since the rollout, and the status still says the group was seen within the
    // last minute (and a resync): `tug get capacity`'s SEEN must not age while nothing changes.
    let age = simulation.now().saturating_sub(status.observed_at);
    assert!(
        age <= 60 + 30,
        "capacity seen {age} s ago at t={}",
        simulation.now()
    );
}

/// Acceptance: the app stack with a scaling section, under a load step. The instances a
/// scale-out needs are provisioned before ECS is asked for the tasks (no task ever waits for
/// room), and once the load is gone the tasks scale in, then the idle instances are drained and
/// terminated, never below what the tasks need.
#[test]
fn app_scales_out_with_its_instances_first_and_scales_in_again() {
    let stacks = app_with_scaling();
    let load =
        LoadTrace::parse("t_seconds,rps\n0,60\n1799,60\n1800,350\n4799,350\n4800,60\n14400,60\n")
            .expect("trace");
    let mut simulation = tug(&stacks, empty_group(), load);
    let mut most_instances = 0;
    let mut most_tasks = 0;
    for t in 1..=4 * 3600u64 {
        let rows = simulation.step().expect("step");
        let (total, active, _) = instances(&simulation);
        assert!(total <= 10, "t={t}: maxInstances");
        most_instances = most_instances.max(total);
        for row in rows {
            let s = &row.sample;
            assert!(
                s.desired <= active,
                "t={t}: {} desired on {active} instances",
                s.desired
            );
            assert!(s.desired <= 6, "t={t}: maxTasks");
            most_tasks = most_tasks.max(s.running);
            if t > 900 {
                assert!(s.healthy >= 1, "t={t}: {s:?}");
            }
        }
    }
    assert!(most_tasks >= 4, "scaled out: {most_tasks} tasks at most");
    assert!(
        (4..=6).contains(&most_instances),
        "{most_instances} instances at most"
    );
    let decisions = capacity_decisions(&simulation);
    let kinds = |k: DecisionKind| decisions.iter().filter(|(d, _)| *d == k).count();
    assert!(kinds(DecisionKind::ScaleOut) >= 2, "{decisions:?}");
    assert!(
        kinds(DecisionKind::ScaleIn) >= 2,
        "drained and terminated: {decisions:?}"
    );
    // Back to what 2 tasks need.
    let status = simulation.store().status_of("app").and_then(|s| s.capacity);
    assert_eq!(
        instances(&simulation),
        (2, 2, 0),
        "{status:?} {:?}",
        simulation.with_sim(|s| s.instances(CLUSTER))
    );
    let memory = simulation.memory("appService").expect("memory");
    assert_eq!(memory.desired_count, Some(2));
    assert_eq!(memory.waiting_for_room, None);
}

/// The app stack at maximumPercent 200: a new image needs room for 2 more tasks beside the 2 it
/// runs. The rollout waits (with its reason) until the instances for that surge have registered,
/// then runs with every task on an instance; afterwards the 2 spare instances are drained and
/// terminated.
#[test]
fn a_rollout_with_a_surge_waits_for_its_instances() {
    let path = format!("{}/manifests/app.yaml", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).expect("example");
    let surging = text.replace("maximumPercent: 100", "maximumPercent: 200");
    assert_ne!(surging, text);
    let stacks = tugboat::manifest::parse_sources(&[tugboat::manifest::Source {
        name: path,
        bytes: surging.into_bytes(),
    }])
    .expect("valid");
    let mut world = empty_group();
    world.deployments.push(ScheduledDeployment {
        at_seconds: 1800,
        service: "appService".into(),
        image: "123456789012.dkr.ecr.us-east-2.amazonaws.com/app_repository:1.1.0".into(),
    });
    let mut simulation = tug(&stacks, world, LoadTrace::constant(60.0));
    let mut most = 0;
    for t in 1..=3 * 3600u64 {
        let rows = simulation.step().expect("step");
        let (total, active, _) = instances(&simulation);
        most = most.max(total);
        for row in rows {
            let s = &row.sample;
            // One task per instance: every task ECS runs or starts has its instance.
            assert!(
                s.running + s.pending <= active,
                "t={t}: {} tasks on {active} instances",
                s.running + s.pending
            );
            if t > 900 {
                assert!(s.healthy >= minimum_healthy(2, 50), "t={t}: {s:?}");
            }
        }
    }
    assert_eq!(most, 4, "2 for the tasks, 2 for the surge");
    let holds: Vec<String> = simulation
        .decisions_of(DecisionKind::Hold)
        .into_iter()
        .map(|(_, r)| r)
        .filter(|r| r.contains("waits for room"))
        .collect();
    assert!(
        holds
            .iter()
            .any(|r| r.starts_with("the rollout of appService waits for room")),
        "{holds:?}"
    );
    let memory = simulation.memory("appService").expect("memory");
    assert_eq!(memory.verified_good.map(|r| r.id.revision), Some(2));
    assert_eq!(
        instances(&simulation),
        (2, 2, 0),
        "{:?}",
        capacity_decisions(&simulation)
    );
}

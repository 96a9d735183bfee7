//! tugboat's controller against the simulated AWS, in virtual time: the example stacks, scaled,
//! rolled out, rolled back and kept from drifting. Invariants are checked at every simulated second.

use tugboat::cloud::sim::load::LoadTrace;
use tugboat::cloud::sim::simulation::{Scaler, Simulation, TimelineRow};
use tugboat::cloud::sim::world::{FailingImage, Failure, ScheduledDeployment, World};
use tugboat::cloud::sim::{maximum_total, minimum_healthy};
use tugboat::cloud::types::{
    HealthCheckSettings, MetricId, TaskDefinitionInput, UpdateServiceInput,
};
use tugboat::manifest::{load_sources, parse_sources};
use tugboat::model::{DecisionKind, Stack};

const RESYNC: u64 = 30;

fn stacks(path: &str) -> Vec<Stack> {
    let sources =
        load_sources(&[format!("{}/{path}", env!("CARGO_MANIFEST_DIR"))]).expect("readable");
    parse_sources(&sources).expect("valid")
}

fn trace(name: &str) -> LoadTrace {
    let text = std::fs::read_to_string(format!(
        "{}/tests/traces/{name}.csv",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("trace");
    LoadTrace::parse(&text).expect("valid trace")
}

fn tug(stacks: &[Stack], world: World, load: LoadTrace) -> Simulation {
    Simulation::new(
        stacks,
        world,
        load,
        1,
        Scaler::Tug {
            resync_seconds: RESYNC,
        },
    )
    .expect("setup")
}

/// Runs `seconds`, calling `check` with every row.
fn run(
    simulation: &mut Simulation,
    stacks: &[Stack],
    seconds: u64,
    mut check: impl FnMut(&TimelineRow),
) {
    for _ in 0..seconds {
        for row in simulation.step(stacks).expect("step") {
            check(&row);
        }
    }
}

fn decisions(simulation: &Simulation, kind: DecisionKind) -> Vec<(u64, String)> {
    simulation
        .decisions
        .iter()
        .filter(|(_, _, d)| d.kind == kind)
        .map(|(t, _, d)| (*t, d.reason.clone()))
        .collect()
}

/// Scenario 1 (fargate-test1: CPU > 70 % for 5 minutes adds a task, 2..4 tasks): the controller acts
/// within one resync of the deciding datapoint becoming readable, and never leaves 2..4.
#[test]
fn fargate_test1_scales_within_one_resync_of_the_deciding_datapoint() {
    let stacks = stacks("manifests/fargate-test1.yaml");
    let mut simulation = tug(&stacks, World::default(), trace("step"));
    run(&mut simulation, &stacks, 3 * 3600, |row| {
        if row.t_seconds > 1 {
            assert!(
                (2..=4).contains(&row.sample.desired),
                "t={}: desired {}",
                row.t_seconds,
                row.sample.desired
            );
        }
    });
    let outs = decisions(&simulation, DecisionKind::ScaleOut);
    assert!(!outs.is_empty(), "never scaled out");
    // The deciding datapoint: the fifth consecutive minute above 70 %.
    let cpu = MetricId::ServiceCpu {
        cluster: "test1Cluster".into(),
        service: "test1Service".into(),
    };
    let series = simulation
        .sim
        .get_metric_data(std::slice::from_ref(&cpu), 0, 3 * 3600)
        .expect("metrics");
    let points = &series[&cpu];
    let fifth = points
        .windows(5)
        .find(|w| w.iter().all(|p| p.value > 70.0) && w[4].minute_start - w[0].minute_start == 240)
        .map(|w| w[4].minute_start)
        .expect("a breach");
    let readable = fifth + 60 + simulation.sim.world().metrics.publication_delay_seconds;
    let acted = outs[0].0;
    assert!(
        acted >= readable && acted <= readable + RESYNC,
        "datapoint readable at {readable}, acted at {acted}"
    );
}

/// Scenario 2 (todo: 10 or more load-balancer 5XX in a minute doubles the tasks): doubles, capped
/// at maxTasks.
#[test]
fn todo_doubles_on_5xx_capped_at_max() {
    let stacks = stacks("manifests/todo.yaml");
    let mut simulation = tug(&stacks, World::default(), trace("spike"));
    run(&mut simulation, &stacks, 3 * 3600, |row| {
        if row.t_seconds > 1 {
            assert!((2..=8).contains(&row.sample.desired), "{row:?}");
        }
    });
    let summary = simulation.summary();
    let main: Vec<_> = summary
        .actions
        .iter()
        .filter(|a| a.service == "todoMain" && a.to > a.from)
        .collect();
    assert!(!main.is_empty(), "{:?}", summary.actions);
    for action in &main {
        assert_eq!(action.to, (action.from * 2).min(8), "{action:?}");
        assert!(action.reason.contains("5XX"), "{action:?}");
    }
    assert_eq!(summary.services["todoMain"].max_tasks, 8);
}

/// Scenario 3 (app: 2 tasks, minimum healthy 50 %, maximum 100 %): a new image rolls one task at a
/// time, with at least one healthy task every second, and completes.
#[test]
fn app_rolls_a_new_image_one_task_at_a_time() {
    let stacks = stacks("manifests/app.yaml");
    let mut world = World::default();
    world.deployments.push(ScheduledDeployment {
        at_seconds: 1800,
        service: "appService".into(),
        image: "123456789012.dkr.ecr.us-east-2.amazonaws.com/app_repository:1.1.0".into(),
    });
    let mut simulation = tug(&stacks, world, LoadTrace::constant(60.0));
    let (most, least) = (maximum_total(2, 100), minimum_healthy(2, 50));
    run(&mut simulation, &stacks, 3 * 3600, |row| {
        let s = &row.sample;
        if row.t_seconds > 1 {
            assert!(s.running + s.pending <= most, "{row:?}");
        }
        if row.t_seconds >= 1800 {
            assert!(s.healthy >= least, "{row:?}");
        }
    });
    assert_eq!(decisions(&simulation, DecisionKind::RolloutStart).len(), 1);
    assert_eq!(
        decisions(&simulation, DecisionKind::RolloutVerified).len(),
        2,
        "creation and the new image"
    );
    let memory = simulation.memory("appService").expect("memory");
    assert_eq!(
        memory.verified_good.as_ref().map(|r| r.id.revision),
        Some(2)
    );
    assert!(memory.rollout.is_none());
}

/// Scenario 4: a bad image is detected, rolled back to the last verified-good revision with the
/// minimum healthy kept throughout, and its digest is not retried.
#[test]
fn a_bad_image_rolls_back_to_verified_good_and_is_not_retried() {
    let stacks = stacks("manifests/fargate-test1.yaml");
    let bad = "123456789012.dkr.ecr.us-east-1.amazonaws.com/test1:bad";
    let mut world = World::default();
    world.images.push(FailingImage {
        image: bad.into(),
        failure: Failure::NeverRuns,
        after_seconds: None,
        fraction: None,
    });
    world.deployments.push(ScheduledDeployment {
        at_seconds: 1200,
        service: "test1Service".into(),
        image: bad.into(),
    });
    let mut simulation = tug(&stacks, world, LoadTrace::constant(60.0));
    run(&mut simulation, &stacks, 2 * 3600, |row| {
        if row.t_seconds >= 1200 {
            let least = minimum_healthy(row.sample.desired, 50);
            assert!(row.sample.healthy >= least, "{row:?}");
        }
    });
    let rollbacks = decisions(&simulation, DecisionKind::Rollback);
    assert_eq!(rollbacks.len(), 1, "{:?}", simulation.decisions);
    assert!(
        rollbacks[0]
            .1
            .contains("back to verified-good test1TaskDefinition:1"),
        "{rollbacks:?}"
    );
    assert_eq!(
        decisions(&simulation, DecisionKind::RolloutStart).len(),
        1,
        "the failed digest was retried"
    );
    let memory = simulation.memory("test1Service").expect("memory");
    assert_eq!(memory.failed_digests.len(), 1);
    assert_eq!(
        memory.verified_good.as_ref().map(|r| r.id.revision),
        Some(1)
    );
    let service = simulation
        .sim
        .peek_service("test1Cluster", "test1Service")
        .expect("service");
    assert_eq!(service.task_definition.revision, 1);
    assert_eq!(service.running_count, 2);
    assert!(
        decisions(&simulation, DecisionKind::Hold)
            .iter()
            .any(|(_, r)| r.contains("not retried until the manifest changes"))
    );
}

/// Scenario 5: drift is put back within one resync: desiredCount, the task definition, and a target
/// group's health check, each changed out of band.
#[test]
fn drift_is_reverted_within_one_resync() {
    let stacks = stacks("manifests/fargate-test1.yaml");
    let mut simulation = tug(&stacks, World::default(), LoadTrace::constant(60.0));
    run(&mut simulation, &stacks, 900, |_| {});
    let (cluster, service) = ("test1Cluster", "test1Service");
    let original = simulation
        .sim
        .peek_service(cluster, service)
        .expect("service")
        .task_definition;

    // desiredCount.
    simulation
        .sim
        .update_service(UpdateServiceInput {
            cluster: cluster.into(),
            service: service.into(),
            desired_count: Some(4),
            ..UpdateServiceInput::default()
        })
        .expect("out of band");
    run(&mut simulation, &stacks, RESYNC, |_| {});
    assert_eq!(
        simulation
            .sim
            .peek_service(cluster, service)
            .expect("service")
            .desired_count,
        2
    );

    // Task definition.
    let other = simulation
        .sim
        .register_task_definition(TaskDefinitionInput {
            family: "test1TaskDefinition".into(),
            cpu: Some(256),
            memory: Some(512),
            network_mode: "awsvpc".into(),
            containers: Vec::new(),
            ..TaskDefinitionInput::default()
        })
        .expect("register");
    simulation
        .sim
        .update_service(UpdateServiceInput {
            cluster: cluster.into(),
            service: service.into(),
            task_definition: Some(other),
            ..UpdateServiceInput::default()
        })
        .expect("out of band");
    run(&mut simulation, &stacks, RESYNC, |_| {});
    assert_eq!(
        simulation
            .sim
            .peek_service(cluster, service)
            .expect("service")
            .task_definition,
        original
    );

    // Health check.
    let loose = HealthCheckSettings {
        path: "/".into(),
        interval_seconds: 60,
        timeout_seconds: 30,
        healthy_threshold: 10,
        unhealthy_threshold: 10,
    };
    simulation
        .sim
        .modify_target_group("test1TargetGroup", loose)
        .expect("out of band");
    run(&mut simulation, &stacks, RESYNC, |_| {});
    let restored = simulation
        .sim
        .describe_target_groups(&["test1TargetGroup".into()])
        .expect("describe")["test1TargetGroup"]
        .health_check
        .clone();
    assert_eq!(
        (
            restored.path.as_str(),
            restored.interval_seconds,
            restored.healthy_threshold
        ),
        ("/health-check", 30, 2)
    );

    let fields: Vec<String> = simulation
        .decisions
        .iter()
        .filter(|(_, _, d)| d.kind == DecisionKind::DriftCorrection)
        .filter_map(|(_, _, d)| d.field.clone())
        .collect();
    for field in ["desired_count", "health_check"] {
        assert!(
            fields.iter().any(|f| f == field),
            "no {field} drift decision: {fields:?}"
        );
    }
}

/// The same seed gives the same run, controller included.
#[test]
fn controller_runs_are_deterministic() {
    let stacks = stacks("manifests/fargate-test1.yaml");
    let run_once = || {
        let mut simulation = tug(&stacks, World::default(), trace("step"));
        let mut rows = Vec::new();
        run(&mut simulation, &stacks, 3600, |row| rows.push(row.clone()));
        (rows, simulation.decisions.clone())
    };
    assert!(run_once() == run_once());
}

/// Scenario 7: with 30 % of calls throttled and 10 % failing on every API, the controller still
/// creates, scales within its bounds, and takes no wrong action.
#[test]
fn converges_under_throttling_and_server_errors() {
    let stacks = stacks("manifests/fargate-test1.yaml");
    let mut world = World::default();
    world.api.throttle_rate = 0.3;
    world.api.error_rate = 0.1;
    let mut simulation = tug(&stacks, world, trace("step"));
    let mut created_at = None;
    run(&mut simulation, &stacks, 3 * 3600, |row| {
        if row.sample.desired > 0 && created_at.is_none() {
            created_at = Some(row.t_seconds);
        }
        if created_at.is_some() {
            assert!((2..=4).contains(&row.sample.desired), "{row:?}");
        }
    });
    let summary = simulation.summary();
    assert!(summary.reconcile_errors > 0, "faults were injected");
    assert!(summary.throttled_calls > 0);
    assert_eq!(
        summary.api_calls["CreateService"].get(&tugboat::cloud::sim::api::Outcome::Ok),
        Some(&1)
    );
    assert_eq!(
        summary.api_calls["RegisterTaskDefinition"].get(&tugboat::cloud::sim::api::Outcome::Ok),
        Some(&1),
        "no duplicate revision"
    );
    assert_eq!(
        summary.services["test1Service"].max_tasks, 4,
        "scaled out despite the faults"
    );
    assert!(decisions(&simulation, DecisionKind::Rollback).is_empty());
    assert!(
        decisions(&simulation, DecisionKind::ScaleIn).is_empty(),
        "load only rose: no scale-in"
    );
}

/// Scenario 6: the controller killed at random points of a rollout (half the time after acting but
/// before saving its memory) resumes from the store and what it observes, for 20 seeds: invariants
/// hold, the rollout completes, and no task-definition revision is registered twice.
#[test]
fn a_restarted_controller_resumes_the_rollout_from_the_store() {
    let stacks = stacks("manifests/fargate-test1.yaml");
    let image = "123456789012.dkr.ecr.us-east-1.amazonaws.com/test1:2.0.0";
    for seed in 0..20u64 {
        let mut world = World::default();
        world.deployments.push(ScheduledDeployment {
            at_seconds: 1200,
            service: "test1Service".into(),
            image: image.into(),
        });
        let mut simulation = Simulation::new(
            &stacks,
            world,
            LoadTrace::constant(60.0),
            seed,
            Scaler::Tug {
                resync_seconds: RESYNC,
            },
        )
        .expect("setup");
        let dir = tempfile::tempdir().expect("store dir");
        simulation.persist_memory_in(tugboat::store::FileStore::new(dir.path().to_path_buf()));

        // Kill points from the seed: one just before the reconcile that registers the new revision
        // (at 1200 s; killed before saving on even seeds, the case that could register it twice),
        // then two during the rollout's first ten minutes.
        let mut state = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let mut next = |lo: u64, span: u64| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            lo + (state >> 33) % span
        };
        let mut kills: Vec<(u64, bool)> = vec![(next(1171, 29), seed % 2 == 0)];
        kills.extend((0..2).map(|_| (next(1201, 600), next(0, 2) == 1)));
        kills.sort();
        let mut restart_at = None;
        let (most, least) = (maximum_total(2, 100), minimum_healthy(2, 50));
        for _ in 0..7200 {
            let rows = simulation.step(&stacks).expect("step");
            let t = rows[0].t_seconds;
            let s = &rows[0].sample;
            if t > 1 {
                assert!(s.running + s.pending <= most, "seed {seed}: {:?}", rows[0]);
            }
            if t >= 1200 {
                assert!(s.healthy >= least, "seed {seed}: {:?}", rows[0]);
            }
            if restart_at == Some(t) {
                simulation.restart_controller().expect("memory readable");
                restart_at = None;
            }
            for &(at, before_save) in kills.iter().filter(|(at, _)| *at == t) {
                if before_save {
                    // The next reconcile acts, then "dies" before saving; a new one starts after it.
                    simulation.crash_before_next_save();
                    restart_at = Some((at / RESYNC + 1) * RESYNC);
                } else {
                    simulation.restart_controller().expect("memory readable");
                }
            }
        }
        let memory = simulation.memory("test1Service").expect("memory");
        assert_eq!(
            memory.verified_good.as_ref().map(|r| r.id.revision),
            Some(2),
            "seed {seed}: {memory:?}"
        );
        assert!(memory.rollout.is_none(), "seed {seed}");
        let service = simulation
            .sim
            .peek_service("test1Cluster", "test1Service")
            .expect("service");
        assert_eq!(service.task_definition.revision, 2, "seed {seed}");
        let summary = simulation.summary();
        let registered =
            summary.api_calls["RegisterTaskDefinition"].get(&tugboat::cloud::sim::api::Outcome::Ok);
        assert_eq!(
            registered,
            Some(&2),
            "seed {seed}: a revision was registered twice"
        );
        assert!(
            dir.path()
                .join("memory/fargate-test1/test1Service.json")
                .exists()
        );
    }
}

/// Regression: a first pass whose plan both registered a task definition and corrected a target
/// group's health check skipped the registration, delaying the service's creation by a resync.
#[tokio::test]
async fn a_plan_that_registers_and_corrects_drift_does_both_in_one_reconcile() {
    use std::collections::BTreeMap;
    use tugboat::cloud::sim::Sim;
    use tugboat::cloud::{SimAccess, SimCloud};
    use tugboat::controller::reconcile::reconcile;
    use tugboat::plan::DesiredService;

    let stacks = stacks("manifests/fargate-test1.yaml");
    let cloud = SimCloud::new(Sim::new(World::default(), LoadTrace::constant(10.0), 1));
    // The target group exists with ELBv2's defaults, not the stack's health check.
    cloud.with(|s| s.create_target_group("test1TargetGroup", "lb", None));
    let desired = DesiredService::of_stack(&stacks[0]);
    let outcomes = reconcile(&cloud, &desired, &BTreeMap::new(), 0)
        .await
        .expect("observed");
    assert!(outcomes[0].error.is_none(), "{:?}", outcomes[0].error);
    let kinds: Vec<DecisionKind> = outcomes[0]
        .memory
        .decisions
        .iter()
        .map(|d| d.kind)
        .collect();
    assert_eq!(
        kinds,
        [
            DecisionKind::Register,
            DecisionKind::DriftCorrection,
            DecisionKind::Create
        ]
    );
    assert!(
        cloud
            .with(|s| s.peek_service("test1Cluster", "test1Service"))
            .is_some(),
        "created in the same pass"
    );
    let health = cloud
        .with(|s| s.describe_target_groups(&["test1TargetGroup".into()]))
        .expect("group")["test1TargetGroup"]
        .health_check
        .clone();
    assert_eq!(health.path, "/health-check");
}

/// A new service is not scaled on the load balancer's 503s while its first tasks start: scaling
/// waits for the first rollout to be verified.
#[test]
fn a_service_being_created_is_not_scaled_on_startup_errors() {
    let stacks = stacks("manifests/todo.yaml");
    let mut simulation = tug(&stacks, World::default(), LoadTrace::constant(60.0));
    run(&mut simulation, &stacks, 1800, |row| {
        assert_eq!(row.sample.desired.max(2), 2, "{row:?}");
    });
    assert!(
        decisions(&simulation, DecisionKind::ScaleOut).is_empty(),
        "{:?}",
        simulation.decisions
    );
    assert_eq!(
        decisions(&simulation, DecisionKind::RolloutVerified).len(),
        2,
        "both services verified"
    );
}

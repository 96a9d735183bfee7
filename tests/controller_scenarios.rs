//! tugboat's controller against the simulated AWS, in virtual time: the daemon itself (the one
//! `tug controller` runs), driven by the simulation harness. The example stacks are scaled, rolled
//! out, rolled back and kept from drifting; the controller is killed at seeded points and must
//! resume from the store. Invariants are checked at every simulated second.

mod support;

use support::example_stacks;
use tugboat::cloud::Operation;
use tugboat::cloud::sim::api::Outcome;
use tugboat::cloud::sim::load::LoadTrace;
use tugboat::cloud::sim::world::{FailingImage, Failure, ScheduledDeployment, World};
use tugboat::cloud::sim::{maximum_total, minimum_healthy};
use tugboat::model::aws::{HealthCheckSettings, MetricId, TaskDefinitionInput, UpdateServiceInput};
use tugboat::model::{DecisionKind, Stack};
use tugboat::simulate::{Scaler, Simulation};

const RESYNC: u64 = 30;

fn trace(name: &str) -> LoadTrace {
    let text = std::fs::read_to_string(format!(
        "{}/tests/traces/{name}.csv",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("trace");
    LoadTrace::parse(&text).expect("valid trace")
}

fn tug_seeded(stacks: &[Stack], world: World, load: LoadTrace, seed: u64) -> Simulation {
    Simulation::new(
        stacks,
        world,
        load,
        seed,
        Scaler::Tug {
            resync_seconds: RESYNC,
        },
    )
    .expect("setup")
}

fn tug(stacks: &[Stack], world: World, load: LoadTrace) -> Simulation {
    tug_seeded(stacks, world, load, 1)
}

fn ok_calls(simulation: &Simulation, operation: &str) -> u64 {
    simulation
        .summary()
        .api_calls
        .get(operation)
        .and_then(|o| o.get(&Outcome::Ok))
        .copied()
        .unwrap_or(0)
}

/// Scenario 1 (fargate-test1: CPU > 70 % scales out, 2..4 tasks; sized to demand, on the newest datapoint): the controller acts
/// within one resync of the deciding datapoint becoming readable, and never leaves 2..4.
#[test]
fn fargate_test1_scales_within_one_resync_of_the_deciding_datapoint() {
    let stacks = example_stacks("manifests/fargate-test1.yaml");
    let mut simulation = tug(&stacks, World::default(), trace("step"));
    simulation
        .run(3 * 3600, |row| {
            if row.t_seconds > 1 {
                assert!(
                    (2..=4).contains(&row.sample.desired),
                    "t={}: desired {}",
                    row.t_seconds,
                    row.sample.desired
                );
            }
        })
        .expect("run");
    let outs = simulation.decisions_of(DecisionKind::ScaleOut);
    assert!(!outs.is_empty(), "never scaled out");
    // The deciding datapoint: the first minute above 70 % (the newest datapoint is acted on).
    let cpu = MetricId::ServiceCpu {
        cluster: "test1Cluster".into(),
        service: "test1Service".into(),
    };
    let series = simulation
        .with_sim(|s| s.get_metric_data(std::slice::from_ref(&cpu), 0, 3 * 3600))
        .expect("metrics")
        .series;
    let points = &series[&cpu];
    let first = points
        .iter()
        .find(|p| p.value > 70.0)
        .map(|p| p.minute_start)
        .expect("a breach");
    let delay = simulation.with_sim(|s| s.world().metrics.publication_delay_seconds);
    let readable = first + 60 + delay;
    let acted = outs[0].0;
    assert!(
        acted >= readable && acted <= readable + RESYNC,
        "datapoint readable at {readable}, acted at {acted}"
    );
}

/// Scenario 2 (todo: 10 or more load-balancer 5XX in a minute scales out): sized to the demand
/// the CPU measures, in one step each time, within maxTasks.
#[test]
fn todo_scales_out_on_5xx_sized_to_demand() {
    let stacks = example_stacks("manifests/todo.yaml");
    let mut simulation = tug(&stacks, World::default(), trace("spike"));
    simulation
        .run(3 * 3600, |row| {
            if row.t_seconds > 1 {
                assert!((2..=8).contains(&row.sample.desired), "{row:?}");
            }
        })
        .expect("run");
    let summary = simulation.summary();
    let main: Vec<_> = summary
        .actions
        .iter()
        .filter(|a| a.service == "todoMain" && a.to > a.from)
        .collect();
    assert!(!main.is_empty(), "{:?}", summary.actions);
    for action in &main {
        assert!(
            action.reason.contains("5XX per minute") && action.reason.contains("at 80%"),
            "{action:?}"
        );
    }
    // 600 rps at 100 per task: 6 tasks serve it, 7.5 at 80 % as the CPU measures it.
    let most = summary.services["todoMain"].max_tasks;
    assert!((7..=8).contains(&most), "{most}: {:?}", summary.actions);
}

/// Scenario 2, as the rule is written (`proportionalScaleOut: false`): doubles, capped at
/// maxTasks.
#[test]
fn todo_doubles_on_5xx_capped_at_max_as_written() {
    let text = std::fs::read_to_string(format!(
        "{}/manifests/todo.yaml",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("todo")
    .replace(
        "        maxTasks: 8\n",
        "        maxTasks: 8\n        proportionalScaleOut: false\n",
    );
    let stacks = tugboat::manifest::parse_sources(&[tugboat::manifest::Source {
        name: "todo (as written)".into(),
        bytes: text.into_bytes(),
    }])
    .expect("valid");
    let mut simulation = tug(&stacks, World::default(), trace("spike"));
    simulation
        .run(3 * 3600, |row| {
            if row.t_seconds > 1 {
                assert!((2..=8).contains(&row.sample.desired), "{row:?}");
            }
        })
        .expect("run");
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
    let stacks = example_stacks("manifests/app.yaml");
    let mut world = World::default();
    world.deployments.push(ScheduledDeployment {
        at_seconds: 1800,
        service: "appService".into(),
        image: "123456789012.dkr.ecr.us-east-2.amazonaws.com/app_repository:1.1.0".into(),
    });
    let mut simulation = tug(&stacks, world, LoadTrace::constant(60.0));
    let (most, least) = (maximum_total(2, 100), minimum_healthy(2, 50));
    simulation
        .run(3 * 3600, |row| {
            let s = &row.sample;
            if row.t_seconds > 1 {
                assert!(s.running + s.pending <= most, "{row:?}");
            }
            if row.t_seconds >= 1800 {
                assert!(s.healthy >= least, "{row:?}");
            }
        })
        .expect("run");
    assert_eq!(simulation.decisions_of(DecisionKind::RolloutStart).len(), 1);
    assert_eq!(
        simulation.decisions_of(DecisionKind::RolloutVerified).len(),
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

/// A world where fargate-test1's service is given `bad`, an image that never runs, at 1 200 s.
fn bad_image_at_1200(bad: &str) -> World {
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
    world
}

/// Scenario 4: a bad image is detected, rolled back to the last verified-good revision with the
/// minimum healthy kept throughout, and its digest is not retried.
#[test]
fn a_bad_image_rolls_back_to_verified_good_and_is_not_retried() {
    let stacks = example_stacks("manifests/fargate-test1.yaml");
    let bad = "123456789012.dkr.ecr.us-east-1.amazonaws.com/test1:bad";
    let mut simulation = tug(&stacks, bad_image_at_1200(bad), LoadTrace::constant(60.0));
    simulation
        .run(2 * 3600, |row| {
            if row.t_seconds >= 1200 {
                let least = minimum_healthy(row.sample.desired, 50);
                assert!(row.sample.healthy >= least, "{row:?}");
            }
        })
        .expect("run");
    let rollbacks = simulation.decisions_of(DecisionKind::Rollback);
    assert_eq!(rollbacks.len(), 1, "{:?}", simulation.decisions());
    // Revision 1 names its image by tag: the rollback deploys the digest it was verified with,
    // as revision 3 (registered for it), not whatever the tag names by then.
    let good = "123456789012.dkr.ecr.us-east-1.amazonaws.com/test1:1.0.0";
    let digest = simulation.with_sim(|s| s.image_digest(good));
    assert!(
        rollbacks[0].1.contains(&format!(
            "back to verified-good test1TaskDefinition:1 as test1TaskDefinition:3, its images pinned to the digests it was verified with (test1Container {})",
            &digest[..19]
        )),
        "{rollbacks:?}"
    );
    assert_eq!(
        simulation.decisions_of(DecisionKind::RolloutStart).len(),
        1,
        "the failed digest was retried"
    );
    let memory = simulation.memory("test1Service").expect("memory");
    assert_eq!(memory.failed_digests.len(), 1);
    let verified = memory.verified_good.as_ref().expect("verified good");
    assert_eq!(verified.id.revision, 3);
    assert_eq!(verified.images.get("test1Container"), Some(&digest));
    let service = simulation
        .with_sim(|s| s.peek_service("test1Cluster", "test1Service"))
        .expect("service");
    assert_eq!(service.task_definition.revision, 3);
    assert_eq!(service.running_count, 2);
    assert!(
        simulation
            .decisions_of(DecisionKind::Hold)
            .iter()
            .any(|(_, r)| r.contains("not retried until the manifest changes"))
    );
}

/// A tag moved after its image was verified (a rebuilt `1.0.0`, now failing its health checks)
/// changes nothing about what a rollback to it runs: the verified digest, pinned, not the tag.
/// Deploying the tag instead would have started the moved, failing image.
#[test]
fn a_moved_tag_never_changes_what_a_rollback_to_verified_good_runs() {
    let stacks = example_stacks("manifests/fargate-test1.yaml");
    let good = "123456789012.dkr.ecr.us-east-1.amazonaws.com/test1:1.0.0";
    let bad = "123456789012.dkr.ecr.us-east-1.amazonaws.com/test1:1.1.0";
    let mut simulation = tug(&stacks, bad_image_at_1200(bad), LoadTrace::constant(60.0));
    simulation.run(1000, |_| {}).expect("run");
    let verified = simulation
        .memory("test1Service")
        .and_then(|m| m.verified_good)
        .expect("1.0.0 verified");
    let digest = simulation.with_sim(|s| s.image_digest(good));
    assert_eq!(verified.images.get("test1Container"), Some(&digest));
    // The tag moves to a rebuild that fails its health checks.
    let moved = simulation.with_sim(|s| {
        s.push_image(
            good,
            Some(FailingImage {
                image: good.into(),
                failure: Failure::FailsHealthChecks,
                after_seconds: None,
                fraction: None,
            }),
        )
    });
    assert_ne!(moved, digest);
    let failed_before = simulation.with_sim(|s| s.failed_task_count());
    simulation
        .run(3600, |row| {
            if row.t_seconds >= 1200 {
                let least = minimum_healthy(row.sample.desired, 50);
                assert!(row.sample.healthy >= least, "{row:?}");
            }
        })
        .expect("run");
    assert_eq!(simulation.decisions_of(DecisionKind::Rollback).len(), 1);
    let memory = simulation.memory("test1Service").expect("memory");
    let after = memory.verified_good.as_ref().expect("verified good");
    assert_eq!(
        after.images.get("test1Container"),
        Some(&digest),
        "the rollback ran the verified digest: {:?}",
        simulation.decisions()
    );
    let service = simulation
        .with_sim(|s| s.peek_service("test1Cluster", "test1Service"))
        .expect("service");
    assert_eq!((service.running_count, service.desired_count), (2, 2));
    let definition = simulation
        .with_sim(|s| s.describe_task_definition(&service.task_definition))
        .expect("described")
        .expect("exists")
        .1;
    assert_eq!(
        definition.containers[0].image,
        format!("123456789012.dkr.ecr.us-east-1.amazonaws.com/test1@{digest}")
    );
    // Only the bad 1.1.0 tasks failed (the circuit breaker's three); none of the moved tag's.
    let failed = simulation.with_sim(|s| s.failed_task_count()) - failed_before;
    assert!(failed <= 4, "{failed} tasks failed");
    let history = memory
        .images
        .get(&after.digest)
        .expect("history names the digest");
    assert_eq!(history.get("test1Container"), Some(&digest));
}

/// Scenario 5: drift is put back within one resync: desiredCount, the task definition, and a target
/// group's health check, each changed out of band.
#[test]
fn drift_is_reverted_within_one_resync() {
    let stacks = example_stacks("manifests/fargate-test1.yaml");
    let mut simulation = tug(&stacks, World::default(), LoadTrace::constant(60.0));
    simulation.run(900, |_| {}).expect("run");
    let (cluster, service) = ("test1Cluster", "test1Service");
    let peek = |simulation: &Simulation| {
        simulation
            .with_sim(|s| s.peek_service(cluster, service))
            .expect("service")
    };
    let original = peek(&simulation).task_definition;

    // desiredCount.
    simulation
        .with_sim(|s| {
            s.update_service(UpdateServiceInput {
                cluster: cluster.into(),
                service: service.into(),
                desired_count: Some(4),
                ..UpdateServiceInput::default()
            })
        })
        .expect("out of band");
    simulation.run(RESYNC, |_| {}).expect("run");
    assert_eq!(peek(&simulation).desired_count, 2);

    // Task definition.
    let other = simulation
        .with_sim(|s| {
            s.register_task_definition(TaskDefinitionInput {
                family: "test1TaskDefinition".into(),
                cpu: Some(256),
                memory: Some(512),
                network_mode: "awsvpc".into(),
                containers: Vec::new(),
                ..TaskDefinitionInput::default()
            })
        })
        .expect("register");
    simulation
        .with_sim(|s| {
            s.update_service(UpdateServiceInput {
                cluster: cluster.into(),
                service: service.into(),
                task_definition: Some(other.id),
                ..UpdateServiceInput::default()
            })
        })
        .expect("out of band");
    simulation.run(RESYNC, |_| {}).expect("run");
    assert_eq!(peek(&simulation).task_definition, original);

    // Health check.
    let loose = HealthCheckSettings {
        path: "/".into(),
        interval_seconds: 60,
        timeout_seconds: 30,
        healthy_threshold: 10,
        unhealthy_threshold: 10,
    };
    simulation
        .with_sim(|s| s.modify_target_group("test1TargetGroup", loose))
        .expect("out of band");
    simulation.run(RESYNC, |_| {}).expect("run");
    let restored = simulation
        .with_sim(|s| s.describe_target_groups(&["test1TargetGroup".into()]))
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
        .decisions()
        .into_iter()
        .filter(|(_, _, d)| d.kind == DecisionKind::DriftCorrection)
        .filter_map(|(_, _, d)| d.field)
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
    let stacks = example_stacks("manifests/fargate-test1.yaml");
    let run_once = || {
        let mut simulation = tug(&stacks, World::default(), trace("step"));
        let mut rows = Vec::new();
        simulation
            .run(3600, |row| rows.push(row.clone()))
            .expect("run");
        (rows, simulation.decisions(), simulation.calls())
    };
    assert!(run_once() == run_once());
}

/// Scenario 7: with 30 % of calls throttled and 10 % failing on every API, the controller still
/// creates, scales within its bounds, and takes no wrong action.
#[test]
fn converges_under_throttling_and_server_errors() {
    let stacks = example_stacks("manifests/fargate-test1.yaml");
    let mut world = World::default();
    world.api.throttle_rate = 0.3;
    world.api.error_rate = 0.1;
    let mut simulation = tug(&stacks, world, trace("step"));
    let mut created_at = None;
    simulation
        .run(3 * 3600, |row| {
            if row.sample.desired > 0 && created_at.is_none() {
                created_at = Some(row.t_seconds);
            }
            if created_at.is_some() {
                assert!((2..=4).contains(&row.sample.desired), "{row:?}");
            }
        })
        .expect("run");
    let summary = simulation.summary();
    assert!(summary.reconcile_errors > 0, "faults were injected");
    assert!(summary.throttled_calls > 0);
    assert_eq!(ok_calls(&simulation, "CreateService"), 1);
    assert_eq!(
        ok_calls(&simulation, "RegisterTaskDefinition"),
        1,
        "no duplicate revision"
    );
    assert_eq!(
        summary.services["test1Service"].max_tasks, 4,
        "scaled out despite the faults"
    );
    assert!(simulation.decisions_of(DecisionKind::Rollback).is_empty());
    assert!(
        simulation.decisions_of(DecisionKind::ScaleIn).is_empty(),
        "load only rose: no scale-in"
    );
}

/// A busy daemon (three stacks, every call taking 100 to 400 ms, a deployment under way) killed
/// like `kill -9` at seeded moments, for 20 seeds, and started again on the same store: what it
/// acted on before a kill is remembered (no revision registered twice, no service created twice),
/// invariants hold every second, and every rollout ends verified.
#[test]
fn a_daemon_killed_at_seeded_points_resumes_from_the_store() {
    let mut all = example_stacks("manifests/fargate-test1.yaml");
    all.extend(example_stacks("manifests/todo.yaml"));
    all.extend(example_stacks("manifests/hello-world.yaml"));
    let image = "123456789012.dkr.ecr.us-east-1.amazonaws.com/test1:2.0.0";
    let mut resumed = 0;
    for seed in 0..20u64 {
        let mut world = World::default();
        world.api.latency_ms = 100;
        world
            .api
            .latencies_ms
            .insert("RegisterTaskDefinition".into(), 400);
        world.api.latencies_ms.insert("CreateService".into(), 300);
        world.api.latencies_ms.insert("UpdateService".into(), 250);
        world.deployments.push(ScheduledDeployment {
            at_seconds: 1200,
            service: "test1Service".into(),
            image: image.into(),
        });
        let mut simulation = tug_seeded(&all, world, LoadTrace::constant(60.0), seed);
        // Kill points from the seed, to the millisecond: one in the first second (while the
        // services are being registered and created), one around the deployment's start, two
        // during its rollout.
        let mut state = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let mut next = |lo: u64, span: u64| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            lo + (state >> 33) % span
        };
        let mut kills: Vec<u64> = vec![next(1, 2_000), next(1_199_000, 3_000)];
        kills.extend((0..2).map(|_| next(1_210_000, 600_000)));
        kills.sort_unstable();
        let (most, least) = (maximum_total(2, 100), minimum_healthy(2, 50));
        for second in 1..=7200u64 {
            for &kill in kills.iter().filter(|k| **k / 1000 == second - 1) {
                simulation.run_to_ms(kill);
                simulation.kill_controller();
                // A few seconds down, as a replacement task would take to start.
                simulation.run(3, |_| {}).expect("run");
                simulation.start_controller();
            }
            for row in simulation.step().expect("step") {
                if row.service != "test1Service" {
                    continue;
                }
                let s = &row.sample;
                if row.t_seconds > 5 {
                    assert!(s.running + s.pending <= most, "seed {seed}: {row:?}");
                }
                if row.t_seconds >= 1200 {
                    assert!(s.healthy >= least, "seed {seed}: {row:?}");
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
            .with_sim(|s| s.peek_service("test1Cluster", "test1Service"))
            .expect("service");
        assert_eq!(service.task_definition.revision, 2, "seed {seed}");
        // fargate-test1 twice (creation, then the new image), one each for todo's two services and
        // hello-world: a revision registered twice would make it more.
        assert_eq!(
            ok_calls(&simulation, "RegisterTaskDefinition"),
            5,
            "seed {seed}: a revision was registered twice"
        );
        assert_eq!(
            ok_calls(&simulation, "CreateService"),
            4,
            "seed {seed}: a service was created twice"
        );
        for service in ["todoMain", "todoFiles", "helloWorldService"] {
            let memory = simulation.memory(service).expect("memory");
            assert!(
                memory.verified_good.is_some() && memory.rollout.is_none(),
                "seed {seed}: {service} not verified: {memory:?}"
            );
        }
        // Kills that landed between a call and the save of what it did: the next controller
        // found the revision (reused it) or the service (watched it) instead of remembering.
        resumed += simulation
            .decisions()
            .iter()
            .filter(|(_, _, d)| {
                d.reason.starts_with("reusing ")
                    || d.reason.contains("already deployed but not yet verified")
            })
            .count();
    }
    assert!(
        resumed > 0,
        "no kill landed in the middle of the work: the test does not test what it says"
    );
    println!("{resumed} resumptions from what was observed rather than remembered");
}

/// A stack naming a target group that was deleted fails alone: the healthy stack beside it keeps
/// being reconciled (an out-of-band desiredCount change is put back within one resync), and the
/// broken one is reported Degraded with what to fix.
#[test]
fn a_deleted_target_group_fails_only_the_services_naming_it() {
    let mut all = example_stacks("manifests/fargate-test1.yaml");
    all.extend(example_stacks("manifests/todo.yaml"));
    let mut simulation = tug(&all, World::default(), LoadTrace::constant(60.0));
    simulation.run(900, |_| {}).expect("settle");
    simulation.with_sim(|s| s.delete_target_group("todoFilesTargetGroup"));
    simulation.run(2 * RESYNC, |_| {}).expect("run");
    simulation
        .with_sim(|s| {
            s.update_service(UpdateServiceInput {
                cluster: "test1Cluster".into(),
                service: "test1Service".into(),
                desired_count: Some(4),
                ..UpdateServiceInput::default()
            })
        })
        .expect("out of band");
    simulation.run(RESYNC, |_| {}).expect("run");
    let desired = simulation
        .with_sim(|s| s.peek_service("test1Cluster", "test1Service"))
        .map(|d| d.desired_count);
    assert_eq!(desired, Some(2), "the healthy stack was not reconciled");
    // todoMain shares the stack but not the target group: it goes on too.
    let status = simulation.store().status_of("todo").expect("status");
    let degraded = |service: &str| {
        status.services[service]
            .condition(tugboat::model::ConditionType::Degraded)
            .cloned()
            .expect("condition")
    };
    let files = degraded("todoFiles");
    assert!(files.status, "{files:?}");
    assert_eq!(files.reason, "CallRefused");
    assert!(
        files
            .message
            .contains("target group `todoFilesTargetGroup` does not exist"),
        "{}",
        files.message
    );
    assert!(!degraded("todoMain").status, "{:?}", degraded("todoMain"));
}

/// The first reconcile of a new service whose target group has ELBv2's default health check makes
/// exactly these calls, verb by verb: the observation, the registration (after looking for a
/// reusable revision), the creation, and the health check put back.
#[test]
fn the_first_reconcile_makes_exactly_the_expected_calls() {
    let stacks = example_stacks("manifests/fargate-test1.yaml");
    let mut simulation = tug(&stacks, World::default(), LoadTrace::constant(10.0));
    let defaults = HealthCheckSettings {
        path: "/".into(),
        interval_seconds: 30,
        timeout_seconds: 5,
        healthy_threshold: 5,
        unhealthy_threshold: 2,
    };
    simulation
        .with_sim(|s| s.modify_target_group("test1TargetGroup", defaults))
        .expect("defaults");
    let before = simulation.calls().len();
    simulation.run(1, |_| {}).expect("run");
    let calls: Vec<(Operation, String)> = simulation.calls()[before..]
        .iter()
        .map(|c| (c.operation, c.target.clone()))
        .collect();
    let expected = [
        (Operation::DescribeServices, "test1Cluster/test1Service"),
        (Operation::DescribeTargetGroups, "test1TargetGroup"),
        (Operation::DescribeTaskDefinition, "test1TaskDefinition"),
        (Operation::RegisterTaskDefinition, "test1TaskDefinition"),
        (Operation::CreateService, "test1Cluster/test1Service"),
        (Operation::ModifyTargetGroup, "test1TargetGroup"),
    ];
    let expected: Vec<(Operation, String)> = expected
        .into_iter()
        .map(|(op, target)| (op, target.to_owned()))
        .collect();
    assert_eq!(calls, expected);
    let kinds: Vec<DecisionKind> = simulation
        .decisions()
        .into_iter()
        .map(|(_, _, d)| d.kind)
        .collect();
    assert_eq!(
        kinds,
        [
            DecisionKind::Register,
            DecisionKind::DriftCorrection,
            DecisionKind::Create
        ]
    );
}

/// A steady service costs, per resync, one DescribeServices, one DescribeTargetGroups (its health
/// check) and one GetMetricData (its CPU and HealthyHostCount), and nothing else.
#[test]
fn a_steady_service_is_read_with_three_calls_per_resync_and_nothing_written() {
    let stacks = example_stacks("manifests/fargate-test1.yaml");
    let mut simulation = tug(&stacks, World::default(), LoadTrace::constant(60.0));
    simulation.run(900, |_| {}).expect("settle");
    let before = simulation.calls().len();
    simulation.run(10 * RESYNC, |_| {}).expect("run");
    let mut counts: std::collections::BTreeMap<Operation, usize> = Default::default();
    for call in &simulation.calls()[before..] {
        *counts.entry(call.operation).or_default() += 1;
    }
    assert_eq!(
        counts,
        [
            (Operation::DescribeServices, 10),
            (Operation::DescribeTargetGroups, 10),
            (Operation::GetMetricData, 10)
        ]
        .into_iter()
        .collect()
    );
}

/// A new service is not scaled on the load balancer's 503s while its first tasks start: scaling
/// waits for the first rollout to be verified.
#[test]
fn a_service_being_created_is_not_scaled_on_startup_errors() {
    let stacks = example_stacks("manifests/todo.yaml");
    let mut simulation = tug(&stacks, World::default(), LoadTrace::constant(60.0));
    simulation
        .run(1800, |row| {
            assert_eq!(row.sample.desired.max(2), 2, "{row:?}");
        })
        .expect("run");
    assert!(
        simulation.decisions_of(DecisionKind::ScaleOut).is_empty(),
        "{:?}",
        simulation.decisions()
    );
    assert_eq!(
        simulation.decisions_of(DecisionKind::RolloutVerified).len(),
        2,
        "both services verified"
    );
}

/// A rolling deployment's named alarm goes into ALARM after ECS has completed the deployment,
/// while tugboat is still verifying it. ECS watches its alarms only until the deployment
/// completes; tugboat's gate runs through verification, so the revision is rolled back to verified
/// good (its digest pinned) and not verified, though its image is good.
#[test]
fn an_alarm_during_verification_rolls_a_rolling_deployment_back_after_ecs_completed_it() {
    let stacks = fargate_test1_with(
        "        maximumPercent: 100\n",
        "        maximumPercent: 100\n        alarms: [test1-latency]\n",
    );
    let good = "123456789012.dkr.ecr.us-east-1.amazonaws.com/test1:1.0.1";
    let mut world = World::default();
    world.deployments.push(ScheduledDeployment {
        at_seconds: 1200,
        service: "test1Service".into(),
        image: good.into(),
    });
    let mut simulation = tug(&stacks, world, LoadTrace::constant(60.0));
    let completed = |s: &Simulation| s.decisions_of(DecisionKind::RolloutComplete).len();
    simulation.run(1200, |_| {}).expect("run");
    while completed(&simulation) < 2 {
        simulation.run(1, |_| {}).expect("run");
        assert!(simulation.now() < 2400, "{:?}", simulation.decisions());
    }
    let ecs_done = simulation
        .with_sim(|s| s.peek_service("test1Cluster", "test1Service"))
        .expect("service");
    assert_eq!(ecs_done.task_definition.revision, 2);
    simulation.run(10, |_| {}).expect("run");
    simulation.with_sim(|s| {
        s.set_alarm_state(
            "test1-latency",
            tugboat::model::aws::AlarmStateValue::Alarm,
            "Threshold Crossed: p99 above 500 ms",
        );
    });
    simulation
        .run(1200, |row| {
            let least = minimum_healthy(row.sample.desired, 50);
            assert!(row.sample.healthy >= least, "{row:?}");
        })
        .expect("run");
    let rollbacks = simulation.decisions_of(DecisionKind::Rollback);
    assert_eq!(rollbacks.len(), 1, "{:?}", simulation.decisions());
    assert!(
        rollbacks[0]
            .1
            .contains("alarm test1-latency went into ALARM"),
        "{rollbacks:?}"
    );
    let memory = simulation.memory("test1Service").expect("memory");
    assert_eq!(memory.failed_digests.len(), 1);
    // Verified good again: revision 1's definition, pinned to the digest it was verified with
    // (registered as revision 3), not the alarmed revision 2.
    let good = memory.verified_good.as_ref().expect("verified good");
    assert_eq!(good.id.revision, 3, "{:?}", simulation.decisions());
    assert!(
        rollbacks[0]
            .1
            .contains("back to verified-good test1TaskDefinition:1 as test1TaskDefinition:3")
    );
    let service = simulation
        .with_sim(|s| s.peek_service("test1Cluster", "test1Service"))
        .expect("service");
    assert_eq!(service.task_definition.revision, 3);
    assert_eq!((service.running_count, service.desired_count), (2, 2));
    // The alarm that caused the rollback does not gate the rollback (it was in ALARM before it
    // started), and that is said once.
    let said = simulation
        .decisions_of(DecisionKind::Hold)
        .iter()
        .filter(|(_, r)| r.contains("test1-latency has been in ALARM since"))
        .count();
    assert_eq!(said, 1, "{:?}", simulation.decisions());
}

/// A stack's `notifications`: the rollback of a bad image is published to its SNS topic with its
/// reason; by default nothing routine (a creation, a verification) is.
#[test]
fn a_rollback_is_published_to_the_stacks_sns_topic_with_its_reason() {
    let stacks = fargate_test1_with(
        "  services:\n",
        "  notifications:\n    snsTopicArn: arn:aws:sns:us-east-1:123456789012:ops-alerts\n  services:\n",
    );
    let bad = "123456789012.dkr.ecr.us-east-1.amazonaws.com/test1:1.1.0";
    let mut simulation = tug(&stacks, bad_image_at_1200(bad), LoadTrace::constant(60.0));
    simulation.run(3600, |_| {}).expect("run");
    assert_eq!(simulation.decisions_of(DecisionKind::Rollback).len(), 1);
    let published = simulation.with_sim(|s| s.published().to_vec());
    let rollbacks: Vec<_> = published
        .iter()
        .filter(|(_, _, subject, _)| subject == "tugboat: Rollback of test1Service (fargate-test1)")
        .collect();
    assert_eq!(rollbacks.len(), 1, "{published:?}");
    let (_, topic, _, body) = rollbacks[0];
    assert_eq!(topic, "arn:aws:sns:us-east-1:123456789012:ops-alerts");
    assert!(
        body.contains("back to verified-good test1TaskDefinition:1"),
        "{body}"
    );
    assert!(
        published
            .iter()
            .all(|(_, _, subject, _)| !subject.contains("Create")
                && !subject.contains("RolloutVerified")),
        "{published:?}"
    );
}

/// The fargate-test1 example with `from` replaced by `to` in its text.
fn fargate_test1_with(from: &str, to: &str) -> Vec<Stack> {
    let path = format!(
        "{}/manifests/fargate-test1.yaml",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path)
        .expect("readable")
        .replace(from, to);
    tugboat::manifest::parse_sources(&[tugboat::manifest::Source {
        name: "fargate-test1.yaml".into(),
        bytes: text.into_bytes(),
    }])
    .expect("valid")
}

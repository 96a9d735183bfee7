//! The simulator against the documented AWS behaviour it models (aws-facts.md). Each test names the
//! fact it checks.

use tugboat::cloud::sim::load::LoadTrace;
use tugboat::cloud::sim::world::{Ec2Capacity, FailingImage, Failure, World};
use tugboat::cloud::sim::{Sim, TaskState};
use tugboat::model::aws::{
    ContainerInput, CreateServiceInput, DeploymentConfiguration, DeploymentController,
    HealthCheckSettings, LoadBalancerInput, MetricId, RolloutState, TargetState, TaskDefinitionId,
    TaskDefinitionInput, UpdateServiceInput,
};

const CLUSTER: &str = "c";
const SERVICE: &str = "web";
const GROUP: &str = "web-tg";

fn definition(image: &str) -> TaskDefinitionInput {
    TaskDefinitionInput {
        family: "web".into(),
        cpu: Some(256),
        memory: Some(512),
        network_mode: "awsvpc".into(),
        containers: vec![ContainerInput {
            name: "app".into(),
            image: image.into(),
            essential: true,
            ports: vec![80],
            ..ContainerInput::default()
        }],
        ..TaskDefinitionInput::default()
    }
}

struct Setup {
    desired: u32,
    min: u32,
    max: u32,
    world: World,
    load_balanced: bool,
    launch_type: &'static str,
}

impl Default for Setup {
    fn default() -> Self {
        Self {
            desired: 2,
            min: 100,
            max: 200,
            world: World::default(),
            load_balanced: true,
            launch_type: "FARGATE",
        }
    }
}

fn health(interval: u32, healthy_threshold: u32) -> HealthCheckSettings {
    HealthCheckSettings {
        path: "/".into(),
        interval_seconds: interval,
        timeout_seconds: 2,
        healthy_threshold,
        unhealthy_threshold: 2,
    }
}

/// A service at steady state (its first deployment COMPLETED), at about 10 simulated minutes.
fn steady(setup: Setup) -> Sim {
    let mut sim = Sim::new(setup.world, LoadTrace::constant(50.0), 7);
    sim.create_target_group(GROUP, "lb", Some(health(10, 5)));
    let td = sim
        .register_task_definition(definition("app:1"))
        .expect("register")
        .id;
    sim.create_service(CreateServiceInput {
        cluster: CLUSTER.into(),
        service: SERVICE.into(),
        task_definition: td,
        desired_count: setup.desired,
        launch_type: setup.launch_type.into(),
        options: Default::default(),
        deployment_configuration: DeploymentConfiguration {
            rollback: true,
            ..DeploymentConfiguration::rolling(setup.min, setup.max)
        },
        deployment_controller: DeploymentController::Ecs,
        load_balancers: if setup.load_balanced {
            vec![LoadBalancerInput {
                target_group: GROUP.into(),
                container_name: "app".into(),
                container_port: 80,
                advanced: None,
            }]
        } else {
            Vec::new()
        },
        health_check_grace_period_seconds: 0,
        network: None,
        tags: Default::default(),
        client_token: String::new(),
    })
    .expect("create");
    sim.advance_to(600_000);
    assert_eq!(
        rollout(&sim, 0),
        RolloutState::Completed,
        "first deployment did not complete"
    );
    sim
}

fn rollout(sim: &Sim, index: usize) -> RolloutState {
    sim.peek_service(CLUSTER, SERVICE)
        .expect("service")
        .deployments[index]
        .rollout_state
}

fn deploy(sim: &mut Sim, image: &str) -> TaskDefinitionId {
    let td = sim
        .register_task_definition(definition(image))
        .expect("register")
        .id;
    sim.update_service(UpdateServiceInput {
        cluster: CLUSTER.into(),
        service: SERVICE.into(),
        task_definition: Some(td.clone()),
        ..UpdateServiceInput::default()
    })
    .expect("update");
    td
}

fn scale(sim: &mut Sim, desired: u32) {
    sim.update_service(UpdateServiceInput {
        cluster: CLUSTER.into(),
        service: SERVICE.into(),
        desired_count: Some(desired),
        ..UpdateServiceInput::default()
    })
    .expect("update desired count");
}

fn sample(sim: &Sim) -> tugboat::cloud::sim::ServiceSample {
    sim.samples()
        .get(&(CLUSTER.into(), SERVICE.into()))
        .cloned()
        .expect("sample")
}

fn run_for(sim: &mut Sim, seconds: u64, mut each: impl FnMut(&Sim)) {
    for _ in 0..seconds {
        let next = sim.now_ms() + 1000;
        sim.advance_to(next);
        each(sim);
    }
}

/// A failing image. `exitsAfter` exits 3 s after RUNNING: before the app (ready at 5 s) can pass a
/// check, so every task of it fails while the deployment is in progress.
fn failing(image: &str, failure: Failure) -> FailingImage {
    FailingImage {
        image: image.into(),
        failure,
        after_seconds: Some(3),
        fraction: Some(0.5),
    }
}

/// minimumHealthyPercent rounds up: 75 % of 2 is 2, and with maximumPercent 100 nothing may start
/// or stop, so the deployment never moves.
#[test]
fn seventy_five_percent_of_two_is_two_so_nothing_can_stop() {
    let mut sim = steady(Setup {
        min: 75,
        max: 100,
        ..Setup::default()
    });
    let new = deploy(&mut sim, "app:2");
    run_for(&mut sim, 3600, |sim| {
        let s = sample(sim);
        assert_eq!((s.running, s.healthy), (2, 2));
    });
    assert!(
        sim.tasks_of(CLUSTER, SERVICE)
            .iter()
            .all(|(_, _, td)| *td != new)
    );
    assert_eq!(rollout(&sim, 0), RolloutState::InProgress);
}

/// A 2-task service with minimum healthy 50 % and maximum 100 % replaces one task at a time:
/// never more than 2 tasks running or pending, never fewer than 1 healthy.
#[test]
fn two_tasks_at_min_50_max_100_are_replaced_one_at_a_time() {
    let mut sim = steady(Setup {
        min: 50,
        max: 100,
        ..Setup::default()
    });
    let new = deploy(&mut sim, "app:2");
    let mut most_new_unhealthy = 0;
    run_for(&mut sim, 1800, |sim| {
        let s = sample(sim);
        assert!(s.running + s.pending <= 2, "{s:?}");
        assert!(s.healthy >= 1, "{s:?}");
        let new_not_healthy = sim
            .tasks_of(CLUSTER, SERVICE)
            .iter()
            .filter(|(id, _, td)| {
                *td == new && sim.target_state(GROUP, *id) != TargetState::Healthy
            })
            .count();
        most_new_unhealthy = most_new_unhealthy.max(new_not_healthy);
    });
    assert_eq!(most_new_unhealthy, 1, "more than one replacement at once");
    assert_eq!(rollout(&sim, 0), RolloutState::Completed);
    assert!(
        sim.tasks_of(CLUSTER, SERVICE)
            .iter()
            .all(|(_, _, td)| *td == new)
    );
}

/// The circuit breaker trips after ceil(0.5 x desired) clamped to [3, 200] failed tasks and rolls
/// back to the last COMPLETED deployment, not to the one before the failure.
#[test]
fn circuit_breaker_trips_at_threshold_and_rolls_back_to_last_completed() {
    use tugboat::cloud::sim::circuit_breaker_threshold;
    assert_eq!(circuit_breaker_threshold(1), 3);
    assert_eq!(circuit_breaker_threshold(2), 3);
    assert_eq!(circuit_breaker_threshold(10), 5);
    assert_eq!(circuit_breaker_threshold(11), 6);
    assert_eq!(circuit_breaker_threshold(1000), 200);

    let mut world = World::default();
    world.images.push(failing("app:bad", Failure::NeverRuns));
    let mut sim = steady(Setup {
        desired: 2,
        world,
        ..Setup::default()
    });
    let good = deploy(&mut sim, "app:2");
    run_for(&mut sim, 900, |_| {});
    assert_eq!(rollout(&sim, 0), RolloutState::Completed);

    deploy(&mut sim, "app:bad");
    let mut tripped_at_failures = None;
    run_for(&mut sim, 1800, |sim| {
        let service = sim.peek_service(CLUSTER, SERVICE).expect("service");
        if tripped_at_failures.is_none()
            && let Some(bad) = service
                .deployments
                .iter()
                .find(|d| d.rollout_state == RolloutState::Failed)
        {
            tripped_at_failures = Some(bad.failed_tasks);
        }
    });
    assert_eq!(tripped_at_failures, Some(3));
    let service = sim.peek_service(CLUSTER, SERVICE).expect("service");
    assert_eq!(
        service.task_definition, good,
        "rolled back to the last COMPLETED revision"
    );
    assert_eq!(
        service.deployments[0].rollout_state,
        RolloutState::Completed
    );
    assert_eq!((sample(&sim).running, sample(&sim).healthy), (2, 2));
}

/// A newly registered target is healthy after ONE passing check, even with a healthy threshold of 5.
#[test]
fn a_new_target_is_healthy_after_one_passing_check() {
    let mut sim = steady(Setup::default());
    scale(&mut sim, 3);
    let before: Vec<u64> = sim.tasks_of(CLUSTER, SERVICE).iter().map(|t| t.0).collect();
    let mut became_running = None;
    let mut became_healthy = None;
    run_for(&mut sim, 300, |sim| {
        for (id, state, _) in sim.tasks_of(CLUSTER, SERVICE) {
            if before.contains(&id) {
                continue;
            }
            if state == tugboat::cloud::sim::TaskState::Running && became_running.is_none() {
                became_running = Some(sim.now_ms());
            }
            if sim.target_state(GROUP, id) == TargetState::Healthy && became_healthy.is_none() {
                became_healthy = Some(sim.now_ms());
            }
        }
    });
    let (running, healthy) = (
        became_running.expect("ran"),
        became_healthy.expect("healthy"),
    );
    // Interval 10 s: one check (5 passes would take 40 s more), after the app is ready (5 s).
    assert!(
        healthy - running <= 10_000 + 5_000,
        "took {} ms",
        healthy - running
    );
}

/// A deregistered target drains for the deregistration delay (default 300 s), then is gone; the task
/// stays DEACTIVATING meanwhile and stops after.
#[test]
fn draining_lasts_the_deregistration_delay() {
    let mut sim = steady(Setup::default());
    scale(&mut sim, 1);
    let start = sim.now_ms();
    let ids: Vec<u64> = sim.tasks_of(CLUSTER, SERVICE).iter().map(|t| t.0).collect();
    // (first, last) second each target was seen draining.
    let mut draining: std::collections::BTreeMap<u64, (u64, u64)> = Default::default();
    run_for(&mut sim, 600, |sim| {
        for id in &ids {
            if sim.target_state(GROUP, *id) == TargetState::Draining {
                let now = sim.now_ms();
                draining
                    .entry(*id)
                    .and_modify(|e| e.1 = now)
                    .or_insert((now, now));
            }
        }
    });
    assert_eq!(
        draining.len(),
        1,
        "exactly one target drained: {draining:?}"
    );
    let (&id, &(first, last)) = draining.iter().next().expect("one");
    assert_eq!(
        first - start,
        1000,
        "draining began at the next scheduler pass"
    );
    assert_eq!(last - first, 299_000, "drained for 300 s");
    assert_eq!(sim.target_state(GROUP, id), TargetState::Unused);
    assert!(
        sim.tasks_of(CLUSTER, SERVICE).iter().all(|t| t.0 != id),
        "task stopped after draining"
    );
}

/// CPU datapoints are readable only after the publication delay.
#[test]
fn cpu_datapoints_appear_only_after_the_publication_delay() {
    let mut sim = steady(Setup::default()); // at 600 s; publication delay 120 s
    let cpu = MetricId::ServiceCpu {
        cluster: CLUSTER.into(),
        service: SERVICE.into(),
    };
    // Minute [540, 600) closed at 600: readable from 720 s on.
    sim.advance_to(719_000);
    let early = sim
        .get_metric_data(std::slice::from_ref(&cpu), 540, 600)
        .expect("query")
        .series;
    assert!(early[&cpu].is_empty(), "{early:?}");
    sim.advance_to(720_000);
    let late = sim
        .get_metric_data(std::slice::from_ref(&cpu), 540, 600)
        .expect("query")
        .series;
    assert_eq!(late[&cpu].len(), 1);
    assert!(late[&cpu][0].value > 0.0);
}

/// AWS/ECS CPUUtilization has no datapoint for a minute in which no task ran (missing, not 0).
#[test]
fn no_cpu_datapoint_while_no_task_runs() {
    let mut sim = steady(Setup::default());
    scale(&mut sim, 0);
    sim.advance_to(3_600_000);
    let cpu = MetricId::ServiceCpu {
        cluster: CLUSTER.into(),
        service: SERVICE.into(),
    };
    let series = sim
        .get_metric_data(std::slice::from_ref(&cpu), 0, 3600)
        .expect("query")
        .series;
    let minutes: Vec<u64> = series[&cpu].iter().map(|p| p.minute_start).collect();
    // Tasks first ran about a minute in; the last stopped within ~6 minutes of the scale-in at 600 s.
    assert!(
        !minutes.contains(&0),
        "no task ran in the first minute: {minutes:?}"
    );
    assert!(
        minutes.iter().all(|m| *m < 1020),
        "datapoints after every task stopped: {minutes:?}"
    );
    assert!(minutes.len() > 5);
}

/// DescribeServices takes at most 10 services; GetMetricData at most 500 queries.
#[test]
fn batch_limits_are_enforced() {
    let mut sim = steady(Setup::default());
    let names: Vec<String> = (0..11).map(|i| format!("s{i}")).collect();
    assert!(sim.describe_services(CLUSTER, &names).is_err());
    assert!(sim.describe_services(CLUSTER, &names[..10]).is_ok());
    let queries: Vec<MetricId> = (0..501)
        .map(|i| MetricId::Target5xx {
            target_group: format!("g{i}"),
        })
        .collect();
    assert!(sim.get_metric_data(&queries, 0, 60).is_err());
    assert!(sim.get_metric_data(&queries[..500], 0, 60).is_ok());
}

/// EC2 launch type: tasks stay PENDING while no instance has room (one 256-CPU, 512 MiB task
/// fills one of these instances), and start once one launches and registers.
#[test]
fn ec2_tasks_stay_pending_without_room() {
    let world = World {
        ec2: Ec2Capacity {
            instances: 1,
            instance_cpu: 256,
            instance_memory: 768,
            launch_seconds: 120,
            ..Ec2Capacity::default()
        },
        ..World::default()
    };
    let mut sim = Sim::new(world, LoadTrace::constant(10.0), 3);
    let td = sim
        .register_task_definition(definition("app:1"))
        .expect("register")
        .id;
    sim.create_service(CreateServiceInput {
        cluster: CLUSTER.into(),
        service: SERVICE.into(),
        task_definition: td,
        desired_count: 2,
        launch_type: "EC2".into(),
        options: Default::default(),
        deployment_configuration: DeploymentConfiguration {
            circuit_breaker: false,
            ..DeploymentConfiguration::rolling(100, 200)
        },
        deployment_controller: DeploymentController::Ecs,
        load_balancers: Vec::new(),
        health_check_grace_period_seconds: 0,
        network: None,
        tags: Default::default(),
        client_token: String::new(),
    })
    .expect("create");
    sim.advance_to(600_000);
    let s = sample(&sim);
    assert_eq!((s.running, s.pending), (1, 1));
    sim.set_ec2_instances(CLUSTER, 2);
    sim.advance_to(700_000);
    assert_eq!(
        sample(&sim).pending,
        1,
        "the new instance is still launching"
    );
    sim.advance_to(900_000);
    let s = sample(&sim);
    assert_eq!((s.running, s.pending), (2, 0));
}

/// Eventual consistency: right after an update, a describe may still show the old value.
#[test]
fn describes_lag_updates_by_the_consistency_delay() {
    let mut world = World::default();
    world.api.consistency_delay_seconds = 5;
    let mut sim = steady(Setup {
        world,
        ..Setup::default()
    });
    scale(&mut sim, 4);
    let seen = |sim: &mut Sim| {
        sim.describe_services(CLUSTER, &[SERVICE.into()])
            .expect("describe")[0]
            .desired_count
    };
    assert_eq!(seen(&mut sim), 2);
    let t = sim.now_ms();
    sim.advance_to(t + 5000);
    assert_eq!(seen(&mut sim), 4);
}

/// Failing versions: a container that exits, one that fails health checks, one that serves 5XX.
#[test]
fn failing_versions_fail_the_way_they_are_declared() {
    for (image, failure) in [
        ("app:exits", Failure::ExitsAfter),
        ("app:unhealthy", Failure::FailsHealthChecks),
        ("app:5xx", Failure::Serves5xx),
    ] {
        let mut world = World::default();
        world.images.push(failing(image, failure));
        world.metrics.publication_delay_seconds = 60;
        let mut sim = steady(Setup {
            world,
            ..Setup::default()
        });
        deploy(&mut sim, image);
        sim.advance_to(sim.now_ms() + 1_800_000);
        let service = sim.peek_service(CLUSTER, SERVICE).expect("service");
        match failure {
            Failure::Serves5xx => {
                assert_eq!(
                    service.deployments[0].rollout_state,
                    RolloutState::Completed,
                    "passes health checks"
                );
                let metric = MetricId::Target5xx {
                    target_group: GROUP.into(),
                };
                let t = sim.now_ms() / 1000;
                let series = sim
                    .get_metric_data(std::slice::from_ref(&metric), t - 600, t)
                    .expect("query")
                    .series;
                assert!(
                    series[&metric].iter().any(|p| p.value > 0.0),
                    "{failure:?}: no target 5XX"
                );
            }
            _ => {
                assert_eq!(
                    service.task_definition.revision, 1,
                    "{failure:?}: rolled back to revision 1"
                );
                assert!(
                    sim.failed_task_count() >= 3,
                    "{failure:?}: {}",
                    sim.failed_task_count()
                );
            }
        }
    }
}

/// EXTERNAL deployment controller: each task set runs ceil(desired x scale / 100) tasks; a deleted
/// set's tasks drain and stop.
#[test]
fn task_sets_hold_their_scale_of_desired_rounded_up() {
    let mut sim = Sim::new(World::default(), LoadTrace::constant(10.0), 9);
    sim.create_target_group(GROUP, "lb", Some(health(10, 5)));
    let blue = sim
        .register_task_definition(definition("app:1"))
        .expect("register")
        .id;
    let green = sim
        .register_task_definition(definition("app:2"))
        .expect("register")
        .id;
    sim.create_service(CreateServiceInput {
        cluster: CLUSTER.into(),
        service: SERVICE.into(),
        task_definition: blue.clone(),
        desired_count: 4,
        launch_type: "FARGATE".into(),
        options: Default::default(),
        deployment_configuration: DeploymentConfiguration {
            circuit_breaker: false,
            ..DeploymentConfiguration::rolling(100, 200)
        },
        deployment_controller: DeploymentController::External,
        load_balancers: vec![LoadBalancerInput {
            target_group: GROUP.into(),
            container_name: "app".into(),
            container_port: 80,
            advanced: None,
        }],
        health_check_grace_period_seconds: 0,
        network: None,
        tags: Default::default(),
        client_token: String::new(),
    })
    .expect("create");
    assert!(
        sim.update_service(UpdateServiceInput {
            cluster: CLUSTER.into(),
            service: SERVICE.into(),
            task_definition: Some(green.clone()),
            ..UpdateServiceInput::default()
        })
        .is_err(),
        "EXTERNAL services change revisions through task sets"
    );
    let blue_set = sim
        .create_task_set(CLUSTER, SERVICE, blue.clone(), 100.0)
        .expect("blue");
    sim.advance_to(300_000);
    assert_eq!(sample(&sim).healthy, 4);

    let green_set = sim
        .create_task_set(CLUSTER, SERVICE, green.clone(), 30.0)
        .expect("green");
    assert_eq!(
        green_set.computed_desired_count, 2,
        "30 % of 4 is 1.2, rounded up"
    );
    sim.advance_to(600_000);
    let sets = sim.describe_task_sets(CLUSTER, SERVICE).expect("describe");
    assert_eq!(
        sets.iter().map(|s| s.running_count).collect::<Vec<_>>(),
        [4, 2]
    );

    sim.update_task_set(CLUSTER, SERVICE, &green_set.id, 100.0)
        .expect("scale green");
    sim.update_service_primary_task_set(CLUSTER, SERVICE, &green_set.id)
        .expect("primary");
    sim.advance_to(900_000);
    sim.delete_task_set(CLUSTER, SERVICE, &blue_set.id)
        .expect("delete blue");
    sim.advance_to(1_500_000);
    let sets = sim.describe_task_sets(CLUSTER, SERVICE).expect("describe");
    assert_eq!(sets.len(), 1);
    assert_eq!(
        (sets[0].status.as_str(), sets[0].running_count),
        ("PRIMARY", 4)
    );
    assert!(
        sim.tasks_of(CLUSTER, SERVICE)
            .iter()
            .all(|(_, _, td)| *td == green)
    );
    assert!(
        sim.create_task_set(CLUSTER, SERVICE, green, 150.0).is_err(),
        "scale is a percent"
    );
}

/// The simulator answers through the same async `Cloud` trait the AWS adapter implements.
#[tokio::test(start_paused = true)]
async fn the_simulator_works_behind_the_cloud_trait() {
    use tugboat::cloud::{Clock, Cloud, SimCloud};
    let cloud = SimCloud::new(
        Sim::new(World::default(), LoadTrace::constant(10.0), 1),
        Clock::scaled(0, 1.0),
        0,
    );
    cloud.with(|sim| sim.create_target_group(GROUP, "lb", None));
    let td = cloud
        .register_task_definition(definition("app:1"))
        .await
        .expect("register")
        .id;
    cloud
        .create_service(CreateServiceInput {
            cluster: CLUSTER.into(),
            service: SERVICE.into(),
            task_definition: td,
            desired_count: 1,
            launch_type: "FARGATE".into(),
            options: Default::default(),
            deployment_configuration: DeploymentConfiguration {
                rollback: true,
                ..DeploymentConfiguration::rolling(100, 200)
            },
            deployment_controller: DeploymentController::Ecs,
            load_balancers: vec![LoadBalancerInput {
                target_group: GROUP.into(),
                container_name: "app".into(),
                container_port: 80,
                advanced: None,
            }],
            health_check_grace_period_seconds: 0,
            network: None,
            tags: Default::default(),
            client_token: String::new(),
        })
        .await
        .expect("create");
    cloud.with(|sim| sim.advance_to(600_000));
    let described = cloud
        .describe_services(CLUSTER, &[SERVICE.into()])
        .await
        .expect("describe");
    assert_eq!(described[0].running_count, 1);
    let targets = cloud.describe_target_health(GROUP).await.expect("targets");
    assert_eq!(
        targets.iter().map(|t| t.state).collect::<Vec<_>>(),
        [TargetState::Healthy]
    );
    let cpu = MetricId::ServiceCpu {
        cluster: CLUSTER.into(),
        service: SERVICE.into(),
    };
    let hosts = MetricId::HealthyHosts {
        target_group: GROUP.into(),
    };
    let series = cloud
        .get_metric_data(&[cpu.clone(), hosts.clone()], 0, 600)
        .await
        .expect("metrics")
        .series;
    assert!(!series[&cpu].is_empty());
    // HealthyHostCount: the average of healthy targets over each minute; 1 once the task is in.
    assert_eq!(series[&hosts].last().map(|p| p.value), Some(1.0));
    cloud
        .modify_target_group(GROUP, health(15, 3))
        .await
        .expect("modify");
    let calls = cloud.with(|sim| sim.api().calls.len());
    assert_eq!(calls, 6, "every trait call went through the API front door");
}

/// UpdateService with absolute values is safe to repeat: the primary's own task definition again
/// starts no new deployment.
#[test]
fn repeating_update_service_starts_no_deployment() {
    let mut sim = steady(Setup::default());
    let current = sim
        .peek_service(CLUSTER, SERVICE)
        .expect("service")
        .task_definition;
    for _ in 0..3 {
        sim.update_service(UpdateServiceInput {
            cluster: CLUSTER.into(),
            service: SERVICE.into(),
            task_definition: Some(current.clone()),
            desired_count: Some(2),
            ..UpdateServiceInput::default()
        })
        .expect("update");
    }
    let service = sim.peek_service(CLUSTER, SERVICE).expect("service");
    assert_eq!(service.deployments.len(), 1);
    assert_eq!(
        service.deployments[0].rollout_state,
        RolloutState::Completed
    );
}

/// A saved account restores whole: after a save and a restore mid-deployment, the account goes on
/// exactly as the original does, second by second, call by call.
#[test]
fn a_saved_account_restores_and_goes_on_as_the_original() {
    let mut original = steady(Setup::default());
    deploy(&mut original, "app:2");
    run_for(&mut original, 30, |_| {});
    let text = original.save().expect("saves");
    let mut restored = Sim::restore(&text).expect("restores");
    assert_eq!(restored.now_ms(), original.now_ms());
    for sim in [&mut original, &mut restored] {
        scale(sim, 3);
    }
    let mut a = Vec::new();
    let mut b = Vec::new();
    run_for(&mut original, 600, |s| a.push(sample(s)));
    run_for(&mut restored, 600, |s| b.push(sample(s)));
    assert_eq!(a, b);
    assert_eq!(
        original.peek_service(CLUSTER, SERVICE),
        restored.peek_service(CLUSTER, SERVICE)
    );
    assert_eq!(original.api().counts(), restored.api().counts());
    assert!(Sim::restore("{\"format\": 99, \"sim\": {}}").is_err());
}

/// 4 tasks at steady state, then a rolling deployment (minimum healthy 100 %, maximum
/// `maximum` %) of a revision whose tasks never start, so it stays in progress for a while;
/// with the old revision.
fn deploying_a_revision_that_never_starts(maximum: u32) -> (Sim, TaskDefinitionId) {
    let mut world = World::default();
    world.images.push(failing("app:slow", Failure::NeverRuns));
    let mut sim = steady(Setup {
        desired: 4,
        min: 100,
        max: maximum,
        world,
        ..Setup::default()
    });
    let old = sim
        .peek_service(CLUSTER, SERVICE)
        .expect("service")
        .task_definition;
    deploy(&mut sim, "app:slow");
    (sim, old)
}

/// A service's tasks of `revision` that are starting or running.
fn active_tasks_of(sim: &Sim, revision: &TaskDefinitionId) -> Vec<(u64, TaskState)> {
    sim.tasks_of(CLUSTER, SERVICE)
        .into_iter()
        .filter(|(_, state, td)| {
            td == revision
                && matches!(
                    state,
                    TaskState::Provisioning | TaskState::Pending | TaskState::Running
                )
        })
        .map(|(id, state, _)| (id, state))
        .collect()
}

/// ECS since 2025-11 (aws-facts.md): during a rolling deployment a failed task of the old
/// revision is replaced from the old revision, not from the new one.
#[test]
fn during_a_rolling_deployment_a_failed_old_task_is_replaced_from_its_own_revision() {
    let (mut sim, old) = deploying_a_revision_that_never_starts(150);
    run_for(&mut sim, 10, |_| {});
    let old_tasks = |sim: &Sim| active_tasks_of(sim, &old);
    let before = old_tasks(&sim);
    assert_eq!(before.len(), 4);
    sim.crash_task(before[0].0);
    run_for(&mut sim, 20, |_| {});
    assert_eq!(rollout(&sim, 0), RolloutState::InProgress);
    let after = old_tasks(&sim);
    assert_eq!(
        after.len(),
        4,
        "the crashed old task was replaced from the old revision: {after:?}"
    );
    assert!(after.iter().all(|(id, _)| *id != before[0].0));
    assert!(
        after.iter().any(|(_, state)| *state != TaskState::Running),
        "the replacement is starting: {after:?}"
    );
}

/// ECS since 2025-11: a scale-out during a rolling deployment applies to both revisions, in
/// proportion to what each runs.
#[test]
fn a_scale_out_during_a_rolling_deployment_applies_to_both_revisions() {
    let (mut sim, old) = deploying_a_revision_that_never_starts(200);
    run_for(&mut sim, 5, |_| {});
    scale(&mut sim, 8);
    // Before the new revision's tasks fail (they never start): the deployment is in progress.
    run_for(&mut sim, 20, |_| {});
    assert_eq!(rollout(&sim, 0), RolloutState::InProgress);
    let old_tasks = active_tasks_of(&sim, &old).len();
    assert_eq!(
        old_tasks, 6,
        "the old revision's share of the 4 new tasks (it ran half of the 8): {old_tasks}"
    );
}

/// The app seed's task: bridge networking with static host port 80, 256 CPU, 512 MiB.
fn host_port_definition() -> TaskDefinitionInput {
    TaskDefinitionInput {
        family: "app".into(),
        network_mode: "bridge".into(),
        containers: vec![ContainerInput {
            name: "app".into(),
            image: "app:1".into(),
            essential: true,
            ports: vec![80],
            host_ports: [(80, 80)].into(),
            cpu: Some(256),
            memory_reservation: Some(512),
            ..ContainerInput::default()
        }],
        ..TaskDefinitionInput::default()
    }
}

/// An EC2 service of `desired` host-port tasks (minimum healthy 50 %, maximum 100 %, as the app
/// seed), on the EC2 launch type or, with `provider`, through a capacity provider.
fn ec2_service(world: World, desired: u32, provider: Option<&str>) -> Sim {
    let mut sim = Sim::new(world, LoadTrace::constant(20.0), 5);
    sim.create_target_group(GROUP, "lb", Some(health(10, 5)));
    let td = sim
        .register_task_definition(host_port_definition())
        .expect("register")
        .id;
    sim.create_service(CreateServiceInput {
        cluster: CLUSTER.into(),
        service: SERVICE.into(),
        task_definition: td,
        desired_count: desired,
        launch_type: if provider.is_some() { "" } else { "EC2" }.into(),
        options: tugboat::model::aws::ServiceOptions {
            capacity_provider_strategy: provider
                .map(|p| vec![(p.to_owned(), 1, 0)])
                .unwrap_or_default(),
            ..Default::default()
        },
        deployment_configuration: DeploymentConfiguration::rolling(50, 100),
        deployment_controller: DeploymentController::Ecs,
        load_balancers: vec![LoadBalancerInput {
            target_group: GROUP.into(),
            container_name: "app".into(),
            container_port: 80,
            advanced: None,
        }],
        health_check_grace_period_seconds: 0,
        network: None,
        tags: Default::default(),
        client_token: String::new(),
    })
    .expect("create");
    sim
}

fn ec2_world(instances: u32) -> World {
    World {
        ec2: Ec2Capacity {
            instances,
            ..Ec2Capacity::default()
        },
        ..World::default()
    }
}

/// Placement (ECS's task placement): a static host port is taken once per instance, so the app
/// seed's tasks run one per instance and a third waits for a third instance, however much CPU
/// and memory the two have left; tasks are spread over the zones.
#[test]
fn ec2_static_host_ports_place_one_task_per_instance() {
    let mut sim = ec2_service(ec2_world(2), 3, None);
    sim.advance_to(600_000);
    let s = sample(&sim);
    assert_eq!((s.running, s.pending), (2, 1), "{s:?}");
    let instances = sim.instances(CLUSTER);
    assert!(
        instances.iter().all(|i| i.tasks.len() == 1),
        "{instances:?}"
    );
    assert_ne!(instances[0].zone, instances[1].zone, "spread over zones");
    assert!(instances.iter().all(|i| i.remaining_cpu == 2048 - 256));
    sim.set_ec2_instances(CLUSTER, 3);
    sim.advance_to(900_000);
    assert_eq!(sample(&sim).running, 3);
}

/// Draining (container instance draining): the drained instance's task is replaced elsewhere
/// within the service's bounds (here maximum 100 %: it stops first, since one healthy task keeps
/// the 50 % minimum), and nothing is placed on a DRAINING instance again.
#[test]
fn ec2_a_draining_instance_is_emptied_within_the_services_minimum_healthy() {
    let mut sim = ec2_service(ec2_world(3), 2, None);
    sim.advance_to(600_000);
    assert_eq!(sample(&sim).healthy, 2);
    let busy = sim
        .instances(CLUSTER)
        .into_iter()
        .find(|i| !i.tasks.is_empty())
        .expect("a busy instance");
    sim.set_draining(CLUSTER, std::slice::from_ref(&busy.id), true)
        .expect("draining");
    run_for(&mut sim, 600, |sim| {
        let s = sample(sim);
        assert!(s.healthy >= 1, "below the minimum healthy: {s:?}");
        assert!(s.running + s.pending <= 2, "above the maximum: {s:?}");
    });
    let after = sim.instances(CLUSTER);
    let drained = after.iter().find(|i| i.id == busy.id).expect("still there");
    assert!(drained.draining && drained.tasks.is_empty(), "{after:?}");
    assert_eq!(sample(&sim).healthy, 2, "replaced on another instance");
}

/// A terminated instance takes its tasks with it (TerminateInstanceInAutoScalingGroup): they
/// stop as failures and ECS starts replacements where there is room; with a decrement the group
/// keeps one instance fewer.
#[test]
fn ec2_terminating_an_instance_stops_its_tasks_and_ecs_replaces_them() {
    let mut sim = ec2_service(ec2_world(3), 2, None);
    sim.advance_to(600_000);
    let busy = sim
        .instances(CLUSTER)
        .into_iter()
        .find(|i| !i.tasks.is_empty())
        .expect("a busy instance");
    let failed = sim.failed_task_count();
    sim.terminate_instance(&busy.id, true).expect("terminated");
    assert_eq!(sim.failed_task_count(), failed + 1);
    assert_eq!(sim.instances(CLUSTER).len(), 2);
    sim.advance_to(900_000);
    assert_eq!(sample(&sim).healthy, 2);
    assert_eq!(sim.group_capacity(CLUSTER).map(|c| c.0), Some(2));
    assert!(sim.terminate_instance("i-nothing", true).is_err());
}

/// Managed scaling (capacity providers, aws-facts.md "EC2 capacity"): a group that starts empty
/// grows only once CapacityProviderReservation (200 with no instance) is published, the tasks
/// wait meanwhile, and the new instances need the launch time before tasks run. A scale-out for
/// more tasks waits out the instance warm-up; idle instances go after 15 calm minutes.
#[test]
fn ec2_managed_scaling_grows_an_empty_group_then_shrinks_it_when_idle() {
    let mut sim = ec2_service(ec2_world(0), 2, Some("appCapacityProvider"));
    let mut first_running = None;
    run_for(&mut sim, 1200, |sim| {
        if first_running.is_none() && sample(sim).running == 2 {
            first_running = Some(sim.now_ms() / 1000);
        }
    });
    let at = first_running.expect("the tasks ran");
    // A minute, the publication delay, the launch: no sooner than 6 minutes.
    assert!((360..=600).contains(&at), "both running at {at} s");
    assert_eq!(sim.instances(CLUSTER).len(), 2);
    scale(&mut sim, 1);
    run_for(&mut sim, 1800, |_| {});
    assert_eq!(sim.instances(CLUSTER).len(), 1, "the idle instance went");
    assert!(sim.instance_hours() > 0.0);
}

//! Property tests: under random sizes, bounds, traces, seeds, fault rates and failing versions, the
//! simulator keeps ECS's own promises at every simulated second of a rolling deployment:
//! running + pending <= floor(desired x maximumPercent / 100) and
//! healthy >= ceil(desired x minimumHealthyPercent / 100); and every rollout ends COMPLETED, on the
//! new revision when it works, back on the old one when it does not.

use proptest::prelude::*;

use tugboat::cloud::sim::load::LoadTrace;
use tugboat::cloud::sim::world::{FailingImage, Failure, ScheduledDeployment, World};
use tugboat::cloud::sim::{maximum_total, minimum_healthy};
use tugboat::manifest::rules::rollout_batch;
use tugboat::manifest::{Source, parse_sources};
use tugboat::model::aws::RolloutState;
use tugboat::simulate::{Scaler, Simulation};

fn stack(desired: u32, min: u32, max: u32) -> tugboat::model::Stack {
    let text = format!(
        "apiVersion: tugboat/v1
kind: Stack
metadata: {{name: prop}}
spec:
  cluster: c
  targetGroups: [{{name: tg, healthCheck: {{intervalSeconds: 10, timeoutSeconds: 5}}}}]
  services:
    - name: web
      launchType: FARGATE
      desiredCount: {desired}
      taskDefinition:
        family: web
        cpu: 256
        memory: 512
        containers: [{{name: app, image: 'app:1', memory: 512, portMappings: [{{containerPort: 80}}]}}]
      network: {{subnets: [subnet-0a1b2c3d]}}
      loadBalancers: [{{targetGroup: tg, containerName: app, containerPort: 80}}]
      deployment: {{minimumHealthyPercent: {min}, maximumPercent: {max}}}
"
    );
    let mut stacks = parse_sources(&[Source {
        name: "prop.yaml".into(),
        bytes: text.into_bytes(),
    }])
    .expect("valid stack");
    stacks.remove(0)
}

#[derive(Debug, Clone)]
struct Case {
    desired: u32,
    min: u32,
    max: u32,
    seed: u64,
    trace: Vec<(u64, u32)>,
    error_rate: f64,
    throttle_rate: f64,
    start_seconds: u64,
    failure: Option<Failure>,
    deploy_at: u64,
}

fn case() -> impl Strategy<Value = Case> {
    (
        1u32..9,
        prop::sample::select(vec![0u32, 25, 50, 75, 100]),
        prop::sample::select(vec![100u32, 125, 150, 200]),
        any::<u64>(),
        prop::collection::vec((0u64..7200, 0u32..1500), 1..6),
        0.0f64..0.3,
        0.0f64..0.3,
        5u64..120,
        prop::option::of(prop::sample::select(vec![
            Failure::NeverRuns,
            Failure::ExitsAfter,
            Failure::FailsHealthChecks,
            Failure::Serves5xx,
        ])),
        900u64..1800,
    )
        .prop_filter("deployments that can make progress", |(d, min, max, ..)| {
            rollout_batch(*d, *min, *max) > 0
        })
        .prop_map(
            |(
                desired,
                min,
                max,
                seed,
                mut trace,
                error_rate,
                throttle_rate,
                start_seconds,
                failure,
                deploy_at,
            )| {
                trace.sort();
                Case {
                    desired,
                    min,
                    max,
                    seed,
                    trace,
                    error_rate,
                    throttle_rate,
                    start_seconds,
                    failure,
                    deploy_at,
                }
            },
        )
}

fn run(case: &Case) -> Result<(), TestCaseError> {
    let stacks = vec![stack(case.desired, case.min, case.max)];
    let mut csv = String::from("t_seconds,rps\n");
    for (t, rps) in &case.trace {
        csv.push_str(&format!("{t},{rps}\n"));
    }
    let trace = LoadTrace::parse(&csv).expect("trace");
    let mut world = World::default();
    world.api.error_rate = case.error_rate;
    world.api.throttle_rate = case.throttle_rate;
    world.tasks.start_seconds = case.start_seconds;
    world.target_groups.deregistration_delay_seconds = 30;
    let image = if case.failure.is_some() {
        "app:bad"
    } else {
        "app:2"
    };
    if let Some(failure) = case.failure {
        world.images.push(FailingImage {
            image: image.into(),
            failure,
            after_seconds: Some(2),
            fraction: Some(0.3),
        });
    }
    world.deployments.push(ScheduledDeployment {
        at_seconds: case.deploy_at,
        service: "web".into(),
        image: image.into(),
    });
    let mut simulation =
        Simulation::new(&stacks, world, trace, case.seed, Scaler::None).expect("setup");
    let most = maximum_total(case.desired, case.max);
    let least = minimum_healthy(case.desired, case.min);
    for _ in 0..(case.deploy_at + 3 * 3600) {
        let rows = simulation.step().expect("step");
        let s = &rows[0].sample;
        prop_assert!(
            s.running + s.pending <= most,
            "t={}: {} running + {} pending > {most}",
            rows[0].t_seconds,
            s.running,
            s.pending
        );
        if s.rolling_out {
            prop_assert!(
                s.healthy >= least,
                "t={}: {} healthy < {least}",
                rows[0].t_seconds,
                s.healthy
            );
        }
    }
    let service = simulation
        .with_sim(|s| s.peek_service("c", "web"))
        .expect("service");
    prop_assert_eq!(
        service.deployments.len(),
        1,
        "a deployment is still draining: {:?}",
        service.deployments
    );
    prop_assert_eq!(
        service.deployments[0].rollout_state,
        RolloutState::Completed
    );
    let expected_revision = match case.failure {
        None | Some(Failure::Serves5xx) => 2,
        Some(_) => 1,
    };
    prop_assert_eq!(service.task_definition.revision, expected_revision);
    Ok(())
}

proptest! {
    // A fixed seed, so a failure replays.
    #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, rng_seed: proptest::test_runner::RngSeed::Fixed(0x5EED), ..ProptestConfig::default() })]

    #[test]
    fn ecs_bounds_hold_at_every_second_of_every_rollout(case in case()) {
        run(&case)?;
    }
}

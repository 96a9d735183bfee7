//! End to end against moto: `tug controller --cloud aws` as a child process, pointed at moto with
//! `AWS_ENDPOINT_URL`. Everything is checked with the SDK, not through tugboat: the service, its
//! task definition and the target group's health check appear; an out-of-band desiredCount is put
//! back; CPU datapoints above the threshold raise desiredCount; SIGTERM stops it cleanly.
//!
//! moto keeps a service's deployment COMPLETED when `MOTO_ECS_SERVICE_RUNNING` (set by
//! `scripts/test`) covers its desired count, which is what lets scaling start: tugboat scales a
//! service only once its first rollout has completed.

mod support;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use support::Tug;
use support::moto::Moto;

const MANIFEST: &str = r#"
apiVersion: tugboat/v1
kind: Stack
metadata:
  name: e2e
spec:
  cluster: CLUSTER
  targetGroups:
    - name: e2e-tg
      healthCheck: {path: /health, intervalSeconds: 10, timeoutSeconds: 5, healthyThreshold: 2, unhealthyThreshold: 2}
  services:
    - name: web
      launchType: FARGATE
      desiredCount: 2
      taskDefinition:
        family: e2e-web
        cpu: 256
        memory: 512
        executionRoleArn: arn:aws:iam::123456789012:role/ecsTaskExecutionRole
        containers:
          - name: web
            image: 123456789012.dkr.ecr.us-east-1.amazonaws.com/web:1.0.0
            essential: true
            memory: 512
            portMappings: [{containerPort: 80}]
      network: {subnets: [SUBNET], securityGroups: [GROUP], assignPublicIp: false}
      loadBalancers: [{targetGroup: e2e-tg, containerName: web, containerPort: 80}]
      deployment: {minimumHealthyPercent: 50, maximumPercent: 200}
      scaling:
        minTasks: 2
        maxTasks: 4
        scaleOutCooldownSeconds: 60
        scaleInCooldownSeconds: 300
        cpu: {scaleOutAbovePercent: 70, scaleInBelowPercent: 20, evaluationPeriods: 1, scaleOutStep: 1, scaleInStep: 1}
"#;

/// Polls `probe` every 500 ms for at most `limit` (a bound on waiting, not a timing assertion).
fn eventually(limit: Duration, mut probe: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if probe() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    false
}

#[test]
#[ignore = "needs moto: scripts/test starts it and runs these with --include-ignored"]
fn the_controller_creates_restores_and_scales_a_service_in_moto_then_stops_on_sigterm() {
    scenario(&Moto::get(), "e2e", None);
}

/// The same scenario with the store in DynamoDB (moto's): the table made by `tug store init`,
/// the stack applied by another process, the controller holding the lease.
#[test]
#[ignore = "needs moto: scripts/test starts it and runs these with --include-ignored"]
fn the_same_scenario_runs_on_a_dynamodb_store_applied_from_another_process() {
    let moto = Moto::get();
    let uri = format!("dynamodb://e2e-{}", std::process::id());
    scenario(&moto, "e2e-ddb", Some(&uri));
}

/// Create, drift restored, CPU scale-out, SIGTERM: names start with `prefix`; the store is a
/// directory, or `uri`.
fn scenario(moto: &Moto, prefix: &str, uri: Option<&str>) {
    let fixtures = moto.fixtures(prefix, &[&format!("{prefix}-tg")]);
    let cluster = fixtures["cluster"].as_str().expect("cluster").to_owned();
    let manifest = MANIFEST
        .replace("e2e", prefix)
        .replace("CLUSTER", &cluster)
        .replace("SUBNET", fixtures["subnets"][0].as_str().expect("subnet"))
        .replace("GROUP", fixtures["securityGroup"].as_str().expect("sg"));
    let tug = match uri {
        Some(uri) => {
            let tug = Tug::on(uri, moto.env());
            let init = tug.run(&["store", "init", uri]);
            assert_eq!(init.code, 0, "{}", init.stderr);
            assert!(init.stdout.contains("created"), "{}", init.stdout);
            tug
        }
        None => Tug::new(),
    };
    let file = tug.write("e2e.yaml", &manifest);
    let applied = tug.run(&["apply", "-f", &file]);
    assert_eq!(applied.code, 0, "{}", applied.stderr);

    let mut command = tug.command();
    command
        .args([
            "controller",
            "--cloud",
            "aws",
            "--resync",
            "1s",
            "--listen",
            "127.0.0.1:0",
            "--log-format",
            "json",
        ])
        .envs(moto.env())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("controller starts");
    let stderr = child.stderr.take().expect("stderr");
    let (lines_tx, lines_rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let config = runtime.block_on(moto.config());
    let ecs = aws_sdk_ecs::Client::new(&config);
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&config);
    let cloudwatch = aws_sdk_cloudwatch::Client::new(&config);
    let desired = || {
        runtime
            .block_on(
                ecs.describe_services()
                    .cluster(&cluster)
                    .services("web")
                    .send(),
            )
            .ok()
            .and_then(|o| o.services().first().map(|s| s.desired_count()))
    };

    // The service, its task definition and the health check appear.
    let created = eventually(Duration::from_secs(60), || desired() == Some(2));
    let mut log: Vec<String> = lines_rx.try_iter().collect();
    assert!(created, "service never created; log:\n{}", log.join("\n"));
    let td = runtime
        .block_on(
            ecs.describe_task_definition()
                .task_definition(format!("{prefix}-web"))
                .send(),
        )
        .expect("task definition");
    let td = td.task_definition().expect("definition");
    assert_eq!(td.revision(), 1);
    assert_eq!(
        td.container_definitions()[0].image(),
        Some("123456789012.dkr.ecr.us-east-1.amazonaws.com/web:1.0.0")
    );
    let group = format!("{prefix}-tg");
    assert!(
        eventually(Duration::from_secs(30), || {
            runtime
                .block_on(elb.describe_target_groups().names(&group).send())
                .ok()
                .and_then(|o| {
                    o.target_groups().first().map(|g| {
                        (g.health_check_path() == Some("/health"))
                            && g.health_check_interval_seconds() == Some(10)
                    })
                })
                .unwrap_or(false)
        }),
        "health check never restored"
    );

    // desiredCount changed out of band is put back.
    runtime
        .block_on(
            ecs.update_service()
                .cluster(&cluster)
                .service("web")
                .desired_count(5)
                .send(),
        )
        .expect("out-of-band change");
    let restored = eventually(Duration::from_secs(30), || desired() == Some(2));
    log.extend(lines_rx.try_iter());
    assert!(
        restored,
        "desiredCount never restored; log:\n{}",
        log.join("\n")
    );

    // CPU above 70 % (one datapoint is enough): 95 % is saturated, so the count is sized to at
    // least 2 x 95 / 45 = 5 tasks (the middle of the 70/20 thresholds), clamped to maxTasks 4.
    let scaled = eventually(Duration::from_secs(180), || {
        let now = support::moto::epoch_seconds();
        let datum = aws_sdk_cloudwatch::types::MetricDatum::builder()
            .metric_name("CPUUtilization")
            .dimensions(
                aws_sdk_cloudwatch::types::Dimension::builder()
                    .name("ClusterName")
                    .value(&cluster)
                    .build(),
            )
            .dimensions(
                aws_sdk_cloudwatch::types::Dimension::builder()
                    .name("ServiceName")
                    .value("web")
                    .build(),
            )
            .timestamp(aws_smithy_types::DateTime::from_secs(
                i64::try_from(now).unwrap_or(0),
            ))
            .value(95.0)
            .build();
        runtime
            .block_on(
                cloudwatch
                    .put_metric_data()
                    .namespace("AWS/ECS")
                    .metric_data(datum)
                    .send(),
            )
            .expect("put CPU");
        desired() == Some(4)
    });
    log.extend(lines_rx.try_iter());
    assert!(scaled, "never scaled out; log:\n{}", log.join("\n"));

    // One revision only: nothing was registered twice.
    let revisions = runtime
        .block_on(
            ecs.list_task_definitions()
                .family_prefix(format!("{prefix}-web"))
                .send(),
        )
        .expect("list");
    assert_eq!(revisions.task_definition_arns().len(), 1);

    // SIGTERM: a clean stop, exit 0.
    let pid = child.id().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let mut status = None;
    assert!(
        eventually(Duration::from_secs(30), || {
            status = child.try_wait().ok().flatten();
            status.is_some()
        }),
        "controller did not stop"
    );
    assert_eq!(status.and_then(|s| s.code()), Some(0));
    log.extend(lines_rx.iter());
    let text = log.join("\n");
    for expected in [
        "preflight passed",
        "desiredCount was changed out of band to 5; restored to the controller's 2",
        "2 -> 4: CPU 95% above 70% in the newest minute",
        "controller stopped cleanly",
    ] {
        assert!(
            text.contains(expected),
            "{expected:?} missing from the log:\n{text}"
        );
    }
}

/// Two stacks, one of whose target groups is deleted out of band while the controller runs: the
/// healthy stack keeps being reconciled (desiredCount changed out of band is put back within a
/// resync), and the broken one is reported Degraded with what to fix.
#[test]
#[ignore = "needs moto: scripts/test starts it and runs these with --include-ignored"]
fn a_deleted_target_group_fails_only_its_stack_against_moto() {
    let moto = Moto::get();
    let fixtures = moto.fixtures("iso", &["iso-ok-tg", "iso-gone-tg"]);
    let cluster = fixtures["cluster"].as_str().expect("cluster").to_owned();
    let stack = |name: &str, group: &str| {
        MANIFEST
            .replace("name: e2e\n", &format!("name: {name}\n"))
            .replace("e2e-tg", group)
            .replace(
                "- name: web\n      launchType",
                &format!("- name: {name}-web\n      launchType"),
            )
            .replace("family: e2e-web", &format!("family: {name}-web"))
            .replace("CLUSTER", &cluster)
            .replace("SUBNET", fixtures["subnets"][0].as_str().expect("subnet"))
            .replace("GROUP", fixtures["securityGroup"].as_str().expect("sg"))
    };
    let tug = Tug::new();
    let file = tug.write(
        "two.yaml",
        &format!(
            "{}\n---\n{}",
            stack("ok", "iso-ok-tg"),
            stack("gone", "iso-gone-tg")
        ),
    );
    let applied = tug.run(&["apply", "-f", &file]);
    assert_eq!(applied.code, 0, "{}", applied.stderr);
    let mut child = tug
        .command()
        .args(["controller", "--resync", "1s", "--listen", "127.0.0.1:0"])
        .envs(moto.env())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("controller starts");

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let config = runtime.block_on(moto.config());
    let ecs = aws_sdk_ecs::Client::new(&config);
    let desired = |service: &str| {
        runtime
            .block_on(
                ecs.describe_services()
                    .cluster(&cluster)
                    .services(service)
                    .send(),
            )
            .ok()
            .and_then(|o| o.services().first().map(|s| s.desired_count()))
    };
    assert!(
        eventually(Duration::from_secs(60), || desired("ok-web") == Some(2)
            && desired("gone-web") == Some(2)),
        "the services were never created"
    );

    moto.delete_target_group("iso-gone-tg");
    let degraded = eventually(Duration::from_secs(30), || {
        let described = tug.run(&["describe", "service", "gone-web"]);
        described.stdout.contains("CallRefused")
            && described
                .stdout
                .contains("target group `iso-gone-tg` does not exist")
    });
    assert!(
        degraded,
        "{}",
        tug.run(&["describe", "service", "gone-web"]).stdout
    );

    runtime
        .block_on(
            ecs.update_service()
                .cluster(&cluster)
                .service("ok-web")
                .desired_count(5)
                .send(),
        )
        .expect("out-of-band change");
    assert!(
        eventually(Duration::from_secs(30), || desired("ok-web") == Some(2)),
        "the healthy stack was not reconciled beside the broken one"
    );

    let pid = child.id().to_string();
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status();
    let mut status = None;
    assert!(eventually(Duration::from_secs(30), || {
        status = child.try_wait().ok().flatten();
        status.is_some()
    }));
    assert_eq!(status.and_then(|s| s.code()), Some(0));
}

/// What-if on recorded traffic: a week of a service's RequestCount, put into moto's CloudWatch
/// (100 requests per second, and 400 for half an hour on the first day), read back whole by `tug
/// simulate --load cloudwatch://...?days=7` and replayed (its first two days, to keep the test
/// short) against tugboat and the baseline on the same trace.
#[test]
#[ignore = "needs moto: scripts/test starts it and runs these with --include-ignored"]
fn simulate_replays_a_services_recorded_requests_from_cloudwatch_in_moto() {
    let moto = Moto::get();
    let prefix = "whatif";
    let fixtures = moto.fixtures(prefix, &[&format!("{prefix}-tg")]);
    let cluster = fixtures["cluster"].as_str().expect("cluster").to_owned();
    let manifest = MANIFEST
        .replace("e2e", prefix)
        .replace("CLUSTER", &cluster)
        .replace("SUBNET", fixtures["subnets"][0].as_str().expect("subnet"))
        .replace("GROUP", fixtures["securityGroup"].as_str().expect("sg"));
    let tug = Tug::new();
    let file = tug.write("whatif.yaml", &manifest);
    let applied = tug.run(&["apply", "-f", &file]);
    assert_eq!(applied.code, 0, "{}", applied.stderr);
    // The service exists in moto, behind its target group: the controller creates it.
    let once = tug
        .command()
        .args(["controller", "--cloud", "aws", "--once"])
        .envs(moto.env())
        .output()
        .expect("controller runs");
    assert!(
        once.status.success(),
        "{}",
        String::from_utf8_lossy(&once.stderr)
    );

    let dimension = |arn: &str, marker: &str, prefix: &str| {
        arn.split_once(marker)
            .map(|(_, tail)| format!("{prefix}{tail}"))
            .expect("an ARN")
    };
    let group_arn = fixtures["targetGroups"][format!("{prefix}-tg")]
        .as_str()
        .expect("target group");
    let balancer_arn = fixtures["loadBalancer"].as_str().expect("load balancer");
    let dims = [
        (
            "TargetGroup",
            dimension(group_arn, ":targetgroup/", "targetgroup/"),
        ),
        (
            "LoadBalancer",
            dimension(balancer_arn, ":loadbalancer/", ""),
        ),
    ];
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let config = runtime.block_on(moto.config());
    let cloudwatch = aws_sdk_cloudwatch::Client::new(&config);
    let end = support::moto::epoch_seconds() / 60 * 60;
    let start = end - 7 * 86_400;
    let burst = (start + 86_400)..(start + 86_400 + 1_800);
    let minutes: Vec<u64> = (start..end).step_by(60).collect();
    for chunk in minutes.chunks(1_000) {
        let data: Vec<aws_sdk_cloudwatch::types::MetricDatum> = chunk
            .iter()
            .map(|minute| {
                let rps = if burst.contains(minute) { 400.0 } else { 100.0 };
                let mut datum = aws_sdk_cloudwatch::types::MetricDatum::builder()
                    .metric_name("RequestCount")
                    .timestamp(aws_smithy_types::DateTime::from_secs(
                        i64::try_from(minute + 1).unwrap_or(0),
                    ))
                    .value(rps * 60.0);
                for (name, value) in &dims {
                    datum = datum.dimensions(
                        aws_sdk_cloudwatch::types::Dimension::builder()
                            .name(*name)
                            .value(value)
                            .build(),
                    );
                }
                datum.build()
            })
            .collect();
        runtime
            .block_on(
                cloudwatch
                    .put_metric_data()
                    .namespace("AWS/ApplicationELB")
                    .set_metric_data(Some(data))
                    .send(),
            )
            .expect("put RequestCount");
    }

    let load = format!("cloudwatch://{cluster}/web?days=7");
    let run = tug
        .command()
        .args([
            "simulate",
            "-f",
            &file,
            "--load",
            &load,
            "--duration",
            "2days",
            "--compare",
            "tug,aas",
            "-o",
            "json",
        ])
        .envs(moto.env())
        .output()
        .expect("simulate runs");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "read 10080 minutes of RequestCount of target group `{prefix}-tg`"
        )),
        "{stderr}"
    );
    assert!(stderr.contains("peak 400.0 rps"), "{stderr}");
    let value: serde_json::Value = serde_json::from_slice(&run.stdout).expect("json");
    let runs = value["runs"].as_array().expect("runs");
    assert_eq!(runs.len(), 2);
    for summary in runs {
        assert_eq!(summary["duration_seconds"], 2 * 86_400, "{summary}");
        let web = &summary["services"]["web"];
        assert_eq!(
            web["max_tasks"], 4,
            "the burst scaled {} out: {web}",
            summary["scaler"]
        );
    }
}

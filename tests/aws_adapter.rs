//! The real AWS adapter (`cloud::aws`) over HTTP against a moto server: request shapes, tags,
//! ARNs, batching and paging, error mapping. Results are checked with the SDK directly, not through
//! tugboat. moto does not run tasks or deployments, so nothing here waits for convergence.

mod support;

use std::collections::BTreeMap;

use support::moto::Moto;
use tugboat::cloud::Cloud;
use tugboat::cloud::CloudError;
use tugboat::cloud::aws::AwsCloud;
use tugboat::manifest::{Source, parse_sources};
use tugboat::model::Stack;
use tugboat::model::aws::{
    HealthCheckSettings, MetricId, NetworkInput, UpdateServiceInput, managed_tags,
};
use tugboat::plan::render::{digest, render};
use tugboat::plan::service::create_input;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// The awsvpc configuration of a service in the fixtures' VPC: its first subnet and its
/// security group, no public IP.
fn fixture_network(fixtures: &serde_json::Value) -> NetworkInput {
    NetworkInput {
        subnets: vec![fixtures["subnets"][0].as_str().expect("subnet").to_owned()],
        security_groups: vec![fixtures["securityGroup"].as_str().expect("sg").to_owned()],
        assign_public_ip: false,
    }
}

/// One service as the SDK describes it (tags included): what the adapter sent, read without
/// tugboat.
async fn sdk_service(
    ecs: &aws_sdk_ecs::Client,
    cluster: &str,
    name: &str,
) -> aws_sdk_ecs::types::Service {
    ecs.describe_services()
        .cluster(cluster)
        .services(name)
        .include(aws_sdk_ecs::types::ServiceField::Tags)
        .send()
        .await
        .expect("sdk describe")
        .services()
        .first()
        .cloned()
        .expect("the service is described")
}

fn stack(path: &str) -> Stack {
    let bytes = std::fs::read(format!("{}/{path}", env!("CARGO_MANIFEST_DIR"))).expect("manifest");
    parse_sources(&[Source {
        name: path.into(),
        bytes,
    }])
    .expect("valid")
    .remove(0)
}

#[test]
#[ignore = "needs moto: scripts/test starts it and runs these with --include-ignored"]
fn task_definitions_register_tagged_and_read_back_as_they_render() {
    let moto = Moto::get();
    runtime().block_on(async {
        let config = moto.config().await;
        let aws = AwsCloud::new(config.clone());
        let stack = stack("manifests/fargate-test1.yaml");
        let service = &stack.spec().services[0];
        let mut rendered = render(service, None);
        rendered.family = "adapter-td".into();
        rendered.tags = managed_tags("fargate-test1");

        assert_eq!(
            aws.describe_latest_task_definition("adapter-td").await,
            Ok(None)
        );
        let registered = aws
            .register_task_definition(rendered.clone())
            .await
            .expect("registered");
        assert!(
            registered.arn.starts_with("arn:aws:ecs:")
                && registered.arn.ends_with("task-definition/adapter-td:1"),
            "{}",
            registered.arn
        );
        let id = registered.id.clone();
        assert_eq!(id.family, "adapter-td");
        assert_eq!(
            aws.describe_task_definition(&id).await,
            Ok(Some(registered.clone())),
            "one revision, looked up by family:revision"
        );
        let missing = tugboat::model::aws::TaskDefinitionId {
            family: "adapter-td".into(),
            revision: 9,
        };
        assert_eq!(aws.describe_task_definition(&missing).await, Ok(None));
        let (latest, read) = aws
            .describe_latest_task_definition("adapter-td")
            .await
            .expect("described")
            .expect("exists");
        assert_eq!(latest, registered);
        assert_eq!(digest(&read), digest(&rendered), "{read:#?}\n{rendered:#?}");

        // Checked with the SDK: the request's shape and tags.
        let ecs = aws_sdk_ecs::Client::new(&config);
        let td = ecs
            .describe_task_definition()
            .task_definition(id.to_string())
            .include(aws_sdk_ecs::types::TaskDefinitionField::Tags)
            .send()
            .await
            .expect("sdk describe");
        let def = td.task_definition().expect("definition");
        assert_eq!(def.cpu(), Some("256"));
        assert_eq!(def.memory(), Some("512"));
        assert_eq!(def.network_mode().map(|m| m.as_str()), Some("awsvpc"));
        assert_eq!(def.requires_compatibilities()[0].as_str(), "FARGATE");
        let container = &def.container_definitions()[0];
        assert_eq!(container.memory(), Some(512));
        assert_eq!(container.port_mappings()[0].container_port(), Some(80));
        let tags: BTreeMap<_, _> = td
            .tags()
            .iter()
            .map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default()))
            .collect();
        assert_eq!(tags.get("tugboat:managed-by"), Some(&"tugboat"), "{tags:?}");
        assert_eq!(tags.get("tugboat:stack"), Some(&"fargate-test1"));
    });
}

#[test]
#[ignore = "needs moto: scripts/test starts it and runs these with --include-ignored"]
fn services_are_created_tagged_behind_their_target_group_then_updated_and_deleted() {
    let moto = Moto::get();
    let fixtures = moto.fixtures("svc", &["svc-tg"]);
    runtime().block_on(async {
        let config = moto.config().await;
        let aws = AwsCloud::new(config.clone());
        let cluster = fixtures["cluster"].as_str().expect("cluster").to_owned();
        let mut stack_service = stack("manifests/fargate-test1.yaml").spec().services[0].clone();
        stack_service.load_balancers[0].target_group = "svc-tg".into();
        let id = aws
            .register_task_definition(render(&stack_service, None))
            .await
            .expect("registered")
            .id;
        let mut input = create_input(&cluster, &stack_service, id.clone(), 2);
        input.tags = managed_tags("svc");
        input.network = Some(fixture_network(&fixtures));
        let created = aws.create_service(input).await.expect("created");
        assert_eq!(created.desired_count, 2);
        assert_eq!(created.task_definition, id);
        assert!(created.managed_by_tugboat());

        let ecs = aws_sdk_ecs::Client::new(&config);
        let service = sdk_service(&ecs, &cluster, "test1Service").await;
        assert_eq!(
            service.load_balancers()[0].target_group_arn(),
            fixtures["targetGroups"]["svc-tg"].as_str(),
            "the name was resolved to the ARN"
        );
        // moto drops deploymentConfiguration and healthCheckGracePeriodSeconds (it neither stores
        // nor returns them), so the bounds and the circuit breaker the adapter sends are checked by
        // the request-building unit test (`cloud::aws::tests`), not here.
        let vpc = service
            .network_configuration()
            .and_then(|n| n.awsvpc_configuration())
            .expect("awsvpc");
        assert_eq!(vpc.subnets().len(), 1);
        assert!(
            service
                .tags()
                .iter()
                .any(|t| t.key() == Some("tugboat:stack") && t.value() == Some("svc"))
        );

        // Described through the adapter: unknown names left out, more than 10 refused up front.
        let names: Vec<String> = vec!["test1Service".into(), "nope".into()];
        let described = aws
            .describe_services(&cluster, &names)
            .await
            .expect("described");
        assert_eq!(described.len(), 1);
        assert!(described[0].managed_by_tugboat());
        let eleven: Vec<String> = (0..11).map(|i| format!("s{i}")).collect();
        let refused = aws.describe_services(&cluster, &eleven).await;
        assert!(
            matches!(refused, Err(CloudError::Invalid { .. })),
            "{refused:?}"
        );

        let updated = aws
            .update_service(UpdateServiceInput {
                cluster: cluster.clone(),
                service: "test1Service".into(),
                desired_count: Some(3),
                ..UpdateServiceInput::default()
            })
            .await
            .expect("updated");
        assert_eq!(updated.desired_count, 3);
        let seen = sdk_service(&ecs, &cluster, "test1Service").await;
        assert_eq!(seen.desired_count(), 3);

        aws.update_service(UpdateServiceInput {
            cluster: cluster.clone(),
            service: "test1Service".into(),
            desired_count: Some(0),
            ..UpdateServiceInput::default()
        })
        .await
        .expect("scaled to 0");
        let deleted = aws
            .delete_service(&cluster, "test1Service")
            .await
            .expect("deleted");
        assert_ne!(
            deleted.status, "ACTIVE",
            "DRAINING on AWS, INACTIVE at once on moto"
        );
        let after = aws
            .describe_services(&cluster, &["test1Service".to_owned()])
            .await
            .expect("described");
        assert!(after.iter().all(|s| s.status != "ACTIVE"), "{after:?}");
    });
}

#[test]
#[ignore = "needs moto: scripts/test starts it and runs these with --include-ignored"]
fn target_groups_resolve_by_name_or_arn_and_their_health_checks_change() {
    let moto = Moto::get();
    let fixtures = moto.fixtures("tgs", &["tgs-a", "tgs-b"]);
    runtime().block_on(async {
        let config = moto.config().await;
        let aws = AwsCloud::new(config.clone());
        let arn_b = fixtures["targetGroups"]["tgs-b"].as_str().expect("arn").to_owned();
        let found = aws
            .describe_target_groups(&["tgs-a".to_owned(), arn_b.clone(), "tgs-missing".to_owned()])
            .await
            .expect("described");
        assert_eq!(found.len(), 2, "{found:?}");
        let a = &found["tgs-a"];
        assert_eq!(a.health_check.path, "/");
        assert_eq!(a.health_check.healthy_threshold, 5);
        let balancer = fixtures["loadBalancer"].as_str().expect("lb");
        assert_eq!(
            a.load_balancer.as_deref(),
            balancer.split_once(":loadbalancer/").map(|(_, t)| t),
            "the load balancer as CloudWatch names it"
        );
        assert!(found.contains_key(&arn_b));

        let wanted = HealthCheckSettings {
            path: "/health-check".into(),
            interval_seconds: 15,
            timeout_seconds: 5,
            healthy_threshold: 2,
            unhealthy_threshold: 3,
        };
        aws.modify_target_group("tgs-a", wanted.clone())
            .await
            .expect("modified");
        let elb = aws_sdk_elasticloadbalancingv2::Client::new(&config);
        let seen = elb
            .describe_target_groups()
            .names("tgs-a")
            .send()
            .await
            .expect("sdk describe");
        let group = &seen.target_groups()[0];
        assert_eq!(group.health_check_path(), Some("/health-check"));
        assert_eq!(group.health_check_interval_seconds(), Some(15));
        assert_eq!(group.healthy_threshold_count(), Some(2));
        assert_eq!(group.unhealthy_threshold_count(), Some(3));

        assert_eq!(aws.describe_target_health("tgs-a").await, Ok(Vec::new()));
        let missing = aws.describe_target_health("tgs-missing").await;
        assert!(
            matches!(&missing, Err(CloudError::Invalid { message, .. }) if message.contains("does not exist")),
            "{missing:?}"
        );
    });
}

#[test]
#[ignore = "needs moto: scripts/test starts it and runs these with --include-ignored"]
fn metrics_are_read_per_minute_across_more_than_500_queries() {
    let moto = Moto::get();
    runtime().block_on(async {
        let config = moto.config().await;
        let aws = AwsCloud::new(config.clone());
        let cloudwatch = aws_sdk_cloudwatch::Client::new(&config);
        let now = support::moto::epoch_seconds();
        let minute = now / 60 * 60;
        for (ago, value) in [(3, 40.0), (2, 80.0), (1, 90.0)] {
            let at = minute - ago * 60 + 10;
            cloudwatch
                .put_metric_data()
                .namespace("AWS/ECS")
                .metric_data(
                    aws_sdk_cloudwatch::types::MetricDatum::builder()
                        .metric_name("CPUUtilization")
                        .dimensions(
                            aws_sdk_cloudwatch::types::Dimension::builder()
                                .name("ClusterName")
                                .value("metrics-cluster")
                                .build(),
                        )
                        .dimensions(
                            aws_sdk_cloudwatch::types::Dimension::builder()
                                .name("ServiceName")
                                .value("busy")
                                .build(),
                        )
                        .timestamp(aws_smithy_types::DateTime::from_secs(at as i64))
                        .value(value)
                        .build(),
                )
                .send()
                .await
                .expect("put");
        }
        // 600 queries: two GetMetricData calls (500 + 100); only one metric has data.
        let mut queries: Vec<MetricId> = (0..599)
            .map(|i| MetricId::ServiceCpu {
                cluster: "metrics-cluster".into(),
                service: format!("idle-{i:03}"),
            })
            .collect();
        let busy = MetricId::ServiceCpu {
            cluster: "metrics-cluster".into(),
            service: "busy".into(),
        };
        queries.push(busy.clone());
        let series = aws
            .get_metric_data(&queries, minute - 600, now + 60)
            .await
            .expect("read")
            .series;
        let points = &series[&busy];
        let values: Vec<(u64, f64)> = points.iter().map(|p| (p.minute_start, p.value)).collect();
        assert_eq!(
            values,
            vec![
                (minute - 180, 40.0),
                (minute - 120, 80.0),
                (minute - 60, 90.0)
            ],
            "one datapoint per minute, at the minute's start"
        );
        assert!(
            series
                .iter()
                .filter(|(id, _)| **id != busy)
                .all(|(_, p)| p.is_empty())
        );
    });
}

#[test]
#[ignore = "needs moto: scripts/test starts it and runs these with --include-ignored"]
fn errors_are_classified_retryable_or_terminal() {
    let moto = Moto::get();
    runtime().block_on(async {
        let aws = AwsCloud::new(moto.config().await);
        let missing = aws
            .describe_services("no-such-cluster", &["x".to_owned()])
            .await
            .expect_err("unknown cluster");
        assert!(!missing.is_retryable(), "{missing}");
        assert!(
            missing.to_string().contains("ClusterNotFoundException"),
            "{missing}"
        );

        // Nothing listens on port 9 of loopback: a connection failure is worth retrying.
        let unreachable = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url("http://127.0.0.1:9")
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_credential_types::Credentials::new(
                "a", "b", None, None, "t",
            ))
            .retry_config(aws_config::retry::RetryConfig::disabled())
            .load()
            .await;
        let error = AwsCloud::new(unreachable)
            .describe_services("c", &["x".to_owned()])
            .await
            .expect_err("unreachable");
        assert!(error.is_retryable(), "{error}");
    });
}

/// Every container and service field of the every-field example, sent as ECS's API defines it and
/// read back by moto (which keeps container definitions as sent): the same digest, so no
/// spurious registration; the service's platform version and tag propagation as sent at
/// creation, and its placement and ECS Exec settings as UpdateService sent them.
#[test]
#[ignore = "needs moto: scripts/test starts it and runs these with --include-ignored"]
fn every_task_definition_and_service_field_is_sent_and_read_back() {
    let moto = Moto::get();
    let fixtures = moto.fixtures("every", &["every-tg"]);
    runtime().block_on(async {
        let config = moto.config().await;
        let aws = AwsCloud::new(config.clone());
        let ecs = aws_sdk_ecs::Client::new(&config);
        let stack = stack("tests/fixtures/valid/every-field.yaml");
        for service in &stack.spec().services {
            let mut rendered = render(service, None);
            rendered.family = format!("every-{}", rendered.family);
            let registered = aws
                .register_task_definition(rendered.clone())
                .await
                .expect("registered");
            let (_, read) = aws
                .describe_latest_task_definition(&rendered.family)
                .await
                .expect("described")
                .expect("exists");
            assert_eq!(digest(&read), digest(&rendered), "{read:#?}\n{rendered:#?}");
            let td = ecs
                .describe_task_definition()
                .task_definition(registered.id.to_string())
                .send()
                .await
                .expect("sdk describe");
            let container = &td
                .task_definition()
                .expect("definition")
                .container_definitions()[0];
            match service.name.as_str() {
                "web" => {
                    assert_eq!(container.secrets().len(), 2);
                    assert!(
                        container
                            .secrets()
                            .iter()
                            .any(|s| s.name() == "DATABASE_PASSWORD"
                                && s.value_from().starts_with("arn:aws:secretsmanager:")),
                        "{:?}",
                        container.secrets()
                    );
                    assert!(
                        container
                            .environment()
                            .iter()
                            .all(|e| e.name() != Some("DATABASE_PASSWORD")),
                        "a secret is never sent as plain environment"
                    );
                    let log = container.log_configuration().expect("log configuration");
                    assert_eq!(log.log_driver().as_str(), "awslogs");
                    assert_eq!(
                        log.options()
                            .and_then(|o| o.get("awslogs-stream-prefix"))
                            .map(String::as_str),
                        Some("web")
                    );
                    let check = container.health_check().expect("health check");
                    assert_eq!(check.command()[0], "CMD-SHELL");
                    assert_eq!(
                        (
                            check.interval(),
                            check.timeout(),
                            check.retries(),
                            check.start_period()
                        ),
                        (Some(15), Some(5), Some(3), Some(20)),
                        "ECS's defaults sent explicitly"
                    );
                    assert_eq!(container.stop_timeout(), Some(20));
                    assert_eq!(container.depends_on()[0].container_name(), "migrate");
                    assert_eq!(container.depends_on()[0].condition().as_str(), "SUCCESS");
                    assert_eq!(container.ulimits()[0].name().as_str(), "nofile");
                    assert_eq!(container.readonly_root_filesystem(), Some(true));
                    assert_eq!(container.user(), Some("1000:1000"));
                }
                _ => assert_eq!(container.ulimits()[0].hard_limit(), 8192),
            }
        }

        // The Fargate service: capacity providers instead of a launch type.
        let cluster = fixtures["cluster"].as_str().expect("cluster").to_owned();
        let mut web = stack.spec().services[0].clone();
        web.load_balancers[0].target_group = "every-tg".into();
        let id = aws
            .register_task_definition(render(&web, None))
            .await
            .expect("registered")
            .id;
        let mut input = create_input(&cluster, &web, id, 1);
        input.network = Some(fixture_network(&fixtures));
        assert_eq!(input.options.capacity_provider_strategy.len(), 2);
        assert_eq!(
            input.tags.get("team").map(String::as_str),
            Some("payments"),
            "the manifest's service tags"
        );
        aws.create_service(input.clone()).await.expect("created");
        let service = sdk_service(&ecs, &cluster, "web").await;
        assert_eq!(service.platform_version(), Some("1.4.0"));
        assert_eq!(
            service.propagate_tags().map(|p| p.as_str()),
            Some("SERVICE")
        );
        assert!(
            service
                .tags()
                .iter()
                .any(|t| t.key() == Some("cost-center"))
        );

        // moto keeps what UpdateService sends: the options as absolute values.
        let mut options = input.options.clone();
        options.enable_execute_command = false;
        options.platform_version = Some("1.3.0".into());
        let updated = aws
            .update_service(UpdateServiceInput {
                cluster: cluster.clone(),
                service: "web".into(),
                options: Some(options.clone()),
                ..UpdateServiceInput::default()
            })
            .await
            .expect("updated");
        let reported = updated.options.expect("options reported after an update");
        assert_eq!(reported.platform_version.as_deref(), Some("1.3.0"));
        assert!(!reported.enable_execute_command);
        assert_eq!(options.drift(&reported), Vec::<&str>::new(), "{reported:?}");
        assert_eq!(
            input.options.drift(&reported),
            vec!["platformVersion", "enableExecuteCommand"]
        );

        // The deregistration delay: ELBv2's default, then what tugboat sets.
        assert_eq!(aws.describe_deregistration_delay("every-tg").await, Ok(300));
        aws.modify_deregistration_delay("every-tg", 10)
            .await
            .expect("modified");
        assert_eq!(aws.describe_deregistration_delay("every-tg").await, Ok(10));
    });
}

/// A canary service: the load balancer's advanced configuration (alternate target group resolved
/// to its ARN, listener rule, role) at creation, and the strategy with its steps, bakes, alarms
/// and circuit-breaker threshold through UpdateService, which moto stores and reports back.
/// StopServiceDeployment is not in moto; the simulator and `cloud::aws` unit tests cover it.
#[test]
#[ignore = "needs moto: scripts/test starts it and runs these with --include-ignored"]
fn traffic_shifting_strategies_are_sent_in_the_shape_the_sdk_defines() {
    let moto = Moto::get();
    let fixtures = moto.fixtures("canary", &["canary-blue", "canary-green"]);
    runtime().block_on(async {
        let config = moto.config().await;
        let aws = AwsCloud::new(config.clone());
        let cluster = fixtures["cluster"].as_str().expect("cluster").to_owned();
        let mut shop = stack("manifests/strategies/canary.yaml").spec().services[0].clone();
        shop.load_balancers[0].target_group = "canary-blue".into();
        shop.load_balancers[0].alternate_target_group = Some("canary-green".into());
        let id = aws
            .register_task_definition(render(&shop, None))
            .await
            .expect("registered")
            .id;
        let mut input = create_input(&cluster, &shop, id, 2);
        input.network = Some(fixture_network(&fixtures));
        let created = aws.create_service(input.clone()).await.expect("created");
        let advanced = created.load_balancers[0]
            .advanced
            .clone()
            .expect("advanced configuration kept");
        assert_eq!(advanced.alternate_target_group, "canary-green");
        assert!(
            advanced
                .production_listener_rule
                .contains(":listener-rule/")
        );
        assert!(
            advanced
                .role_arn
                .ends_with("role/ecsInfrastructureRoleForLoadBalancers")
        );
        let ecs = aws_sdk_ecs::Client::new(&config);
        let seen = sdk_service(&ecs, &cluster, "shop").await;
        assert_eq!(
            seen.load_balancers()[0]
                .advanced_configuration()
                .and_then(|a| a.alternate_target_group_arn()),
            fixtures["targetGroups"]["canary-green"].as_str(),
            "the alternate group's name was resolved to its ARN"
        );

        let wanted = input.deployment_configuration.clone();
        assert_eq!(wanted.strategy.ecs_name(), "CANARY");
        let updated = aws
            .update_service(UpdateServiceInput {
                cluster: cluster.clone(),
                service: "shop".into(),
                deployment_configuration: Some(wanted.clone()),
                ..UpdateServiceInput::default()
            })
            .await
            .expect("updated");
        let reported = updated
            .deployment_configuration
            .expect("moto reports what UpdateService stored");
        assert!(wanted.satisfied_by(&reported), "{wanted:?}\n{reported:?}");
        let sdk = sdk_service(&ecs, &cluster, "shop").await;
        let stored = sdk.deployment_configuration().expect("configuration");
        assert_eq!(stored.strategy().map(|s| s.as_str()), Some("CANARY"));
        assert_eq!(
            stored
                .canary_configuration()
                .and_then(|c| c.canary_percent()),
            Some(10.0)
        );
        assert_eq!(stored.bake_time_in_minutes(), Some(2));
        assert_eq!(
            stored.alarms().map(|a| a.alarm_names().to_vec()),
            Some(vec!["shop-latency-p99".to_owned()])
        );
        let breaker = stored.deployment_circuit_breaker().expect("breaker");
        assert!(
            breaker.rollback(),
            "ECS's own rollback for a traffic-shifting strategy"
        );
        assert_eq!(
            breaker
                .threshold_configuration()
                .map(|t| (t.r#type().as_str().to_owned(), t.value())),
            Some(("COUNT".to_owned(), 3))
        );
    });
}

/// ListTasks and DescribeTasks give the service's running tasks with their revision and each
/// container's digest (moto reports none: the field is unit-tested in the adapter), and leave out
/// tasks of anything else even where the serviceName filter is not enforced (moto). The ECR
/// lifecycle policy is read as text, `None` without one, and a missing repository is a terminal
/// error naming it.
#[test]
#[ignore = "needs moto: scripts/test starts it and runs these with --include-ignored"]
fn running_tasks_report_their_images_and_lifecycle_policies_are_read() {
    let moto = Moto::get();
    runtime().block_on(async {
        // Names of its own: the test may run again on the same moto server.
        let run = format!("{}x{}", support::moto::epoch_seconds(), std::process::id());
        let fixtures = moto.fixtures(&format!("images{run}"), &[]);
        let cluster = fixtures["cluster"].as_str().expect("cluster").to_owned();
        let config = moto.config().await;
        let aws = AwsCloud::new(config.clone());
        // A bridge-mode definition: moto's RunTask fails creating the ENI of an awsvpc task
        // (NetworkInterface has no private_dns_name), and places Fargate tasks without one.
        let stack = stack("manifests/app.yaml");
        let mut rendered = render(&stack.spec().services[0], None);
        rendered.family = "images-td".into();
        let registered = aws
            .register_task_definition(rendered)
            .await
            .expect("registered");
        let ecs = aws_sdk_ecs::Client::new(&config);
        for (group, count) in [("service:web", 2), ("family:images-td", 1)] {
            ecs.run_task()
                .cluster(&cluster)
                .task_definition(registered.id.to_string())
                .launch_type(aws_sdk_ecs::types::LaunchType::Fargate)
                .group(group)
                .count(count)
                .send()
                .await
                .expect("run task");
        }
        let arns = aws.list_tasks(&cluster, "web").await.expect("listed");
        assert_eq!(arns.len(), 3, "moto ignores serviceName: {arns:?}");
        let tasks = aws
            .describe_tasks(&cluster, "web", &arns)
            .await
            .expect("described");
        assert_eq!(tasks.len(), 2, "only the service's tasks: {tasks:?}");
        for task in &tasks {
            assert_eq!(task.task_definition, registered.id);
            assert!(task.containers.contains_key("appContainer"), "{task:?}");
        }
        assert_eq!(aws.describe_tasks(&cluster, "web", &[]).await, Ok(Vec::new()));
        let too_many: Vec<String> = (0..101).map(|i| format!("task-{i}")).collect();
        assert!(matches!(
            aws.describe_tasks(&cluster, "web", &too_many).await,
            Err(CloudError::Invalid { .. })
        ));

        let ecr = aws_sdk_ecr::Client::new(&config);
        ecr.create_repository()
            .repository_name(format!("team/images{run}"))
            .send()
            .await
            .expect("repository");
        let image = format!("123456789012.dkr.ecr.us-east-1.amazonaws.com/team/images{run}:1.0.0");
        let repository = tugboat::model::image::ImageRef::parse(&image)
            .ecr_repository()
            .expect("an ECR image");
        assert_eq!(aws.get_lifecycle_policy(&repository).await, Ok(None));
        let policy = r#"{"rules":[{"rulePriority":1,"selection":{"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":14},"action":{"type":"expire"}}]}"#;
        ecr.put_lifecycle_policy()
            .repository_name(format!("team/images{run}"))
            .lifecycle_policy_text(policy)
            .send()
            .await
            .expect("policy");
        let read = aws
            .get_lifecycle_policy(&repository)
            .await
            .expect("read")
            .expect("a policy");
        let risks = tugboat::model::image::lifecycle_risks(&read, Some("1.0.0")).expect("parsed");
        assert_eq!(risks.len(), 1, "{risks:?}");
        let missing = tugboat::model::image::EcrRepository {
            name: "nothing-here".into(),
            ..repository
        };
        match aws.get_lifecycle_policy(&missing).await {
            Err(e @ CloudError::Invalid { .. }) => {
                assert!(e.to_string().contains("RepositoryNotFound"), "{e}");
            }
            other => panic!("{other:?}"),
        }
    });
}

/// DescribeAlarms gives each named alarm's state, reason and the time it changed, leaves out
/// names with no alarm, and asks 100 names a call (105 here, two calls).
#[test]
#[ignore = "needs moto: scripts/test starts it and runs these with --include-ignored"]
fn alarm_states_are_read_by_name_100_a_call() {
    let moto = Moto::get();
    runtime().block_on(async {
        let run = format!("{}x{}", support::moto::epoch_seconds(), std::process::id());
        let config = moto.config().await;
        let aws = AwsCloud::new(config.clone());
        let cloudwatch = aws_sdk_cloudwatch::Client::new(&config);
        let names: Vec<String> = (0..105).map(|i| format!("alarm{run}-{i}")).collect();
        for name in &names {
            cloudwatch
                .put_metric_alarm()
                .alarm_name(name)
                .namespace("AWS/ApplicationELB")
                .metric_name("HTTPCode_Target_5XX_Count")
                .statistic(aws_sdk_cloudwatch::types::Statistic::Sum)
                .period(60)
                .evaluation_periods(1)
                .threshold(10.0)
                .comparison_operator(
                    aws_sdk_cloudwatch::types::ComparisonOperator::GreaterThanThreshold,
                )
                .send()
                .await
                .expect("alarm");
        }
        let before = support::moto::epoch_seconds();
        cloudwatch
            .set_alarm_state()
            .alarm_name(&names[104])
            .state_value(aws_sdk_cloudwatch::types::StateValue::Alarm)
            .state_reason("Threshold Crossed: 42 5XX")
            .send()
            .await
            .expect("set");
        let mut asked = names.clone();
        asked.push(format!("nothing{run}"));
        let states = aws.describe_alarms(&asked).await.expect("described");
        assert_eq!(states.len(), 105, "the missing name is left out");
        let tripped = states
            .iter()
            .find(|a| a.name == names[104])
            .expect("the 105th alarm, from the second call");
        assert_eq!(tripped.state, tugboat::model::aws::AlarmStateValue::Alarm);
        assert_eq!(tripped.reason, "Threshold Crossed: 42 5XX");
        assert!(
            tripped.since + 5 >= before && tripped.since <= support::moto::epoch_seconds() + 5,
            "{tripped:?} against {before}"
        );
        assert!(
            states
                .iter()
                .filter(|a| a.name != names[104])
                .all(|a| a.state != tugboat::model::aws::AlarmStateValue::Alarm),
            "{states:?}"
        );
    });
}

/// SNS Publish to a topic, subject cut to SNS's 100 characters; a topic that does not exist is a
/// terminal error naming it (moto keeps the messages; it delivers none).
#[test]
#[ignore = "needs moto: scripts/test starts it and runs these with --include-ignored"]
fn notifications_are_published_to_the_topic() {
    let moto = Moto::get();
    runtime().block_on(async {
        let run = format!("{}x{}", support::moto::epoch_seconds(), std::process::id());
        let config = moto.config().await;
        let aws = AwsCloud::new(config.clone());
        let sns = aws_sdk_sns::Client::new(&config);
        let topic = sns
            .create_topic()
            .name(format!("alerts{run}"))
            .send()
            .await
            .expect("topic")
            .topic_arn()
            .expect("an ARN")
            .to_owned();
        let long = format!("tugboat: Rollback of {} (shop)", "s".repeat(200));
        aws.publish(
            &topic,
            &long,
            "rolling web:2 back to verified-good web:1: 5XX above 10",
        )
        .await
        .expect("published");
        let missing = topic.replace(&format!("alerts{run}"), "nothing-here");
        match aws.publish(&missing, "x", "y").await {
            Err(e @ CloudError::Invalid { .. }) => {
                assert!(e.to_string().contains("NotFound"), "{e}")
            }
            other => panic!("{other:?}"),
        }
    });
}

/// The capacity key against moto, pass after pass, on an Auto Scaling group that starts empty:
/// SetDesiredCapacity for the tasks, then SetInstanceProtection of the instances once they are
/// registered, then UpdateContainerInstancesState DRAINING of the least loaded when fewer would do,
/// then TerminateInstanceInAutoScalingGroup with a decrement once it is empty. moto keeps each
/// call's effect (it moves no task), which is what is checked after each pass.
#[test]
#[ignore = "needs moto: scripts/test starts it and runs these with --include-ignored"]
fn capacity_calls_arrive_in_order_and_shape() {
    use tugboat::controller::capacity::{CapacityJob, reconcile_capacity};
    use tugboat::manifest::spec::CapacitySpec;
    use tugboat::model::CapacityMemory;
    use tugboat::plan::capacity::ServiceDemand;

    let moto = Moto::get();
    let run = format!(
        "cap{}x{}",
        support::moto::epoch_seconds(),
        std::process::id()
    );
    let made = moto.script(&["--capacity", &run]);
    let cluster = made["cluster"].as_str().expect("cluster").to_owned();
    let group = made["group"].as_str().expect("group").to_owned();
    runtime().block_on(async {
        let aws = AwsCloud::new(moto.config().await);
        let spec = std::sync::Arc::new(CapacitySpec {
            auto_scaling_group: group.clone(),
            min_instances: 0,
            max_instances: 10,
            spare_instances: 0,
            instance_cpu: Some(2048),
            instance_memory: Some(3840),
            scale_in_cooldown_seconds: 0,
            terminate: true,
        });
        let job = |tasks: u32, memory: CapacityMemory| CapacityJob {
            cluster: cluster.clone(),
            stack: "app".into(),
            spec: spec.clone(),
            demands: vec![ServiceDemand {
                service: "appService".into(),
                needs: tugboat::model::aws::PlacementNeeds {
                    cpu: 0,
                    memory: 512,
                    host_ports: vec![80, 8000],
                },
                tasks,
                surge: 0,
                spread_by_zone: false,
                distinct_instance: false,
            }],
            waiting: BTreeMap::new(),
            managed: ["appService".to_owned()].into(),
            memory,
        };
        let now = support::moto::epoch_seconds();
        let described = || async {
            aws.describe_auto_scaling_group(&group)
                .await
                .expect("described")
                .expect("the group")
        };

        // 1. Two tasks, no instance: the group goes to 2.
        let first = reconcile_capacity(&aws, job(2, CapacityMemory::default()), now).await;
        assert!(first.error.is_none(), "{:?}", first.error);
        let g = described().await;
        assert_eq!(g.desired_capacity, 2);
        assert_eq!(g.instances.len(), 2, "moto launches at once: {g:?}");

        // 2. Registered: both protected from the group's own scale-in, nothing else changed.
        let arns = moto.script(&["--register", &cluster, &group]);
        let second = reconcile_capacity(&aws, job(2, first.memory), now + 10).await;
        assert!(second.error.is_none(), "{:?}", second.error);
        let g = described().await;
        assert_eq!(g.desired_capacity, 2);
        assert!(
            g.instances.iter().all(|i| i.protected_from_scale_in),
            "{g:?}"
        );

        // 3. One task: one instance is drained (the cooldown is 0 here).
        let third = reconcile_capacity(&aws, job(1, second.memory), now + 20).await;
        assert!(third.error.is_none(), "{:?}", third.error);
        let all: Vec<String> = arns
            .as_object()
            .expect("arns")
            .values()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect();
        let instances = aws
            .describe_container_instances(&cluster, &all)
            .await
            .expect("described");
        let draining: Vec<_> = instances
            .iter()
            .filter(|c| c.status == "DRAINING")
            .collect();
        assert_eq!(draining.len(), 1, "{instances:?}");
        let drained = draining[0].ec2_instance_id.clone();
        assert_eq!(
            described().await.desired_capacity,
            2,
            "not terminated while draining"
        );
        assert!(
            third
                .memory
                .decisions
                .iter()
                .any(|d| d.reason.contains(&format!("draining {drained}"))),
            "{:?}",
            third.memory.decisions
        );

        // 4. Empty (moto runs no task on it): terminated, the desired capacity decremented.
        let fourth = reconcile_capacity(&aws, job(1, third.memory), now + 30).await;
        assert!(fourth.error.is_none(), "{:?}", fourth.error);
        let g = described().await;
        assert_eq!(g.desired_capacity, 1, "{g:?}");
        assert!(
            !g.instances.iter().any(|i| i.id == drained && i.is_live()),
            "{g:?}"
        );
    });
}

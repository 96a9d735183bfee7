//! The assets under `deploy/` agree with the controller: the Grafana dashboard and the alert rules
//! use only metrics the controller exports, and the dashboard shows every one of them; the scrape
//! configuration parses; the CloudFormation task exposes, labels and probes the port the controller
//! listens on. (`cfn-lint` checks the template itself, in `scripts/test`.)

use std::collections::BTreeSet;

use tugboat::controller::metrics::Metrics;

fn read(path: &str) -> String {
    std::fs::read_to_string(format!("{}/deploy/{path}", env!("CARGO_MANIFEST_DIR"))).expect(path)
}

/// Metric families the controller registers (from its own /metrics text).
fn exported() -> BTreeSet<String> {
    let metrics = Metrics::new().expect("metrics");
    // The per-service and per-cluster gauges have samples only once one is seen.
    metrics
        .service_tasks
        .with_label_values(&["web", "desired"])
        .set(1);
    metrics
        .capacity_instances
        .with_label_values(&["appCluster", "running"])
        .set(1);
    metrics
        .render()
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

/// `tug_*` names in a PromQL expression, histogram suffixes folded into the family.
fn metrics_in(expr: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for (at, _) in expr.match_indices("tug_") {
        let name: String = expr[at..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s).filter(|f| f.ends_with("_seconds")))
            .unwrap_or(&name)
            .to_owned();
        names.insert(family);
    }
    names
}

#[test]
fn the_dashboard_shows_every_metric_and_only_real_ones() {
    let exported = exported();
    // design.md §6.
    let designed: BTreeSet<String> = [
        "tug_reconcile_total",
        "tug_reconcile_duration_seconds",
        "tug_drift_corrections_total",
        "tug_scaling_decisions_total",
        "tug_rollouts_total",
        "tug_service_tasks",
        "tug_aws_requests_total",
        "tug_aws_throttled_total",
        "tug_leader",
        "tug_leader_transitions_total",
        "tug_queue_depth",
        "tug_queue_latency_seconds",
        "tug_capacity_instances",
        "tug_capacity_decisions_total",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    assert_eq!(exported, designed, "the metrics of design.md §6");
    let dashboard: serde_json::Value =
        serde_json::from_str(&read("grafana-dashboard.json")).expect("dashboard is JSON");
    let mut used = BTreeSet::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().expect("targets") {
            used.extend(metrics_in(target["expr"].as_str().expect("expr")));
        }
    }
    let unknown: Vec<_> = used.difference(&exported).collect();
    let missing: Vec<_> = exported.difference(&used).collect();
    assert!(
        unknown.is_empty(),
        "the dashboard uses unknown metrics: {unknown:?}"
    );
    assert!(missing.is_empty(), "the dashboard leaves out: {missing:?}");
}

#[test]
fn the_scrape_configuration_and_alerts_parse_and_use_real_metrics() {
    let scrape: serde_json::Value =
        serde_saphyr::from_str(&read("prometheus.yml")).expect("prometheus.yml is YAML");
    let jobs: Vec<&str> = scrape["scrape_configs"]
        .as_array()
        .expect("scrape_configs")
        .iter()
        .filter_map(|j| j["job_name"].as_str())
        .collect();
    assert!(jobs.contains(&"tugboat"), "{jobs:?}");
    assert!(read("prometheus.yml").contains("tugboat.internal:9464"));

    let alerts: serde_json::Value =
        serde_saphyr::from_str(&read("tugboat-alerts.yml")).expect("alerts are YAML");
    let exported = exported();
    let rules = alerts["groups"][0]["rules"].as_array().expect("rules");
    assert!(!rules.is_empty());
    for rule in rules {
        let used = metrics_in(rule["expr"].as_str().expect("expr"));
        assert!(!used.is_empty() && used.is_subset(&exported), "{rule}");
    }
}

#[test]
fn the_task_serves_labels_and_probes_the_controllers_port() {
    let template = read("tugboat.yaml");
    for expected in [
        "--listen, \"0.0.0.0:9464\"",
        "ContainerPort: 9464",
        "PROMETHEUS_EXPORTER_PORT: \"9464\"",
        "PROMETHEUS_EXPORTER_PATH: /metrics",
        "/usr/local/bin/tug, probe, \"http://127.0.0.1:9464/healthz\"",
        // Two controllers, one leader: a deployment keeps one running throughout.
        "MaximumPercent: 200",
        "MinimumHealthyPercent: 50",
        "DesiredCount: 2",
        "TUG_STORE, Value: !Sub \"dynamodb://${TableName}\"",
        "--log-format, json",
    ] {
        assert!(
            template.contains(expected),
            "{expected:?} missing from deploy/tugboat.yaml"
        );
    }
    // The image the template runs puts `tug` where the health check calls it.
    let dockerfile = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Dockerfile"))
        .expect("Dockerfile");
    assert!(dockerfile.contains("/usr/local/bin/tug"));
}

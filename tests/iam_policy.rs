//! The controller's IAM policy in `deploy/tugboat.yaml` grants exactly what the AWS adapter calls:
//! no missing permission (a failure in production), no extra one (more than least privilege).
//!
//! The adapter's operations are read from its source: every `self.ecs.OPERATION()`,
//! `self.elb.OPERATION()` and `self.cloudwatch.OPERATION()` fluent call in `src/cloud/aws/`. Two
//! permissions are implied rather than called: `ecs:TagResource` (tags passed on create) and
//! `iam:PassRole` (roles named in task definitions), each required only when the code does that.

use std::collections::BTreeSet;

fn pascal(snake: &str) -> String {
    snake
        .split('_')
        .map(|word| {
            let mut chars = word.chars();
            chars
                .next()
                .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// `service:Action` for every SDK call in the adapter's source, plus the implied permissions.
fn actions_in_code() -> BTreeSet<String> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/cloud/aws");
    let mut source = String::new();
    for entry in std::fs::read_dir(dir).expect("adapter sources") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "rs") {
            source.push_str(&std::fs::read_to_string(&path).expect("readable"));
        }
    }
    // rustfmt may break a call chain over lines: compare without whitespace.
    let flat: String = source.chars().filter(|c| !c.is_whitespace()).collect();
    let mut actions = BTreeSet::new();
    for (client, service) in [
        ("ecs", "ecs"),
        ("elb", "elasticloadbalancing"),
        ("cloudwatch", "cloudwatch"),
    ] {
        let needle = format!("self.{client}.");
        for (at, _) in flat.match_indices(&needle) {
            let rest = &flat[at + needle.len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            if !name.is_empty() && rest[name.len()..].starts_with("()") {
                actions.insert(format!("{service}:{}", pascal(&name)));
            }
        }
    }
    if flat.contains(".set_tags(Some(convert::ecs_tags(") {
        actions.insert("ecs:TagResource".to_owned());
    }
    if flat.contains(".set_execution_role_arn(") || flat.contains(".set_task_role_arn(") {
        actions.insert("iam:PassRole".to_owned());
    }
    actions
}

/// The actions the template's controller policy grants.
fn actions_in_template() -> BTreeSet<String> {
    let template =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/tugboat.yaml"))
            .expect("template");
    let start = template
        .find("# BEGIN controller permissions")
        .expect("BEGIN marker");
    let end = template
        .find("# END controller permissions")
        .expect("END marker");
    template[start..end]
        .lines()
        .filter_map(|line| line.trim().strip_prefix("- "))
        .filter(|item| {
            item.split_once(':').is_some_and(|(service, action)| {
                !service.is_empty()
                    && service.chars().all(|c| c.is_ascii_lowercase())
                    && !action.is_empty()
                    && action.chars().all(|c| c.is_ascii_alphanumeric())
            })
        })
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_template_grants_exactly_the_actions_the_adapter_calls() {
    let code = actions_in_code();
    let template = actions_in_template();
    assert!(
        code.contains("ecs:DescribeServices") && code.contains("cloudwatch:GetMetricData"),
        "the source scan found too little: {code:?}"
    );
    let missing: Vec<_> = code.difference(&template).collect();
    let extra: Vec<_> = template.difference(&code).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "deploy/tugboat.yaml is out of step with src/cloud/aws:\n  missing permissions: {missing:?}\n  extra permissions: {extra:?}"
    );
}

#[test]
fn snake_case_operations_become_iam_actions() {
    assert_eq!(pascal("describe_target_health"), "DescribeTargetHealth");
    assert_eq!(pascal("get_metric_data"), "GetMetricData");
}

//! The controller's IAM policy in `deploy/tugboat.yaml` grants exactly what the AWS adapter and the
//! DynamoDB store call: no missing permission (a failure in production), no extra one (more than
//! least privilege). The apply policy in `deploy/tugboat-apply.yaml` lets people write the items
//! an apply writes, and not the controller's lease or memory.
//!
//! The adapter's operations are read from its source: every `self.ecs.OPERATION()`,
//! `self.elb.OPERATION()`, `self.cloudwatch.OPERATION()`, `self.ecr.OPERATION()`,
//! `self.sns.OPERATION()` and `self.autoscaling.OPERATION()` fluent call in
//! `src/cloud/aws/`. Two
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
        ("ecr", "ecr"),
        ("sns", "sns"),
        ("autoscaling", "autoscaling"),
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

/// The actions a template grants between `# BEGIN NAME permissions` and `# END NAME permissions`.
fn actions_in(file: &str, name: &str) -> BTreeSet<String> {
    let template = std::fs::read_to_string(format!("{}/{file}", env!("CARGO_MANIFEST_DIR")))
        .expect("template");
    let start = template
        .find(&format!("# BEGIN {name} permissions"))
        .expect("BEGIN marker");
    let end = template
        .find(&format!("# END {name} permissions"))
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

/// The actions the template's controller policy grants.
fn actions_in_template() -> BTreeSet<String> {
    actions_in("deploy/tugboat.yaml", "controller")
}

/// The DynamoDB operations the store calls: every `.send("Operation").await.OPERATION()` (the
/// store's counted client) and `client.OPERATION()` in `src/store/dynamodb.rs`, as `dynamodb:Action`, with a transaction
/// counted as the actions inside it (IAM has no TransactWriteItems action).
fn store_calls() -> BTreeSet<String> {
    let source = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/src/store/dynamodb.rs"
    ))
    .expect("store source");
    let flat: String = source.chars().filter(|c| !c.is_whitespace()).collect();
    let mut actions = BTreeSet::new();
    for needle in ["\").await.", "client."] {
        for (at, _) in flat.match_indices(needle) {
            let rest = &flat[at + needle.len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            if !name.is_empty() && rest[name.len()..].starts_with("()") && name != "await" {
                actions.insert(format!("dynamodb:{}", pascal(&name)));
            }
        }
    }
    if actions.remove("dynamodb:TransactWriteItems") {
        for (builder, action) in [
            ("Put::builder()", "PutItem"),
            ("Delete::builder()", "DeleteItem"),
            ("ConditionCheck::builder()", "ConditionCheckItem"),
        ] {
            if flat.contains(builder) {
                actions.insert(format!("dynamodb:{action}"));
            }
        }
    }
    actions
}

/// What only `tug store init` calls: people create the table, never the controller.
const INIT_ONLY: [&str; 3] = [
    "dynamodb:CreateTable",
    "dynamodb:DescribeTable",
    "dynamodb:UpdateContinuousBackups",
];

#[test]
fn the_template_grants_exactly_the_store_actions_the_controller_calls() {
    let mut code = store_calls();
    assert!(
        code.contains("dynamodb:GetItem") && code.contains("dynamodb:ConditionCheckItem"),
        "the source scan found too little: {code:?}"
    );
    for init in INIT_ONLY {
        assert!(
            code.remove(init),
            "{init} is no longer called: update INIT_ONLY"
        );
    }
    let template = actions_in("deploy/tugboat.yaml", "store");
    assert_eq!(
        code, template,
        "deploy/tugboat.yaml's store permissions are out of step with src/store/dynamodb.rs"
    );
    let apply = actions_in("deploy/tugboat-apply.yaml", "apply");
    let extra: Vec<_> = apply.difference(&code).collect();
    assert!(
        extra.is_empty(),
        "the apply policy grants more than the store uses: {extra:?}"
    );
    assert!(
        !apply.iter().any(|a| !a.starts_with("dynamodb:")),
        "the apply policy must grant no ECS or other access: {apply:?}"
    );
}

/// IAM's StringLike: `*` any run of characters, `?` one.
fn like(pattern: &str, text: &str) -> bool {
    match (pattern.chars().next(), text.chars().next()) {
        (None, None) => true,
        (Some('*'), _) => {
            like(&pattern[1..], text)
                || (!text.is_empty()
                    && like(
                        pattern,
                        &text[text.chars().next().map_or(0, char::len_utf8)..],
                    ))
        }
        (Some('?'), Some(c)) => like(&pattern[1..], &text[c.len_utf8()..]),
        (Some(p), Some(c)) if p == c => like(&pattern[p.len_utf8()..], &text[c.len_utf8()..]),
        _ => false,
    }
}

/// The write statement's `dynamodb:LeadingKeys` patterns, with `${StackPrefix}` as given.
fn apply_leading_keys(prefix: &str) -> Vec<String> {
    let template = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/deploy/tugboat-apply.yaml"
    ))
    .expect("template");
    let start = template.find("dynamodb:LeadingKeys:").expect("LeadingKeys");
    template[start..]
        .lines()
        .skip(1)
        .map_while(|line| line.trim().strip_prefix("- "))
        .map(|item| {
            item.trim_start_matches("!Sub ")
                .replace("${StackPrefix}", prefix)
        })
        .collect()
}

#[test]
fn the_apply_policy_reaches_the_items_an_apply_writes_and_not_the_controllers() {
    use tugboat::store::dynamodb::{INDEX, LEASE, memory_key, stack_key, status_key};
    let allowed = |prefix: &str, key: &str| apply_leading_keys(prefix).iter().any(|p| like(p, key));
    // Every stack, with the default prefix.
    for key in [INDEX.0, &stack_key("web"), &status_key("web")] {
        assert!(allowed("*", key), "{key} must be writable by an apply");
    }
    for key in [LEASE.0, &memory_key("web")] {
        assert!(!allowed("*", key), "{key} belongs to the controller");
    }
    // One team's prefix: its stacks and not another team's.
    assert!(allowed("team-a-*", &stack_key("team-a-web")));
    assert!(allowed("team-a-*", &status_key("team-a-web")));
    assert!(!allowed("team-a-*", &stack_key("team-b-web")));
    assert!(!allowed("team-a-*", &memory_key("team-a-web")));
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

//! Cross-field rules: what the schema cannot say, each with a message that says how to fix it.
//!
//! Each rule is a small function over the typed spec that pushes [`Issue`]s with a field path; the
//! caller turns paths into positions. Limits cite ECS, ELBv2 and Fargate documentation.

use std::collections::BTreeMap;

use super::Issue;
use super::node::FieldPath;
use super::spec::{
    ContainerSpec, CpuScaling, DependencyCondition, DeploymentSpec, LaunchType,
    LogConfigurationSpec, LogDriver, NetworkMode, NetworkSpec, PlacementConstraintType,
    PlacementStrategyType, ScalingSpec, SecretSpec, ServiceSpec, StackManifest, TargetGroupSpec,
    TaskDefinitionSpec, UlimitName,
};

/// Every rule over one stack document.
pub fn check(stack: &StackManifest, issues: &mut Vec<Issue>) {
    let root = FieldPath::default();
    let metadata = root.key("metadata");
    if !is_stack_name(&stack.metadata.name) {
        issues.push(Issue::new(
            metadata.key("name"),
            format!(
                "invalid stack name `{}`: use 1 to 63 lowercase letters, digits and `-`, starting and ending with a letter or digit",
                stack.metadata.name
            ),
        ));
    }
    let spec = root.key("spec");
    if !is_cluster(&stack.spec.cluster) {
        issues.push(Issue::new(
            spec.key("cluster"),
            format!(
                "invalid cluster `{}`: use a cluster name (letters, digits, `-`, `_`) or a cluster ARN",
                stack.spec.cluster
            ),
        ));
    }
    let groups = spec.key("targetGroups");
    duplicates(
        stack.spec.target_groups.iter().map(|g| g.name.as_str()),
        &groups,
        "name",
        "target group",
        issues,
    );
    for (i, group) in stack.spec.target_groups.iter().enumerate() {
        target_group(group, &groups.index(i), issues);
    }
    if let Some(notifications) = &stack.spec.notifications {
        let path = spec.key("notifications");
        if !is_arn(&notifications.sns_topic_arn, "sns")
            // The region may not be empty either.
            || notifications
                .sns_topic_arn
                .split(':')
                .nth(3)
                .is_none_or(str::is_empty)
        {
            issues.push(Issue::new(
                path.key("snsTopicArn"),
                format!(
                    "`{}` is not an SNS topic ARN: use arn:aws:sns:REGION:ACCOUNT:NAME",
                    notifications.sns_topic_arn
                ),
            ));
        }
        let mut seen = std::collections::BTreeSet::new();
        for (i, kind) in notifications.kinds.iter().enumerate() {
            if !seen.insert(kind) {
                issues.push(Issue::new(
                    path.key("kinds").index(i),
                    format!("`{}` is listed twice", {
                        // The manifest's word: the variant's name in camelCase.
                        let name = format!("{kind:?}");
                        let mut chars = name.chars();
                        chars
                            .next()
                            .map_or_else(String::new, |c| c.to_lowercase().chain(chars).collect())
                    }),
                ));
            }
        }
    }
    if let Some(capacity) = &stack.spec.capacity {
        capacity_rules(stack, capacity, &spec, issues);
    }
    let services = spec.key("services");
    duplicates(
        stack.spec.services.iter().map(|s| s.name.as_str()),
        &services,
        "name",
        "service",
        issues,
    );
    let families = stack
        .spec
        .services
        .iter()
        .map(|s| s.task_definition.family.as_str());
    for (i, family) in first_duplicates(families) {
        issues.push(Issue::new(
            services.index(i).key("taskDefinition").key("family"),
            format!(
                "task definition family `{family}` is used by another service of this stack; give each service its own family so their revisions do not collide"
            ),
        ));
    }
    for (i, service) in stack.spec.services.iter().enumerate() {
        service_rules(service, &services.index(i), issues);
        for (l, lb) in service.load_balancers.iter().enumerate() {
            let Some(alternate) = &lb.alternate_target_group else {
                continue;
            };
            if !stack
                .spec
                .target_groups
                .iter()
                .any(|g| &g.name == alternate)
            {
                issues.push(Issue::new(
                    services
                        .index(i)
                        .key("loadBalancers")
                        .index(l)
                        .key("alternateTargetGroup"),
                    format!(
                        "alternate target group `{alternate}` is not declared in the stack's targetGroups; declare it there so its health check is kept like the production one's"
                    ),
                ));
            }
        }
    }
}

fn target_group(group: &TargetGroupSpec, path: &FieldPath, issues: &mut Vec<Issue>) {
    if !is_target_group(&group.name) {
        issues.push(Issue::new(
            path.key("name"),
            target_group_message(&group.name),
        ));
    }
    let check = &group.health_check;
    let hc = path.key("healthCheck");
    if check.timeout_seconds >= check.interval_seconds {
        issues.push(Issue::new(
            hc.key("timeoutSeconds"),
            format!(
                "timeoutSeconds ({}) must be less than intervalSeconds ({}), as ELBv2 requires",
                check.timeout_seconds, check.interval_seconds
            ),
        ));
    }
    if !check.path.starts_with('/') {
        issues.push(Issue::new(
            hc.key("path"),
            format!("health-check path `{}` must start with `/`", check.path),
        ));
    }
    let matcher_ok = check
        .matcher
        .split(',')
        .all(|part| part.split('-').all(is_http_code) && part.split('-').count() <= 2);
    if !matcher_ok {
        issues.push(Issue::new(
            hc.key("matcher"),
            format!(
                "invalid matcher `{}`: use HTTP codes from 200 to 499, as `200`, `200,302` or `200-299`",
                check.matcher
            ),
        ));
    }
}

fn service_rules(service: &ServiceSpec, path: &FieldPath, issues: &mut Vec<Issue>) {
    if !is_ecs_name(&service.name) {
        issues.push(Issue::new(
            path.key("name"),
            ecs_name_message("service", &service.name),
        ));
    }
    let task = &service.task_definition;
    let task_path = path.key("taskDefinition");
    task_definition(task, service.launch(), &task_path, issues);

    let mode = effective_network_mode(service);
    match (&service.network, mode) {
        (None, NetworkMode::Awsvpc) => issues.push(Issue::new(
            path.key("network"),
            if service.launch() == LaunchType::Fargate {
                "FARGATE services need `network` (subnets, securityGroups) because they use the awsvpc network mode".to_owned()
            } else {
                "the awsvpc network mode needs `network` (subnets, securityGroups)".to_owned()
            },
        )),
        (Some(_), mode) if mode != NetworkMode::Awsvpc => issues.push(Issue::new(
            path.key("network"),
            format!(
                "`network` applies only to the awsvpc network mode; this task definition uses `{}`",
                network_mode_name(mode)
            ),
        )),
        (Some(network), _) => network_rules(network, &path.key("network"), issues),
        (None, _) => {}
    }
    if mode == NetworkMode::Awsvpc {
        for (c, container) in task.containers.iter().enumerate() {
            for (p, port) in container.port_mappings.iter().enumerate() {
                if port.host_port.is_some_and(|h| h != port.container_port) {
                    issues.push(Issue::new(
                        task_path
                            .key("containers")
                            .index(c)
                            .key("portMappings")
                            .index(p)
                            .key("hostPort"),
                        format!(
                            "with the awsvpc network mode hostPort must equal containerPort ({}) or be omitted",
                            port.container_port
                        ),
                    ));
                }
            }
        }
    }

    let lbs = path.key("loadBalancers");
    let mut seen_groups = BTreeMap::new();
    for (i, lb) in service.load_balancers.iter().enumerate() {
        let lb_path = lbs.index(i);
        if !is_target_group(&lb.target_group) {
            issues.push(Issue::new(
                lb_path.key("targetGroup"),
                target_group_message(&lb.target_group),
            ));
        }
        if let Some(first) = seen_groups.insert(lb.target_group.as_str(), i) {
            issues.push(Issue::new(
                lb_path.key("targetGroup"),
                format!(
                    "target group `{}` is already attached by loadBalancers[{first}]",
                    lb.target_group
                ),
            ));
        }
        match task.containers.iter().find(|c| c.name == lb.container_name) {
            None => {
                let names: Vec<&str> = task.containers.iter().map(|c| c.name.as_str()).collect();
                let mut message = format!(
                    "no container named `{}` in the task definition",
                    lb.container_name
                );
                match super::suggest::closest(&lb.container_name, names.iter().copied()) {
                    Some(near) => message.push_str(&format!("; did you mean `{near}`?")),
                    None => message.push_str(&format!("; containers: {}", names.join(", "))),
                }
                issues.push(Issue::new(lb_path.key("containerName"), message));
            }
            Some(container) => {
                if !container
                    .port_mappings
                    .iter()
                    .any(|p| p.container_port == lb.container_port)
                {
                    let ports: Vec<String> = container
                        .port_mappings
                        .iter()
                        .map(|p| p.container_port.to_string())
                        .collect();
                    issues.push(Issue::new(
                        lb_path.key("containerPort"),
                        format!(
                            "container `{}` does not map port {}; its portMappings are [{}]",
                            container.name,
                            lb.container_port,
                            ports.join(", ")
                        ),
                    ));
                }
            }
        }
    }

    placement_rules(service, path, issues);

    let deployment = path.key("deployment");
    deployment_rules(service, &deployment, issues);
    if let Some(scaling) = &service.scaling {
        scaling_rules(service, scaling, &path.key("scaling"), issues);
    }
}

/// A stack's `capacity`: sane bounds, an EC2 cluster, and no capacity provider that would scale
/// the same group (ECS's managed scaling and tugboat would fight over its desired capacity, and
/// ECS's CapacityProviderReservation goes wrong when the group is set by hand).
fn capacity_rules(
    stack: &StackManifest,
    capacity: &super::spec::CapacitySpec,
    spec: &FieldPath,
    issues: &mut Vec<Issue>,
) {
    let path = spec.key("capacity");
    let group = &capacity.auto_scaling_group;
    let named = group.starts_with("arn:")
        || (!group.is_empty()
            && group.len() <= 255
            && !group.contains(':')
            && group.chars().all(|c| !c.is_control()));
    if !named || (group.starts_with("arn:") && !is_arn(group, "autoscaling")) {
        issues.push(Issue::new(
            path.key("autoScalingGroup"),
            format!(
                "`{group}` is not an Auto Scaling group: use its name (no `:`) or its ARN (arn:aws:autoscaling:REGION:ACCOUNT:autoScalingGroup:...)"
            ),
        ));
    }
    if capacity.min_instances > capacity.max_instances {
        issues.push(Issue::new(
            path.key("minInstances"),
            format!(
                "minInstances {} is above maxInstances {}",
                capacity.min_instances, capacity.max_instances
            ),
        ));
    }
    if capacity.spare_instances > capacity.max_instances {
        issues.push(Issue::new(
            path.key("spareInstances"),
            format!(
                "spareInstances {} is above maxInstances {}: no task would ever get an instance",
                capacity.spare_instances, capacity.max_instances
            ),
        ));
    }
    for (i, service) in stack.spec.services.iter().enumerate() {
        let at = spec.key("services").index(i);
        if service.launch() != LaunchType::Fargate {
            task_fits_an_instance(service, capacity, &at, issues);
        }
        if let Some(p) = service
            .capacity_provider_strategy
            .iter()
            .position(|p| !p.capacity_provider.starts_with("FARGATE"))
        {
            issues.push(Issue::new(
                at.key("capacityProviderStrategy").index(p).key("capacityProvider"),
                format!(
                    "`{}` is an Auto Scaling group capacity provider, and this stack gives tugboat the group in `capacity`: the two would fight over its desired capacity (ECS's managed scaling reads the group wrong once it is set by hand). Use launchType: EC2 with `capacity`, or the provider without it",
                    service.capacity_provider_strategy[p].capacity_provider
                ),
            ));
        }
    }
}

/// A task that cannot fit one instance of the size the manifest gives would never be placed, and
/// no number of instances would help: say so rather than provision for it.
fn task_fits_an_instance(
    service: &ServiceSpec,
    capacity: &super::spec::CapacitySpec,
    at: &FieldPath,
    issues: &mut Vec<Issue>,
) {
    use crate::model::aws::task_reservation;
    let task = at.key("taskDefinition");
    let definition = &service.task_definition;
    let containers = &definition.containers;
    for (what, field, task_level, need, (offered, size)) in [
        (
            "CPU units",
            "cpu",
            definition.cpu,
            task_reservation(definition.cpu, containers.iter().map(|c| c.cpu)),
            ("instanceCpu", capacity.instance_cpu),
        ),
        (
            "MiB",
            "memory",
            definition.memory,
            task_reservation(
                definition.memory,
                containers.iter().map(ContainerSpec::reserved_memory),
            ),
            ("instanceMemory", capacity.instance_memory),
        ),
    ] {
        let Some(size) = size.filter(|s| need > *s) else {
            continue;
        };
        issues.push(Issue::new(
            if task_level.is_some() { task.key(field) } else { task.clone() },
            format!(
                "a task of `{}` needs {need} {what}, more than one instance offers (capacity.{offered} is {size}): no instance of the group could run it",
                service.name,
            ),
        ));
    }
}

/// Launch type against capacity providers, and placement only where ECS places (EC2).
fn placement_rules(service: &ServiceSpec, path: &FieldPath, issues: &mut Vec<Issue>) {
    let providers = &service.capacity_provider_strategy;
    let providers_path = path.key("capacityProviderStrategy");
    if !providers.is_empty() && service.launch_type.is_some() {
        issues.push(Issue::new(
            path.key("launchType"),
            "launchType and capacityProviderStrategy are mutually exclusive (ECS refuses both); remove launchType, the capacity providers say where tasks run".to_owned(),
        ));
    }
    for (i, name) in first_duplicates(providers.iter().map(|p| p.capacity_provider.as_str())) {
        issues.push(Issue::new(
            providers_path.index(i).key("capacityProvider"),
            format!("capacity provider `{name}` is listed twice"),
        ));
    }
    if providers.iter().filter(|p| p.base > 0).count() > 1 {
        issues.push(Issue::new(
            providers_path.clone(),
            "only one capacity provider of a strategy may have a base".to_owned(),
        ));
    }
    if !providers.is_empty() && providers.iter().all(|p| p.weight == 0) {
        issues.push(Issue::new(
            providers_path.index(0).key("weight"),
            "at least one capacity provider needs a weight above 0, or no task beyond the base is ever placed".to_owned(),
        ));
    }
    let fargate = providers
        .iter()
        .filter(|p| p.capacity_provider.starts_with("FARGATE"))
        .count();
    if fargate > 0 && fargate < providers.len() {
        issues.push(Issue::new(
            providers_path.clone(),
            "a strategy cannot mix FARGATE providers with Auto Scaling group providers".to_owned(),
        ));
    }
    let fargate = service.launch() == LaunchType::Fargate;
    if fargate && !service.placement_strategy.is_empty() {
        issues.push(Issue::new(
            path.key("placementStrategy"),
            "placementStrategy applies only to EC2: Fargate places tasks itself".to_owned(),
        ));
    }
    if fargate && !service.placement_constraints.is_empty() {
        issues.push(Issue::new(
            path.key("placementConstraints"),
            "placementConstraints apply only to EC2: Fargate places tasks itself".to_owned(),
        ));
    }
    if !fargate && service.platform_version.is_some() {
        issues.push(Issue::new(
            path.key("platformVersion"),
            "platformVersion applies only to Fargate".to_owned(),
        ));
    }
    for (i, strategy) in service.placement_strategy.iter().enumerate() {
        let field_path = path.key("placementStrategy").index(i).key("field");
        let field = strategy.field.as_deref();
        let problem = match (strategy.kind, field) {
            (PlacementStrategyType::Random, Some(_)) => {
                Some("`random` takes no field".to_owned())
            }
            (PlacementStrategyType::Binpack, Some("cpu" | "memory")) => None,
            (PlacementStrategyType::Binpack, _) => {
                Some("`binpack` needs field `cpu` or `memory`".to_owned())
            }
            (PlacementStrategyType::Spread, Some(f))
                if f == "instanceId"
                    || f == "host"
                    || f.strip_prefix("attribute:").is_some_and(|a| !a.is_empty()) =>
            {
                None
            }
            (PlacementStrategyType::Spread, _) => Some(
                "`spread` needs field `instanceId`, `host` or `attribute:NAME` (e.g. `attribute:ecs.availability-zone`)".to_owned(),
            ),
            (PlacementStrategyType::Random, None) => None,
        };
        if let Some(message) = problem {
            issues.push(Issue::new(field_path, message));
        }
    }
    for (i, constraint) in service.placement_constraints.iter().enumerate() {
        let at = path.key("placementConstraints").index(i).key("expression");
        match (constraint.kind, constraint.expression.as_deref()) {
            (PlacementConstraintType::DistinctInstance, Some(_)) => issues.push(Issue::new(
                at,
                "`distinctInstance` takes no expression".to_owned(),
            )),
            (PlacementConstraintType::MemberOf, None) => issues.push(Issue::new(
                at,
                "`memberOf` needs an expression, e.g. `attribute:ecs.instance-type =~ t3.*`"
                    .to_owned(),
            )),
            (PlacementConstraintType::MemberOf, Some(e)) => {
                if let Err(message) = cluster_query_shape(e) {
                    issues.push(Issue::new(at, message));
                }
            }
            (PlacementConstraintType::DistinctInstance, None) => {}
        }
    }
}

/// A shape check of an ECS cluster query expression: `SUBJECT OPERATOR VALUE` terms joined by
/// `and`/`or`, with balanced parentheses. ECS evaluates the expression; this catches typos early.
fn cluster_query_shape(expression: &str) -> Result<(), String> {
    let mut depth = 0i32;
    for c in expression.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            _ => {}
        }
        if depth < 0 {
            return Err(format!("unbalanced `)` in expression `{expression}`"));
        }
    }
    if depth != 0 {
        return Err(format!("unbalanced `(` in expression `{expression}`"));
    }
    let cleaned = expression.replace(['(', ')'], " ");
    let words: Vec<&str> = cleaned.split_whitespace().collect();
    const OPERATORS: [&str; 12] = [
        "==",
        "equals",
        "!=",
        "not_equals",
        ">",
        ">=",
        "<",
        "<=",
        "exists",
        "!exists",
        "=~",
        "!~",
    ];
    let operator_at = |w: &str| OPERATORS.contains(&w) || w == "in" || w == "not_in";
    let mut terms = 0;
    let mut i = 0;
    while i < words.len() {
        let subject = words[i];
        if !(subject.starts_with("attribute:")
            || matches!(
                subject,
                "agentConnected"
                    | "agentVersion"
                    | "attribute"
                    | "ec2InstanceId"
                    | "registeredAt"
                    | "runningTasksCount"
                    | "task:group"
            ))
        {
            return Err(format!(
                "`{subject}` in `{expression}` is not a cluster query subject (attribute:NAME, ec2InstanceId, runningTasksCount, task:group...)"
            ));
        }
        let Some(operator) = words.get(i + 1).copied().filter(|w| operator_at(w)) else {
            return Err(format!(
                "expected an operator (==, !=, =~, in, exists...) after `{subject}` in `{expression}`"
            ));
        };
        i += 2;
        if !operator.ends_with("exists") {
            if words.get(i).is_none_or(|w| matches!(*w, "and" | "or")) {
                return Err(format!(
                    "expected a value after `{subject} {operator}` in `{expression}`"
                ));
            }
            i += 1;
            // `in [a, b]`: a list may span words.
            if words[i - 1].starts_with('[') {
                while i < words.len() && !words[i - 1].ends_with(']') {
                    i += 1;
                }
            }
        }
        terms += 1;
        match words.get(i) {
            None => break,
            Some(&("and" | "or")) if i + 1 < words.len() => i += 1,
            Some(other) => {
                return Err(format!(
                    "expected `and` or `or` before `{other}` in `{expression}`"
                ));
            }
        }
    }
    if terms == 0 {
        return Err("the expression is empty".to_owned());
    }
    Ok(())
}

fn task_definition(
    task: &TaskDefinitionSpec,
    launch: LaunchType,
    path: &FieldPath,
    issues: &mut Vec<Issue>,
) {
    if !is_ecs_name(&task.family) {
        issues.push(Issue::new(
            path.key("family"),
            ecs_name_message("family", &task.family),
        ));
    }
    for (field, value) in [
        ("executionRoleArn", &task.execution_role_arn),
        ("taskRoleArn", &task.task_role_arn),
    ] {
        if let Some(arn) = value.as_deref().filter(|a| !is_role_arn(a)) {
            issues.push(Issue::new(
                path.key(field),
                format!("`{arn}` is not an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)"),
            ));
        }
    }
    let containers = path.key("containers");
    duplicates(
        task.containers.iter().map(|c| c.name.as_str()),
        &containers,
        "name",
        "container",
        issues,
    );
    if !task.containers.iter().any(|c| c.essential) {
        issues.push(Issue::new(
            containers.clone(),
            "at least one container must be essential".to_owned(),
        ));
    }
    for (i, container) in task.containers.iter().enumerate() {
        container_rules(container, task, launch, &containers.index(i), issues);
    }
    let mut ports = BTreeMap::new();
    for (c, container) in task.containers.iter().enumerate() {
        for (p, port) in container.port_mappings.iter().enumerate() {
            if let Some((first_c, first_p)) =
                ports.insert((port.container_port, port.protocol as u8), (c, p))
            {
                issues.push(Issue::new(
                    containers.index(c).key("portMappings").index(p).key("containerPort"),
                    format!(
                        "port {} is already mapped by containers[{first_c}].portMappings[{first_p}]",
                        port.container_port
                    ),
                ));
            }
        }
    }

    if launch == LaunchType::Fargate {
        if task.network_mode.is_some_and(|m| m != NetworkMode::Awsvpc) {
            issues.push(Issue::new(
                path.key("networkMode"),
                "FARGATE tasks must use the awsvpc network mode".to_owned(),
            ));
        }
        match (task.cpu, task.memory) {
            (Some(cpu), _) if fargate_memory_range(cpu).is_none() => issues.push(Issue::new(
                path.key("cpu"),
                format!("Fargate does not offer cpu {cpu}; use 256, 512, 1024, 2048, 4096, 8192 or 16384"),
            )),
            (Some(cpu), Some(memory)) if !fargate_pair_is_valid(cpu, memory) => {
                issues.push(Issue::new(
                    path.key("memory"),
                    format!(
                        "{memory} MiB is not a valid Fargate memory size for cpu {cpu}; valid: {}",
                        fargate_memory_choices(cpu)
                    ),
                ))
            }
            (cpu, memory) => {
                if cpu.is_none() {
                    issues.push(Issue::new(
                        path.key("cpu"),
                        "FARGATE task definitions need a task-level cpu (256, 512, 1024, 2048, 4096, 8192 or 16384)".to_owned(),
                    ));
                }
                if memory.is_none() {
                    issues.push(Issue::new(
                        path.key("memory"),
                        "FARGATE task definitions need a task-level memory in MiB".to_owned(),
                    ));
                }
            }
        }
    }

    let summed = |f: fn(&ContainerSpec) -> Option<u32>| -> u64 {
        task.containers.iter().filter_map(f).map(u64::from).sum()
    };
    if let Some(memory) = task.memory {
        let total = summed(ContainerSpec::reserved_memory);
        if total > u64::from(memory) {
            issues.push(Issue::new(
                path.key("memory"),
                format!(
                    "the containers reserve {total} MiB in all, more than the task's {memory} MiB"
                ),
            ));
        }
    }
    if let Some(cpu) = task.cpu {
        let total = summed(|c| c.cpu);
        if total > u64::from(cpu) {
            issues.push(Issue::new(
                path.key("cpu"),
                format!(
                    "the containers reserve {total} CPU units in all, more than the task's {cpu}"
                ),
            ));
        }
    }
}

fn container_rules(
    container: &ContainerSpec,
    task: &TaskDefinitionSpec,
    launch: LaunchType,
    path: &FieldPath,
    issues: &mut Vec<Issue>,
) {
    if !is_ecs_name(&container.name) {
        issues.push(Issue::new(
            path.key("name"),
            ecs_name_message("container", &container.name),
        ));
    }
    if container.image.chars().any(char::is_whitespace) {
        issues.push(Issue::new(
            path.key("image"),
            format!("image `{}` must not contain whitespace", container.image),
        ));
    }
    if let (Some(hard), Some(soft)) = (container.memory, container.memory_reservation)
        && soft > hard
    {
        issues.push(Issue::new(
            path.key("memoryReservation"),
            format!("memoryReservation ({soft} MiB) must not exceed memory ({hard} MiB)"),
        ));
    }
    if launch == LaunchType::Ec2
        && task.memory.is_none()
        && container.memory.is_none()
        && container.memory_reservation.is_none()
    {
        issues.push(Issue::new(
            path.key("memory"),
            "EC2 tasks without a task-level memory need memory or memoryReservation on every container".to_owned(),
        ));
    }
    for key in container.environment.keys() {
        if key.is_empty() || key.contains('=') {
            issues.push(Issue::new(
                path.key("environment"),
                format!(
                    "environment variable name `{key}` must be non-empty and must not contain `=`"
                ),
            ));
        }
    }
    secret_rules(&container.secrets, &path.key("secrets"), issues);
    for (i, secret) in container.secrets.iter().enumerate() {
        if container.environment.contains_key(&secret.name) {
            issues.push(Issue::new(
                path.key("secrets").index(i).key("name"),
                format!(
                    "`{}` is both an environment variable and a secret; keep it only in secrets",
                    secret.name
                ),
            ));
        }
    }
    let needs_role = !container.secrets.is_empty()
        || container.log_configuration.as_ref().is_some_and(|l| {
            !l.secret_options.is_empty()
                || (launch == LaunchType::Fargate && l.log_driver == LogDriver::Awslogs)
        });
    if needs_role && task.execution_role_arn.is_none() {
        issues.push(Issue::new(
            path.key(if container.secrets.is_empty() { "logConfiguration" } else { "secrets" }),
            "ECS reads secrets and (on Fargate) writes awslogs with the task's execution role: set taskDefinition.executionRoleArn".to_owned(),
        ));
    }
    if let Some(log) = &container.log_configuration {
        log_rules(log, launch, &path.key("logConfiguration"), issues);
    }
    if let Some(check) = &container.health_check {
        let at = path.key("healthCheck");
        if !matches!(
            check.command.first().map(String::as_str),
            Some("CMD" | "CMD-SHELL")
        ) {
            issues.push(Issue::new(
                at.key("command").index(0),
                "a health-check command starts with `CMD` (then the executable and its arguments) or `CMD-SHELL` (then one shell command line)".to_owned(),
            ));
        }
        if check.command.iter().skip(1).all(|a| a.trim().is_empty()) {
            issues.push(Issue::new(
                at.key("command"),
                "the health-check command has nothing to run after CMD or CMD-SHELL".to_owned(),
            ));
        }
        if check.timeout >= check.interval {
            issues.push(Issue::new(
                at.key("timeout"),
                format!(
                    "timeout ({} s) must be less than interval ({} s), or checks overlap",
                    check.timeout, check.interval
                ),
            ));
        }
    }
    if launch == LaunchType::Fargate
        && let Some(t) = container.stop_timeout.filter(|t| *t > 120)
    {
        issues.push(Issue::new(
            path.key("stopTimeout"),
            format!("Fargate allows a stopTimeout of at most 120 s, not {t}"),
        ));
    }
    dependency_rules(container, task, &path.key("dependsOn"), issues);
    let ulimits = path.key("ulimits");
    for (i, name) in first_duplicates(container.ulimits.iter().map(|u| u.name.as_str())) {
        issues.push(Issue::new(
            ulimits.index(i).key("name"),
            format!("ulimit `{name}` is set twice"),
        ));
    }
    for (i, limit) in container.ulimits.iter().enumerate() {
        if limit.soft_limit > limit.hard_limit {
            issues.push(Issue::new(
                ulimits.index(i).key("softLimit"),
                format!(
                    "softLimit ({}) must not exceed hardLimit ({})",
                    limit.soft_limit, limit.hard_limit
                ),
            ));
        }
        if launch == LaunchType::Fargate && limit.name != UlimitName::Nofile {
            issues.push(Issue::new(
                ulimits.index(i).key("name"),
                format!(
                    "Fargate lets a task override only the `nofile` ulimit, not `{}`",
                    limit.name.as_str()
                ),
            ));
        }
    }
    if let Some(user) = &container.user
        && (user.chars().any(char::is_whitespace)
            || user.split(':').count() > 2
            || user.split(':').any(str::is_empty))
    {
        issues.push(Issue::new(
            path.key("user"),
            format!("user `{user}` must be `user`, `user:group`, `uid` or `uid:gid`"),
        ));
    }
}

/// Names unique, values Secrets Manager or Parameter Store ARNs.
fn secret_rules(secrets: &[SecretSpec], path: &FieldPath, issues: &mut Vec<Issue>) {
    for (i, name) in first_duplicates(secrets.iter().map(|s| s.name.as_str())) {
        issues.push(Issue::new(
            path.index(i).key("name"),
            format!("secret `{name}` is listed twice"),
        ));
    }
    for (i, secret) in secrets.iter().enumerate() {
        let from = &secret.value_from;
        let secrets_manager = is_arn(from, "secretsmanager")
            && from.split(':').nth(5) == Some("secret")
            && from.splitn(7, ':').nth(6).is_some_and(|n| !n.is_empty());
        let parameter = is_arn(from, "ssm")
            && from
                .splitn(6, ':')
                .nth(5)
                .is_some_and(|r| r.strip_prefix("parameter/").is_some_and(|n| !n.is_empty()));
        if !(secrets_manager || parameter) {
            issues.push(Issue::new(
                path.index(i).key("valueFrom"),
                format!(
                    "`{from}` is not a Secrets Manager secret ARN (arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME) or an SSM parameter ARN (arn:aws:ssm:REGION:ACCOUNT:parameter/NAME)"
                ),
            ));
        }
    }
}

/// The options each log driver needs and knows (ECS's and Docker's documentation), and the
/// drivers Fargate supports.
fn log_rules(
    log: &LogConfigurationSpec,
    launch: LaunchType,
    path: &FieldPath,
    issues: &mut Vec<Issue>,
) {
    let driver = log.log_driver;
    if launch == LaunchType::Fargate
        && !matches!(
            driver,
            LogDriver::Awslogs | LogDriver::Splunk | LogDriver::Awsfirelens
        )
    {
        issues.push(Issue::new(
            path.key("logDriver"),
            format!(
                "Fargate supports the awslogs, splunk and awsfirelens log drivers, not {}",
                driver.as_str()
            ),
        ));
    }
    let (required, known): (&[&str], &[&str]) = match driver {
        LogDriver::Awslogs => (
            if launch == LaunchType::Fargate {
                &["awslogs-group", "awslogs-region", "awslogs-stream-prefix"]
            } else {
                &["awslogs-group", "awslogs-region"]
            },
            &[
                "awslogs-group",
                "awslogs-region",
                "awslogs-stream-prefix",
                "awslogs-create-group",
                "awslogs-datetime-format",
                "awslogs-multiline-pattern",
                "awslogs-endpoint",
                "mode",
                "max-buffer-size",
            ],
        ),
        LogDriver::Splunk => (&["splunk-url"], &[]),
        _ => (&[], &[]),
    };
    let secret_names: Vec<&str> = log.secret_options.iter().map(|s| s.name.as_str()).collect();
    for option in required {
        if !log.options.contains_key(*option) && !secret_names.contains(option) {
            issues.push(Issue::new(
                path.key("options"),
                format!(
                    "the {} log driver needs the `{option}` option",
                    driver.as_str()
                ),
            ));
        }
    }
    if !known.is_empty() {
        for option in log.options.keys().filter(|k| !known.contains(&k.as_str())) {
            let mut message = format!(
                "`{option}` is not an option of the {} log driver",
                driver.as_str()
            );
            if let Some(near) = super::suggest::closest(option, known.iter().copied()) {
                message.push_str(&format!("; did you mean `{near}`?"));
            }
            issues.push(Issue::new(path.key("options").key(option), message));
        }
    }
    if driver == LogDriver::Awslogs {
        if let Some(mode) = log
            .options
            .get("mode")
            .filter(|m| !matches!(m.as_str(), "blocking" | "non-blocking"))
        {
            issues.push(Issue::new(
                path.key("options").key("mode"),
                format!("awslogs mode `{mode}` must be `blocking` or `non-blocking`"),
            ));
        }
        if let Some(create) = log
            .options
            .get("awslogs-create-group")
            .filter(|v| !matches!(v.as_str(), "true" | "false"))
        {
            issues.push(Issue::new(
                path.key("options").key("awslogs-create-group"),
                format!("awslogs-create-group `{create}` must be `true` or `false`"),
            ));
        }
    }
    secret_rules(&log.secret_options, &path.key("secretOptions"), issues);
}

/// Dependencies name other containers of the task, in conditions they can meet, without a cycle.
fn dependency_rules(
    container: &ContainerSpec,
    task: &TaskDefinitionSpec,
    path: &FieldPath,
    issues: &mut Vec<Issue>,
) {
    for (i, name) in first_duplicates(
        container
            .depends_on
            .iter()
            .map(|d| d.container_name.as_str()),
    ) {
        issues.push(Issue::new(
            path.index(i).key("containerName"),
            format!("container `{name}` is listed twice"),
        ));
    }
    for (i, dependency) in container.depends_on.iter().enumerate() {
        let at = path.index(i);
        let name = &dependency.container_name;
        if *name == container.name {
            issues.push(Issue::new(
                at.key("containerName"),
                "a container cannot depend on itself".to_owned(),
            ));
            continue;
        }
        let Some(other) = task.containers.iter().find(|c| &c.name == name) else {
            let names: Vec<&str> = task.containers.iter().map(|c| c.name.as_str()).collect();
            let mut message = format!("no container named `{name}` in the task definition");
            if let Some(near) = super::suggest::closest(name, names.iter().copied()) {
                message.push_str(&format!("; did you mean `{near}`?"));
            }
            issues.push(Issue::new(at.key("containerName"), message));
            continue;
        };
        match dependency.condition {
            DependencyCondition::Healthy if other.health_check.is_none() => issues.push(Issue::new(
                at.key("condition"),
                format!("HEALTHY needs a healthCheck on container `{name}`"),
            )),
            DependencyCondition::Complete | DependencyCondition::Success if other.essential => {
                issues.push(Issue::new(
                    at.key("condition"),
                    format!(
                        "{} waits for `{name}` to exit, but it is essential (its exit stops the task); mark it essential: false",
                        dependency.condition.as_str()
                    ),
                ))
            }
            _ => {}
        }
        if reaches(task, name, &container.name) {
            issues.push(Issue::new(
                at.key("containerName"),
                format!(
                    "`{}` and `{name}` depend on each other: neither could start",
                    container.name
                ),
            ));
        }
    }
}

/// Whether `from` depends, directly or not, on `to`.
fn reaches(task: &TaskDefinitionSpec, from: &str, to: &str) -> bool {
    let mut stack = vec![from];
    let mut seen = std::collections::BTreeSet::new();
    while let Some(name) = stack.pop() {
        if name == to {
            return true;
        }
        if !seen.insert(name) {
            continue;
        }
        if let Some(c) = task.containers.iter().find(|c| c.name == name) {
            stack.extend(c.depends_on.iter().map(|d| d.container_name.as_str()));
        }
    }
    false
}

/// Environment variables that look like credentials, by name or by value: they belong in
/// `secrets`, not in plain text in the store and every revision.
pub fn credential_warnings(spec: &super::spec::StackSpec) -> Vec<Issue> {
    const NAMES: [&str; 9] = [
        "PASSWORD",
        "PASSWD",
        "SECRET",
        "TOKEN",
        "API_KEY",
        "APIKEY",
        "ACCESS_KEY",
        "PRIVATE_KEY",
        "CREDENTIAL",
    ];
    let mut warnings = Vec::new();
    for (s, service) in spec.services.iter().enumerate() {
        for (c, container) in service.task_definition.containers.iter().enumerate() {
            for (name, value) in &container.environment {
                let upper = name.to_ascii_uppercase();
                let by_name = NAMES.iter().any(|n| upper.contains(n));
                let by_value = looks_like_aws_key(value) || value.contains("-----BEGIN");
                if (by_name && !value.is_empty()) || by_value {
                    warnings.push(Issue::new(
                        FieldPath::default()
                            .key("spec")
                            .key("services")
                            .index(s)
                            .key("taskDefinition")
                            .key("containers")
                            .index(c)
                            .key("environment")
                            .key(name),
                        format!(
                            "`{name}` looks like a credential: environment values are kept in plain text in the store and in every revision; move it to `secrets` (valueFrom: a Secrets Manager or SSM Parameter Store ARN)"
                        ),
                    ));
                }
            }
        }
    }
    warnings
}

fn looks_like_aws_key(value: &str) -> bool {
    value.len() == 20
        && (value.starts_with("AKIA") || value.starts_with("ASIA"))
        && value
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

fn network_rules(network: &NetworkSpec, path: &FieldPath, issues: &mut Vec<Issue>) {
    for (i, subnet) in network.subnets.iter().enumerate() {
        if !is_aws_id(subnet, "subnet-") {
            issues.push(Issue::new(
                path.key("subnets").index(i),
                format!("`{subnet}` is not a subnet id (subnet- followed by 8 or 17 hex digits)"),
            ));
        }
    }
    for (i, group) in network.security_groups.iter().enumerate() {
        if !is_aws_id(group, "sg-") {
            issues.push(Issue::new(
                path.key("securityGroups").index(i),
                format!(
                    "`{group}` is not a security group id (sg- followed by 8 or 17 hex digits)"
                ),
            ));
        }
    }
    for (i, value) in first_duplicates(network.subnets.iter().map(String::as_str)) {
        issues.push(Issue::new(
            path.key("subnets").index(i),
            format!("subnet `{value}` is listed twice"),
        ));
    }
    for (i, value) in first_duplicates(network.security_groups.iter().map(String::as_str)) {
        issues.push(Issue::new(
            path.key("securityGroups").index(i),
            format!("security group `{value}` is listed twice"),
        ));
    }
}

fn deployment_rules(service: &ServiceSpec, path: &FieldPath, issues: &mut Vec<Issue>) {
    let deployment: &DeploymentSpec = &service.deployment;
    let min = deployment.minimum_healthy_percent;
    let max = deployment.maximum_percent;
    if min > max {
        issues.push(Issue::new(
            path.key("minimumHealthyPercent"),
            format!("minimumHealthyPercent ({min}) must not exceed maximumPercent ({max})"),
        ));
        return;
    }
    // Every count the service can have (empty when minTasks > maxTasks, reported elsewhere).
    let counts = match &service.scaling {
        Some(s) => s.min_tasks..=s.max_tasks,
        None => service.desired_count..=service.desired_count,
    };
    if let Some(stuck) = counts
        .filter(|n| *n > 0)
        .find(|n| rollout_batch(*n, min, max) == 0)
    {
        let keep = (u64::from(stuck) * u64::from(min)).div_ceil(100);
        let allow = u64::from(stuck) * u64::from(max) / 100;
        issues.push(Issue::new(
            path.key("maximumPercent"),
            format!(
                "a deployment of {stuck} task{} can never make progress: minimumHealthyPercent {min} keeps {keep} healthy and maximumPercent {max} allows only {allow} at once; raise maximumPercent or lower minimumHealthyPercent",
                if stuck == 1 { "" } else { "s" }
            ),
        ));
    }
    let has_lb = !service.load_balancers.is_empty();
    strategy_rules(service, path, issues);
    if deployment.health_check_grace_period_seconds > 0 && !has_lb {
        issues.push(Issue::new(
            path.key("healthCheckGracePeriodSeconds"),
            "healthCheckGracePeriodSeconds applies only to services with loadBalancers (ECS rejects it otherwise)".to_owned(),
        ));
    }
    if deployment.rollback.max5xx_per_minute.is_some() && !has_lb {
        issues.push(Issue::new(
            path.key("rollback").key("max5xxPerMinute"),
            "max5xxPerMinute needs loadBalancers: 5XX counts come from the service's target groups"
                .to_owned(),
        ));
    }
}

/// A traffic-shifting strategy needs, on every load balancer, the alternate target group, the
/// production listener rule and the role ECS shifts traffic with; a rolling one takes none of them.
/// Its bakes must fit in the progress deadline, or the rollout would be abandoned while baking.
fn strategy_rules(service: &ServiceSpec, path: &FieldPath, issues: &mut Vec<Issue>) {
    let deployment = &service.deployment;
    let rolling = deployment.strategy.is_rolling();
    let strategy_path = path.key("strategy");
    let lbs = FieldPath(path.0[..path.0.len().saturating_sub(1)].to_vec()).key("loadBalancers");
    if !rolling && service.load_balancers.is_empty() {
        issues.push(Issue::new(
            strategy_path.clone(),
            format!(
                "the {} strategy shifts load-balancer traffic: the service needs loadBalancers, each with alternateTargetGroup, productionListenerRule and roleArn",
                deployment.strategy.ecs_name()
            ),
        ));
    }
    for (i, lb) in service.load_balancers.iter().enumerate() {
        let at = lbs.index(i);
        let advanced = [
            ("alternateTargetGroup", lb.alternate_target_group.as_ref()),
            (
                "productionListenerRule",
                lb.production_listener_rule.as_ref(),
            ),
            ("roleArn", lb.role_arn.as_ref()),
        ];
        if rolling {
            let set: Vec<&str> = advanced
                .iter()
                .filter(|(_, v)| v.is_some())
                .map(|(k, _)| *k)
                .chain(lb.test_listener_rule.as_ref().map(|_| "testListenerRule"))
                .collect();
            if let Some(first) = set.first() {
                issues.push(Issue::new(
                    at.key(first),
                    format!(
                        "{} appl{} only to the canary, linear and blueGreen strategies; this service's deployment is rolling",
                        set.join(", "),
                        if set.len() == 1 { "ies" } else { "y" }
                    ),
                ));
            }
            continue;
        }
        for (field, value) in advanced {
            if value.is_none() {
                issues.push(Issue::new(
                    at.clone(),
                    format!(
                        "the {} strategy needs `{field}` on every load balancer",
                        deployment.strategy.ecs_name()
                    ),
                ));
            }
        }
        if let Some(alternate) = &lb.alternate_target_group {
            if *alternate == lb.target_group {
                issues.push(Issue::new(
                    at.key("alternateTargetGroup"),
                    "alternateTargetGroup must differ from targetGroup: green and blue are registered apart".to_owned(),
                ));
            } else if !is_target_group(alternate) {
                issues.push(Issue::new(
                    at.key("alternateTargetGroup"),
                    target_group_message(alternate),
                ));
            }
        }
        for (field, value) in [
            ("productionListenerRule", &lb.production_listener_rule),
            ("testListenerRule", &lb.test_listener_rule),
        ] {
            if let Some(rule) = value.as_deref().filter(|r| !is_listener_rule(r)) {
                issues.push(Issue::new(
                    at.key(field),
                    format!(
                        "`{rule}` is not a listener rule ARN (arn:aws:elasticloadbalancing:REGION:ACCOUNT:listener-rule/app/...) or listener ARN"
                    ),
                ));
            }
        }
        if let Some(role) = lb.role_arn.as_deref().filter(|r| !is_role_arn(r)) {
            issues.push(Issue::new(
                at.key("roleArn"),
                format!("`{role}` is not an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)"),
            ));
        }
    }
    let bake_seconds: u64 = crate::model::aws::Strategy::of(&deployment.strategy)
        .steps()
        .iter()
        .map(|(_, minutes)| u64::from(*minutes) * 60)
        .sum();
    if bake_seconds > 0 && bake_seconds >= u64::from(deployment.progress_deadline_seconds) {
        issues.push(Issue::new(
            path.key("progressDeadlineSeconds"),
            format!(
                "the strategy bakes for {bake_seconds} s in all, not less than progressDeadlineSeconds ({}): the rollout would be rolled back while baking; raise progressDeadlineSeconds above {bake_seconds} plus the time tasks take to start",
                deployment.progress_deadline_seconds
            ),
        ));
    }
    if let Some(breaker) = &deployment.circuit_breaker {
        let at = path.key("circuitBreaker");
        match (breaker.failed_tasks, breaker.failed_percent) {
            (Some(_), Some(_)) => issues.push(Issue::new(
                at.key("failedPercent"),
                "give failedTasks or failedPercent, not both".to_owned(),
            )),
            (None, None) if breaker.reset_on_healthy_task.is_none() => issues.push(Issue::new(
                at,
                "circuitBreaker needs failedTasks, failedPercent or resetOnHealthyTask".to_owned(),
            )),
            _ => {}
        }
    }
    let alarms = path.key("alarms");
    for (i, name) in first_duplicates(deployment.alarms.iter().map(String::as_str)) {
        issues.push(Issue::new(
            alarms.index(i),
            format!("alarm `{name}` is listed twice"),
        ));
    }
    for (i, name) in deployment.alarms.iter().enumerate() {
        if name.is_empty() || name.len() > 255 || name.chars().any(char::is_control) {
            issues.push(Issue::new(
                alarms.index(i),
                format!("`{name}` is not a CloudWatch alarm name (1 to 255 printable characters)"),
            ));
        }
    }
}

fn is_listener_rule(s: &str) -> bool {
    is_arn(s, "elasticloadbalancing")
        && s.split(':')
            .nth(5)
            .is_some_and(|r| r.starts_with("listener-rule/") || r.starts_with("listener/"))
}

/// Tasks a rolling deployment can replace at once: floor(N x max%) - ceil(N x min%), ECS's rounding.
pub fn rollout_batch(tasks: u32, minimum_healthy_percent: u32, maximum_percent: u32) -> u64 {
    let n = u64::from(tasks);
    let allowed = n * u64::from(maximum_percent) / 100;
    let kept = (n * u64::from(minimum_healthy_percent)).div_ceil(100);
    allowed.saturating_sub(kept)
}

fn scaling_rules(
    service: &ServiceSpec,
    scaling: &ScalingSpec,
    path: &FieldPath,
    issues: &mut Vec<Issue>,
) {
    if scaling.min_tasks > scaling.max_tasks {
        issues.push(Issue::new(
            path.key("minTasks"),
            format!(
                "minTasks ({}) must not exceed maxTasks ({})",
                scaling.min_tasks, scaling.max_tasks
            ),
        ));
    } else if !(scaling.min_tasks..=scaling.max_tasks).contains(&service.desired_count) {
        issues.push(Issue::new(
            path.parent_key("desiredCount"),
            format!(
                "desiredCount ({}) must be within scaling.minTasks..maxTasks ({}..{})",
                service.desired_count, scaling.min_tasks, scaling.max_tasks
            ),
        ));
    }
    if scaling.cpu.is_none() && scaling.http5xx.is_none() {
        issues.push(Issue::new(
            path.clone(),
            "scaling needs a trigger: `cpu`, `http5xx`, or both".to_owned(),
        ));
    }
    if let Some(cpu) = &scaling.cpu {
        cpu_rules(cpu, &path.key("cpu"), issues);
    }
    match scaling.metric_resolution_seconds {
        60 => {}
        20 if scaling.cpu.is_some() => {}
        20 => issues.push(Issue::new(
            path.key("metricResolutionSeconds"),
            "20-second resolution applies to CPU, and this rule has no `cpu`: ALB metrics (5XX) are 1-minute only; remove it or add `cpu`".to_owned(),
        )),
        other => issues.push(Issue::new(
            path.key("metricResolutionSeconds"),
            format!("metricResolutionSeconds must be 20 or 60 (ECS's monitoringConfiguration resolutions), got {other}"),
        )),
    }
    if scaling.http5xx.is_some() && service.load_balancers.is_empty() {
        issues.push(Issue::new(
            path.key("http5xx"),
            "http5xx scaling needs loadBalancers: 5XX counts come from the service's target groups and their load balancer".to_owned(),
        ));
    }
}

fn cpu_rules(cpu: &CpuScaling, path: &FieldPath, issues: &mut Vec<Issue>) {
    let threshold_fields = [
        (
            "scaleOutAbovePercent",
            cpu.scale_out_above_percent.is_some(),
        ),
        ("scaleInBelowPercent", cpu.scale_in_below_percent.is_some()),
        ("evaluationPeriods", cpu.evaluation_periods.is_some()),
        ("scaleOutStep", cpu.scale_out_step.is_some()),
        ("scaleInStep", cpu.scale_in_step.is_some()),
    ];
    let used: Vec<&str> = threshold_fields
        .iter()
        .filter(|(_, set)| *set)
        .map(|(n, _)| *n)
        .collect();
    if cpu.target_percent.is_some() {
        for field in used {
            issues.push(Issue::new(
                path.key(field),
                format!("`{field}` belongs to threshold scaling; with targetPercent (target tracking) remove it"),
            ));
        }
        return;
    }
    let Some(out) = cpu.scale_out_above_percent else {
        issues.push(Issue::new(
            path.clone(),
            "cpu scaling needs either targetPercent (target tracking) or scaleOutAbovePercent (thresholds)".to_owned(),
        ));
        return;
    };
    for (field, step) in [
        ("scaleOutStep", &cpu.scale_out_step),
        ("scaleInStep", &cpu.scale_in_step),
    ] {
        if let Some(super::spec::ScalingStep::Percent(text)) = step
            && step.as_ref().and_then(|s| s.adjustment()).is_none()
        {
            issues.push(Issue::new(
                path.key(field),
                format!(
                    "{field} must be a number of tasks (1 to 5000) or a percentage from `1%` to `1000%` such as `25%`, found `{text}`"
                ),
            ));
        }
    }
    match cpu.scale_in_below_percent {
        Some(below) if below >= out => issues.push(Issue::new(
            path.key("scaleInBelowPercent"),
            format!("scaleInBelowPercent ({below}) must be below scaleOutAbovePercent ({out}), or the service would flap"),
        )),
        None if cpu.scale_in_step.is_some() => issues.push(Issue::new(
            path.key("scaleInStep"),
            "scaleInStep needs scaleInBelowPercent".to_owned(),
        )),
        _ => {}
    }
}

/// The network mode a service's tasks get when the manifest leaves it out (ECS's defaults).
pub fn effective_network_mode(service: &ServiceSpec) -> NetworkMode {
    service
        .task_definition
        .network_mode
        .unwrap_or(match service.launch() {
            LaunchType::Fargate => NetworkMode::Awsvpc,
            LaunchType::Ec2 => NetworkMode::Bridge,
        })
}

fn network_mode_name(mode: NetworkMode) -> &'static str {
    match mode {
        NetworkMode::Awsvpc => "awsvpc",
        NetworkMode::Bridge => "bridge",
        NetworkMode::Host => "host",
        NetworkMode::None => "none",
    }
}

/// Fargate's supported task cpu/memory combinations (AWS Fargate documentation, "Task CPU and memory").
pub fn fargate_memory_range(cpu: u32) -> Option<(u32, u32, u32)> {
    // (lowest MiB, highest MiB, step MiB)
    match cpu {
        256 => Some((512, 2048, 512)),
        512 => Some((1024, 4096, 1024)),
        1024 => Some((2048, 8192, 1024)),
        2048 => Some((4096, 16384, 1024)),
        4096 => Some((8192, 30720, 1024)),
        8192 => Some((16384, 61440, 4096)),
        16384 => Some((32768, 122880, 8192)),
        _ => None,
    }
}

fn fargate_pair_is_valid(cpu: u32, memory: u32) -> bool {
    match fargate_memory_range(cpu) {
        // 256 CPU allows 512, 1024 and 2048 only: its "step" starts at 512 but 1536 is not offered.
        Some((_, _, _)) if cpu == 256 => matches!(memory, 512 | 1024 | 2048),
        Some((lo, hi, step)) => (lo..=hi).contains(&memory) && (memory - lo).is_multiple_of(step),
        None => false,
    }
}

fn fargate_memory_choices(cpu: u32) -> String {
    match fargate_memory_range(cpu) {
        Some(_) if cpu == 256 => "512, 1024, 2048".to_owned(),
        Some((lo, hi, step)) => format!("{lo} to {hi} in steps of {step}"),
        None => "none".to_owned(),
    }
}

fn duplicates<'a>(
    names: impl Iterator<Item = &'a str>,
    list: &FieldPath,
    field: &str,
    noun: &str,
    issues: &mut Vec<Issue>,
) {
    for (i, name) in first_duplicates(names) {
        issues.push(Issue::new(
            list.index(i).key(field),
            format!("duplicate {noun} name `{name}`"),
        ));
    }
}

/// (index, value) of every item equal to an earlier one.
fn first_duplicates<'a>(items: impl Iterator<Item = &'a str>) -> Vec<(usize, &'a str)> {
    let mut seen = std::collections::BTreeSet::new();
    items
        .enumerate()
        .filter(|(_, item)| !seen.insert(*item))
        .collect()
}

fn is_stack_name(s: &str) -> bool {
    let bytes = s.as_bytes();
    (1..=63).contains(&bytes.len())
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && bytes.first().is_some_and(u8::is_ascii_alphanumeric)
        && bytes.last().is_some_and(u8::is_ascii_alphanumeric)
}

/// ECS names (service, family, container): up to 255 letters, digits, hyphens and underscores.
fn is_ecs_name(s: &str) -> bool {
    (1..=255).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn ecs_name_message(noun: &str, name: &str) -> String {
    format!("invalid {noun} name `{name}`: use 1 to 255 letters, digits, `-` and `_`")
}

fn is_cluster(s: &str) -> bool {
    is_ecs_name(s) || (is_arn(s, "ecs") && s.contains(":cluster/"))
}

/// ELBv2 target group names: 1 to 32 alphanumerics or hyphens, not starting or ending with a hyphen.
fn is_target_group(s: &str) -> bool {
    if s.starts_with("arn:") {
        return is_arn(s, "elasticloadbalancing") && s.contains(":targetgroup/");
    }
    (1..=32).contains(&s.len())
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

fn target_group_message(name: &str) -> String {
    format!(
        "invalid target group `{name}`: use a name of 1 to 32 letters, digits and `-` (not at either end), or a target group ARN"
    )
}

fn is_role_arn(s: &str) -> bool {
    is_arn(s, "iam")
        && s.split(':')
            .nth(5)
            .is_some_and(|r| r.starts_with("role/") && r.len() > 5)
}

/// `arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE` with a 12-digit account.
fn is_arn(s: &str, service: &str) -> bool {
    let parts: Vec<&str> = s.splitn(6, ':').collect();
    parts.len() == 6
        && parts[0] == "arn"
        && parts[1].starts_with("aws")
        && parts[2] == service
        && parts[4].len() == 12
        && parts[4].bytes().all(|b| b.is_ascii_digit())
        && !parts[5].is_empty()
}

fn is_aws_id(s: &str, prefix: &str) -> bool {
    s.strip_prefix(prefix).is_some_and(|hex| {
        (hex.len() == 8 || hex.len() == 17)
            && hex
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    })
}

fn is_http_code(s: &str) -> bool {
    s.len() == 3 && s.parse::<u16>().is_ok_and(|c| (200..=499).contains(&c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rollout_batch_uses_ecs_rounding() {
        // 75 % of 2 rounds up to 2: with max 100 % nothing can be stopped.
        assert_eq!(rollout_batch(2, 75, 100), 0);
        assert_eq!(rollout_batch(2, 50, 100), 1);
        assert_eq!(rollout_batch(1, 50, 100), 0);
        assert_eq!(rollout_batch(1, 100, 200), 1);
        assert_eq!(rollout_batch(4, 100, 100), 0);
        assert_eq!(rollout_batch(10, 50, 200), 15);
    }

    #[test]
    fn fargate_pairs_follow_the_table() {
        assert!(fargate_pair_is_valid(256, 512));
        assert!(!fargate_pair_is_valid(256, 1536));
        assert!(!fargate_pair_is_valid(256, 4096));
        assert!(fargate_pair_is_valid(2048, 4096));
        assert!(fargate_pair_is_valid(2048, 5120));
        assert!(!fargate_pair_is_valid(2048, 2048));
        assert!(fargate_pair_is_valid(8192, 20480));
        assert!(!fargate_pair_is_valid(8192, 18432));
        assert!(!fargate_pair_is_valid(300, 1024));
    }

    #[test]
    fn names_follow_aws_rules() {
        assert!(is_stack_name("fargate-test1"));
        assert!(!is_stack_name("-app"));
        assert!(!is_stack_name("App"));
        assert!(is_target_group("backendTargetGroup"));
        assert!(!is_target_group("backend_tg"));
        assert!(is_target_group(
            "arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/tg/0123456789abcdef"
        ));
        assert!(is_role_arn(
            "arn:aws:iam::123456789012:role/ecsTaskExecutionRole"
        ));
        assert!(!is_role_arn("arn:aws:iam::123456789012:user/bob"));
        assert!(is_aws_id("subnet-0a1b2c3d", "subnet-"));
        assert!(!is_aws_id("subnet-XYZ", "subnet-"));
    }
}

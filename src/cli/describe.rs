//! `tug describe service NAME`: the spec, what the controller remembers (its count decision, the
//! verified-good revision, the rollout it watches, failed digests), the status it reported (live
//! counts, conditions Ready / Progressing / Degraded with reasons) and its recent decisions.
//! `tug describe stack NAME`: the stack, each service's state and counts, and the recent
//! decisions across its services. `tug describe NAME` is the service of that name, else the stack.
//! Exit 1 when the store has no such service or stack.

use std::process::ExitCode;

use super::output::{ago, emit, status_now, table, when};
use super::{CliError, Context};
use crate::manifest::spec::{LaunchType, ServiceSpec};
use crate::model::{ServiceMemory, ServiceStatus, Stack};
use crate::plan::render::{digest, render, short};
use crate::store::Store;

/// Arguments of `tug describe`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  tug describe test1Service\n  tug describe service appCluster/appService\n  tug describe stack todo"
)]
pub struct Args {
    /// `service` or `stack`; or, alone, a name (a service's, else a stack's).
    #[arg(value_name = "TYPE|NAME")]
    pub kind: String,
    /// The name (a service as NAME, or CLUSTER/NAME when two clusters share it).
    #[arg(value_name = "NAME")]
    pub name: Option<String>,
}

/// A service found in the store, with its stack and the controller's memory of it.
pub struct Found {
    /// Its stack.
    pub stack: Stack,
    /// Its spec.
    pub spec: ServiceSpec,
    /// The controller's memory (empty before the controller has seen it).
    pub memory: ServiceMemory,
    /// The stack generation the controller last reconciled, and its status of the service.
    pub status: Option<(u64, u64, ServiceStatus)>,
}

/// Finds one service by `NAME` or `CLUSTER/NAME`.
///
/// # Errors
/// Not found, ambiguous, or the store unreadable.
pub async fn find(context: &Context, name: &str) -> Result<Found, CliError> {
    let store = context.store()?;
    let (cluster, service) = match name.split_once('/') {
        Some((c, s)) => (Some(c), s),
        None => (None, name),
    };
    let mut matches = Vec::new();
    for stack in store.list().await? {
        for spec in &stack.spec().services {
            if spec.name == service && cluster.is_none_or(|c| c == stack.spec().cluster) {
                matches.push((stack.clone(), spec.clone()));
            }
        }
    }
    match matches.len() {
        0 => Err(CliError::Rejected(match context.missing_store() {
            Some(missing) => format!("service `{name}` not found: {missing}"),
            None => format!("service `{name}` is not in any stack of the store"),
        })),
        1 => {
            let (stack, spec) = matches.remove(0);
            let memory = store
                .load_memory(stack.name())
                .await?
                .remove(&spec.name)
                .unwrap_or_default();
            let status = store.load_status(stack.name()).await?.and_then(|mut s| {
                let service = s.services.remove(&spec.name)?;
                Some((s.observed_generation, s.updated_at, service))
            });
            Ok(Found {
                stack,
                spec,
                memory,
                status,
            })
        }
        _ => Err(CliError::Rejected(format!(
            "`{name}` names a service in {} clusters; use CLUSTER/NAME",
            matches.len()
        ))),
    }
}

/// Runs `tug describe`.
///
/// # Errors
/// An unknown type or service (exit 1), or the store unreadable (exit 2).
pub async fn run(args: Args, context: &Context) -> Result<ExitCode, CliError> {
    let text = match (args.kind.as_str(), args.name.as_deref()) {
        ("service" | "services" | "svc", Some(name)) => {
            describe(&find(context, name).await?, context.now)
        }
        ("stack" | "stacks", Some(name)) => describe_stack(context, name).await?,
        (kind, Some(_)) => {
            return Err(CliError::Rejected(format!(
                "cannot describe `{kind}`: the type is `service` or `stack`, as in `tug describe service NAME`{}",
                crate::manifest::suggest::closest(kind, ["service", "stack"])
                    .map(|s| format!(" (did you mean `{s}`?)"))
                    .unwrap_or_default()
            )));
        }
        ("service" | "services" | "svc" | "stack" | "stacks", None) => {
            return Err(CliError::Rejected(format!(
                "name the {} to describe: `tug describe {} NAME`",
                args.kind, args.kind
            )));
        }
        // One word: a service of that name, else a stack.
        (name, None) => match find(context, name).await {
            Ok(found) => describe(&found, context.now),
            Err(CliError::Rejected(not_a_service)) if context.missing_store().is_some() => {
                return Err(CliError::Rejected(not_a_service));
            }
            Err(CliError::Rejected(not_a_service)) => {
                let stacks = context.store()?.list().await?;
                if stacks.iter().any(|s| s.name() == name) {
                    describe_stack(context, name).await?
                } else {
                    return Err(CliError::Rejected(format!(
                        "{not_a_service}, and no stack is named `{name}`; see `tug get services` and `tug get stacks`"
                    )));
                }
            }
            Err(other) => return Err(other),
        },
    };
    emit(&text)?;
    Ok(ExitCode::SUCCESS)
}

/// Decisions shown by `tug describe stack`, across its services.
const STACK_DECISIONS: usize = 20;

/// `tug describe stack NAME`: the stack, its services' state, and their recent decisions.
async fn describe_stack(context: &Context, name: &str) -> Result<String, CliError> {
    let store = context.store()?;
    let Some(stack) = store.list().await?.into_iter().find(|s| s.name() == name) else {
        return Err(CliError::Rejected(format!(
            "stack `{name}` is not in the store; see `tug get stacks`"
        )));
    };
    let memories = store.load_memory(name).await?;
    let status = store.load_status(name).await?;
    let now = status_now(status.as_ref().map_or(0, |s| s.updated_at), context.now);
    let meta = &stack.manifest().metadata;
    let mut text = String::new();
    let mut field = |k: &str, v: String| text.push_str(&format!("{:<14} {v}\n", format!("{k}:")));
    field("Stack", stack.name().to_owned());
    field(
        "Generation",
        format!(
            "{} ({})",
            meta.generation.unwrap_or(1),
            status.as_ref().map_or_else(
                || "not reconciled yet".to_owned(),
                |s| format!("observed generation {}", s.observed_generation)
            )
        ),
    );
    field("Cluster", stack.spec().cluster.clone());
    field(
        "Labels",
        if meta.labels.is_empty() {
            "none".to_owned()
        } else {
            meta.labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(", ")
        },
    );
    field(
        "Prune",
        if stack.spec().prune { "yes" } else { "no" }.to_owned(),
    );
    field(
        "Target groups",
        if stack.spec().target_groups.is_empty() {
            "none".to_owned()
        } else {
            stack
                .spec()
                .target_groups
                .iter()
                .map(|g| g.name.clone())
                .collect::<Vec<_>>()
                .join(", ")
        },
    );
    text.push_str("\nServices:\n");
    let none = ServiceMemory::default();
    let rows: Vec<Vec<String>> = stack
        .spec()
        .services
        .iter()
        .map(|spec| {
            let memory = memories.get(&spec.name).unwrap_or(&none);
            let seen = status.as_ref().and_then(|s| s.services.get(&spec.name));
            let live = seen.and_then(|s| s.live.as_ref());
            let condition = crate::plan::rollout::condition(&digest(&render(spec, None)), memory);
            vec![
                spec.name.clone(),
                memory
                    .desired_count
                    .unwrap_or(spec.desired_count)
                    .to_string(),
                live.map_or_else(|| "-".to_owned(), |l| l.running_count.to_string()),
                condition.as_str().to_owned(),
                memory
                    .verified_good
                    .as_ref()
                    .map_or_else(|| "-".to_owned(), |g| g.id.to_string()),
            ]
        })
        .collect();
    indent(
        &mut text,
        &table(
            &["NAME", "DESIRED", "RUNNING", "STATE", "VERIFIED GOOD"],
            &rows,
        ),
    );
    let capacity = status.as_ref().and_then(|s| s.capacity.as_ref());
    if let Some(spec) = &stack.spec().capacity {
        text.push_str("\nCapacity:\n");
        let line = match capacity {
            None => format!(
                "  {} ({}..{} instances, {} spare): not observed yet\n",
                spec.auto_scaling_group,
                spec.min_instances,
                spec.max_instances,
                spec.spare_instances
            ),
            Some(c) => format!(
                "  {} ({}..{} instances, {} spare): {} desired, {} running, {} launching, {} draining; {} needed: {}{}\n",
                c.auto_scaling_group,
                spec.min_instances,
                spec.max_instances,
                spec.spare_instances,
                c.desired,
                c.running,
                c.launching,
                c.draining,
                c.needed,
                c.reason,
                c.error
                    .as_ref()
                    .map(|e| format!("\n  last pass failed: {e}"))
                    .unwrap_or_default()
            ),
        };
        text.push_str(&line);
    }
    let group = capacity.map(|c| format!("group/{}", c.auto_scaling_group));
    let mut decisions: Vec<(&str, &crate::model::DecisionRecord)> = memories
        .iter()
        .flat_map(|(service, m)| m.decisions.iter().map(move |d| (service.as_str(), d)))
        .chain(
            group
                .as_deref()
                .zip(capacity)
                .into_iter()
                .flat_map(|(g, c)| c.decisions.iter().map(move |d| (g, d))),
        )
        .collect();
    decisions.sort_by_key(|(_, d)| d.at);
    let skip = decisions.len().saturating_sub(STACK_DECISIONS);
    if decisions.len() > STACK_DECISIONS {
        text.push_str(&format!(
            "\nDecisions (the newest {STACK_DECISIONS}, oldest first):\n"
        ));
    } else {
        text.push_str("\nDecisions (oldest first):\n");
    }
    if decisions.is_empty() {
        text.push_str("  none yet\n");
    } else {
        let rows: Vec<Vec<String>> = decisions[skip..]
            .iter()
            .map(|(service, d)| {
                vec![
                    ago(d.at, now),
                    (*service).to_owned(),
                    format!("{:?}", d.kind),
                    d.reason.clone(),
                ]
            })
            .collect();
        indent(
            &mut text,
            &table(&["AGE", "SERVICE", "KIND", "REASON"], &rows),
        );
    }
    Ok(text)
}

fn describe(found: &Found, wall: std::time::SystemTime) -> String {
    let Found {
        stack,
        spec,
        memory,
        status,
    } = found;
    let now = status_now(status.as_ref().map_or(0, |(_, at, _)| *at), wall);
    let mut lines: Vec<(String, String)> = Vec::new();
    let mut field = |k: &str, v: String| lines.push((k.to_owned(), v));
    field("Service", spec.name.clone());
    field(
        "Stack",
        format!(
            "{} (generation {}, {})",
            stack.name(),
            stack.manifest().metadata.generation.unwrap_or(1),
            status.as_ref().map_or_else(
                || "not reconciled yet".to_owned(),
                |(g, _, _)| format!("observed generation {g}")
            )
        ),
    );
    field("Cluster", stack.spec().cluster.clone());
    field(
        "Launch type",
        match spec.launch() {
            LaunchType::Fargate => "FARGATE",
            LaunchType::Ec2 => "EC2",
        }
        .to_owned(),
    );
    let task = &spec.task_definition;
    let size = match (task.cpu, task.memory) {
        (Some(c), Some(m)) => format!(", {c} CPU / {m} MiB"),
        _ => String::new(),
    };
    field(
        "Task definition",
        format!(
            "{}{size}, manifest digest {}",
            task.family,
            short(&digest(&render(spec, None)))
        ),
    );
    for c in &task.containers {
        field("  container", format!("{} = {}", c.name, c.image));
    }
    field(
        "Desired count",
        match (memory.desired_count, &spec.scaling) {
            (Some(n), Some(_)) => format!("{n} (the controller's decision)"),
            (Some(n), None) => format!("{n}"),
            (None, _) => format!(
                "{} (from the manifest; the controller has not acted yet)",
                spec.desired_count
            ),
        },
    );
    field(
        "Scaling",
        match &spec.scaling {
            Some(s) => format!(
                "{}..{} tasks, cooldowns out {} s / in {} s",
                s.min_tasks, s.max_tasks, s.scale_out_cooldown_seconds, s.scale_in_cooldown_seconds
            ),
            None => "none".to_owned(),
        },
    );
    let d = &spec.deployment;
    field(
        "Deployment",
        format!(
            "minimum healthy {}%, maximum {}%, progress deadline {} s",
            d.minimum_healthy_percent, d.maximum_percent, d.progress_deadline_seconds
        ),
    );
    field(
        "Verified good",
        memory.verified_good.as_ref().map_or_else(
            || "none yet".to_owned(),
            |r| format!("{} (digest {})", r.id, short(&r.digest)),
        ),
    );
    if let Some(good) = &memory.verified_good {
        field(
            "  images",
            if good.images.is_empty() {
                "no digests reported by ECS: a rollback deploys its tags as they stand then"
                    .to_owned()
            } else {
                good.images
                    .iter()
                    .map(|(container, digest)| format!("{container}@{digest}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            },
        );
    }
    if let Some(check) = &memory.registry {
        field(
            "Registry",
            if check.warnings.is_empty() {
                format!(
                    "no lifecycle rule could delete a verified image (checked {})",
                    when(check.at, now)
                )
            } else {
                format!(
                    "{} warning{} (checked {}), below",
                    check.warnings.len(),
                    if check.warnings.len() == 1 { "" } else { "s" },
                    when(check.at, now)
                )
            },
        );
    }
    field(
        "Rollout",
        match &memory.rollout {
            Some(r) => format!(
                "{} to {} since {}{}",
                if r.rollback {
                    "rolling back"
                } else {
                    "rolling out"
                },
                r.target.id,
                when(r.started_at, now),
                r.completed_at
                    .map(|c| format!(", complete since {}, verifying", when(c, now)))
                    .unwrap_or_default()
            ),
            None => "none in progress".to_owned(),
        },
    );
    if let Some((_, at, status)) = status {
        field(
            "Live",
            match &status.live {
                Some(l) => format!(
                    "{} desired, {} running, {} pending, {} ({}, as seen {})",
                    l.desired_count,
                    l.running_count,
                    l.pending_count,
                    l.task_definition,
                    l.status,
                    when(*at, now)
                ),
                None => format!("no such service in ECS (as seen {})", when(*at, now)),
            },
        );
    }
    field(
        "Failed digests",
        if memory.failed_digests.is_empty() {
            "none".to_owned()
        } else {
            memory
                .failed_digests
                .iter()
                .map(|d| short(d).to_owned())
                .collect::<Vec<_>>()
                .join(", ")
        },
    );
    let width = lines.iter().map(|(k, _)| k.len()).max().unwrap_or(0) + 2;
    let mut text: String = lines
        .iter()
        .map(|(k, v)| format!("{:<width$}{v}\n", format!("{k}:")))
        .collect();
    let mut warnings: Vec<String> = memory
        .registry
        .as_ref()
        .map(|c| c.warnings.clone())
        .unwrap_or_default();
    warnings.extend(shared_5xx_note(stack, spec));
    if !warnings.is_empty() {
        text.push_str("\nWarnings:\n");
        for warning in &warnings {
            text.push_str(&format!("  warning: {warning}\n"));
        }
    }
    if let Some((_, _, status)) = status {
        text.push_str("\nConditions:\n");
        let rows: Vec<Vec<String>> = status
            .conditions
            .iter()
            .map(|c| {
                vec![
                    c.kind.as_str().to_owned(),
                    if c.status { "True" } else { "False" }.to_owned(),
                    c.reason.clone(),
                    ago(c.last_transition_time, now),
                    c.message.clone(),
                ]
            })
            .collect();
        indent(
            &mut text,
            &table(&["TYPE", "STATUS", "REASON", "SINCE", "MESSAGE"], &rows),
        );
    }
    text.push_str("\nDecisions (oldest first):\n");
    if memory.decisions.is_empty() {
        text.push_str("  none yet\n");
    } else {
        let rows: Vec<Vec<String>> = memory
            .decisions
            .iter()
            .map(|d| {
                vec![
                    ago(d.at, now),
                    format!("{:?}", d.kind),
                    d.field.clone().unwrap_or_default(),
                    d.reason.clone(),
                ]
            })
            .collect();
        indent(
            &mut text,
            &table(&["AGE", "KIND", "LABEL", "REASON"], &rows),
        );
    }
    text
}

/// Appends `block` to `text`, each line indented by two spaces.
/// A 5XX rule on the load balancer's count, beside other services of the stack: that count has
/// no target-group dimension, so behind a shared load balancer one service's overload scales
/// every one of them.
fn shared_5xx_note(stack: &crate::model::Stack, spec: &ServiceSpec) -> Option<String> {
    use crate::manifest::spec::Http5xxSource;
    let http = spec.scaling.as_ref()?.http5xx.as_ref()?;
    if http.source != Http5xxSource::LoadBalancer {
        return None;
    }
    let others: Vec<&str> = stack
        .spec()
        .services
        .iter()
        .filter(|s| s.name != spec.name && !s.load_balancers.is_empty())
        .map(|s| s.name.as_str())
        .collect();
    if others.is_empty() {
        return None;
    }
    Some(format!(
        "scaling.http5xx reads HTTPCode_ELB_5XX_Count, which has no target-group dimension: if {} share{} its load balancer, an overload of any of them scales this service out too; `source: target` or a `cpu` rule reads this service alone",
        others.join(", "),
        if others.len() == 1 { "s" } else { "" }
    ))
}

fn indent(text: &mut String, block: &str) {
    for line in block.lines() {
        text.push_str("  ");
        text.push_str(line);
        text.push('\n');
    }
}

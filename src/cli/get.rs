//! `tug get stacks|services [-o table|json|yaml]`: what the store holds.
//!
//! For stacks, READY counts services whose Ready condition holds and OBSERVED is the generation the
//! controller last reconciled (both `-` until a controller has reported).
//!
//! For services, DESIRED is the controller's own decision once it has acted (the manifest's
//! `desiredCount` before), and STATE where the manifest's revision stands: Pending (not acted on
//! yet), Progressing, Ready (deployed and verified good) or Degraded (rolled back).

use std::process::ExitCode;
use std::time::SystemTime;

use serde::Serialize;

use super::output::{OutputFormat, age, emit, json, stacks_json, stacks_yaml, table, yaml};
use super::{CliError, Context};
use crate::manifest::spec::{LaunchType, ServiceSpec};
use crate::model::{ConditionType, ServiceMemory, Stack, StackStatus};
use crate::plan::render::{digest, render};
use crate::plan::rollout::{Condition, condition};
use crate::store::Store;

/// Arguments of `tug get`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// What to list.
    #[arg(value_enum)]
    pub resource: Resource,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,
}

/// What `tug get` lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Resource {
    /// Stacks, one row each.
    #[value(alias = "stack")]
    Stacks,
    /// Services of every stack, one row each.
    #[value(alias = "service", alias = "svc")]
    Services,
    /// The controller holding the store's lease (the one acting).
    #[value(alias = "controller")]
    Controllers,
}

/// One row of `tug get services -o json`: stable field names for scripts.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ServiceRow<'a> {
    stack: &'a str,
    cluster: &'a str,
    name: &'a str,
    launch_type: LaunchType,
    desired_count: u32,
    min_tasks: Option<u32>,
    max_tasks: Option<u32>,
    task_definition_family: &'a str,
    cpu: Option<u32>,
    memory: Option<u32>,
    images: Vec<&'a str>,
    /// The controller's own desired-count decision, once it has acted.
    controller_desired_count: Option<u32>,
    /// Ready, Progressing, Degraded or Pending (from the controller's memory).
    state: &'static str,
}

/// Runs `tug get`.
///
/// # Errors
/// [`CliError::Failed`] when the store cannot be read.
pub async fn run(args: Args, context: &Context) -> Result<ExitCode, CliError> {
    let store = context.store()?;
    if args.resource == Resource::Controllers {
        emit(&controllers(&store, args.output, context.now).await?)?;
        return Ok(ExitCode::SUCCESS);
    }
    let stacks = store.list().await?;
    let mut memories = std::collections::BTreeMap::new();
    let mut statuses = std::collections::BTreeMap::new();
    if args.resource == Resource::Services
        || (args.resource == Resource::Stacks && args.output == OutputFormat::Table)
    {
        for stack in &stacks {
            if let Some(status) = store.load_status(stack.name()).await? {
                statuses.insert(stack.name().to_owned(), status);
            }
        }
    }
    if args.resource == Resource::Services {
        for stack in &stacks {
            memories.insert(
                stack.name().to_owned(),
                store.load_memory(stack.name()).await?,
            );
        }
    }
    let text = match (args.resource, args.output) {
        (Resource::Stacks, OutputFormat::Table) => stacks_table(&stacks, &statuses, context.now),
        (Resource::Stacks, OutputFormat::Json) => stacks_json(&stacks)?,
        (Resource::Stacks, OutputFormat::Yaml) => stacks_yaml(&stacks)?,
        (Resource::Controllers, _) => String::new(),
        (Resource::Services, format) => {
            let rows: Vec<ServiceRow> = stacks
                .iter()
                .flat_map(|s| service_rows(s, &memories, statuses.get(s.name())))
                .collect();
            match format {
                OutputFormat::Table => services_table(&rows),
                OutputFormat::Json => json(&list("ServiceList", &rows))?,
                OutputFormat::Yaml => yaml(&list("ServiceList", &rows))?,
            }
        }
    };
    emit(&text)?;
    Ok(ExitCode::SUCCESS)
}

/// One row of `tug get controllers`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ControllerRow {
    /// Who (pid, host, since), as it wrote itself down.
    holder: String,
    /// How it holds the store: `lease` (DynamoDB) or `lock` (a file store).
    by: &'static str,
    /// When it took the lease (or the lock), by its own clock (RFC 3339).
    since: Option<String>,
    /// When it last renewed its lease, by its own clock (RFC 3339); `None` for a lock.
    renewed_at: Option<String>,
    /// How long the lease lasts without renewal, seconds.
    lease_seconds: Option<u64>,
}

async fn controllers(
    store: &crate::store::AnyStore,
    output: OutputFormat,
    now: SystemTime,
) -> Result<String, CliError> {
    let rows: Vec<ControllerRow> = match store {
        crate::store::AnyStore::File(file) => file
            .controller_holder()?
            .map(|(holder, since)| ControllerRow {
                holder,
                by: "lock",
                since: since.map(|t| humantime::format_rfc3339_seconds(t).to_string()),
                renewed_at: None,
                lease_seconds: None,
            })
            .into_iter()
            .collect(),
        crate::store::AnyStore::DynamoDb(table) => table
            .read_lease()
            .await?
            .map(|lease| ControllerRow {
                holder: lease.holder,
                by: "lease",
                since: Some(lease.since).filter(|s| !s.is_empty()),
                renewed_at: Some(lease.renewed_at),
                lease_seconds: Some(lease.lease_ms / 1000),
            })
            .into_iter()
            .collect(),
    };
    Ok(match output {
        OutputFormat::Json => json(&list("ControllerList", &rows))?,
        OutputFormat::Yaml => yaml(&list("ControllerList", &rows))?,
        OutputFormat::Table if rows.is_empty() => {
            "No controller holds the store (none runs, or every one is a candidate).\n".to_owned()
        }
        OutputFormat::Table => table(
            &["HOLDER", "BY", "SINCE", "LAST-RENEWAL"],
            &rows
                .iter()
                .map(|r| {
                    vec![
                        r.holder.clone(),
                        r.by.to_owned(),
                        r.since.clone().unwrap_or_else(|| "-".to_owned()),
                        r.renewed_at
                            .as_deref()
                            .map_or_else(|| "-".to_owned(), |at| format!("{} ago", age(at, now))),
                    ]
                })
                .collect::<Vec<_>>(),
        ),
    })
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct List<'a, T> {
    api_version: &'static str,
    kind: &'static str,
    items: &'a [T],
}

fn list<'a, T>(kind: &'static str, items: &'a [T]) -> List<'a, T> {
    List {
        api_version: crate::manifest::spec::API_VERSION,
        kind,
        items,
    }
}

fn stacks_table(
    stacks: &[Stack],
    statuses: &std::collections::BTreeMap<String, StackStatus>,
    now: SystemTime,
) -> String {
    if stacks.is_empty() {
        return "No stacks in the store.\n".to_owned();
    }
    let rows: Vec<Vec<String>> = stacks
        .iter()
        .map(|s| {
            let meta = &s.manifest().metadata;
            let status = statuses.get(s.name());
            let ready = status.map_or_else(
                || "-".to_owned(),
                |st| {
                    let n = st
                        .services
                        .values()
                        .filter(|v| v.condition(ConditionType::Ready).is_some_and(|c| c.status))
                        .count();
                    format!("{n}/{}", s.spec().services.len())
                },
            );
            vec![
                s.name().to_owned(),
                s.spec().cluster.clone(),
                s.spec().services.len().to_string(),
                ready,
                meta.generation.unwrap_or(1).to_string(),
                status.map_or_else(|| "-".to_owned(), |st| st.observed_generation.to_string()),
                meta.creation_timestamp
                    .as_deref()
                    .map_or_else(|| "-".to_owned(), |t| age(t, now)),
            ]
        })
        .collect();
    table(
        &[
            "NAME",
            "CLUSTER",
            "SERVICES",
            "READY",
            "GENERATION",
            "OBSERVED",
            "AGE",
        ],
        &rows,
    )
}

fn service_rows<'a>(
    stack: &'a Stack,
    memories: &std::collections::BTreeMap<
        String,
        std::collections::BTreeMap<String, ServiceMemory>,
    >,
    status: Option<&StackStatus>,
) -> Vec<ServiceRow<'a>> {
    let none = ServiceMemory::default();
    stack
        .spec()
        .services
        .iter()
        .map(|service: &ServiceSpec| {
            let memory = memories
                .get(stack.name())
                .and_then(|m| m.get(&service.name))
                .unwrap_or(&none);
            let manifest_digest = digest(&render(service, None));
            ServiceRow {
                stack: stack.name(),
                cluster: &stack.spec().cluster,
                name: &service.name,
                launch_type: service.launch(),
                desired_count: service.desired_count,
                min_tasks: service.scaling.as_ref().map(|s| s.min_tasks),
                max_tasks: service.scaling.as_ref().map(|s| s.max_tasks),
                task_definition_family: &service.task_definition.family,
                cpu: service.task_definition.cpu,
                memory: service.task_definition.memory,
                images: service
                    .task_definition
                    .containers
                    .iter()
                    .map(|c| c.image.as_str())
                    .collect(),
                controller_desired_count: memory.desired_count,
                state: state(
                    condition(&manifest_digest, memory),
                    status.and_then(|s| s.services.get(&service.name)),
                ),
            }
        })
        .collect()
}

/// What `STATE` says: Ready only when the controller saw the service Ready (its status), never
/// from memory alone; Degraded when its status says so; otherwise what memory says.
fn state(remembered: Condition, seen: Option<&crate::model::ServiceStatus>) -> &'static str {
    let holds = |kind: ConditionType| {
        seen.and_then(|s| s.condition(kind))
            .is_some_and(|c| c.status)
    };
    if holds(ConditionType::Ready) {
        Condition::Ready.as_str()
    } else if holds(ConditionType::Degraded) || remembered == Condition::Degraded {
        Condition::Degraded.as_str()
    } else if remembered == Condition::Ready {
        Condition::Progressing.as_str()
    } else {
        remembered.as_str()
    }
}

fn services_table(rows: &[ServiceRow]) -> String {
    if rows.is_empty() {
        return "No services in the store.\n".to_owned();
    }
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let size = match (r.cpu, r.memory) {
                (Some(c), Some(m)) => format!("{c}/{m}"),
                _ => "-".to_owned(),
            };
            vec![
                r.stack.to_owned(),
                r.name.to_owned(),
                r.cluster.to_owned(),
                match r.launch_type {
                    LaunchType::Ec2 => "EC2".to_owned(),
                    LaunchType::Fargate => "FARGATE".to_owned(),
                },
                r.controller_desired_count
                    .unwrap_or(r.desired_count)
                    .to_string(),
                match (r.min_tasks, r.max_tasks) {
                    (Some(lo), Some(hi)) => format!("{lo}-{hi}"),
                    _ => "-".to_owned(),
                },
                r.state.to_owned(),
                r.task_definition_family.to_owned(),
                size,
                r.images.join(","),
            ]
        })
        .collect();
    table(
        &[
            "STACK",
            "SERVICE",
            "CLUSTER",
            "LAUNCH",
            "DESIRED",
            "SCALING",
            "STATE",
            "TASK FAMILY",
            "CPU/MEM",
            "IMAGES",
        ],
        &cells,
    )
}

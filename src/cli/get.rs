//! `tug get stacks|services|capacity|controllers [NAME...] [-l SELECTOR] [-o FORMAT] [--watch]`: what the
//! store holds, as kubectl's `get` shows it: all, or the named ones; `-l key=value` (also `!=`,
//! or a bare key, comma-separated) on the stack's labels (and a service's tags); `-o wide`,
//! `-o name`, `-o json|yaml`, `-o jsonpath=EXPR` (RFC 9535, `$.items[*].name`, or kubectl's
//! `{.items[*].name}`); `--watch` prints the table again whenever it changes.
//!
//! For stacks, READY counts services whose Ready condition holds and OBSERVED is the generation the
//! controller last reconciled (both `-` until a controller has reported).
//!
//! For services, DESIRED is the controller's own decision once it has acted (the manifest's
//! `desiredCount` before), and STATE where the manifest's revision stands: Pending (not acted on
//! yet), Progressing, Ready (deployed and verified good) or Degraded (rolled back).
//!
//! For capacity (stacks with `capacity`), one row per cluster: the Auto Scaling group's instances
//! desired, running, launching and draining, the instances the tasks need, the CPU and memory the
//! tasks reserve of what is registered, and the tasks waiting for room, as the controller last
//! saw them.

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
#[command(
    after_help = "Examples:\n  tug get services\n  tug get services web -o wide\n  tug get stacks -l team=payments -o name\n  tug get capacity\n  tug get services -o jsonpath='{.items[*].name}'\n  tug get services --watch"
)]
pub struct Args {
    /// What to list.
    #[arg(value_enum)]
    pub resource: Resource,
    /// Only these (stacks: NAME; services: NAME or CLUSTER/NAME).
    #[arg(value_name = "NAME")]
    pub names: Vec<String>,
    /// Output: table, wide, name, json, yaml, or jsonpath=EXPR.
    #[arg(short = 'o', long = "output", value_name = "FORMAT", default_value = "table", value_parser = parse_output)]
    pub output: GetOutput,
    /// Only those whose labels match: key=value, key!=value or key, comma-separated.
    #[arg(short = 'l', long = "selector", value_name = "SELECTOR", value_parser = parse_selector)]
    pub selector: Option<Selector>,
    /// Print again whenever it changes (every 2 s), until interrupted.
    #[arg(short = 'w', long)]
    pub watch: bool,
}

/// How `tug get` prints.
#[derive(Debug, Clone)]
pub enum GetOutput {
    /// Columns.
    Table,
    /// More columns.
    Wide,
    /// `KIND/NAME`, one a line.
    Name,
    /// One JSON list.
    Json,
    /// One YAML document.
    Yaml,
    /// The values a JSONPath query selects from the JSON output.
    JsonPath(serde_json_path::JsonPath),
}

fn parse_output(text: &str) -> Result<GetOutput, String> {
    Ok(match text {
        "table" => GetOutput::Table,
        "wide" => GetOutput::Wide,
        "name" => GetOutput::Name,
        "json" => GetOutput::Json,
        "yaml" => GetOutput::Yaml,
        other => {
            let Some(expression) = other.strip_prefix("jsonpath=") else {
                return Err(format!(
                    "`{other}` is not an output format: use table, wide, name, json, yaml or jsonpath=EXPR"
                ));
            };
            // kubectl's `{.items[*].name}` is RFC 9535's `$.items[*].name`.
            let expression = match expression
                .strip_prefix('{')
                .and_then(|e| e.strip_suffix('}'))
            {
                Some(inner) => format!("${inner}"),
                None => expression.to_owned(),
            };
            GetOutput::JsonPath(
                serde_json_path::JsonPath::parse(&expression)
                    .map_err(|e| format!("jsonpath `{expression}`: {e}"))?,
            )
        }
    })
}

/// A label selector: every requirement must hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selector(Vec<(String, Requirement)>);

/// One requirement on a label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requirement {
    /// `key=value` (or `key==value`).
    Equals(String),
    /// `key!=value`: the label is absent or has another value.
    NotEquals(String),
    /// `key`: the label is present.
    Exists,
}

fn parse_selector(text: &str) -> Result<Selector, String> {
    let mut requirements = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (key, requirement) = if let Some((k, v)) = part.split_once("!=") {
            (k, Requirement::NotEquals(v.to_owned()))
        } else if let Some((k, v)) = part.split_once("==").or_else(|| part.split_once('=')) {
            (k, Requirement::Equals(v.to_owned()))
        } else {
            (part, Requirement::Exists)
        };
        if key.is_empty() {
            return Err(format!(
                "`{part}`: a requirement needs a label key, as `team=payments`"
            ));
        }
        requirements.push((key.to_owned(), requirement));
    }
    if requirements.is_empty() {
        return Err("an empty selector: use key=value, key!=value or key".to_owned());
    }
    Ok(Selector(requirements))
}

impl Selector {
    /// Whether labels (merged from every map given, the later winning) satisfy it.
    fn matches(&self, maps: &[&std::collections::BTreeMap<String, String>]) -> bool {
        let get = |key: &str| maps.iter().rev().find_map(|m| m.get(key));
        self.0.iter().all(|(key, r)| match r {
            Requirement::Equals(v) => get(key) == Some(v),
            Requirement::NotEquals(v) => get(key) != Some(v),
            Requirement::Exists => get(key).is_some(),
        })
    }
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
    /// The EC2 capacity tugboat owns, per cluster (stacks with `capacity`).
    #[value(alias = "cap")]
    Capacity,
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
    /// The revision the manifest's definition was registered as, once it has been.
    revision: Option<u32>,
    /// `rolling`, `canary`, `linear` or `blueGreen`.
    strategy: &'static str,
    /// The stack's labels, for selectors.
    #[serde(skip)]
    labels: &'a std::collections::BTreeMap<String, String>,
    /// The service's tags, for selectors.
    #[serde(skip)]
    tags: &'a std::collections::BTreeMap<String, String>,
}

impl ServiceRow<'_> {
    /// Whether `name` (NAME or CLUSTER/NAME) names it.
    fn is(&self, name: &str) -> bool {
        match name.split_once('/') {
            Some((cluster, service)) => cluster == self.cluster && service == self.name,
            None => name == self.name,
        }
    }
}

/// Runs `tug get`.
///
/// # Errors
/// [`CliError::Failed`] when the store cannot be read.
pub async fn run(args: Args, context: &Context) -> Result<ExitCode, CliError> {
    if args.resource == Resource::Controllers && (!args.names.is_empty() || args.selector.is_some())
    {
        return Err(CliError::Rejected(
            "`tug get controllers` takes no names and no selector".to_owned(),
        ));
    }
    let mut last = String::new();
    loop {
        let text = once(&args, context).await?;
        if text != last {
            emit(&text)?;
            last = text;
        }
        if !args.watch {
            return Ok(ExitCode::SUCCESS);
        }
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    }
}

/// What one `tug get` prints.
async fn once(args: &Args, context: &Context) -> Result<String, CliError> {
    let store = context.store()?;
    let format = match &args.output {
        GetOutput::Json | GetOutput::JsonPath(_) => OutputFormat::Json,
        GetOutput::Yaml => OutputFormat::Yaml,
        GetOutput::Table | GetOutput::Wide | GetOutput::Name => OutputFormat::Table,
    };
    if args.resource == Resource::Controllers {
        return match &args.output {
            GetOutput::JsonPath(path) => select(
                &controllers(&store, OutputFormat::Json, context.now).await?,
                path,
            ),
            _ => controllers(&store, format, context.now).await,
        };
    }
    let all = store.list().await?;
    if let Some(missing) = context.missing_store()
        && matches!(args.output, GetOutput::Table | GetOutput::Wide)
        && args.names.is_empty()
    {
        return Ok(format!(
            "No {}: {missing}.\n",
            match args.resource {
                Resource::Stacks => "stacks",
                Resource::Capacity => "capacity",
                _ => "services",
            }
        ));
    }
    let stacks = filter_stacks(args, all)?;
    let mut memories = std::collections::BTreeMap::new();
    let mut statuses = std::collections::BTreeMap::new();
    if args.resource == Resource::Services
        || args.resource == Resource::Capacity
        || (args.resource == Resource::Stacks && format == OutputFormat::Table)
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
    let text = match (args.resource, &args.output) {
        (Resource::Stacks, GetOutput::Table | GetOutput::Wide)
            if stacks.is_empty() && args.selector.is_some() =>
        {
            "No stacks match the selector.\n".to_owned()
        }
        (Resource::Stacks, GetOutput::Table | GetOutput::Wide) => stacks_table(
            &stacks,
            &statuses,
            context.now,
            matches!(args.output, GetOutput::Wide),
        ),
        (Resource::Stacks, GetOutput::Name) => stacks
            .iter()
            .map(|s| format!("stack/{}\n", s.name()))
            .collect(),
        (Resource::Stacks, GetOutput::Json) => stacks_json(&stacks)?,
        (Resource::Stacks, GetOutput::JsonPath(path)) => select(&stacks_json(&stacks)?, path)?,
        (Resource::Stacks, GetOutput::Yaml) => stacks_yaml(&stacks)?,
        (Resource::Controllers, _) => String::new(),
        (Resource::Capacity, output) => capacity(args, &stacks, &statuses, output, context.now)?,
        (Resource::Services, output) => {
            let rows: Vec<ServiceRow> = stacks
                .iter()
                .flat_map(|s| service_rows(s, &memories, statuses.get(s.name())))
                .filter(|r| wanted_service(args, r))
                .collect();
            if let Some(missing) = args.names.iter().find(|n| !rows.iter().any(|r| r.is(n))) {
                return Err(CliError::Rejected(format!(
                    "service `{missing}` is not in any stack of the store; see `tug get services`"
                )));
            }
            match output {
                GetOutput::Table | GetOutput::Wide
                    if rows.is_empty() && args.selector.is_some() =>
                {
                    "No services match the selector.\n".to_owned()
                }
                GetOutput::Table => services_table(&rows, false),
                GetOutput::Wide => services_table(&rows, true),
                GetOutput::Name => rows
                    .iter()
                    .map(|r| format!("service/{}/{}\n", r.cluster, r.name))
                    .collect(),
                GetOutput::Json => json(&list("ServiceList", &rows))?,
                GetOutput::JsonPath(path) => select(&json(&list("ServiceList", &rows))?, path)?,
                GetOutput::Yaml => yaml(&list("ServiceList", &rows))?,
            }
        }
    };
    Ok(text)
}

/// The stacks `tug get stacks` shows (the named ones, those the selector matches); for services,
/// the stacks that may hold them. A named stack that is not there is an error.
fn filter_stacks(args: &Args, all: Vec<Stack>) -> Result<Vec<Stack>, CliError> {
    if args.resource != Resource::Stacks {
        return Ok(all);
    }
    if let Some(missing) = args
        .names
        .iter()
        .find(|n| !all.iter().any(|s| s.name() == n.as_str()))
    {
        return Err(CliError::Rejected(format!(
            "stack `{missing}` is not in the store; see `tug get stacks`"
        )));
    }
    Ok(all
        .into_iter()
        .filter(|s| args.names.is_empty() || args.names.iter().any(|n| n == s.name()))
        .filter(|s| {
            args.selector
                .as_ref()
                .is_none_or(|sel| sel.matches(&[&s.manifest().metadata.labels]))
        })
        .collect())
}

/// Whether `tug get services` shows this row.
fn wanted_service(args: &Args, row: &ServiceRow) -> bool {
    (args.names.is_empty() || args.names.iter().any(|n| row.is(n)))
        && args
            .selector
            .as_ref()
            .is_none_or(|sel| sel.matches(&[row.labels, row.tags]))
}

/// The values `path` selects from the JSON `text`: strings as they are, anything else as compact
/// JSON, space-separated on one line (as kubectl prints them).
fn select(text: &str, path: &serde_json_path::JsonPath) -> Result<String, CliError> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| CliError::Failed(e.to_string()))?;
    let words: Vec<String> = path
        .query(&value)
        .all()
        .into_iter()
        .map(|v| match v {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect();
    Ok(format!("{}\n", words.join(" ")))
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

/// One row of `tug get capacity -o json`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct CapacityRow<'a> {
    stack: &'a str,
    cluster: &'a str,
    auto_scaling_group: &'a str,
    min_instances: u32,
    max_instances: u32,
    spare_instances: u32,
    /// As the controller last saw it; absent until it has.
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<&'a crate::model::CapacityStatus>,
}

/// `tug get capacity`: the stacks with `capacity` (or the named stacks or clusters).
fn capacity(
    args: &Args,
    stacks: &[Stack],
    statuses: &std::collections::BTreeMap<String, StackStatus>,
    output: &GetOutput,
    now: SystemTime,
) -> Result<String, CliError> {
    let rows: Vec<CapacityRow> = stacks
        .iter()
        .filter(|s| {
            args.selector
                .as_ref()
                .is_none_or(|sel| sel.matches(&[&s.manifest().metadata.labels]))
        })
        .filter_map(|s| {
            let spec = s.spec().capacity.as_ref()?;
            Some(CapacityRow {
                stack: s.name(),
                cluster: &s.spec().cluster,
                auto_scaling_group: &spec.auto_scaling_group,
                min_instances: spec.min_instances,
                max_instances: spec.max_instances,
                spare_instances: spec.spare_instances,
                status: statuses.get(s.name()).and_then(|st| st.capacity.as_ref()),
            })
        })
        .filter(|r| {
            args.names.is_empty() || args.names.iter().any(|n| n == r.stack || n == r.cluster)
        })
        .collect();
    if let Some(missing) = args
        .names
        .iter()
        .find(|n| !rows.iter().any(|r| *n == r.stack || *n == r.cluster))
    {
        return Err(CliError::Rejected(format!(
            "no stack or cluster `{missing}` with `capacity` in the store; see `tug get capacity`"
        )));
    }
    Ok(match output {
        GetOutput::Table | GetOutput::Wide if rows.is_empty() => {
            "No stack gives tugboat EC2 capacity (`capacity` in a stack's spec).\n".to_owned()
        }
        GetOutput::Table | GetOutput::Wide => {
            capacity_table(&rows, matches!(output, GetOutput::Wide), now)
        }
        GetOutput::Name => rows
            .iter()
            .map(|r| format!("capacity/{}\n", r.cluster))
            .collect(),
        GetOutput::Json => json(&list("CapacityList", &rows))?,
        GetOutput::JsonPath(path) => select(&json(&list("CapacityList", &rows))?, path)?,
        GetOutput::Yaml => yaml(&list("CapacityList", &rows))?,
    })
}

/// Capacity as columns: counts of instances, the share of CPU and memory the tasks reserve, the
/// tasks waiting for room and how long ago the controller looked; `wide` adds the stack, the
/// bounds and the reason (or the failure).
fn capacity_table(rows: &[CapacityRow], wide: bool, now: SystemTime) -> String {
    let mut header = vec![
        "CLUSTER",
        "GROUP",
        "DESIRED",
        "RUNNING",
        "LAUNCHING",
        "DRAINING",
        "NEEDED",
        "CPU",
        "MEMORY",
        "WAITING",
        "SEEN",
    ];
    if wide {
        header.extend(["STACK", "BOUNDS", "REASON"]);
    }
    let dash = || "-".to_owned();
    let share = |used: u64, of: u64| {
        (used * 100)
            .checked_div(of)
            .map_or_else(dash, |p| format!("{p}%"))
    };
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let s = r.status;
            let n = |f: fn(&crate::model::CapacityStatus) -> u32| {
                s.map_or_else(dash, |s| f(s).to_string())
            };
            let mut row = vec![
                r.cluster.to_owned(),
                r.auto_scaling_group.to_owned(),
                n(|s| s.desired),
                n(|s| s.running),
                n(|s| s.launching),
                n(|s| s.draining),
                n(|s| s.needed),
                s.map_or_else(dash, |s| share(s.cpu_reserved, s.cpu_registered)),
                s.map_or_else(dash, |s| share(s.memory_reserved, s.memory_registered)),
                n(|s| s.tasks_waiting),
                s.map_or_else(dash, |s| {
                    let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(s.observed_at);
                    format!("{} ago", super::output::age_of(at, now))
                }),
            ];
            if wide {
                row.push(r.stack.to_owned());
                row.push(format!(
                    "{}..{} (+{} spare)",
                    r.min_instances, r.max_instances, r.spare_instances
                ));
                row.push(s.map_or_else(dash, |s| match &s.error {
                    Some(e) => format!("failing: {e}"),
                    None => s.reason.clone(),
                }));
            }
            row
        })
        .collect();
    table(&header, &cells)
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
    wide: bool,
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
            let mut row = vec![
                s.name().to_owned(),
                s.spec().cluster.clone(),
                s.spec().services.len().to_string(),
                ready,
                meta.generation.unwrap_or(1).to_string(),
                status.map_or_else(|| "-".to_owned(), |st| st.observed_generation.to_string()),
                meta.creation_timestamp
                    .as_deref()
                    .map_or_else(|| "-".to_owned(), |t| age(t, now)),
            ];
            if wide {
                row.push(if meta.labels.is_empty() {
                    "-".to_owned()
                } else {
                    meta.labels
                        .iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect::<Vec<_>>()
                        .join(",")
                });
            }
            row
        })
        .collect();
    let mut headers = vec![
        "NAME",
        "CLUSTER",
        "SERVICES",
        "READY",
        "GENERATION",
        "OBSERVED",
        "AGE",
    ];
    if wide {
        headers.push("LABELS");
    }
    table(&headers, &rows)
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
                revision: memory.revision_of(&manifest_digest).map(|r| r.id.revision),
                strategy: strategy_name(&service.deployment.strategy),
                labels: &stack.manifest().metadata.labels,
                tags: &service.tags,
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

/// The manifest's word for a strategy.
fn strategy_name(strategy: &crate::manifest::spec::DeploymentStrategy) -> &'static str {
    use crate::manifest::spec::DeploymentStrategy;
    match strategy {
        DeploymentStrategy::Rolling => "rolling",
        DeploymentStrategy::Canary(_) => "canary",
        DeploymentStrategy::Linear(_) => "linear",
        DeploymentStrategy::BlueGreen(_) => "blueGreen",
    }
}

/// Services as columns: the default fits 120 columns for names of ordinary length; `wide` adds
/// the revision, strategy, task family, size and images.
fn services_table(rows: &[ServiceRow], wide: bool) -> String {
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
            let mut row = vec![
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
            ];
            if wide {
                row.extend([
                    r.revision.map_or_else(|| "-".to_owned(), |n| n.to_string()),
                    r.strategy.to_owned(),
                    r.task_definition_family.to_owned(),
                    size,
                    r.images.join(","),
                ]);
            }
            row
        })
        .collect();
    let mut headers = vec![
        "STACK", "SERVICE", "CLUSTER", "LAUNCH", "DESIRED", "SCALING", "STATE",
    ];
    if wide {
        headers.extend(["REVISION", "STRATEGY", "TASK FAMILY", "CPU/MEM", "IMAGES"]);
    }
    table(&headers, &cells)
}

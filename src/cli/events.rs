//! `tug events [--stack S] [--service S] [-o json] [--watch]`: the controller's decisions across
//! services, newest last, as `kubectl get events` lists them: when, where, which kind, why. Read
//! from the controller's memory in the store (each service keeps its recent decisions).

use std::process::ExitCode;
use std::time::Duration;

use serde::Serialize;

use super::output::{OutputFormat, ago, emit, json, status_now, table, yaml};
use super::{CliError, Context};
use crate::store::Store;

/// Arguments of `tug events`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  tug events\n  tug events --stack todo\n  tug events --service test1Service --watch"
)]
pub struct Args {
    /// Only this stack's services.
    #[arg(long, value_name = "STACK")]
    pub stack: Option<String>,
    /// Only this service (NAME or CLUSTER/NAME).
    #[arg(long, value_name = "SERVICE")]
    pub service: Option<String>,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,
    /// Keep printing new decisions as the controller makes them, until interrupted.
    #[arg(short = 'w', long)]
    pub watch: bool,
}

/// One decision, as `-o json` prints it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
struct Event {
    /// Seconds since the epoch, on the controller's clock.
    at: u64,
    stack: String,
    cluster: String,
    service: String,
    kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    label: Option<String>,
    reason: String,
}

/// Runs `tug events`.
///
/// # Errors
/// An unknown stack or service (exit 1), or the store unreadable (exit 2).
pub async fn run(args: Args, context: &Context) -> Result<ExitCode, CliError> {
    let mut shown: Option<Event> = None;
    loop {
        let (events, now) = read(&args, context).await?;
        // Watching: only what came after the last one printed.
        let fresh: Vec<&Event> = match &shown {
            // After the last one printed; if a service's bounded memory has let it go since,
            // everything newer than it.
            Some(last) => match events.iter().position(|e| e == last) {
                Some(at) => events.iter().skip(at + 1).collect(),
                None => events.iter().filter(|e| e.at > last.at).collect(),
            },
            None => events.iter().collect(),
        };
        if shown.is_none() || !fresh.is_empty() {
            emit(&print(&fresh, args.output, now, shown.is_some())?)?;
        }
        if let Some(last) = events.last() {
            shown = Some(last.clone());
        }
        if !args.watch {
            return Ok(ExitCode::SUCCESS);
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

/// Every decision of the chosen services, oldest first, and the time to measure ages against.
async fn read(
    args: &Args,
    context: &Context,
) -> Result<(Vec<Event>, std::time::SystemTime), CliError> {
    let store = context.store()?;
    let stacks = store.list().await?;
    if let Some(name) = &args.stack
        && !stacks.iter().any(|s| s.name() == name)
    {
        return Err(CliError::Rejected(format!(
            "stack `{name}` is not in the store; see `tug get stacks`"
        )));
    }
    let wanted = |cluster: &str, service: &str| {
        args.service
            .as_deref()
            .is_none_or(|s| match s.split_once('/') {
                Some((c, n)) => c == cluster && n == service,
                None => s == service,
            })
    };
    let mut events = Vec::new();
    let mut latest = 0;
    let mut found_service = false;
    for stack in stacks
        .iter()
        .filter(|s| args.stack.as_deref().is_none_or(|n| n == s.name()))
    {
        let memories = store.load_memory(stack.name()).await?;
        let cluster = &stack.spec().cluster;
        if let Some(status) = store.load_status(stack.name()).await? {
            latest = latest.max(status.updated_at);
            // The capacity's decisions, under its group (not when one service is asked for).
            if args.service.is_none()
                && let Some(capacity) = status.capacity
            {
                events.extend(capacity.decisions.into_iter().map(|d| Event {
                    at: d.at,
                    stack: stack.name().to_owned(),
                    cluster: cluster.clone(),
                    service: format!("group/{}", capacity.auto_scaling_group),
                    kind: format!("{:?}", d.kind),
                    label: d.field,
                    reason: d.reason,
                }));
            }
        }
        for spec in &stack.spec().services {
            if !wanted(cluster, &spec.name) {
                continue;
            }
            found_service = true;
            let Some(memory) = memories.get(&spec.name) else {
                continue;
            };
            events.extend(memory.decisions.iter().map(|d| Event {
                at: d.at,
                stack: stack.name().to_owned(),
                cluster: cluster.clone(),
                service: spec.name.clone(),
                kind: format!("{:?}", d.kind),
                label: d.field.clone(),
                reason: d.reason.clone(),
            }));
        }
    }
    if let Some(service) = &args.service
        && !found_service
    {
        return Err(CliError::Rejected(format!(
            "service `{service}` is not in any stack of the store{}; see `tug get services`",
            args.stack
                .as_deref()
                .map(|s| format!(" `{s}`"))
                .unwrap_or_default()
        )));
    }
    events.sort_by(|a, b| (a.at, &a.stack, &a.service).cmp(&(b.at, &b.stack, &b.service)));
    Ok((events, status_now(latest, context.now)))
}

/// The events as `format` prints them; `more` for the ones a watch adds (no header again).
fn print(
    events: &[&Event],
    format: OutputFormat,
    now: std::time::SystemTime,
    more: bool,
) -> Result<String, CliError> {
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct List<'a> {
        api_version: &'static str,
        kind: &'static str,
        items: &'a [&'a Event],
    }
    let list = List {
        api_version: crate::manifest::spec::API_VERSION,
        kind: "EventList",
        items: events,
    };
    Ok(match format {
        OutputFormat::Json => json(&list)?,
        OutputFormat::Yaml => yaml(&list)?,
        OutputFormat::Table if events.is_empty() && !more => {
            "No decisions yet: the controller has not acted on these services.\n".to_owned()
        }
        OutputFormat::Table => {
            let rows: Vec<Vec<String>> = events
                .iter()
                .map(|e| {
                    vec![
                        ago(e.at, now),
                        e.stack.clone(),
                        e.service.clone(),
                        e.kind.clone(),
                        e.reason.clone(),
                    ]
                })
                .collect();
            let text = table(&["AGE", "STACK", "SERVICE", "KIND", "REASON"], &rows);
            if more {
                // The header was printed with the first batch.
                text.lines().skip(1).map(|l| format!("{l}\n")).collect()
            } else {
                text
            }
        }
    })
}

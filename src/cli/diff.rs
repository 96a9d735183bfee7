//! `tug diff -f PATH`: what `apply` would change, as a unified diff of the effective specs against
//! the store, then against live state: the calls the controller would make if the manifest were
//! applied, planned (by the same pure planner the controller runs) against the service as the
//! controller last reported it in the stack's status. Exit 0 when nothing would change, 1 when
//! something would, 2+ on error (kubectl's convention).
//!
//! Live state comes from the status the controller writes after each reconcile that changes
//! something, so it is as fresh as the controller's last pass over the stack; with no status (no
//! controller has reported on the stack yet) only the store is compared, and a note says so.

use std::process::ExitCode;

use similar::TextDiff;

use super::output::{emit, status_now, when, yaml};
use super::{CliError, Context, read_manifests};
use std::collections::BTreeMap;

use crate::cloud::sim::world::World;
use crate::model::aws::ServiceDescription;
use crate::model::{DecisionKind, ObservedService, ServiceMemory, Stack, StackStatus};
use crate::plan::render::short;
use crate::plan::{Action, DesiredService, plan_service};
use crate::simulate::preview;
use crate::store::Store;

/// Arguments of `tug diff`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Manifest files or directories; `-` reads standard input.
    #[arg(short = 'f', long = "filename", value_name = "PATH", required = true, num_args = 1..)]
    pub files: Vec<String>,
    /// World file whose task timings the rollout estimates use (default: the simulator's own).
    #[arg(long, value_name = "WORLD.yaml")]
    pub world: Option<String>,
}

/// Runs `tug diff`.
///
/// Exit 1 means changes and nothing else, so scripts can gate on it: invalid manifests and every
/// other error exit 2.
///
/// # Errors
/// [`CliError::Failed`] (exit 2) for anything that went wrong; bad manifests are reported here,
/// one line each, and exit 2.
pub async fn run(args: Args, context: &Context) -> Result<ExitCode, CliError> {
    match compare(args, context).await {
        Err(CliError::Invalid(diagnostics)) => {
            for d in &diagnostics {
                eprintln!("{d}");
            }
            eprintln!("error: {}", CliError::Invalid(diagnostics));
            Ok(ExitCode::from(2))
        }
        Err(CliError::Rejected(message)) => Err(CliError::Failed(message)),
        other => other,
    }
}

async fn compare(args: Args, context: &Context) -> Result<ExitCode, CliError> {
    let stacks = read_manifests(&args.files)?;
    let world = match &args.world {
        None => World::default(),
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| CliError::Failed(format!("cannot read {path}: {e}")))?;
            World::parse(&text).map_err(|e| CliError::Failed(format!("{path}: {e}")))?
        }
    };
    let store = context.store()?;
    let mut text = String::new();
    let mut previews = String::new();
    for stack in &stacks {
        let stored = store.get(stack.name()).await?;
        let old = match &stored {
            Some(s) => comparable(s)?,
            None => String::new(),
        };
        let new = comparable(stack)?;
        if old == new {
            continue;
        }
        let from = match &stored {
            Some(s) => format!(
                "stack/{} (store, generation {})",
                s.name(),
                s.manifest().metadata.generation.unwrap_or(1)
            ),
            None => "/dev/null".to_owned(),
        };
        let to = format!("stack/{} (manifest)", stack.name());
        if let Some(stored) = stored.clone() {
            let status = store.load_status(stack.name()).await?;
            let (stack, world) = (stack.clone(), world.clone());
            // The simulator runs its own runtime: off this one's threads.
            let text = tokio::task::spawn_blocking(move || {
                rollout_previews(&stored, &stack, status.as_ref(), &world)
            })
            .await
            .map_err(|e| CliError::Failed(format!("the rollout estimate failed: {e}")))??;
            previews.push_str(&text);
        }
        let diff = TextDiff::from_lines(&old, &new);
        text.push_str(
            &diff
                .unified_diff()
                .context_radius(3)
                .header(&from, &to)
                .to_string(),
        );
    }
    for stack in &stacks {
        let Some(status) = store.load_status(stack.name()).await? else {
            eprintln!(
                "note: stack/{}: no controller has reported live state yet; compared with the store only",
                stack.name()
            );
            continue;
        };
        let memories = store.load_memory(stack.name()).await?;
        text.push_str(&live_changes(stack, &status, &memories, context.now));
    }
    text.push_str(&previews);
    let changed = !text.is_empty();
    emit(&text)?;
    Ok(if changed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// How each service whose task definition changes would roll out: strategy, waves or traffic
/// steps, peak task count, and the time to verified good measured in the simulator.
fn rollout_previews(
    stored: &Stack,
    stack: &Stack,
    status: Option<&StackStatus>,
    world: &World,
) -> Result<String, CliError> {
    let before: BTreeMap<String, String> = DesiredService::of_stack(stored)
        .into_iter()
        .map(|d| (d.spec.name.clone(), d.digest))
        .collect();
    let mut lines = Vec::new();
    for desired in DesiredService::of_stack(stack) {
        let name = &desired.spec.name;
        if before.get(name).is_none_or(|d| *d == desired.digest) {
            continue;
        }
        let live = status
            .and_then(|s| s.services.get(name))
            .and_then(|s| s.live.as_ref())
            .map(|l| l.desired_count);
        let tasks = live.unwrap_or_else(|| match &desired.spec.scaling {
            Some(s) => desired.spec.desired_count.clamp(s.min_tasks, s.max_tasks),
            None => desired.spec.desired_count,
        });
        let preview = preview::preview(stored, stack, name, tasks, world)
            .map_err(|e| CliError::Failed(format!("cannot simulate the rollout of {name}: {e}")))?;
        let Some(p) = preview else {
            continue;
        };
        lines.push(format!(
            "  {name}: {}, {} task{}: {}",
            p.strategy,
            p.tasks,
            if p.tasks == 1 { "" } else { "s" },
            p.shape
        ));
        let extra = p.peak_tasks.saturating_sub(p.tasks);
        let time = match (p.seconds, &p.outcome) {
            (Some(s), _) => format!("about {} to verified good in the simulator", duration(s)),
            (None, Some(why)) => why.clone(),
            (None, None) => "no estimate".to_owned(),
        };
        let capacity = if extra == 0 {
            "no capacity beyond its own".to_owned()
        } else {
            format!("{extra} more than it runs, capacity the rollout needs")
        };
        lines.push(format!(
            "  {name}: peak {} tasks: {capacity}; {time}",
            p.peak_tasks
        ));
        lines.push(format!("  {name}: assumed: {}", p.assumptions));
    }
    if lines.is_empty() {
        return Ok(String::new());
    }
    Ok(format!(
        "rollout of stack/{}:\n{}\n",
        stack.name(),
        lines.join("\n")
    ))
}

/// `9 min 12 s`, `45 s`, `1 h 3 min`.
fn duration(seconds: u64) -> String {
    match seconds {
        s if s < 60 => format!("{s} s"),
        s if s < 3600 && s % 60 == 0 => format!("{} min", s / 60),
        s if s < 3600 => format!("{} min {} s", s / 60, s % 60),
        s => format!("{} h {} min", s / 3600, s % 3600 / 60),
    }
}

/// The YAML of a stack without store bookkeeping, so only real changes show.
fn comparable(stack: &Stack) -> Result<String, CliError> {
    let plain = stack.clone().with_bookkeeping(None, None, None);
    yaml(plain.manifest())
}

/// What the controller would do to bring the live services to `stack`, in words; empty when
/// nothing. Scaling is left out: it depends on metrics, not on the manifest.
fn live_changes(
    stack: &Stack,
    status: &StackStatus,
    memories: &BTreeMap<String, ServiceMemory>,
    wall: std::time::SystemTime,
) -> String {
    let mut lines = Vec::new();
    for desired in DesiredService::of_stack(stack) {
        let name = &desired.spec.name;
        let Some(seen) = status.services.get(name) else {
            lines.push(format!(
                "  {name}: not reported by the controller yet (new to the stack?)"
            ));
            continue;
        };
        let observed = ObservedService {
            service: seen.live.clone(),
            health_checks: seen.health_checks.clone(),
            ..ObservedService::default()
        };
        let memory = memories.get(name).cloned().unwrap_or_default();
        let plan = plan_service(&desired, &observed, &memory, status.updated_at);
        for action in &plan.actions {
            lines.push(format!(
                "  {name}: {}",
                describe(action, seen.live.as_ref())
            ));
        }
        for hold in plan.memory.decisions[memory.decisions.len().min(plan.memory.decisions.len())..]
            .iter()
            .filter(|d| d.kind == DecisionKind::Hold)
        {
            lines.push(format!("  {name}: hold: {}", hold.reason));
        }
    }
    if lines.is_empty() {
        return String::new();
    }
    format!(
        "live stack/{} (as the controller reported it {}, generation {}):\n{}\n",
        stack.name(),
        when(status.updated_at, status_now(status.updated_at, wall)),
        status.observed_generation,
        lines.join("\n")
    )
}

/// One planned call, in words.
fn describe(action: &Action, live: Option<&ServiceDescription>) -> String {
    match action {
        Action::RegisterTaskDefinition {
            definition, digest, ..
        } => format!(
            "taskDefinition: would register a new revision of {} (digest {}) and roll it out",
            definition.family,
            short(digest)
        ),
        Action::CreateService(input) => format!(
            "would create the service with {} and {} task{}",
            input.task_definition,
            input.desired_count,
            if input.desired_count == 1 { "" } else { "s" }
        ),
        Action::UpdateService(update) => {
            let mut parts = Vec::new();
            if let Some(n) = update.desired_count {
                let was = live.map_or_else(|| "?".to_owned(), |l| l.desired_count.to_string());
                parts.push(format!("desiredCount {was} -> {n}"));
            }
            if let Some(td) = &update.task_definition {
                let was = live.map_or_else(|| "?".to_owned(), |l| l.task_definition.to_string());
                parts.push(format!("taskDefinition {was} -> {td} (a rollout)"));
            }
            if let Some(c) = &update.deployment_configuration {
                let was = live
                    .and_then(|l| l.deployment_configuration.as_ref())
                    .map_or_else(|| "?".to_owned(), |c| c.summary());
                parts.push(format!("deployment {was} -> {}", c.summary()));
            }
            if let Some(options) = &update.options {
                let fields = match live.and_then(|l| l.options.as_ref()) {
                    Some(seen) => options.drift(seen).join(", "),
                    None => "placement and service settings".to_owned(),
                };
                parts.push(format!("{fields} put back as the manifest says"));
            }
            format!("would update: {}", parts.join(", "))
        }
        Action::StopServiceDeployment { arn } => format!(
            "would stop the deployment {arn} with ROLLBACK (traffic back to the running tasks)"
        ),
        Action::ModifyDeregistrationDelay {
            target_group,
            seconds,
        } => format!(
            "target group {target_group}: would set its deregistration delay to {seconds} s"
        ),
        Action::ModifyTargetGroup {
            target_group,
            health,
        } => format!(
            "target group {target_group}: would restore its health check to {} every {} s ({}/{})",
            health.path,
            health.interval_seconds,
            health.healthy_threshold,
            health.unhealthy_threshold
        ),
    }
}

//! `tug rollout status|history SERVICE [--watch]`, from the controller's memory in the store.
//!
//! `status` exits 0 when the manifest's revision is deployed and verified good, 1 when its rollout
//! failed (rolled back, not retried until the manifest changes), 3 while it is still in progress
//! (with `--watch`, it waits for one of the other two).

use std::process::ExitCode;
use std::time::Duration;

use super::describe::find;
use super::output::{emit, table};
use super::{CliError, Context};
use crate::model::DecisionKind;
use crate::plan::render::{digest, render, short};
use crate::plan::rollout::{Condition, condition};

/// Arguments of `tug rollout`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// `status` or `history`.
    #[arg(value_enum)]
    pub action: Action,
    /// Service name (or CLUSTER/NAME).
    pub service: String,
    /// With `status`: wait until the rollout completes or fails.
    #[arg(long)]
    pub watch: bool,
}

/// What `tug rollout` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Action {
    /// Whether the manifest's revision is deployed and verified.
    Status,
    /// Revisions the controller registered, and what became of them.
    History,
}

/// Exit code while a rollout is still in progress.
const IN_PROGRESS: u8 = 3;

/// Runs `tug rollout`.
///
/// # Errors
/// Unknown service (exit 1), unreadable store (exit 2).
pub async fn run(args: Args, context: &Context) -> Result<ExitCode, CliError> {
    match args.action {
        Action::History => history(&args.service, context).await,
        Action::Status => loop {
            let (code, message) = status(&args.service, context).await?;
            if code != IN_PROGRESS || !args.watch {
                emit(&message)?;
                return Ok(ExitCode::from(code));
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        },
    }
}

async fn status(service: &str, context: &Context) -> Result<(u8, String), CliError> {
    let found = find(context, service).await?;
    let wanted = digest(&render(&found.spec, None));
    let memory = &found.memory;
    let reason_of = |kind: DecisionKind| {
        memory
            .decisions
            .iter()
            .rev()
            .find(|d| d.kind == kind)
            .map(|d| d.reason.clone())
            .unwrap_or_default()
    };
    match condition(&wanted, memory) {
        Condition::Degraded => {
            return Ok((
                1,
                format!(
                    "service {service}: the rollout of the manifest's revision failed and was rolled back: {}\n\
                     It will not be retried until the manifest changes.\n",
                    reason_of(DecisionKind::Rollback)
                ),
            ));
        }
        Condition::Ready => {
            let id = memory
                .verified_good
                .as_ref()
                .map(|g| g.id.to_string())
                .unwrap_or_default();
            return Ok((
                0,
                format!("service {service}: {id} successfully rolled out and verified\n"),
            ));
        }
        Condition::Pending | Condition::Progressing => {}
    }
    let detail = match &memory.rollout {
        Some(r) if r.completed_at.is_some() => {
            format!("{} is complete; verifying it stays healthy", r.target.id)
        }
        Some(r) => format!("rolling out {} since t={}", r.target.id, r.started_at),
        None if memory.decisions.is_empty() => "the controller has not acted on it yet".to_owned(),
        None => "waiting for the controller to start the rollout".to_owned(),
    };
    Ok((
        IN_PROGRESS,
        format!("service {service}: rollout in progress: {detail}\n"),
    ))
}

async fn history(service: &str, context: &Context) -> Result<ExitCode, CliError> {
    let found = find(context, service).await?;
    let memory = &found.memory;
    let current = digest(&render(&found.spec, None));
    let mut revisions: Vec<_> = memory.ledger.iter().collect();
    revisions.sort_by_key(|(_, id)| id.revision);
    if revisions.is_empty() {
        emit(&format!(
            "service {service}: no revisions registered by the controller yet\n"
        ))?;
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<Vec<String>> = revisions
        .iter()
        .map(|(digest, id)| {
            let mut notes = Vec::new();
            if memory
                .verified_good
                .as_ref()
                .is_some_and(|g| &g.digest == *digest)
            {
                notes.push("verified good");
            }
            if memory.failed_digests.contains(*digest) {
                notes.push("failed");
            }
            if memory
                .rollout
                .as_ref()
                .is_some_and(|r| &r.target.digest == *digest)
            {
                notes.push("rolling out");
            }
            if **digest == current {
                notes.push("the manifest's");
            }
            vec![
                id.revision.to_string(),
                id.to_string(),
                short(digest).to_owned(),
                notes.join(", "),
            ]
        })
        .collect();
    emit(&table(
        &["REVISION", "TASK DEFINITION", "DIGEST", "STATUS"],
        &rows,
    ))?;
    Ok(ExitCode::SUCCESS)
}

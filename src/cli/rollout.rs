//! `tug rollout status|history|undo SERVICE`, from the controller's memory in the store.
//!
//! `status` exits 0 when the manifest's revision is deployed and verified good, 1 when its rollout
//! failed (rolled back, not retried until the manifest changes), 3 while it is still in progress
//! (with `--watch`, it waits for one of the other two; with `--timeout` too, it gives up after that
//! long with exit 1, the last status it saw printed).
//!
//! `undo` is kubectl's: it changes desired state. The service's task definition in the stored
//! stack is replaced by the one that produced an earlier revision (the previous one, or
//! `--to-revision N`), as a new generation; the controller then rolls it out like any change.
//! Each image whose digest the revision was seen running is put back by that digest
//! (`NAME@sha256:…`), not by its tag: a tag may name another image by now. The
//! stored stack then differs from the manifest file it came from, which `tug diff -f` shows; a
//! later `tug apply -f` of the unchanged file rolls forward again.

use std::process::ExitCode;
use std::time::Duration;

use super::describe::find;
use super::output::{emit, status_now, table, when};
use super::{CliError, Context};
use crate::model::image::{ImageDigests, describe_digests};
use crate::model::{DecisionKind, SOURCES_KEPT};
use crate::plan::render::{digest, pinned, render};
use crate::plan::rollout::{Condition, condition};
use crate::store::Store;

/// Arguments of `tug rollout`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// What to show or do.
    #[command(subcommand)]
    pub action: Action,
}

/// What `tug rollout` does.
#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// Whether the manifest's revision is deployed and verified (exit 0 yes, 1 failed, 3 not yet).
    #[command(
        after_help = "Examples:\n  tug rollout status web\n  tug rollout status web --watch --timeout 10m"
    )]
    Status(StatusArgs),
    /// Revisions the controller registered, and what became of them.
    #[command(after_help = "Example:\n  tug rollout history web")]
    History(ServiceArg),
    /// Put an earlier revision's task definition back into the stored stack.
    #[command(
        after_help = "Examples:\n  tug rollout undo web\n  tug rollout undo web --to-revision 3 --watch"
    )]
    Undo(UndoArgs),
}

/// The service a rollout command is about.
#[derive(Debug, clap::Args)]
pub struct ServiceArg {
    /// Service name (or CLUSTER/NAME).
    pub service: String,
}

/// Arguments of `tug rollout status`.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// Service name (or CLUSTER/NAME).
    pub service: String,
    /// Wait until the rollout completes or fails, printing each change.
    #[arg(short = 'w', long)]
    pub watch: bool,
    /// With --watch: give up after this long (e.g. 5m), exit 1.
    #[arg(long, value_parser = humantime::parse_duration, requires = "watch")]
    pub timeout: Option<Duration>,
}

/// Arguments of `tug rollout undo`.
#[derive(Debug, clap::Args)]
pub struct UndoArgs {
    /// Service name (or CLUSTER/NAME).
    pub service: String,
    /// The revision to go back to (a REVISION of `tug rollout history`).
    #[arg(long, value_name = "N")]
    pub to_revision: Option<u32>,
    /// Then wait until its rollout completes or fails.
    #[arg(short = 'w', long)]
    pub watch: bool,
}

/// Exit code while a rollout is still in progress.
const IN_PROGRESS: u8 = 3;

/// Runs `tug rollout`.
///
/// # Errors
/// Unknown service (exit 1), unreadable store (exit 2).
pub async fn run(args: Args, context: &Context) -> Result<ExitCode, CliError> {
    match args.action {
        Action::History(a) => history(&a.service, context).await,
        Action::Undo(a) => {
            undo(&a.service, a.to_revision, context).await?;
            if a.watch {
                watch(&a.service, None, context).await
            } else {
                Ok(ExitCode::SUCCESS)
            }
        }
        Action::Status(a) if a.watch => watch(&a.service, a.timeout, context).await,
        Action::Status(a) => {
            let (code, message) = status(&a.service, context).await?;
            emit(&message)?;
            Ok(ExitCode::from(code))
        }
    }
}

/// Prints the status whenever it changes, until the rollout completes or fails, or `timeout`
/// passes (exit 1, saying so after the last status seen).
async fn watch(
    service: &str,
    timeout: Option<Duration>,
    context: &Context,
) -> Result<ExitCode, CliError> {
    let deadline = timeout.map(|t| tokio::time::Instant::now() + t);
    let mut last = String::new();
    loop {
        let (code, message) = status(service, context).await?;
        if message != last {
            emit(&message)?;
            last = message;
        }
        if code != IN_PROGRESS {
            return Ok(ExitCode::from(code));
        }
        if let (Some(deadline), Some(timeout)) = (deadline, timeout)
            && tokio::time::Instant::now() >= deadline
        {
            return Err(CliError::Rejected(format!(
                "timed out after {} waiting for the rollout of {service}; the last status is above",
                humantime::format_duration(timeout)
            )));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Replaces the service's task definition in the stored stack with an earlier revision's.
async fn undo(service: &str, to: Option<u32>, context: &Context) -> Result<(), CliError> {
    let found = find(context, service).await?;
    let memory = &found.memory;
    let current = digest(&render(&found.spec, None));
    let current_revision = memory
        .ledger
        .get(&current)
        .map_or(u32::MAX, |id| id.revision);
    let target = match to {
        Some(n) => memory
            .ledger
            .iter()
            .find(|(_, id)| id.revision == n)
            .ok_or_else(|| {
                CliError::Rejected(format!(
                    "service {service}: revision {n} was not registered by the controller; see `tug rollout history {service}`"
                ))
            })?,
        // The previous revision: the verified-good one when the manifest's is not (a failed or
        // unfinished rollout), otherwise the newest older revision that did not fail.
        None => match &memory.verified_good {
            Some(good) if good.digest != current => (&good.digest, &good.id),
            _ => memory
                .ledger
                .iter()
                .filter(|(d, id)| id.revision < current_revision && !memory.failed_digests.contains(*d))
                .max_by_key(|(_, id)| id.revision)
                .ok_or_else(|| {
                    CliError::Rejected(format!(
                        "service {service}: no earlier revision to go back to; see `tug rollout history {service}`"
                    ))
                })?,
        },
    };
    let (target_digest, target_id) = target;
    if *target_digest == current {
        return Err(CliError::Rejected(format!(
            "service {service}: {target_id} is already the stored manifest's revision"
        )));
    }
    if memory.failed_digests.contains(target_digest) {
        return Err(CliError::Rejected(format!(
            "service {service}: {target_id} failed its rollout and was rolled back; choose another revision"
        )));
    }
    let source = memory.sources.get(target_digest).ok_or_else(|| {
        CliError::Rejected(format!(
            "service {service}: the definition behind {target_id} is no longer kept (the newest {SOURCES_KEPT} are)"
        ))
    })?;
    // The images it ran, by digest: a tag may name something else by now.
    let images = ran_with(memory, target_digest);
    let pinned_source = pinned(source, &images).map(std::sync::Arc::new);
    let source = pinned_source.as_ref().unwrap_or(source);
    let mut manifest = found.stack.manifest().clone();
    let Some(spec) = manifest
        .spec
        .services
        .iter_mut()
        .find(|s| s.name == found.spec.name)
    else {
        return Err(CliError::Failed(format!(
            "service {service} vanished from its stack"
        )));
    };
    spec.task_definition = source.clone();
    let restored = crate::manifest::validate(&manifest).map_err(|issues| {
        let first = issues
            .first()
            .map(|i| format!("{}: {}", i.path, i.message))
            .unwrap_or_default();
        CliError::Rejected(format!(
            "service {service}: {target_id}'s definition no longer fits the stack ({first}); edit the manifest instead"
        ))
    })?;
    let renders = restored
        .spec()
        .services
        .iter()
        .find(|s| s.name == found.spec.name)
        .map(|s| digest(&render(s, None)));
    let expected = if pinned_source.is_some() {
        let mut spec = found.spec.clone();
        spec.task_definition = source.clone();
        digest(&render(&spec, None))
    } else {
        target_digest.clone()
    };
    if expected == current {
        return Err(CliError::Rejected(format!(
            "service {service}: {target_id} (with the digests it ran) is already the stored manifest's revision"
        )));
    }
    if renders.as_deref() != Some(expected.as_str()) {
        return Err(CliError::Rejected(format!(
            "service {service}: the service changed since {target_id} (launch type or network mode), so its definition no longer renders the same; edit the manifest instead"
        )));
    }
    // Written only if the stack is still at the generation it was read at (a compare-and-swap in
    // the store): a concurrent apply is never undone.
    let store = context.store()?;
    let read_at = found.stack.manifest().metadata.generation.unwrap_or(1);
    let restored =
        restored.with_change_cause(&format!("tug rollout undo {service}: back to {target_id}"));
    let applied = match store.replace_stack(restored, read_at, context.now).await {
        Ok(applied) => vec![applied],
        Err(crate::store::StoreError::Changed { name, .. }) => {
            return Err(CliError::Failed(format!(
                "stack/{name} changed while the undo was prepared; run it again"
            )));
        }
        Err(e) => return Err(e.into()),
    };
    let generation = applied
        .first()
        .and_then(|a| a.stack.manifest().metadata.generation)
        .unwrap_or(1);
    let pins = if images.is_empty() {
        "; no image digests are known for it, so its tags are deployed as they stand now".to_owned()
    } else if pinned_source.is_some() {
        format!(
            ", images pinned to the digests it ran: {}",
            describe_digests(&images)
        )
    } else {
        String::new()
    };
    emit(&format!(
        "service/{service} rolled back to {target_id} (stack/{} configured, generation {generation}){pins}\n",
        found.stack.name()
    ))?;
    eprintln!(
        "note: the stored stack now differs from the manifest file it was applied from; `tug apply -f` of that file rolls forward again"
    );
    Ok(())
}

/// The image digests the revision of `digest` ran: the verified ones for the verified-good
/// revision, otherwise the ones last seen on its tasks.
fn ran_with(memory: &crate::model::ServiceMemory, digest: &str) -> ImageDigests {
    memory
        .verified_good
        .as_ref()
        .filter(|g| g.digest == digest && !g.images.is_empty())
        .map(|g| g.images.clone())
        .or_else(|| memory.images.get(digest).cloned())
        .unwrap_or_default()
}

async fn status(service: &str, context: &Context) -> Result<(u8, String), CliError> {
    let found = find(context, service).await?;
    let wanted = digest(&render(&found.spec, None));
    let memory = &found.memory;
    let now = status_now(
        found.status.as_ref().map_or(0, |(_, at, _)| *at),
        context.now,
    );
    let last = |kinds: &[DecisionKind]| {
        memory
            .decisions
            .iter()
            .rev()
            .find(|d| kinds.contains(&d.kind))
    };
    match condition(&wanted, memory) {
        Condition::Degraded => {
            let message = match last(&[DecisionKind::Rollback, DecisionKind::Hold]) {
                Some(d) if d.kind == DecisionKind::Rollback => format!(
                    "service {service}: the rollout of the manifest's revision failed and was rolled back: {}\n",
                    d.reason
                ),
                Some(d) => format!(
                    "service {service}: the rollout of the manifest's revision failed: {}\n",
                    d.reason
                ),
                None => {
                    format!("service {service}: the rollout of the manifest's revision failed\n")
                }
            };
            return Ok((
                1,
                format!("{message}It will not be retried until the manifest changes.\n"),
            ));
        }
        Condition::Ready => {
            // Verified in memory is not enough: the service must be seen running it.
            let good = memory.verified_good.as_ref();
            let live = found.status.as_ref().and_then(|(_, _, s)| s.live.as_ref());
            match (good, live) {
                (Some(g), Some(l)) if l.task_definition == g.id => {
                    return Ok((
                        0,
                        format!(
                            "service {service}: {} successfully rolled out and verified\n",
                            g.id
                        ),
                    ));
                }
                (Some(g), Some(l)) => {
                    return Ok((
                        IN_PROGRESS,
                        format!(
                            "service {service}: rollout in progress: {} was verified, but the service is seen running {}\n",
                            g.id, l.task_definition
                        ),
                    ));
                }
                _ => {
                    return Ok((
                        IN_PROGRESS,
                        format!(
                            "service {service}: rollout in progress: the controller has not seen the service running its verified revision\n"
                        ),
                    ));
                }
            }
        }
        Condition::Pending | Condition::Progressing => {}
    }
    let detail = match &memory.rollout {
        Some(r) if r.completed_at.is_some() => {
            format!("{} is complete; verifying it stays healthy", r.target.id)
        }
        Some(r) => format!(
            "rolling out {} since {}",
            r.target.id,
            when(r.started_at, now)
        ),
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
                notes.push("current");
            }
            let images = ran_with(memory, digest);
            // The image references the revision was registered from (kept for the newest ones).
            let image = memory.sources.get(*digest).map_or_else(
                || "-".to_owned(),
                |source| {
                    source
                        .containers
                        .iter()
                        .map(|c| c.image.as_str())
                        .collect::<Vec<_>>()
                        .join(",")
                },
            );
            vec![
                id.revision.to_string(),
                id.to_string(),
                image,
                if images.is_empty() {
                    "-".to_owned()
                } else {
                    describe_digests(&images)
                },
                if notes.is_empty() {
                    "-".to_owned()
                } else {
                    notes.join(", ")
                },
                memory
                    .causes
                    .get(*digest)
                    .cloned()
                    .unwrap_or_else(|| "-".to_owned()),
            ]
        })
        .collect();
    emit(&table(
        &[
            "REVISION",
            "TASK DEFINITION",
            "IMAGE",
            "DIGESTS",
            "STATUS",
            "CHANGE-CAUSE",
        ],
        &rows,
    ))?;
    Ok(ExitCode::SUCCESS)
}

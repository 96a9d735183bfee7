//! `tug delete -f PATH` / `tug delete stack NAME...`: remove stacks from the store, all or none.
//! The controller then scales their services to 0, and deletes them when the stack has
//! `spec.prune: true`; the pending work is recorded in the store with the deletion, so it is done
//! even if no controller runs at the time of the delete.

use std::process::ExitCode;

use super::output::emit;
use super::{CliError, Context, read_manifests};
use crate::store::Store;

/// Arguments of `tug delete`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Delete the stacks these manifests define.
    #[arg(short = 'f', long = "filename", value_name = "PATH", num_args = 1.., conflicts_with = "kind")]
    pub files: Vec<String>,
    /// `stack` (or `stacks`), followed by names.
    #[arg(value_name = "TYPE")]
    pub kind: Option<String>,
    /// Stack names.
    #[arg(value_name = "NAME")]
    pub names: Vec<String>,
    /// Check what would be deleted, but write nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// Runs `tug delete`.
///
/// # Errors
/// [`CliError::Rejected`] when a stack is not in the store (nothing is deleted then).
pub async fn run(args: Args, context: &Context) -> Result<ExitCode, CliError> {
    let names: Vec<String> = if !args.files.is_empty() {
        read_manifests(&args.files)?
            .iter()
            .map(|s| s.name().to_owned())
            .collect()
    } else {
        match args.kind.as_deref() {
            Some("stack" | "stacks") if args.names.is_empty() => {
                return Err(CliError::Rejected(
                    "name the stacks to delete: `tug delete stack NAME...` (see `tug get stacks`)"
                        .to_owned(),
                ));
            }
            Some("stack" | "stacks") => args.names.clone(),
            // `tug delete app`: a name where the type goes.
            Some(other) if args.names.is_empty() => {
                return Err(CliError::Rejected(format!(
                    "`tug delete` takes a type, then names: to delete the stack `{other}`, run `tug delete stack {other}` (or `tug delete -f FILE` for the stacks a manifest defines)"
                )));
            }
            Some(other) => {
                return Err(CliError::Rejected(format!(
                    "cannot delete `{other}`: the type must be `stack`, as in `tug delete stack NAME`{}",
                    crate::manifest::suggest::closest(other, ["stack", "stacks"])
                        .map(|s| format!(" (did you mean `{s}`?)"))
                        .unwrap_or_default()
                )));
            }
            None => {
                return Err(CliError::Rejected(
                    "nothing to delete: use `tug delete -f PATH` or `tug delete stack NAME`"
                        .to_owned(),
                ));
            }
        }
    };
    let removed = context
        .store()?
        .delete(&names, context.now, args.dry_run)
        .await?;
    let suffix = if args.dry_run { " (dry run)" } else { "" };
    let text: String = removed
        .iter()
        .map(|s| format!("stack/{} deleted{suffix}\n", s.name()))
        .collect();
    for s in &removed {
        let count = s.spec().services.len();
        let (noun, them) = if count == 1 {
            ("service", "it")
        } else {
            ("services", "them")
        };
        let then = if s.spec().prune {
            format!("scales {them} to 0, then deletes {them} (prune: true)")
        } else {
            format!("scales {them} to 0 and leaves {them} in place (prune: false)")
        };
        eprintln!(
            "note: stack/{} has {count} {noun}: the controller {then}",
            s.name()
        );
    }
    // The delete is committed: a failure to print it is a warning, not a failure.
    if let Err(e) = emit(&text) {
        eprintln!("warning: the delete is done, but printing it failed: {e}");
    }
    Ok(ExitCode::SUCCESS)
}

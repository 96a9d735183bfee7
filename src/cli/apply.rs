//! `tug apply -f PATH [--dry-run] [-o yaml|json]`: validate, then store every stack at once.

use std::process::ExitCode;

use super::output::{OutputFormat, emit, stacks_json, stacks_yaml};
use super::{CliError, Context, read_manifests};
use crate::store::Store;

/// Arguments of `tug apply`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Manifest files or directories; `-` reads standard input.
    #[arg(short = 'f', long = "filename", value_name = "PATH", required = true, num_args = 1..)]
    pub files: Vec<String>,
    /// Validate and compute the result, but write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the effective stacks (defaults filled in) instead of one line per stack.
    #[arg(short = 'o', long = "output", value_name = "FORMAT")]
    pub output: Option<OutputFormat>,
    /// Why: recorded as the stacks' change cause, shown by `tug rollout history` (CHANGE-CAUSE).
    #[arg(short = 'm', long = "reason", value_name = "TEXT")]
    pub reason: Option<String>,
}

/// Runs `tug apply`.
///
/// # Errors
/// [`CliError::Invalid`] for bad manifests (nothing written), [`CliError::Rejected`] for a conflict
/// with another stack, [`CliError::Failed`] when the store cannot be used.
pub async fn run(args: Args, context: &Context) -> Result<ExitCode, CliError> {
    let mut stacks = read_manifests(&args.files)?;
    if let Some(reason) = args
        .reason
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty())
    {
        stacks = stacks
            .into_iter()
            .map(|s| s.with_change_cause(reason))
            .collect();
    }
    let store = context.store()?;
    let applied = store.apply(stacks, context.now, args.dry_run).await?;
    let stacks: Vec<_> = applied.iter().map(|a| a.stack.clone()).collect();
    let text = match args.output {
        Some(OutputFormat::Yaml) => stacks_yaml(&stacks)?,
        Some(OutputFormat::Json) => stacks_json(&stacks)?,
        Some(OutputFormat::Table) | None => {
            let suffix = if args.dry_run { " (dry run)" } else { "" };
            applied
                .iter()
                .map(|a| format!("stack/{} {}{suffix}\n", a.stack.name(), a.outcome.as_str()))
                .collect()
        }
    };
    emit(&text)?;
    Ok(ExitCode::SUCCESS)
}

//! `tug diff -f PATH`: what `apply` would change, as a unified diff of the effective specs.
//! Exit 0 when nothing would change, 1 when something would, 2+ on error (kubectl's convention).

use std::process::ExitCode;

use similar::TextDiff;

use super::output::{emit, yaml};
use super::{CliError, Context, read_manifests};
use crate::model::Stack;
use crate::store::Store;

/// Arguments of `tug diff`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Manifest files or directories; `-` reads standard input.
    #[arg(short = 'f', long = "filename", value_name = "PATH", required = true, num_args = 1..)]
    pub files: Vec<String>,
}

/// Runs `tug diff`.
///
/// # Errors
/// [`CliError::Invalid`] for bad manifests (exit 1, as kubectl), [`CliError::Failed`] when the store
/// cannot be read. Note that kubectl, too, shares exit 1 between "changes" and some errors; the
/// messages on standard error tell them apart.
pub async fn run(args: Args, context: &Context) -> Result<ExitCode, CliError> {
    let stacks = read_manifests(&args.files)?;
    let store = context.store()?;
    let mut text = String::new();
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
        let diff = TextDiff::from_lines(&old, &new);
        text.push_str(
            &diff
                .unified_diff()
                .context_radius(3)
                .header(&from, &to)
                .to_string(),
        );
    }
    let changed = !text.is_empty();
    emit(&text)?;
    Ok(if changed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// The YAML of a stack without store bookkeeping, so only real changes show.
fn comparable(stack: &Stack) -> Result<String, CliError> {
    let plain = stack.clone().with_bookkeeping(None, None, None);
    yaml(plain.manifest())
}

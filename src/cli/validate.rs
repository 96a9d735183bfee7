//! `tug validate -f PATH...`: parse and check; print every problem; exit 0 valid, 1 invalid.

use std::process::ExitCode;

use super::output::emit;
use super::{CliError, read_manifests};

/// Arguments of `tug validate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Manifest files or directories; `-` reads standard input.
    #[arg(short = 'f', long = "filename", value_name = "PATH", required = true, num_args = 1..)]
    pub files: Vec<String>,
}

/// Runs `tug validate`.
///
/// # Errors
/// [`CliError::Invalid`] with every problem found.
pub fn run(args: Args) -> Result<ExitCode, CliError> {
    let stacks = read_manifests(&args.files)?;
    let services: usize = stacks.iter().map(|s| s.spec().services.len()).sum();
    emit(&format!(
        "{} stack{} valid ({} service{})\n",
        stacks.len(),
        if stacks.len() == 1 { "" } else { "s" },
        services,
        if services == 1 { "" } else { "s" }
    ))?;
    Ok(ExitCode::SUCCESS)
}

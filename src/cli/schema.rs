//! `tug schema`: the JSON Schema of the manifest, for editors (also committed under `manifests/`).

use std::process::ExitCode;

use super::CliError;
use super::output::{emit, json};

/// Runs `tug schema`.
///
/// # Errors
/// Only if standard output cannot be written.
pub fn run() -> Result<ExitCode, CliError> {
    emit(&json(&crate::manifest::schema::stack_schema())?)?;
    Ok(ExitCode::SUCCESS)
}

//! `tug version [-o json|yaml]`: the version, the git commit and build date it was built from, and
//! the AWS SDK crates it speaks to AWS with.

use std::process::ExitCode;

use serde::Serialize;

use super::CliError;
use super::output::{OutputFormat, emit, json, yaml};

/// Arguments of `tug version`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,
}

/// What `tug version -o json` prints.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Version {
    version: &'static str,
    git_commit: &'static str,
    build_date: &'static str,
    arch: &'static str,
    aws_sdk: Vec<Crate>,
}

/// One AWS SDK crate and its version.
#[derive(Debug, Serialize)]
struct Crate {
    name: &'static str,
    version: &'static str,
}

fn version() -> Version {
    Version {
        version: env!("CARGO_PKG_VERSION"),
        git_commit: env!("TUG_GIT_COMMIT"),
        build_date: env!("TUG_BUILD_DATE"),
        arch: std::env::consts::ARCH,
        aws_sdk: env!("TUG_AWS_SDKS")
            .split(',')
            .filter_map(|pair| pair.split_once('='))
            .map(|(name, version)| Crate { name, version })
            .collect(),
    }
}

/// Runs `tug version`.
///
/// # Errors
/// Output that cannot be written.
pub fn run(args: &Args) -> Result<ExitCode, CliError> {
    let v = version();
    let text = match args.output {
        OutputFormat::Json => json(&v)?,
        OutputFormat::Yaml => yaml(&v)?,
        OutputFormat::Table => {
            let mut text = format!(
                "tug {} (commit {}, built {}, {})\nAWS SDK:\n",
                v.version, v.git_commit, v.build_date, v.arch
            );
            for c in &v.aws_sdk {
                text.push_str(&format!("  {} {}\n", c.name, c.version));
            }
            text
        }
    };
    emit(&text)?;
    Ok(ExitCode::SUCCESS)
}

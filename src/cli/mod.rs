//! The `tug` command line: argument definitions and one module per verb.
//!
//! Exit codes (design.md §3): 0 success; 1 invalid input, not found, or (for `diff`) changes found;
//! 2 and above for everything else (store unreadable, usage errors from clap). Every failure prints
//! one or more lines to standard error; nothing panics on any input.

mod apply;
mod controller;
mod delete;
mod demo;
mod describe;
mod diff;
mod get;
mod output;
mod probe;
mod rollout;
mod schema;
mod simulate;
mod store;
mod validate;

use std::process::ExitCode;
use std::time::SystemTime;

use clap::{Parser, Subcommand};

use crate::manifest::{Diagnostic, load_sources, parse_sources_warning};
use crate::model::Stack;
use crate::store::{AnyStore, StoreError, StoreUri, default_store_uri};
pub use output::OutputFormat;

/// tug: keeps AWS ECS services where their manifests say they should be.
#[derive(Debug, Parser)]
#[command(name = "tug", version, about, propagate_version = true)]
pub struct Cli {
    /// Where desired state is kept: file://DIR (default: $XDG_STATE_HOME/tugboat or
    /// ~/.local/state/tugboat) or dynamodb://TABLE.
    #[arg(long, env = "TUG_STORE", global = true, value_name = "URI")]
    pub store: Option<StoreUri>,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The verbs.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check manifests; print every problem as FILE:LINE:COL: FIELD: message.
    Validate(validate::Args),
    /// Validate manifests, then write all their stacks to the store at once.
    Apply(apply::Args),
    /// Show what `apply` would change in the store (exit 0: none, 1: changes, 2: error).
    Diff(diff::Args),
    /// List stacks or services.
    Get(get::Args),
    /// Remove stacks from the store; the controller scales their services to 0 (deletes them under prune).
    Delete(delete::Args),
    /// Print the JSON Schema of the manifest, for editors.
    Schema,
    /// Run stacks against the simulated AWS in virtual time, under a load trace.
    Simulate(simulate::Args),
    /// The daemon: keep the store's stacks in place on the cloud; serve /metrics, /healthz, /readyz.
    Controller(controller::Args),
    /// The quick start: the controller and the example stacks on a simulated AWS, in fast time.
    Demo(demo::Args),
    /// Show a service: spec, the controller's memory, recent decisions with reasons.
    Describe(describe::Args),
    /// Rollout status (exit 0 done, 1 failed, 3 in progress), history and undo of a service.
    Rollout(rollout::Args),
    /// GET a local HTTP endpoint; exit 0 on 200 (the controller container's health check).
    Probe(probe::Args),
    /// Create a DynamoDB store (`init`), or copy one store into another (`copy`).
    Store(store::Args),
}

/// Why a command failed, and so its exit code.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Manifests failed to load or validate: exit 1, one line per problem.
    #[error("{} problem{} found", .0.len(), if .0.len() == 1 { "" } else { "s" })]
    Invalid(Vec<Diagnostic>),
    /// The input was understood but cannot be carried out (conflict, not found): exit 1.
    #[error("{0}")]
    Rejected(String),
    /// Anything else (store unreadable, output failed): exit 2.
    #[error("{0}")]
    Failed(String),
}

impl From<StoreError> for CliError {
    fn from(e: StoreError) -> Self {
        if e.is_user_error() {
            CliError::Rejected(e.to_string())
        } else {
            CliError::Failed(e.to_string())
        }
    }
}

impl From<std::io::Error> for CliError {
    fn from(e: std::io::Error) -> Self {
        CliError::Failed(format!("cannot write output: {e}"))
    }
}

/// What the environment provides to a command: the clock is read once, here at the edge.
pub struct Context {
    /// The store named by `--store` / `TUG_STORE`, or the default.
    pub store_uri: StoreUri,
    /// When the command started.
    pub now: SystemTime,
}

impl Context {
    fn store(&self) -> Result<AnyStore, CliError> {
        Ok(AnyStore::open(&self.store_uri)?)
    }
}

/// Runs one invocation of `tug` and returns its exit code.
pub fn run(cli: Cli) -> ExitCode {
    let store_uri = cli.store.clone().unwrap_or_else(|| {
        default_store_uri(
            std::env::var("XDG_STATE_HOME").ok().as_deref(),
            std::env::var("HOME").ok().as_deref(),
        )
    });
    #[allow(clippy::disallowed_methods)] // the one place the CLI reads the clock
    let context = Context {
        store_uri,
        now: SystemTime::now(),
    };
    // Simulations run on their own runtime, on a paused (virtual) clock.
    let command = match cli.command {
        Command::Simulate(args) => return finish(simulate::run(args, context.now)),
        Command::Demo(args) => return finish(demo::run(args)),
        other => other,
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    finish(runtime.block_on(dispatch(command, &context)))
}

/// The exit code of a command's result, with its error reported.
fn finish(result: Result<ExitCode, CliError>) -> ExitCode {
    match result {
        Ok(code) => code,
        Err(error) => report(&error),
    }
}

async fn dispatch(command: Command, context: &Context) -> Result<ExitCode, CliError> {
    match command {
        // Run by `run` on their own runtime before this one starts.
        Command::Simulate(_) | Command::Demo(_) => Err(CliError::Failed(
            "simulations run on their own runtime".to_owned(),
        )),
        Command::Validate(args) => validate::run(args),
        Command::Apply(args) => apply::run(args, context).await,
        Command::Diff(args) => diff::run(args, context).await,
        Command::Get(args) => get::run(args, context).await,
        Command::Delete(args) => delete::run(args, context).await,
        Command::Schema => schema::run(),
        Command::Controller(args) => controller::run(args, context).await,
        Command::Describe(args) => describe::run(args, context).await,
        Command::Rollout(args) => rollout::run(args, context).await,
        Command::Probe(args) => probe::run(&args),
        Command::Store(args) => store::run(args).await,
    }
}

fn report(error: &CliError) -> ExitCode {
    match error {
        CliError::Invalid(diagnostics) => {
            for d in diagnostics {
                eprintln!("{d}");
            }
            eprintln!("error: {error}");
            ExitCode::from(1)
        }
        CliError::Rejected(message) => {
            eprintln!("error: {message}");
            ExitCode::from(1)
        }
        CliError::Failed(message) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
    }
}

/// Loads and validates the `-f` paths: every stack, or every problem.
fn read_manifests(paths: &[String]) -> Result<Vec<Stack>, CliError> {
    let sources = load_sources(paths).map_err(CliError::Invalid)?;
    let (stacks, warnings) = parse_sources_warning(&sources);
    for warning in warnings {
        eprintln!("warning: {warning}");
    }
    stacks.map_err(CliError::Invalid)
}

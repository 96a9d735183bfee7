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
mod events;
mod get;
mod output;
mod probe;
mod rollout;
mod schema;
mod simulate;
mod store;
mod validate;
mod version;

use std::process::ExitCode;
use std::time::SystemTime;

use clap::{Parser, Subcommand};

use crate::manifest::{Diagnostic, load_sources, parse_sources_warning};
use crate::model::Stack;
use crate::store::{AnyStore, StoreError, StoreUri, default_store_uri};
pub use output::OutputFormat;

/// tug: keeps AWS ECS services where their manifests say they should be.
#[derive(Debug, Parser)]
#[command(
    name = "tug",
    version,
    about,
    propagate_version = true,
    max_term_width = 80
)]
pub struct Cli {
    /// Where desired state is kept: file://DIR or dynamodb://TABLE [default:
    /// file://$XDG_STATE_HOME/tugboat, else file://~/.local/state/tugboat].
    #[arg(long, env = "TUG_STORE", global = true, value_name = "URI")]
    pub store: Option<StoreUri>,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The verbs.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check manifests and print every problem with its location.
    ///
    /// Each problem is printed as FILE:LINE:COL: FIELD: message; exit 1 when there is one.
    Validate(validate::Args),
    /// Validate manifests and write all their stacks to the store at once.
    Apply(apply::Args),
    /// Show what apply would change (exit 0 none, 1 changes, 2 error).
    Diff(diff::Args),
    /// List stacks, services or controllers.
    Get(get::Args),
    /// Remove stacks; the controller scales their services to 0.
    ///
    /// Under `prune: true` the services are deleted once at 0.
    Delete(delete::Args),
    /// Print the manifest's JSON Schema, for editors.
    Schema,
    /// Run stacks on the simulated AWS in virtual time, under a load.
    Simulate(simulate::Args),
    /// Run the daemon that keeps the stored stacks in place.
    ///
    /// It serves /metrics, /healthz and /readyz.
    Controller(controller::Args),
    /// The quick start: the example stacks on a simulated AWS, fast.
    Demo(demo::Args),
    /// Show a stack or a service, with its recent decisions.
    Describe(describe::Args),
    /// Status, history and undo of a service's rollouts.
    Rollout(rollout::Args),
    /// The controller's decisions across services, newest last.
    Events(events::Args),
    /// GET a local endpoint; exit 0 on 200 (the container's health check).
    Probe(probe::Args),
    /// Create a DynamoDB store, or copy one store into another.
    Store(store::Args),
    /// Print the version, commit, build date and AWS SDK versions.
    Version(version::Args),
    /// Print a shell completion script: bash, zsh or fish.
    ///
    /// For bash: `source <(tug completion bash)`; for zsh: `tug completion zsh >
    /// "${fpath[1]}/_tug"`; for fish: `tug completion fish > ~/.config/fish/completions/tug.fish`.
    Completion(CompletionArgs),
}

/// Arguments of `tug completion`.
#[derive(Debug, clap::Args)]
pub struct CompletionArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: CompletionShell,
}

/// Shells `tug completion` writes for.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum CompletionShell {
    /// GNU bash.
    Bash,
    /// Z shell.
    Zsh,
    /// fish.
    Fish,
}

/// Writes the completion script of `shell` to standard output.
fn completion(args: &CompletionArgs) -> Result<ExitCode, CliError> {
    use clap::CommandFactory;
    use clap_complete::Shell;
    let shell = match args.shell {
        CompletionShell::Bash => Shell::Bash,
        CompletionShell::Zsh => Shell::Zsh,
        CompletionShell::Fish => Shell::Fish,
    };
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "tug", &mut script);
    output::emit(&String::from_utf8_lossy(&script))?;
    Ok(ExitCode::SUCCESS)
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

    /// `no store at file:///x (nothing applied yet)`, when the store is a directory that does not
    /// exist: what an empty answer means then.
    fn missing_store(&self) -> Option<String> {
        match &self.store_uri {
            StoreUri::File(dir) if !dir.exists() => Some(format!(
                "no store at {} (nothing applied yet)",
                self.store_uri
            )),
            _ => None,
        }
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
        Command::Events(args) => events::run(args, context).await,
        Command::Probe(args) => probe::run(&args),
        Command::Store(args) => store::run(args).await,
        Command::Version(args) => version::run(&args),
        Command::Completion(args) => completion(&args),
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

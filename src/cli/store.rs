//! `tug store init dynamodb://TABLE` and `tug store copy SRC DST`.
//!
//! `init` creates the DynamoDB table (on-demand capacity, encryption at rest, point-in-time
//! recovery) and waits until it is active. `copy` moves everything one store holds (stacks with
//! their generations, pending removals, the controller's memory and status) into an empty store:
//! memory and status first, then stacks and removals in one step (the commit point), then it reads
//! the copy back and compares. A copy that fails before its commit point takes back what it wrote.

use std::process::ExitCode;
use std::time::Duration;

use super::CliError;
use crate::store::{AnyStore, Everything, Store, StoreUri};

/// How long `init` waits for a new table to become active.
const ACTIVE_WAIT: Duration = Duration::from_secs(300);

/// Arguments of `tug store`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: StoreCommand,
}

/// What to do with a store.
#[derive(Debug, clap::Subcommand)]
pub enum StoreCommand {
    /// Create a DynamoDB table for the store (on-demand, encrypted, point-in-time recovery) and
    /// wait until it is active; an existing tugboat table is left as it is.
    Init {
        /// `dynamodb://TABLE`.
        uri: StoreUri,
    },
    /// Copy everything from one store into another, empty one (file:// to dynamodb:// and back),
    /// all or nothing, and verify the copy.
    Copy {
        /// The store to read.
        source: StoreUri,
        /// The store to write; it must be empty.
        destination: StoreUri,
    },
}

/// Runs `tug store`.
///
/// # Errors
/// [`CliError::Rejected`] for a URI that is not DynamoDB (`init`) or a destination that is not
/// empty (`copy`); [`CliError::Failed`] when the stores cannot be read or written.
pub async fn run(args: Args) -> Result<ExitCode, CliError> {
    match args.command {
        StoreCommand::Init { uri } => init(&uri).await,
        StoreCommand::Copy {
            source,
            destination,
        } => copy(&source, &destination).await,
    }
}

async fn init(uri: &StoreUri) -> Result<ExitCode, CliError> {
    let StoreUri::DynamoDb(_) = uri else {
        return Err(CliError::Rejected(format!(
            "{uri}: only a DynamoDB store needs creating (a file store is created by its first write); use dynamodb://TABLE"
        )));
    };
    let AnyStore::DynamoDb(store) = AnyStore::open(uri)? else {
        return Err(CliError::Failed(format!("{uri}: not a DynamoDB store")));
    };
    match store.create_table(ACTIVE_WAIT).await? {
        crate::store::dynamodb::Initialised::Created => println!(
            "{uri} created: on-demand capacity, encrypted at rest, point-in-time recovery on"
        ),
        crate::store::dynamodb::Initialised::Existing => {
            println!("{uri} already exists with tugboat's keys; point-in-time recovery on");
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn copy(source: &StoreUri, destination: &StoreUri) -> Result<ExitCode, CliError> {
    if source == destination {
        return Err(CliError::Rejected(format!(
            "{source} is both the source and the destination"
        )));
    }
    let from = AnyStore::open(source)?;
    let to = AnyStore::open(destination)?;
    let everything = Everything::read(&from).await?;
    if !Everything::read(&to).await?.is_empty() {
        return Err(CliError::Rejected(format!(
            "{destination} is not empty: copy into an empty store (nothing was written)"
        )));
    }
    if let Err(e) = write(&to, &everything).await {
        undo(&to, &everything).await;
        return Err(CliError::Failed(format!(
            "copying into {destination} failed, and what was written is taken back: {e}"
        )));
    }
    let copied = Everything::read(&to).await?;
    if copied != everything {
        return Err(CliError::Failed(format!(
            "{destination} does not read back the same as {source}: the copy is not to be trusted; compare them with `tug get stacks -o yaml --store URI`"
        )));
    }
    let memories: usize = everything.memory.values().map(|m| m.len()).sum();
    println!(
        "copied {} stack{}, {} removal{}, the memory of {memories} service{} and {} status{} from {source} to {destination}; verified",
        everything.stacks.len(),
        plural(everything.stacks.len()),
        everything.removals.len(),
        plural(everything.removals.len()),
        plural(memories),
        everything.status.len(),
        if everything.status.len() == 1 {
            ""
        } else {
            "es"
        },
    );
    Ok(ExitCode::SUCCESS)
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// Memory and status first; stacks and removals last, in one step.
async fn write(to: &AnyStore, everything: &Everything) -> Result<(), crate::store::StoreError> {
    for (stack, memories) in &everything.memory {
        for (service, memory) in memories {
            to.save_memory(stack, service, memory).await?;
        }
    }
    for (stack, status) in &everything.status {
        to.save_status(stack, Some(status)).await?;
    }
    to.import(everything.stacks.clone(), everything.removals.clone())
        .await
}

/// Takes back the memory and status a failed copy wrote (the commit point was not reached).
async fn undo(to: &AnyStore, everything: &Everything) {
    for (stack, memories) in &everything.memory {
        for service in memories.keys() {
            let _ = to.forget_memory(stack, service).await;
        }
    }
    for stack in everything.status.keys() {
        let _ = to.save_status(stack, None).await;
    }
}

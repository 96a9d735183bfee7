//! Where desired state lives: stacks with their generations, for the CLI and the controller.
//!
//! [`Store`] is the interface; [`FileStore`] (`file://DIR`, the embedded default) implements it on a
//! local directory. A DynamoDB implementation (`dynamodb://TABLE`) is reserved for high availability.
//! Beside the desired state: the controller's memory and status, and the services it still has to
//! take down (see [`pending_removals`] and [`file`]).

mod error;
pub mod file;
pub mod memory;
mod uri;

use std::collections::BTreeMap;
use std::future::Future;
use std::time::SystemTime;

pub use error::StoreError;
pub use file::FileStore;
pub use memory::MemoryStore;
pub use uri::{StoreUri, default_store_uri};

use crate::model::{Removal, ServiceKey, ServiceMemory, Stack, StackStatus};

/// What an apply did to one stack, as kubectl reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApplyOutcome {
    /// The stack was not in the store.
    Created,
    /// The stack's spec or labels changed: its generation went up.
    Configured,
    /// Nothing changed: generation and timestamps kept.
    Unchanged,
}

impl ApplyOutcome {
    /// The word `tug apply` prints.
    pub fn as_str(self) -> &'static str {
        match self {
            ApplyOutcome::Created => "created",
            ApplyOutcome::Configured => "configured",
            ApplyOutcome::Unchanged => "unchanged",
        }
    }
}

/// The result of applying one stack.
#[derive(Debug, Clone)]
pub struct Applied {
    /// The stack as stored (or as it would be, in a dry run), bookkeeping included.
    pub stack: Stack,
    /// What happened to it.
    pub outcome: ApplyOutcome,
}

/// Desired state, shared by `tug` commands and the controller.
///
/// Every write is all-or-nothing and serialised with other writers. Implementations never return
/// a stack that fails validation: contents that do not validate are reported as corrupt.
pub trait Store: Send + Sync {
    /// Every stack, sorted by name.
    ///
    /// # Errors
    /// The store cannot be read, or its contents are corrupt.
    fn list(&self) -> impl Future<Output = Result<Vec<Stack>, StoreError>> + Send;

    /// One stack by name.
    ///
    /// # Errors
    /// As [`Store::list`].
    fn get(&self, name: &str) -> impl Future<Output = Result<Option<Stack>, StoreError>> + Send;

    /// Writes all `stacks` at once, or none of them. A stack's generation increments only when its
    /// spec or labels change. With `dry_run`, computes the same result and writes nothing.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when a service is already owned by another stack; I/O or corruption.
    fn apply(
        &self,
        stacks: Vec<Stack>,
        now: SystemTime,
        dry_run: bool,
    ) -> impl Future<Output = Result<Vec<Applied>, StoreError>> + Send;

    /// Removes the named stacks, all or none, and records their services as [`Removal`]s for the
    /// controller. With `dry_run`, checks and writes nothing.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] naming each missing stack; I/O or corruption.
    fn delete(
        &self,
        names: &[String],
        now: SystemTime,
        dry_run: bool,
    ) -> impl Future<Output = Result<Vec<Stack>, StoreError>> + Send;

    /// Services the controller still has to take down.
    ///
    /// # Errors
    /// As [`Store::list`].
    fn removals(&self) -> impl Future<Output = Result<Vec<Removal>, StoreError>> + Send;

    /// Marks a removal done (a removal since taken back by an apply is left alone) and forgets the
    /// service's memory.
    ///
    /// # Errors
    /// The store cannot be written.
    fn finish_removal(
        &self,
        removal: &Removal,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// A stack's status, if the controller wrote one.
    ///
    /// # Errors
    /// Status that cannot be read or understood.
    fn load_status(
        &self,
        stack: &str,
    ) -> impl Future<Output = Result<Option<StackStatus>, StoreError>> + Send;

    /// Writes a stack's status; `None` removes it (the stack is gone).
    ///
    /// # Errors
    /// The store cannot be written.
    fn save_status(
        &self,
        stack: &str,
        status: Option<&StackStatus>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// A token that changes whenever desired state changes: what the controller watches.
    ///
    /// # Errors
    /// The store cannot be reached.
    fn revision(&self) -> impl Future<Output = Result<String, StoreError>> + Send;

    /// The controller's memory of every service of a stack, by service name.
    ///
    /// # Errors
    /// Memory that cannot be read or understood.
    fn load_memory(
        &self,
        stack: &str,
    ) -> impl Future<Output = Result<BTreeMap<String, ServiceMemory>, StoreError>> + Send;

    /// Saves one service's memory, atomically.
    ///
    /// # Errors
    /// The store cannot be written.
    fn save_memory(
        &self,
        stack: &str,
        service: &str,
        memory: &ServiceMemory,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// The store chosen by `--store` / `TUG_STORE`.
#[derive(Debug, Clone)]
pub enum AnyStore {
    /// `file://DIR`.
    File(FileStore),
}

impl AnyStore {
    /// Opens the store a URI names (no I/O happens until the first call).
    ///
    /// # Errors
    /// [`StoreError::Unsupported`] for a store kind this build cannot open.
    pub fn open(uri: &StoreUri) -> Result<Self, StoreError> {
        match uri {
            StoreUri::File(dir) => Ok(AnyStore::File(FileStore::new(dir.clone()))),
            StoreUri::DynamoDb(table) => Err(StoreError::Unsupported {
                uri: format!("dynamodb://{table}"),
                reason: "the DynamoDB store is not part of this build yet; use file://DIR"
                    .to_owned(),
            }),
        }
    }
}

impl Store for AnyStore {
    async fn list(&self) -> Result<Vec<Stack>, StoreError> {
        match self {
            AnyStore::File(s) => s.list().await,
        }
    }
    async fn get(&self, name: &str) -> Result<Option<Stack>, StoreError> {
        match self {
            AnyStore::File(s) => s.get(name).await,
        }
    }
    async fn apply(
        &self,
        stacks: Vec<Stack>,
        now: SystemTime,
        dry_run: bool,
    ) -> Result<Vec<Applied>, StoreError> {
        match self {
            AnyStore::File(s) => s.apply(stacks, now, dry_run).await,
        }
    }
    async fn delete(
        &self,
        names: &[String],
        now: SystemTime,
        dry_run: bool,
    ) -> Result<Vec<Stack>, StoreError> {
        match self {
            AnyStore::File(s) => s.delete(names, now, dry_run).await,
        }
    }
    async fn removals(&self) -> Result<Vec<Removal>, StoreError> {
        match self {
            AnyStore::File(s) => s.removals().await,
        }
    }
    async fn finish_removal(&self, removal: &Removal) -> Result<(), StoreError> {
        match self {
            AnyStore::File(s) => s.finish_removal(removal).await,
        }
    }
    async fn load_status(&self, stack: &str) -> Result<Option<StackStatus>, StoreError> {
        match self {
            AnyStore::File(s) => s.load_status(stack).await,
        }
    }
    async fn save_status(
        &self,
        stack: &str,
        status: Option<&StackStatus>,
    ) -> Result<(), StoreError> {
        match self {
            AnyStore::File(s) => s.save_status(stack, status).await,
        }
    }
    async fn revision(&self) -> Result<String, StoreError> {
        match self {
            AnyStore::File(s) => s.revision().await,
        }
    }
    async fn load_memory(
        &self,
        stack: &str,
    ) -> Result<BTreeMap<String, ServiceMemory>, StoreError> {
        match self {
            AnyStore::File(s) => s.load_memory(stack).await,
        }
    }
    async fn save_memory(
        &self,
        stack: &str,
        service: &str,
        memory: &ServiceMemory,
    ) -> Result<(), StoreError> {
        match self {
            AnyStore::File(s) => s.save_memory(stack, service, memory).await,
        }
    }
}

/// The store-independent part of an apply: given what is stored, what each stack becomes.
/// Shared by every [`Store`] so that generations and conflicts mean the same everywhere.
///
/// # Errors
/// [`StoreError::Conflict`] when a service of `incoming` belongs to another stored stack.
pub fn merge(
    stored: &[Stack],
    incoming: Vec<Stack>,
    now: SystemTime,
) -> Result<Vec<Applied>, StoreError> {
    let timestamp = humantime::format_rfc3339_seconds(now).to_string();
    let incoming_names: Vec<&str> = incoming.iter().map(Stack::name).collect();
    for stack in &incoming {
        for (key, _) in stack.services() {
            let owner = stored.iter().find(|other| {
                other.name() != stack.name()
                    && !incoming_names.contains(&other.name())
                    && other.services().any(|(k, _)| k == key)
            });
            if let Some(owner) = owner {
                return Err(StoreError::Conflict {
                    message: format!(
                        "stack `{}`: service {key} is already managed by stack `{}`; delete it there first",
                        stack.name(),
                        owner.name()
                    ),
                });
            }
        }
    }
    Ok(incoming
        .into_iter()
        .map(
            |stack| match stored.iter().find(|s| s.name() == stack.name()) {
                None => Applied {
                    stack: stack.with_bookkeeping(
                        Some(1),
                        Some(timestamp.clone()),
                        Some(timestamp.clone()),
                    ),
                    outcome: ApplyOutcome::Created,
                },
                Some(old) => {
                    let meta = &old.manifest().metadata;
                    let same = old.spec() == stack.spec()
                        && meta.labels == stack.manifest().metadata.labels;
                    let generation = meta.generation.unwrap_or(1);
                    if same {
                        Applied {
                            stack: stack.with_bookkeeping(
                                Some(generation),
                                meta.creation_timestamp.clone(),
                                meta.update_timestamp.clone(),
                            ),
                            outcome: ApplyOutcome::Unchanged,
                        }
                    } else {
                        Applied {
                            stack: stack.with_bookkeeping(
                                Some(generation + 1),
                                meta.creation_timestamp.clone(),
                                Some(timestamp.clone()),
                            ),
                            outcome: ApplyOutcome::Configured,
                        }
                    }
                }
            },
        )
        .collect())
}

/// The removals pending after desired state goes from `before` to `after`: `existing` ones, plus
/// every service of a deleted stack (deleted too when the stack had `prune: true`), plus every
/// service that left a stack that has `prune: true` now; minus any service a stack manages again.
/// A service that leaves a stack without `prune` is simply no longer managed.
pub fn pending_removals(
    before: &[Stack],
    after: &[Stack],
    existing: Vec<Removal>,
    now: SystemTime,
) -> Vec<Removal> {
    let requested_at = humantime::format_rfc3339_seconds(now).to_string();
    let managed: Vec<ServiceKey> = after
        .iter()
        .flat_map(|s| s.services().map(|(key, _)| key))
        .collect();
    let mut removals = existing;
    for old in before {
        let kept = after.iter().find(|s| s.name() == old.name());
        let delete = match kept {
            None => old.spec().prune,
            Some(new) if new.spec().prune => true,
            Some(_) => continue,
        };
        for (key, _) in old.services() {
            if managed.contains(&key)
                || removals
                    .iter()
                    .any(|r| r.cluster == key.cluster && r.service == key.service)
            {
                continue;
            }
            removals.push(Removal {
                stack: old.name().to_owned(),
                cluster: key.cluster,
                service: key.service,
                delete,
                requested_at: requested_at.clone(),
            });
        }
    }
    removals.retain(|r| {
        !managed
            .iter()
            .any(|k| k.cluster == r.cluster && k.service == r.service)
    });
    removals
}

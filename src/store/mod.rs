//! Where desired state lives: stacks with their generations, for the CLI and the controller.
//!
//! [`Store`] is the interface; [`FileStore`] (`file://DIR`, the embedded default) implements it on a
//! local directory, [`DynamoDbStore`] (`dynamodb://TABLE`) on a DynamoDB table that every `tug` and
//! every controller can reach, and [`MemoryStore`] in process memory (simulations).
//! Beside the desired state: the controller's memory and status, and the services it still has to
//! take down (see [`pending_removals`] and [`file`]).

pub mod dynamodb;
mod error;
pub mod file;
pub mod memory;
mod uri;

use std::collections::BTreeMap;
use std::future::Future;
use std::time::SystemTime;

pub use dynamodb::DynamoDbStore;
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

    /// Writes `stack` in place of the stored one only if the stored one is still at
    /// `generation`: a compare-and-swap (`tug rollout undo`), so a concurrent apply is never
    /// undone. The generation goes up as in an apply.
    ///
    /// # Errors
    /// [`StoreError::Changed`] when the stored stack moved on (or is gone); I/O or corruption.
    fn replace_stack(
        &self,
        stack: Stack,
        generation: u64,
        now: SystemTime,
    ) -> impl Future<Output = Result<Applied, StoreError>> + Send;

    /// Writes `stacks` exactly as given (bookkeeping included) and `removals` into an empty
    /// store, in one step: the commit point of `tug store copy`.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when the store already holds stacks or removals; I/O.
    fn import(
        &self,
        stacks: Vec<Stack>,
        removals: Vec<Removal>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

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

    /// Forgets one service's memory (none saved is fine).
    ///
    /// # Errors
    /// The store cannot be written.
    fn forget_memory(
        &self,
        stack: &str,
        service: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

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

/// Everything a store holds, read at once: what `tug store copy` moves and verifies.
#[derive(Debug, Clone, PartialEq)]
pub struct Everything {
    /// Every stack, bookkeeping included.
    pub stacks: Vec<Stack>,
    /// Pending removals.
    pub removals: Vec<Removal>,
    /// Memory by stack (including stacks that are gone but have removals pending), then service.
    pub memory: BTreeMap<String, BTreeMap<String, ServiceMemory>>,
    /// Status by stack.
    pub status: BTreeMap<String, StackStatus>,
}

impl Everything {
    /// Reads it all from `store`.
    ///
    /// # Errors
    /// Anything the reads return.
    pub async fn read<S: Store>(store: &S) -> Result<Self, StoreError> {
        let stacks = store.list().await?;
        let removals = store.removals().await?;
        let mut names: Vec<String> = stacks.iter().map(|s| s.name().to_owned()).collect();
        names.extend(removals.iter().map(|r| r.stack.clone()));
        names.sort();
        names.dedup();
        let mut memory = BTreeMap::new();
        let mut status = BTreeMap::new();
        for name in &names {
            let kept = store.load_memory(name).await?;
            if !kept.is_empty() {
                memory.insert(name.clone(), kept);
            }
            if let Some(s) = store.load_status(name).await? {
                status.insert(name.clone(), s);
            }
        }
        Ok(Self {
            stacks,
            removals,
            memory,
            status,
        })
    }

    /// Whether there is nothing in it.
    pub fn is_empty(&self) -> bool {
        self.stacks.is_empty()
            && self.removals.is_empty()
            && self.memory.is_empty()
            && self.status.is_empty()
    }
}

/// The store chosen by `--store` / `TUG_STORE`.
#[derive(Debug, Clone)]
pub enum AnyStore {
    /// `file://DIR`.
    File(FileStore),
    /// `dynamodb://TABLE`.
    DynamoDb(DynamoDbStore),
}

impl AnyStore {
    /// Opens the store a URI names (no I/O happens until the first call).
    ///
    /// # Errors
    /// [`StoreError::Unsupported`] for a store kind this build cannot open.
    pub fn open(uri: &StoreUri) -> Result<Self, StoreError> {
        match uri {
            StoreUri::File(dir) if dir.exists() && !dir.is_dir() => Err(StoreError::Unsupported {
                uri: uri.to_string(),
                reason: format!(
                    "{} is a file; a file store is a directory (file://DIR), made by the first `tug apply`",
                    dir.display()
                ),
            }),
            StoreUri::File(dir) => Ok(AnyStore::File(FileStore::new(dir.clone()))),
            StoreUri::DynamoDb(table) => Ok(AnyStore::DynamoDb(DynamoDbStore::new(table.clone()))),
        }
    }
}

impl Store for AnyStore {
    async fn list(&self) -> Result<Vec<Stack>, StoreError> {
        match self {
            AnyStore::File(s) => s.list().await,
            AnyStore::DynamoDb(s) => s.list().await,
        }
    }
    async fn get(&self, name: &str) -> Result<Option<Stack>, StoreError> {
        match self {
            AnyStore::File(s) => s.get(name).await,
            AnyStore::DynamoDb(s) => s.get(name).await,
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
            AnyStore::DynamoDb(s) => s.apply(stacks, now, dry_run).await,
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
            AnyStore::DynamoDb(s) => s.delete(names, now, dry_run).await,
        }
    }
    async fn replace_stack(
        &self,
        stack: Stack,
        generation: u64,
        now: SystemTime,
    ) -> Result<Applied, StoreError> {
        match self {
            AnyStore::File(s) => s.replace_stack(stack, generation, now).await,
            AnyStore::DynamoDb(s) => s.replace_stack(stack, generation, now).await,
        }
    }
    async fn import(&self, stacks: Vec<Stack>, removals: Vec<Removal>) -> Result<(), StoreError> {
        match self {
            AnyStore::File(s) => s.import(stacks, removals).await,
            AnyStore::DynamoDb(s) => s.import(stacks, removals).await,
        }
    }
    async fn removals(&self) -> Result<Vec<Removal>, StoreError> {
        match self {
            AnyStore::File(s) => s.removals().await,
            AnyStore::DynamoDb(s) => s.removals().await,
        }
    }
    async fn finish_removal(&self, removal: &Removal) -> Result<(), StoreError> {
        match self {
            AnyStore::File(s) => s.finish_removal(removal).await,
            AnyStore::DynamoDb(s) => s.finish_removal(removal).await,
        }
    }
    async fn load_status(&self, stack: &str) -> Result<Option<StackStatus>, StoreError> {
        match self {
            AnyStore::File(s) => s.load_status(stack).await,
            AnyStore::DynamoDb(s) => s.load_status(stack).await,
        }
    }
    async fn save_status(
        &self,
        stack: &str,
        status: Option<&StackStatus>,
    ) -> Result<(), StoreError> {
        match self {
            AnyStore::File(s) => s.save_status(stack, status).await,
            AnyStore::DynamoDb(s) => s.save_status(stack, status).await,
        }
    }
    async fn revision(&self) -> Result<String, StoreError> {
        match self {
            AnyStore::File(s) => s.revision().await,
            AnyStore::DynamoDb(s) => s.revision().await,
        }
    }
    async fn load_memory(
        &self,
        stack: &str,
    ) -> Result<BTreeMap<String, ServiceMemory>, StoreError> {
        match self {
            AnyStore::File(s) => s.load_memory(stack).await,
            AnyStore::DynamoDb(s) => s.load_memory(stack).await,
        }
    }
    async fn forget_memory(&self, stack: &str, service: &str) -> Result<(), StoreError> {
        match self {
            AnyStore::File(s) => s.forget_memory(stack, service).await,
            AnyStore::DynamoDb(s) => s.forget_memory(stack, service).await,
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
            AnyStore::DynamoDb(s) => s.save_memory(stack, service, memory).await,
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
                    // The change cause says why something changed: alone, it changes nothing.
                    let others = |m: &crate::manifest::spec::Metadata| {
                        let mut a = m.annotations.clone();
                        a.remove(crate::manifest::spec::CHANGE_CAUSE);
                        a
                    };
                    let same = old.spec() == stack.spec()
                        && meta.labels == stack.manifest().metadata.labels
                        && others(meta) == others(&stack.manifest().metadata);
                    let generation = meta.generation.unwrap_or(1);
                    if same {
                        let stack = match old.change_cause() {
                            Some(cause) => stack.with_change_cause(cause),
                            None => stack.without_change_cause(),
                        };
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

/// The stored stacks with the applied ones in their place (or added), sorted by name.
pub fn with_applied(stored: &[Stack], applied: &[Applied]) -> Vec<Stack> {
    let mut stacks: Vec<Stack> = stored
        .iter()
        .filter(|s| !applied.iter().any(|a| a.stack.name() == s.name()))
        .cloned()
        .collect();
    stacks.extend(applied.iter().map(|a| a.stack.clone()));
    stacks.sort_by(|a, b| a.name().cmp(b.name()));
    stacks
}

/// A delete of `names` from `stored`: (the stacks removed, the stacks kept).
///
/// # Errors
/// [`StoreError::NotFound`] naming every missing stack (then nothing is deleted).
pub fn split_deleted(
    stored: &[Stack],
    names: &[String],
) -> Result<(Vec<Stack>, Vec<Stack>), StoreError> {
    let missing: Vec<String> = names
        .iter()
        .filter(|n| !stored.iter().any(|s| s.name() == n.as_str()))
        .cloned()
        .collect();
    if !missing.is_empty() {
        return Err(StoreError::NotFound { names: missing });
    }
    Ok(stored
        .iter()
        .cloned()
        .partition(|s| names.iter().any(|n| n == s.name())))
}

/// The refusal of an import into a store that is not empty.
pub fn not_empty(store: &str) -> StoreError {
    StoreError::Conflict {
        message: format!(
            "{store} already holds stacks or removals; copy into an empty store (or delete its stacks first)"
        ),
    }
}

/// The compare-and-swap's test: the stored stack `name` is still at `generation`.
///
/// # Errors
/// [`StoreError::Changed`] with the generation found (0 when the stack is gone).
pub fn check_generation(stored: &[Stack], name: &str, generation: u64) -> Result<(), StoreError> {
    let found = stored
        .iter()
        .find(|s| s.name() == name)
        .map_or(0, |s| s.manifest().metadata.generation.unwrap_or(1));
    if found == generation {
        Ok(())
    } else {
        Err(StoreError::Changed {
            name: name.to_owned(),
            expected: generation,
            found,
        })
    }
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

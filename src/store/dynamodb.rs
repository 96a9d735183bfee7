//! The DynamoDB store (`dynamodb://TABLE`): desired state shared by every `tug` and every
//! controller that can reach the table with its usual AWS credentials.
//!
//! One table, keys `pk` (partition) and `sk` (sort), both strings:
//!
//! ```text
//! pk                 sk           what
//! tugboat            index        the revision (a number every change of desired state raises),
//!                                 every stack's name, version and part count, pending removals
//! lease              controller   the controllers' lease: holder, record version, duration
//! stack/NAME         part/0000..  the stack (gzip'd JSON), split into parts below the item limit
//! memory/STACK       SERVICE      the controller's memory of one service (gzip'd JSON)
//! status/STACK       status       the controller's report on a stack (gzip'd JSON)
//! ```
//!
//! Every change of desired state (apply, delete, undo, a removal finished) is one
//! TransactWriteItems: the index under a condition on the revision it was read at, and each
//! stack's parts under a condition on the version they were read at. Two writers that raced both
//! read again and merge again (a bounded number of times); neither overwrites the other. Partition
//! keys say what an item is (`stack/`, `status/`, `memory/`, `lease`), so IAM's
//! `dynamodb:LeadingKeys` can give people the stacks and never the lease or the memory, and a team
//! the stacks of one name prefix. The controller's own writes (memory, status) carry, while it
//! holds the lease, a condition on the lease's record version: a deposed leader's late write is
//! refused.

use std::collections::{BTreeMap, HashMap};
use std::io::{Read as _, Write as _};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Delete, Put, ReturnValuesOnConditionCheckFailure,
    TransactWriteItem,
};
use serde::{Deserialize, Serialize};
use tokio::sync::OnceCell;

use super::{
    Applied, ApplyOutcome, Store, StoreError, check_generation, merge, pending_removals,
    split_deleted, with_applied,
};
use crate::manifest::spec::StackManifest;
use crate::model::{Removal, ServiceMemory, Stack, StackStatus};

/// Version of the item layout this build reads and writes.
const FORMAT: u32 = 1;
/// The largest part of a stack, bytes: below DynamoDB's 400 KB item limit with room for the keys.
pub const PART_BYTES: usize = 350_000;
/// TransactWriteItems: at most this many actions.
pub const MAX_ACTIONS: usize = 100;
/// TransactWriteItems: at most this many bytes in all.
pub const MAX_TRANSACTION_BYTES: usize = 4_000_000;
/// How many times a change that lost a race is read and merged again.
const ATTEMPTS: u32 = 8;
/// The index item's keys.
pub const INDEX: (&str, &str) = ("tugboat", "index");
/// The lease item's keys.
pub const LEASE: (&str, &str) = ("lease", "controller");

/// A DynamoDB table holding desired state. Cheap to clone; the client is made on first use.
#[derive(Debug, Clone)]
pub struct DynamoDbStore {
    table: String,
    client: Arc<OnceCell<Client>>,
    /// The lease record version this process holds, if it is the leader: its writes are fenced.
    fence: Arc<Mutex<Option<String>>>,
    /// Stacks already read, by name: (version, stack). Stacks are re-read only when changed.
    cache: Arc<Mutex<BTreeMap<String, (u64, Stack)>>>,
    /// Requests sent, by operation: what the store costs.
    requests: Arc<Mutex<BTreeMap<&'static str, u64>>>,
}

/// The index item's body.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Index {
    format: u32,
    /// Every stack: its version (the revision it was last written at) and how many parts.
    stacks: BTreeMap<String, Entry>,
    /// Services the controller still has to take down.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    removals: Vec<Removal>,
}

/// One stack in the index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Entry {
    version: u64,
    parts: u32,
}

/// The index as read: its revision (0: no index yet) and body.
#[derive(Debug, Default, Clone)]
struct Snapshot {
    revision: u64,
    index: Index,
}

/// One controller's hold on the lease, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseRecord {
    /// Who holds it (pid, host, since).
    pub holder: String,
    /// Changes with every renewal; what candidates watch and what fenced writes check.
    pub record_version: String,
    /// How long it lasts without a renewal, ms.
    pub lease_ms: u64,
    /// When it was last renewed, by the holder's clock (shown to people, never compared).
    pub renewed_at: String,
    /// When the holder took it, by its clock (shown to people, never compared).
    pub since: String,
}

/// Why a transaction did not happen.
enum Refused {
    /// A condition failed: someone else wrote first (or the lease moved, when `lease` is set).
    Race { lease: bool },
    /// Anything else.
    Error(StoreError),
}

impl DynamoDbStore {
    /// A store in `table`; nothing is read until the first call.
    pub fn new(table: String) -> Self {
        Self {
            table,
            client: Arc::default(),
            fence: Arc::default(),
            cache: Arc::default(),
            requests: Arc::default(),
        }
    }

    /// Requests sent so far by this store (and its clones), by operation.
    pub fn requests(&self) -> BTreeMap<&'static str, u64> {
        self.requests
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The client, counting one request of `operation`.
    async fn send(&self, operation: &'static str) -> &Client {
        *self
            .requests
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(operation)
            .or_default() += 1;
        self.client().await
    }

    /// A store in `table` through this client (tests, and `tug store init`).
    pub fn with_client(table: String, client: Client) -> Self {
        let cell = OnceCell::new();
        let _ = cell.set(client);
        Self {
            client: Arc::new(cell),
            ..Self::new(table)
        }
    }

    /// The table's name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// The store's URI, for messages.
    pub fn uri(&self) -> String {
        format!("dynamodb://{}", self.table)
    }

    /// Fences this store's controller writes on `record_version` (the lease this process holds),
    /// or, with `None`, stops fencing them.
    pub fn fence(&self, record_version: Option<String>) {
        *self
            .fence
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = record_version;
    }

    fn fenced_on(&self) -> Option<String> {
        self.fence
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The client, made from the standard AWS chain on first use.
    pub async fn client(&self) -> &Client {
        self.client
            .get_or_init(|| async { Client::new(&crate::cloud::aws::sdk_config(true).await) })
            .await
    }

    fn remote<E>(&self, action: String, error: SdkError<E>) -> StoreError
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        remote(&self.uri(), action, &error)
    }

    fn corrupt(&self, what: &str, message: String) -> StoreError {
        StoreError::Corrupt {
            path: PathBuf::from(format!("{}/{what}", self.uri())),
            message,
        }
    }

    /// The index, strongly consistent.
    async fn read_index(&self) -> Result<Snapshot, StoreError> {
        let answer = self
            .send("GetItem")
            .await
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(INDEX.0, INDEX.1)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| self.remote("cannot read the index".into(), e))?;
        let Some(item) = answer.item else {
            return Ok(Snapshot::default());
        };
        let revision = number(&item, "revision")
            .ok_or_else(|| self.corrupt("tugboat/index", "no revision".into()))?;
        let index: Index = decode(&item).map_err(|m| self.corrupt("tugboat/index", m))?;
        if index.format != FORMAT {
            return Err(self.corrupt(
                "tugboat/index",
                format!(
                    "format {} is not understood by this version of tug (it reads format {FORMAT})",
                    index.format
                ),
            ));
        }
        Ok(Snapshot { revision, index })
    }

    /// Every item of partition `pk`, strongly consistent, page after page.
    async fn partition(
        &self,
        pk: &str,
        action: impl Fn() -> String,
    ) -> Result<Vec<HashMap<String, AttributeValue>>, StoreError> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let answer = self
                .send("Query")
                .await
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", AttributeValue::S(pk.to_owned()))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| self.remote(action(), e))?;
            items.extend(answer.items.unwrap_or_default());
            start = answer.last_evaluated_key;
            if start.is_none() {
                return Ok(items);
            }
        }
    }

    /// The index and every stack it lists, as of one revision: read again when a writer moved a
    /// stack on between the two reads.
    async fn consistent(&self) -> Result<(Snapshot, Vec<Stack>), StoreError> {
        let mut moved_at = None;
        for _ in 0..ATTEMPTS {
            let read = self.read_index().await?;
            if let Some(stacks) = self.read_stacks(&read).await? {
                return Ok((read, stacks));
            }
            // The same revision twice with parts that do not match it: nobody is writing, the
            // parts are missing or ahead of the index.
            if moved_at == Some(read.revision) {
                return Err(self.corrupt(
                    "tugboat/index",
                    format!(
                        "revision {} lists a stack whose parts are missing or newer than it",
                        read.revision
                    ),
                ));
            }
            moved_at = Some(read.revision);
        }
        Err(StoreError::Contended {
            store: self.uri(),
            attempts: ATTEMPTS,
        })
    }

    /// Every stack of the index, each read (or taken from the cache) at its version; `None` when
    /// one has moved on since the index was read.
    async fn read_stacks(&self, read: &Snapshot) -> Result<Option<Vec<Stack>>, StoreError> {
        let mut stacks = Vec::with_capacity(read.index.stacks.len());
        for (name, entry) in &read.index.stacks {
            match self.read_stack(name, *entry).await? {
                Some(stack) => stacks.push(stack),
                None => return Ok(None),
            }
        }
        Ok(Some(stacks))
    }

    /// One stack at the version the index gave; `None` when it has moved on since (its parts are
    /// newer, or gone: a transaction writes the index and the parts together, so the parts are
    /// never older than an index read before them).
    async fn read_stack(&self, name: &str, entry: Entry) -> Result<Option<Stack>, StoreError> {
        if let Some((version, stack)) = self.cached(name)
            && version == entry.version
        {
            return Ok(Some(stack));
        }
        let what = stack_key(name);
        let mut parts: Vec<(String, u64, Vec<u8>)> = Vec::new();
        for item in self
            .partition(&what, || format!("cannot read stack `{name}`"))
            .await?
        {
            let sk = text(&item, "sk").unwrap_or_default();
            let version = number(&item, "version").unwrap_or(0);
            let Some(AttributeValue::B(data)) = item.get("data") else {
                return Err(self.corrupt(&what, format!("{sk} has no data")));
            };
            parts.push((sk, version, data.clone().into_inner()));
        }
        parts.sort_by(|a, b| a.0.cmp(&b.0));
        if parts.is_empty() || parts.iter().any(|p| p.1 > entry.version) {
            return Ok(None);
        }
        let expected: Vec<String> = (0..entry.parts).map(part_key).collect();
        let found: Vec<&String> = parts.iter().map(|p| &p.0).collect();
        if found
            .iter()
            .map(|s| s.as_str())
            .ne(expected.iter().map(String::as_str))
            || parts.iter().any(|p| p.1 != entry.version)
        {
            return Err(self.corrupt(
                &what,
                format!(
                    "the index says version {} in {} parts; the table holds {:?}",
                    entry.version,
                    entry.parts,
                    parts.iter().map(|p| (&p.0, p.1)).collect::<Vec<_>>()
                ),
            ));
        }
        let bytes: Vec<u8> = parts.into_iter().flat_map(|p| p.2).collect();
        let manifest: StackManifest = unzip_json(&bytes).map_err(|m| self.corrupt(&what, m))?;
        let stack = crate::manifest::validate(&manifest).map_err(|issues| {
            let first = issues
                .first()
                .map(|issue| format!("{}: {}", issue.path, issue.message))
                .unwrap_or_default();
            self.corrupt(&what, format!("fails validation: {first}"))
        })?;
        if stack.name() != name {
            return Err(self.corrupt(&what, format!("holds stack `{}`", stack.name())));
        }
        self.cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(name.to_owned(), (entry.version, stack.clone()));
        Ok(Some(stack))
    }

    fn cached(&self, name: &str) -> Option<(u64, Stack)> {
        self.cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(name)
            .cloned()
    }

    /// Writes desired state from `read` to `stacks` and `removals` in one transaction, or says
    /// why not. Stacks whose manifest is unchanged are not rewritten.
    async fn commit(
        &self,
        read: &Snapshot,
        stacks: &[Stack],
        removals: Vec<Removal>,
        extra: Vec<TransactWriteItem>,
    ) -> Result<(), Refused> {
        let revision = read.revision + 1;
        let mut actions: Vec<TransactWriteItem> = Vec::new();
        let mut bytes = 0usize;
        let mut index = Index {
            format: FORMAT,
            stacks: BTreeMap::new(),
            removals,
        };
        for stack in stacks {
            let name = stack.name();
            let old = read.index.stacks.get(name).copied();
            let unchanged = old.is_some()
                && self.cached(name).is_some_and(|(v, s)| {
                    Some(v) == old.map(|o| o.version) && s.manifest() == stack.manifest()
                });
            if unchanged {
                index.stacks.insert(
                    name.to_owned(),
                    old.unwrap_or(Entry {
                        version: 0,
                        parts: 0,
                    }),
                );
                continue;
            }
            let data = zip_json(stack.manifest()).map_err(Refused::Error)?;
            bytes += data.len();
            let chunks: Vec<&[u8]> = if data.is_empty() {
                vec![&data[..]]
            } else {
                data.chunks(PART_BYTES).collect()
            };
            let parts = u32::try_from(chunks.len()).unwrap_or(u32::MAX);
            for (i, chunk) in chunks.into_iter().enumerate() {
                let mut item = key(&stack_key(name), &part_key(i as u32));
                item.insert("version".into(), AttributeValue::N(revision.to_string()));
                item.insert(
                    "data".into(),
                    AttributeValue::B(aws_sdk_dynamodb::primitives::Blob::new(chunk.to_vec())),
                );
                let mut put = Put::builder().table_name(&self.table).set_item(Some(item));
                if i == 0 {
                    put = match old {
                        Some(o) => put
                            .condition_expression("version = :old")
                            .expression_attribute_values(
                                ":old",
                                AttributeValue::N(o.version.to_string()),
                            ),
                        None => put.condition_expression("attribute_not_exists(pk)"),
                    };
                }
                actions.push(
                    TransactWriteItem::builder()
                        .put(put.build().map_err(build)?)
                        .build(),
                );
            }
            for stale in parts..old.map_or(0, |o| o.parts) {
                actions.push(delete_action(
                    &self.table,
                    &stack_key(name),
                    &part_key(stale),
                )?);
            }
            index.stacks.insert(
                name.to_owned(),
                Entry {
                    version: revision,
                    parts,
                },
            );
        }
        // Stacks no longer in desired state: their parts and their status go.
        for (name, old) in &read.index.stacks {
            if index.stacks.contains_key(name) {
                continue;
            }
            for part in 0..old.parts {
                actions.push(delete_action(
                    &self.table,
                    &stack_key(name),
                    &part_key(part),
                )?);
            }
            actions.push(delete_action(&self.table, &status_key(name), "status")?);
        }
        let body = zip_json(&index).map_err(Refused::Error)?;
        bytes += body.len();
        let mut item = key(INDEX.0, INDEX.1);
        item.insert("revision".into(), AttributeValue::N(revision.to_string()));
        item.insert(
            "data".into(),
            AttributeValue::B(aws_sdk_dynamodb::primitives::Blob::new(body)),
        );
        let put = Put::builder().table_name(&self.table).set_item(Some(item));
        let put = if read.revision == 0 {
            put.condition_expression("attribute_not_exists(pk)")
        } else {
            put.condition_expression("revision = :r")
                .expression_attribute_values(":r", AttributeValue::N(read.revision.to_string()))
        };
        actions.push(
            TransactWriteItem::builder()
                .put(put.build().map_err(build)?)
                .build(),
        );
        actions.extend(extra);
        check_limits(actions.len(), bytes).map_err(Refused::Error)?;
        self.transact(actions, "cannot write desired state").await
    }

    async fn transact(&self, actions: Vec<TransactWriteItem>, action: &str) -> Result<(), Refused> {
        let lease_at = actions.iter().position(|a| {
            a.condition_check()
                .is_some_and(|c| c.key().get("sk") == Some(&AttributeValue::S(LEASE.1.into())))
        });
        match self
            .send("TransactWriteItems")
            .await
            .transact_write_items()
            .set_transact_items(Some(actions))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(error) => {
                if let SdkError::ServiceError(context) = &error
                    && let aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(cancel) = context.err()
                {
                    let reasons = cancel.cancellation_reasons();
                    let failed = |i: usize| {
                        reasons
                            .get(i)
                            .and_then(|r| r.code())
                            .is_some_and(|c| c == "ConditionalCheckFailed")
                    };
                    if reasons.iter().any(|r| r.code() == Some("ConditionalCheckFailed")) {
                        return Err(Refused::Race {
                            lease: lease_at.is_some_and(failed),
                        });
                    }
                }
                Err(Refused::Error(self.remote(action.to_owned(), error)))
            }
        }
    }

    /// The condition that this process still holds the lease it is fenced on, if it is.
    fn fence_check(&self) -> Result<Option<TransactWriteItem>, StoreError> {
        let Some(mine) = self.fenced_on() else {
            return Ok(None);
        };
        let check = ConditionCheck::builder()
            .table_name(&self.table)
            .set_key(Some(key(LEASE.0, LEASE.1)))
            .condition_expression("record_version = :mine")
            .expression_attribute_values(":mine", AttributeValue::S(mine))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::None)
            .build()
            .map_err(|e| build(e).into_error())?;
        Ok(Some(
            TransactWriteItem::builder().condition_check(check).build(),
        ))
    }

    /// A controller write: a put (`Some`) or a delete of one item, fenced on the lease when this
    /// process holds one.
    async fn controller_write(
        &self,
        pk: &str,
        sk: &str,
        data: Option<Vec<u8>>,
        action: String,
    ) -> Result<(), StoreError> {
        let write = match data {
            Some(data) => {
                let mut item = key(pk, sk);
                item.insert(
                    "data".into(),
                    AttributeValue::B(aws_sdk_dynamodb::primitives::Blob::new(data)),
                );
                TransactWriteItem::builder()
                    .put(
                        Put::builder()
                            .table_name(&self.table)
                            .set_item(Some(item))
                            .build()
                            .map_err(|e| build(e).into_error())?,
                    )
                    .build()
            }
            None => delete_action(&self.table, pk, sk).map_err(Refused::into_error)?,
        };
        match self.fence_check()? {
            Some(check) => {
                let used = self.fenced_on();
                match self.transact(vec![check, write.clone()], &action).await {
                    Ok(()) => Ok(()),
                    // A renewal moved the record version while the write was on its way: the
                    // lease is still this process's, so the write goes again under the new one.
                    Err(Refused::Race { .. })
                        if self.fenced_on().is_some() && self.fenced_on() != used =>
                    {
                        let Some(check) = self.fence_check()? else {
                            return Err(StoreError::NotLeader { store: self.uri() });
                        };
                        match self.transact(vec![check, write], &action).await {
                            Ok(()) => Ok(()),
                            Err(Refused::Race { .. }) => {
                                Err(StoreError::NotLeader { store: self.uri() })
                            }
                            Err(Refused::Error(e)) => Err(e),
                        }
                    }
                    Err(Refused::Race { .. }) => Err(StoreError::NotLeader { store: self.uri() }),
                    Err(Refused::Error(e)) => Err(e),
                }
            }
            None => {
                if let Some(put) = write.put {
                    self.send("PutItem")
                        .await
                        .put_item()
                        .table_name(&self.table)
                        .set_item(Some(put.item))
                        .send()
                        .await
                        .map(|_| ())
                        .map_err(|e| self.remote(action, e))
                } else if let Some(delete) = write.delete {
                    self.send("DeleteItem")
                        .await
                        .delete_item()
                        .table_name(&self.table)
                        .set_key(Some(delete.key))
                        .send()
                        .await
                        .map(|_| ())
                        .map_err(|e| self.remote(action, e))
                } else {
                    Ok(())
                }
            }
        }
    }

    /// Re-reads and re-merges a change of desired state until it lands: `change` gets the stored
    /// stacks and removals and says what they become (`None`: nothing to write) and what to
    /// return.
    async fn change<T>(
        &self,
        mut change: impl FnMut(
            &[Stack],
            &[Removal],
        ) -> Result<(Option<(Vec<Stack>, Vec<Removal>)>, T), StoreError>,
        extra: impl Fn() -> Result<Vec<TransactWriteItem>, StoreError>,
    ) -> Result<T, StoreError> {
        for _ in 0..ATTEMPTS {
            let (read, stored) = self.consistent().await?;
            let (write, result) = change(&stored, &read.index.removals)?;
            let Some((stacks, removals)) = write else {
                return Ok(result);
            };
            match self.commit(&read, &stacks, removals, extra()?).await {
                Ok(()) => return Ok(result),
                Err(Refused::Race { lease: true }) => {
                    return Err(StoreError::NotLeader { store: self.uri() });
                }
                Err(Refused::Race { lease: false }) => continue,
                Err(Refused::Error(e)) => return Err(e),
            }
        }
        Err(StoreError::Contended {
            store: self.uri(),
            attempts: ATTEMPTS,
        })
    }

    /// The lease as stored, strongly consistent.
    ///
    /// # Errors
    /// The table cannot be read, or the item is not a lease.
    pub async fn read_lease(&self) -> Result<Option<LeaseRecord>, StoreError> {
        let answer = self
            .send("GetItem")
            .await
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(LEASE.0, LEASE.1)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| self.remote("cannot read the lease".into(), e))?;
        let Some(item) = answer.item else {
            return Ok(None);
        };
        let field = |name: &str| {
            text(&item, name).ok_or_else(|| self.corrupt("tugboat/lease", format!("no {name}")))
        };
        Ok(Some(LeaseRecord {
            holder: field("holder")?,
            record_version: field("record_version")?,
            lease_ms: number(&item, "lease_ms")
                .ok_or_else(|| self.corrupt("tugboat/lease", "no lease_ms".into()))?,
            renewed_at: field("renewed_at")?,
            since: text(&item, "since").unwrap_or_default(),
        }))
    }

    /// Writes `record` as the lease if the stored one still has record version `seen` (`None`:
    /// there is none). Returns whether it did.
    ///
    /// # Errors
    /// The table cannot be written.
    pub async fn write_lease(
        &self,
        seen: Option<&str>,
        record: &LeaseRecord,
    ) -> Result<bool, StoreError> {
        let mut item = key(LEASE.0, LEASE.1);
        item.insert("holder".into(), AttributeValue::S(record.holder.clone()));
        item.insert(
            "record_version".into(),
            AttributeValue::S(record.record_version.clone()),
        );
        item.insert(
            "lease_ms".into(),
            AttributeValue::N(record.lease_ms.to_string()),
        );
        item.insert(
            "renewed_at".into(),
            AttributeValue::S(record.renewed_at.clone()),
        );
        item.insert("since".into(), AttributeValue::S(record.since.clone()));
        let request = self
            .send("PutItem")
            .await
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item));
        let request = match seen {
            Some(seen) => request
                .condition_expression("record_version = :seen")
                .expression_attribute_values(":seen", AttributeValue::S(seen.to_owned())),
            None => request.condition_expression("attribute_not_exists(pk)"),
        };
        match request.send().await {
            Ok(_) => Ok(true),
            Err(e) if e.code() == Some("ConditionalCheckFailedException") => Ok(false),
            Err(e) => Err(self.remote("cannot write the lease".into(), e)),
        }
    }

    /// Gives the lease up, if this process still holds it, so a candidate takes over at once.
    ///
    /// # Errors
    /// The table cannot be written.
    pub async fn release_lease(&self, mine: &str) -> Result<(), StoreError> {
        match self
            .send("DeleteItem")
            .await
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(LEASE.0, LEASE.1)))
            .condition_expression("record_version = :mine")
            .expression_attribute_values(":mine", AttributeValue::S(mine.to_owned()))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some("ConditionalCheckFailedException") => Ok(()),
            Err(e) => Err(self.remote("cannot release the lease".into(), e)),
        }
    }
}

/// What `tug store init` found or did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Initialised {
    /// The table was created (and is active, with point-in-time recovery on).
    Created,
    /// A table of that name with tugboat's keys was there already.
    Existing,
}

impl DynamoDbStore {
    /// Creates the table (on-demand capacity, encryption at rest, point-in-time recovery) and
    /// waits until it is active; a table of that name with the right keys is left as it is.
    ///
    /// # Errors
    /// A table of that name with other keys; the table cannot be created or did not become
    /// active within `wait`.
    pub async fn create_table(&self, wait: std::time::Duration) -> Result<Initialised, StoreError> {
        use aws_sdk_dynamodb::types::{
            AttributeDefinition, BillingMode, KeySchemaElement, KeyType,
            PointInTimeRecoverySpecification, ScalarAttributeType, SseSpecification, TableStatus,
        };
        let client = self.client().await;
        let attribute = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(|e| build(e).into_error())
        };
        let element = |name: &str, kind| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kind)
                .build()
                .map_err(|e| build(e).into_error())
        };
        let created = client
            .create_table()
            .table_name(&self.table)
            .attribute_definitions(attribute("pk")?)
            .attribute_definitions(attribute("sk")?)
            .key_schema(element("pk", KeyType::Hash)?)
            .key_schema(element("sk", KeyType::Range)?)
            .billing_mode(BillingMode::PayPerRequest)
            .sse_specification(SseSpecification::builder().enabled(true).build())
            .send()
            .await;
        let outcome = match created {
            Ok(_) => Initialised::Created,
            Err(e) if e.code() == Some("ResourceInUseException") => Initialised::Existing,
            Err(e) => return Err(self.remote("cannot create the table".into(), e)),
        };
        let start = std::time::Instant::now();
        loop {
            let described = client
                .describe_table()
                .table_name(&self.table)
                .send()
                .await
                .map_err(|e| self.remote("cannot describe the table".into(), e))?;
            let table = described.table;
            let keys: Vec<(String, String)> = table
                .as_ref()
                .map(|t| {
                    t.key_schema()
                        .iter()
                        .map(|k| {
                            (
                                k.attribute_name().to_owned(),
                                k.key_type().as_str().to_owned(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            let expected = [
                ("pk".to_owned(), "HASH".to_owned()),
                ("sk".to_owned(), "RANGE".to_owned()),
            ];
            if keys != expected {
                return Err(StoreError::Remote {
                    store: self.uri(),
                    action: "the table is not a tugboat store".into(),
                    message: format!(
                        "its keys are {keys:?}; tugboat needs `pk` (partition) and `sk` (sort), both strings: choose another name"
                    ),
                    retryable: false,
                });
            }
            if table.as_ref().and_then(|t| t.table_status()) == Some(&TableStatus::Active) {
                break;
            }
            if start.elapsed() > wait {
                return Err(StoreError::Remote {
                    store: self.uri(),
                    action: "the table did not become active".into(),
                    message: format!("still not ACTIVE after {} s", wait.as_secs()),
                    retryable: true,
                });
            }
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        }
        client
            .update_continuous_backups()
            .table_name(&self.table)
            .point_in_time_recovery_specification(
                PointInTimeRecoverySpecification::builder()
                    .point_in_time_recovery_enabled(true)
                    .build()
                    .map_err(|e| build(e).into_error())?,
            )
            .send()
            .await
            .map_err(|e| self.remote("cannot turn point-in-time recovery on".into(), e))?;
        Ok(outcome)
    }
}

impl Refused {
    fn into_error(self) -> StoreError {
        match self {
            Refused::Error(e) => e,
            Refused::Race { .. } => StoreError::Contended {
                store: String::new(),
                attempts: 1,
            },
        }
    }
}

impl Store for DynamoDbStore {
    async fn list(&self) -> Result<Vec<Stack>, StoreError> {
        self.consistent().await.map(|(_, stacks)| stacks)
    }

    async fn get(&self, name: &str) -> Result<Option<Stack>, StoreError> {
        for _ in 0..ATTEMPTS {
            let read = self.read_index().await?;
            let Some(entry) = read.index.stacks.get(name) else {
                return Ok(None);
            };
            if let Some(stack) = self.read_stack(name, *entry).await? {
                return Ok(Some(stack));
            }
        }
        Err(StoreError::Contended {
            store: self.uri(),
            attempts: ATTEMPTS,
        })
    }

    async fn apply(
        &self,
        incoming: Vec<Stack>,
        now: SystemTime,
        dry_run: bool,
    ) -> Result<Vec<Applied>, StoreError> {
        self.change(
            |stored, removals| {
                let applied = merge(stored, incoming.clone(), now)?;
                if dry_run || applied.iter().all(|a| a.outcome == ApplyOutcome::Unchanged) {
                    return Ok((None, applied));
                }
                let stacks = with_applied(stored, &applied);
                let removals = pending_removals(stored, &stacks, removals.to_vec(), now);
                Ok((Some((stacks, removals)), applied))
            },
            || Ok(Vec::new()),
        )
        .await
    }

    async fn delete(
        &self,
        names: &[String],
        now: SystemTime,
        dry_run: bool,
    ) -> Result<Vec<Stack>, StoreError> {
        self.change(
            |stored, removals| {
                let (removed, kept) = split_deleted(stored, names)?;
                if dry_run {
                    return Ok((None, removed));
                }
                let removals = pending_removals(stored, &kept, removals.to_vec(), now);
                Ok((Some((kept, removals)), removed))
            },
            || Ok(Vec::new()),
        )
        .await
    }

    async fn replace_stack(
        &self,
        stack: Stack,
        generation: u64,
        now: SystemTime,
    ) -> Result<Applied, StoreError> {
        self.change(
            |stored, removals| {
                let name = stack.name();
                check_generation(stored, name, generation)?;
                let mut applied = merge(stored, vec![stack.clone()], now)?;
                let one = applied.remove(0);
                if one.outcome == ApplyOutcome::Unchanged {
                    return Ok((None, one));
                }
                let stacks = with_applied(stored, std::slice::from_ref(&one));
                let removals = pending_removals(stored, &stacks, removals.to_vec(), now);
                Ok((Some((stacks, removals)), one))
            },
            || Ok(Vec::new()),
        )
        .await
    }

    async fn import(&self, stacks: Vec<Stack>, removals: Vec<Removal>) -> Result<(), StoreError> {
        let read = self.read_index().await?;
        if !read.index.stacks.is_empty() || !read.index.removals.is_empty() {
            return Err(super::not_empty(&self.uri()));
        }
        match self.commit(&read, &stacks, removals, Vec::new()).await {
            Ok(()) => Ok(()),
            Err(Refused::Race { .. }) => Err(super::not_empty(&self.uri())),
            Err(Refused::Error(e)) => Err(e),
        }
    }

    async fn removals(&self) -> Result<Vec<Removal>, StoreError> {
        Ok(self.read_index().await?.index.removals)
    }

    async fn finish_removal(&self, removal: &Removal) -> Result<(), StoreError> {
        let table = self.table.clone();
        let memory = (memory_key(&removal.stack), removal.service.clone());
        self.change(
            |stored, removals| {
                let kept: Vec<Removal> =
                    removals.iter().filter(|r| *r != removal).cloned().collect();
                if kept.len() == removals.len() {
                    return Ok((None, ()));
                }
                Ok((Some((stored.to_vec(), kept)), ()))
            },
            || {
                let mut extra =
                    vec![delete_action(&table, &memory.0, &memory.1).map_err(Refused::into_error)?];
                extra.extend(self.fence_check()?);
                Ok(extra)
            },
        )
        .await?;
        // The memory goes even when the removal was already gone from the index.
        self.controller_write(
            &memory.0,
            &memory.1,
            None,
            format!("cannot forget the memory of {}", removal.service),
        )
        .await
    }

    async fn load_status(&self, stack: &str) -> Result<Option<StackStatus>, StoreError> {
        let answer = self
            .send("GetItem")
            .await
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(&status_key(stack), "status")))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| self.remote(format!("cannot read the status of stack `{stack}`"), e))?;
        match answer.item {
            None => Ok(None),
            Some(item) => decode(&item)
                .map(Some)
                .map_err(|m| self.corrupt(&status_key(stack), m)),
        }
    }

    async fn save_status(
        &self,
        stack: &str,
        status: Option<&StackStatus>,
    ) -> Result<(), StoreError> {
        let data = status.map(zip_json).transpose()?;
        if let Some(d) = &data {
            check_item(d.len(), &format!("the status of stack `{stack}`"))?;
        }
        self.controller_write(
            &status_key(stack),
            "status",
            data,
            format!("cannot write the status of stack `{stack}`"),
        )
        .await
    }

    async fn revision(&self) -> Result<String, StoreError> {
        let answer = self
            .send("GetItem")
            .await
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(INDEX.0, INDEX.1)))
            .consistent_read(true)
            .projection_expression("revision")
            .send()
            .await
            .map_err(|e| self.remote("cannot read the revision".into(), e))?;
        Ok(answer
            .item
            .and_then(|item| number(&item, "revision"))
            .unwrap_or(0)
            .to_string())
    }

    async fn load_memory(
        &self,
        stack: &str,
    ) -> Result<BTreeMap<String, ServiceMemory>, StoreError> {
        let pk = memory_key(stack);
        let mut memories = BTreeMap::new();
        for item in self
            .partition(&pk, || format!("cannot read the memory of stack `{stack}`"))
            .await?
        {
            let service = text(&item, "sk").unwrap_or_default();
            let memory: ServiceMemory =
                decode(&item).map_err(|m| self.corrupt(&format!("{pk}/{service}"), m))?;
            memories.insert(service, memory);
        }
        Ok(memories)
    }

    async fn forget_memory(&self, stack: &str, service: &str) -> Result<(), StoreError> {
        self.controller_write(
            &memory_key(stack),
            service,
            None,
            format!("cannot forget the memory of service `{service}`"),
        )
        .await
    }

    async fn save_memory(
        &self,
        stack: &str,
        service: &str,
        memory: &ServiceMemory,
    ) -> Result<(), StoreError> {
        let data = zip_json(memory)?;
        check_item(data.len(), &format!("the memory of service `{service}`"))?;
        self.controller_write(
            &memory_key(stack),
            service,
            Some(data),
            format!("cannot write the memory of service `{service}`"),
        )
        .await
    }
}

/// The partition key of a stack's parts.
pub fn stack_key(stack: &str) -> String {
    format!("stack/{stack}")
}

/// The partition key of a stack's status.
pub fn status_key(stack: &str) -> String {
    format!("status/{stack}")
}

/// The partition key of the memory of a stack's services.
pub fn memory_key(stack: &str) -> String {
    format!("memory/{stack}")
}

/// An item's primary key.
fn key(pk: &str, sk: &str) -> HashMap<String, AttributeValue> {
    HashMap::from([
        ("pk".to_owned(), AttributeValue::S(pk.to_owned())),
        ("sk".to_owned(), AttributeValue::S(sk.to_owned())),
    ])
}

fn part_key(i: u32) -> String {
    format!("part/{i:04}")
}

fn delete_action(table: &str, pk: &str, sk: &str) -> Result<TransactWriteItem, Refused> {
    Ok(TransactWriteItem::builder()
        .delete(
            Delete::builder()
                .table_name(table)
                .set_key(Some(key(pk, sk)))
                .build()
                .map_err(build)?,
        )
        .build())
}

fn build(error: aws_sdk_dynamodb::error::BuildError) -> Refused {
    Refused::Error(StoreError::TooLarge {
        message: format!("cannot build a DynamoDB request: {error}"),
    })
}

/// Refuses, before anything is sent, a transaction DynamoDB would refuse.
fn check_limits(actions: usize, bytes: usize) -> Result<(), StoreError> {
    if actions > MAX_ACTIONS {
        return Err(StoreError::TooLarge {
            message: format!(
                "this change needs {actions} writes in one DynamoDB transaction, above its limit of {MAX_ACTIONS}; apply fewer or smaller stacks at a time"
            ),
        });
    }
    if bytes > MAX_TRANSACTION_BYTES {
        return Err(StoreError::TooLarge {
            message: format!(
                "this change is {bytes} bytes compressed, above DynamoDB's {MAX_TRANSACTION_BYTES}-byte transaction limit; apply fewer or smaller stacks at a time"
            ),
        });
    }
    Ok(())
}

/// Refuses an item DynamoDB would refuse.
fn check_item(bytes: usize, what: &str) -> Result<(), StoreError> {
    if bytes > PART_BYTES {
        return Err(StoreError::TooLarge {
            message: format!(
                "{what} is {bytes} bytes compressed, above the {PART_BYTES} bytes a DynamoDB item can hold"
            ),
        });
    }
    Ok(())
}

fn number(item: &HashMap<String, AttributeValue>, name: &str) -> Option<u64> {
    match item.get(name) {
        Some(AttributeValue::N(n)) => n.parse().ok(),
        _ => None,
    }
}

fn text(item: &HashMap<String, AttributeValue>, name: &str) -> Option<String> {
    match item.get(name) {
        Some(AttributeValue::S(s)) => Some(s.clone()),
        _ => None,
    }
}

/// The `data` attribute of an item, unzipped and parsed.
fn decode<T: serde::de::DeserializeOwned>(
    item: &HashMap<String, AttributeValue>,
) -> Result<T, String> {
    match item.get("data") {
        Some(AttributeValue::B(data)) => unzip_json(data.as_ref()),
        _ => Err("no data".to_owned()),
    }
}

/// JSON, gzip'd: stacks and memory compress about tenfold.
fn zip_json<T: Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    let json = serde_json::to_vec(value).map_err(|e| StoreError::TooLarge {
        message: format!("cannot encode: {e}"),
    })?;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder
        .write_all(&json)
        .and_then(|()| encoder.finish())
        .map_err(|e| StoreError::TooLarge {
            message: format!("cannot compress: {e}"),
        })
}

fn unzip_json<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    let mut json = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut json)
        .map_err(|e| format!("not gzip'd JSON: {e}"))?;
    serde_json::from_slice(&json)
        .map_err(|e| format!("line {} column {}: {e}", e.line(), e.column()))
}

/// A DynamoDB error as a store error: retryable or not, each cause said once.
fn remote<E>(store: &str, action: String, error: &SdkError<E>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let (message, retryable) = match error {
        SdkError::ServiceError(context) => {
            let code = context.err().code().unwrap_or("");
            let message = context.err().message().unwrap_or("");
            let status = context.raw().status().as_u16();
            let retryable = status >= 500
                || matches!(
                    code,
                    "ThrottlingException"
                        | "ProvisionedThroughputExceededException"
                        | "RequestLimitExceeded"
                        | "InternalServerError"
                        | "ServiceUnavailable"
                        | "TransactionInProgressException"
                );
            let hint = match code {
                "ResourceNotFoundException" => {
                    "; create the table with `tug store init dynamodb://TABLE`"
                }
                "AccessDeniedException" | "UnrecognizedClientException" => {
                    "; the caller's role needs access to this table (deploy/ has the policies)"
                }
                _ => "",
            };
            (format!("{code}: {message}{hint}"), retryable)
        }
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            (crate::cloud::aws::error::causes(error), true)
        }
        _ => (crate::cloud::aws::error::causes(error), false),
    };
    StoreError::Remote {
        store: store.to_owned(),
        action,
        message,
        retryable,
    }
}

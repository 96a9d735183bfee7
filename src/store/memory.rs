//! A store in process memory: what `tug simulate`, `tug demo` and the scenario tests give the
//! daemon, so a simulated run writes nothing to disk and stays deterministic. Same semantics as
//! the file store (the shared [`merge`] and [`pending_removals`]); gone with the process.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use super::{
    Applied, ApplyOutcome, Store, StoreError, check_generation, merge, pending_removals,
    split_deleted, with_applied,
};
use crate::model::{DecisionRecord, Removal, ServiceMemory, Stack, StackStatus};

/// Everything the store holds.
#[derive(Debug, Default)]
struct Contents {
    stacks: Vec<Stack>,
    removals: Vec<Removal>,
    /// Memory by (stack, service).
    memory: BTreeMap<(String, String), ServiceMemory>,
    /// Status by stack.
    status: BTreeMap<String, StackStatus>,
    /// Bumped by every change of desired state.
    revision: u64,
    /// Every decision ever saved with a service's memory, in order: (service, decision).
    decision_log: Vec<(String, DecisionRecord)>,
}

/// A store in memory, shared by its clones.
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    contents: Arc<Mutex<Contents>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every decision saved so far with a service's memory, oldest first: a simulation's record
    /// of what the controller decided (memory itself keeps only the most recent).
    pub fn decision_log(&self) -> Vec<(String, DecisionRecord)> {
        self.with(|c| c.decision_log.clone())
    }

    /// How many decisions the log holds.
    pub fn decision_count(&self) -> usize {
        self.with(|c| c.decision_log.len())
    }

    /// The decisions logged from position `from` on.
    pub fn decisions_from(&self, from: usize) -> Vec<(String, DecisionRecord)> {
        self.with(|c| {
            c.decision_log
                .get(from..)
                .map(<[_]>::to_vec)
                .unwrap_or_default()
        })
    }

    /// The memory of one service, if saved.
    pub fn memory_of(&self, stack: &str, service: &str) -> Option<ServiceMemory> {
        self.with(|c| {
            c.memory
                .get(&(stack.to_owned(), service.to_owned()))
                .cloned()
        })
    }

    /// The status of one stack, if saved.
    pub fn status_of(&self, stack: &str) -> Option<StackStatus> {
        self.with(|c| c.status.get(stack).cloned())
    }

    fn with<T>(&self, f: impl FnOnce(&mut Contents) -> T) -> T {
        let mut guard = self
            .contents
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut guard)
    }
}

impl Store for MemoryStore {
    async fn list(&self) -> Result<Vec<Stack>, StoreError> {
        Ok(self.with(|c| c.stacks.clone()))
    }

    async fn get(&self, name: &str) -> Result<Option<Stack>, StoreError> {
        Ok(self.with(|c| c.stacks.iter().find(|s| s.name() == name).cloned()))
    }

    async fn apply(
        &self,
        stacks: Vec<Stack>,
        now: SystemTime,
        dry_run: bool,
    ) -> Result<Vec<Applied>, StoreError> {
        self.with(|c| {
            let applied = merge(&c.stacks, stacks, now)?;
            if dry_run || applied.iter().all(|a| a.outcome == ApplyOutcome::Unchanged) {
                return Ok(applied);
            }
            let after = with_applied(&c.stacks, &applied);
            c.removals = pending_removals(&c.stacks, &after, std::mem::take(&mut c.removals), now);
            c.stacks = after;
            c.revision += 1;
            Ok(applied)
        })
    }

    async fn delete(
        &self,
        names: &[String],
        now: SystemTime,
        dry_run: bool,
    ) -> Result<Vec<Stack>, StoreError> {
        self.with(|c| {
            let (removed, kept) = split_deleted(&c.stacks, names)?;
            if dry_run {
                return Ok(removed);
            }
            c.removals = pending_removals(&c.stacks, &kept, std::mem::take(&mut c.removals), now);
            c.stacks = kept;
            for stack in &removed {
                c.status.remove(stack.name());
            }
            c.revision += 1;
            Ok(removed)
        })
    }

    async fn replace_stack(
        &self,
        stack: Stack,
        generation: u64,
        now: SystemTime,
    ) -> Result<Applied, StoreError> {
        self.with(|c| {
            check_generation(&c.stacks, stack.name(), generation)?;
            let one = merge(&c.stacks, vec![stack], now)?.remove(0);
            if one.outcome != ApplyOutcome::Unchanged {
                let after = with_applied(&c.stacks, std::slice::from_ref(&one));
                c.removals =
                    pending_removals(&c.stacks, &after, std::mem::take(&mut c.removals), now);
                c.stacks = after;
                c.revision += 1;
            }
            Ok(one)
        })
    }

    async fn import(&self, stacks: Vec<Stack>, removals: Vec<Removal>) -> Result<(), StoreError> {
        self.with(|c| {
            if !c.stacks.is_empty() || !c.removals.is_empty() {
                return Err(super::not_empty("the in-memory store"));
            }
            c.stacks = stacks;
            c.stacks.sort_by(|a, b| a.name().cmp(b.name()));
            c.removals = removals;
            c.revision += 1;
            Ok(())
        })
    }

    async fn removals(&self) -> Result<Vec<Removal>, StoreError> {
        Ok(self.with(|c| c.removals.clone()))
    }

    async fn finish_removal(&self, removal: &Removal) -> Result<(), StoreError> {
        self.with(|c| {
            let before = c.removals.len();
            c.removals.retain(|r| r != removal);
            if c.removals.len() != before {
                c.revision += 1;
            }
            c.memory
                .remove(&(removal.stack.clone(), removal.service.clone()));
        });
        Ok(())
    }

    async fn forget_memory(&self, stack: &str, service: &str) -> Result<(), StoreError> {
        self.with(|c| c.memory.remove(&(stack.to_owned(), service.to_owned())));
        Ok(())
    }

    async fn load_status(&self, stack: &str) -> Result<Option<StackStatus>, StoreError> {
        Ok(self.with(|c| c.status.get(stack).cloned()))
    }

    async fn save_status(
        &self,
        stack: &str,
        status: Option<&StackStatus>,
    ) -> Result<(), StoreError> {
        self.with(|c| match status {
            Some(s) => {
                c.status.insert(stack.to_owned(), s.clone());
            }
            None => {
                c.status.remove(stack);
            }
        });
        Ok(())
    }

    async fn revision(&self) -> Result<String, StoreError> {
        Ok(self.with(|c| c.revision.to_string()))
    }

    async fn load_memory(
        &self,
        stack: &str,
    ) -> Result<BTreeMap<String, ServiceMemory>, StoreError> {
        Ok(self.with(|c| {
            c.memory
                .iter()
                .filter(|((s, _), _)| s == stack)
                .map(|((_, service), m)| (service.clone(), m.clone()))
                .collect()
        }))
    }

    async fn save_memory(
        &self,
        stack: &str,
        service: &str,
        memory: &ServiceMemory,
    ) -> Result<(), StoreError> {
        self.with(|c| {
            let key = (stack.to_owned(), service.to_owned());
            let fresh: Vec<DecisionRecord> = match c.memory.get(&key) {
                Some(old) if std::sync::Arc::ptr_eq(&old.decisions, &memory.decisions) => {
                    Vec::new()
                }
                Some(old) => memory
                    .decisions
                    .iter()
                    .filter(|d| !old.decisions.contains(d))
                    .cloned()
                    .collect(),
                None => memory.decisions.to_vec(),
            };
            c.decision_log
                .extend(fresh.into_iter().map(|d| (service.to_owned(), d)));
            c.memory.insert(key, memory.clone());
        });
        Ok(())
    }
}

//! What the daemon knows of the services it keeps: per service, what the manifest wants, what the
//! controller remembers, its last status and its failures; per stack, its generation and
//! services. Each service gets a small number when first seen ([`Id`]): the work queue, the tasks
//! and the first round hold numbers rather than pairs of strings.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::model::{Removal, ServiceKey, ServiceMemory, ServiceStatus, StackStatus};
use crate::plan::DesiredService;

use super::error_policy::ErrorPolicy;

/// A service's number in the registry.
pub type Id = u32;

/// One service the daemon knows of.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Which service.
    pub key: ServiceKey,
    /// Its stack.
    pub stack: String,
    /// The stack's generation when last read.
    pub generation: u64,
    /// What the manifest wants; `None` once it left the store.
    pub desired: Option<Arc<DesiredService>>,
    /// The take-down still to do, if it left the store that way.
    pub removal: Option<Removal>,
    /// What the controller remembers of it (shared with the reconcile that reads it).
    pub memory: Arc<ServiceMemory>,
    /// Its last status (shared with the reconcile that reads it).
    pub status: Option<Arc<ServiceStatus>>,
    /// The task counts last exported for it (desired, running, healthy).
    pub gauges: Option<(u32, u32, Option<u32>)>,
    /// Its failures.
    pub policy: ErrorPolicy,
    /// Whether its last reconcile failed.
    pub failing: bool,
    /// The stack generation its last successful reconcile acted on.
    pub reconciled_generation: Option<u64>,
}

impl Entry {
    /// A service first seen in `stack`, remembering `memory` and last reported as `status`.
    pub fn new(
        key: ServiceKey,
        stack: &str,
        memory: ServiceMemory,
        status: Option<ServiceStatus>,
    ) -> Self {
        Self {
            key,
            stack: stack.to_owned(),
            generation: 0,
            desired: None,
            removal: None,
            memory: Arc::new(memory),
            status: status.map(Arc::new),
            gauges: None,
            policy: ErrorPolicy::default(),
            failing: false,
            reconciled_generation: None,
        }
    }
}

/// One stack the daemon knows of.
#[derive(Debug, Clone, Default)]
pub struct StackState {
    /// Its generation.
    pub generation: u64,
    /// Its services, by name.
    pub services: Vec<String>,
    /// Its cluster.
    pub cluster: String,
    /// The observed generation last written in its status (services change their own part; the
    /// status is written whenever one did, so no copy of it is kept here).
    pub written_generation: Option<u64>,
    /// A service's status changed since.
    pub dirty: bool,
}

/// Every service and stack the daemon knows of.
#[derive(Debug, Default)]
pub struct Registry {
    /// Numbers by key.
    ids: BTreeMap<ServiceKey, Id>,
    /// Entries by number; `None` for a number given back.
    slots: Vec<Option<Entry>>,
    /// Numbers given back, to give out again.
    free: Vec<Id>,
    /// Stacks by name.
    pub stacks: BTreeMap<String, StackState>,
}

impl Registry {
    /// The number of a known service.
    pub fn id(&self, key: &ServiceKey) -> Option<Id> {
        self.ids.get(key).copied()
    }

    /// A service by number.
    pub fn get(&self, id: Id) -> Option<&Entry> {
        self.slots.get(id as usize).and_then(Option::as_ref)
    }

    /// A service by number, to change.
    pub fn get_mut(&mut self, id: Id) -> Option<&mut Entry> {
        self.slots.get_mut(id as usize).and_then(Option::as_mut)
    }

    /// The service `key`, made with `make` when it is new; its number.
    pub fn entry(&mut self, key: &ServiceKey, make: impl FnOnce() -> Entry) -> Id {
        if let Some(id) = self.id(key) {
            return id;
        }
        let entry = make();
        let id = match self.free.pop() {
            Some(id) => {
                self.slots[id as usize] = Some(entry);
                id
            }
            None => {
                self.slots.push(Some(entry));
                Id::try_from(self.slots.len() - 1).unwrap_or(Id::MAX)
            }
        };
        self.ids.insert(key.clone(), id);
        id
    }

    /// Forgets a service; its number may be given out again.
    pub fn remove(&mut self, id: Id) -> Option<Entry> {
        let entry = self.slots.get_mut(id as usize)?.take()?;
        self.ids.remove(&entry.key);
        self.free.push(id);
        Some(entry)
    }

    /// Every known service.
    pub fn entries(&self) -> impl Iterator<Item = (Id, &Entry)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, e)| Some((Id::try_from(i).ok()?, e.as_ref()?)))
    }

    /// How many services are known.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Marks a service's stack as having a status to write.
    pub fn touch(&mut self, stack: &str) {
        if let Some(s) = self.stacks.get_mut(stack) {
            s.dirty = true;
        }
    }

    /// The status of stack `name` as it stands, stamped `now`; the generation observed is the
    /// oldest any of its services was last reconciled at.
    pub fn stack_status(&self, name: &str, now: u64) -> Option<StackStatus> {
        let stack = self.stacks.get(name)?;
        let mut services = BTreeMap::new();
        let mut observed = Some(stack.generation);
        for service in &stack.services {
            let key = ServiceKey {
                cluster: stack.cluster.clone(),
                service: service.clone(),
            };
            let entry = self.id(&key).and_then(|id| self.get(id));
            if let Some(status) = entry.and_then(|e| e.status.as_deref()) {
                services.insert(service.clone(), status.clone());
            }
            let reconciled = entry.and_then(|e| e.reconciled_generation);
            observed = observed.zip(reconciled).map(|(a, b)| a.min(b));
        }
        Some(StackStatus {
            observed_generation: observed.or(stack.written_generation).unwrap_or(0),
            updated_at: now,
            services,
            capacity: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str) -> ServiceKey {
        ServiceKey {
            cluster: "c".into(),
            service: name.into(),
        }
    }

    #[test]
    fn services_keep_their_number_and_numbers_are_given_out_again() {
        let mut registry = Registry::default();
        let make = |k: &ServiceKey| Entry::new(k.clone(), "s", ServiceMemory::default(), None);
        let a = registry.entry(&key("a"), || make(&key("a")));
        let b = registry.entry(&key("b"), || make(&key("b")));
        assert_ne!(a, b);
        assert_eq!(registry.entry(&key("a"), || make(&key("a"))), a);
        assert_eq!(registry.len(), 2);
        assert_eq!(registry.remove(a).map(|e| e.key), Some(key("a")));
        assert!(registry.get(a).is_none() && registry.id(&key("a")).is_none());
        let c = registry.entry(&key("c"), || make(&key("c")));
        assert_eq!(c, a, "a number given back is given out again");
        assert_eq!(registry.get(c).map(|e| e.key.service.as_str()), Some("c"));
        assert_eq!(registry.entries().count(), 2);
    }
}

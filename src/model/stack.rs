//! A validated Stack: the desired state of a set of ECS services.

use crate::manifest::spec::{ServiceSpec, StackManifest, StackSpec};

use super::ServiceKey;

/// A stack that passed every structural and cross-field rule of [`crate::manifest`], with its
/// effective defaults filled in. There is no public constructor: a value comes from
/// [`crate::manifest::parse_sources`] or [`crate::manifest::validate`], so holding one proves validity.
#[derive(Debug, Clone, PartialEq)]
pub struct Stack {
    /// The effective manifest (defaults explicit). Private so nobody can make it invalid.
    manifest: StackManifest,
}

impl Stack {
    /// Wraps a manifest the caller has validated and normalised. Only `manifest` may call this.
    pub(crate) fn from_validated(manifest: StackManifest) -> Self {
        Self { manifest }
    }

    /// The stack's name.
    pub fn name(&self) -> &str {
        &self.manifest.metadata.name
    }

    /// The desired state.
    pub fn spec(&self) -> &StackSpec {
        &self.manifest.spec
    }

    /// The whole effective manifest, as `tug apply --dry-run -o yaml` prints it.
    pub fn manifest(&self) -> &StackManifest {
        &self.manifest
    }

    /// The same stack with store bookkeeping (generation, timestamps) replaced. Bookkeeping is not
    /// validated, so this cannot break validity.
    pub fn with_bookkeeping(
        mut self,
        generation: Option<u64>,
        created: Option<String>,
        updated: Option<String>,
    ) -> Self {
        let metadata = &mut self.manifest.metadata;
        metadata.generation = generation;
        metadata.creation_timestamp = created;
        metadata.update_timestamp = updated;
        self
    }

    /// The same stack with its change cause (the `tugboat/change-cause` annotation) set. An
    /// annotation is not validated, so this cannot break validity.
    pub fn with_change_cause(mut self, cause: &str) -> Self {
        self.manifest.metadata.annotations.insert(
            crate::manifest::spec::CHANGE_CAUSE.to_owned(),
            cause.to_owned(),
        );
        self
    }

    /// The same stack without a change cause.
    pub fn without_change_cause(mut self) -> Self {
        self.manifest
            .metadata
            .annotations
            .remove(crate::manifest::spec::CHANGE_CAUSE);
        self
    }

    /// Why the stack last changed, if an apply said.
    pub fn change_cause(&self) -> Option<&str> {
        self.manifest
            .metadata
            .annotations
            .get(crate::manifest::spec::CHANGE_CAUSE)
            .map(String::as_str)
    }

    /// The services with the keys they are known by in their cluster.
    pub fn services(&self) -> impl Iterator<Item = (ServiceKey, &ServiceSpec)> {
        self.manifest.spec.services.iter().map(|service| {
            (
                ServiceKey {
                    cluster: self.manifest.spec.cluster.clone(),
                    service: service.name.clone(),
                },
                service,
            )
        })
    }
}

//! Identifiers of the things tugboat manages.

use std::fmt;

use serde::{Deserialize, Serialize};

/// One ECS service, as the cluster knows it: the unit of ownership and of reconciliation.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ServiceKey {
    /// Cluster name or ARN, as written in the manifest.
    pub cluster: String,
    /// Service name, unique within the cluster.
    pub service: String,
}

impl fmt::Display for ServiceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.cluster, self.service)
    }
}

//! Desired and observed state types shared by the store, the planner and the cloud adapters, and
//! the ECS/ELBv2/CloudWatch vocabulary they speak ([`aws`]).

/// The `apiVersion` of every document tugboat reads: stacks, worlds.
pub const API_VERSION: &str = "tugboat/v1";

pub mod aws;
mod capacity;
mod ids;
pub mod image;
mod memory;
mod observed;
mod stack;
mod status;

pub use capacity::{CAPACITY_DECISIONS_KEPT, CapacityMemory, CapacityStatus};
pub use ids::ServiceKey;
pub use memory::{
    DECISIONS_KEPT, DecisionKind, DecisionRecord, REGISTRY_CHECK_SECONDS, RegistryCheck, Revision,
    RolloutMemory, SOURCES_KEPT, ScalingClock, ServiceMemory,
};
pub use observed::{LifecyclePolicyRead, ObservedService};
pub use stack::Stack;
pub use status::{
    ConditionType, Removal, STATUS_DECISIONS, ServiceStatus, StackStatus, StatusCondition,
};

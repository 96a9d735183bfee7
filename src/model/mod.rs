//! Desired and observed state types shared by the store, the planner and the cloud adapters.

mod ids;
mod memory;
mod observed;
mod stack;

pub use ids::ServiceKey;
pub use memory::{
    DECISIONS_KEPT, DecisionKind, DecisionRecord, Revision, RolloutMemory, ScalingClock,
    ServiceMemory,
};
pub use observed::ObservedService;
pub use stack::Stack;

//! Desired and observed state types shared by the store, the planner and the cloud adapters.

mod ids;
mod stack;

pub use ids::ServiceKey;
pub use stack::Stack;

//! ELBv2 target groups in the simulator: registration, health checks, draining.
//!
//! Facts modelled (aws-facts.md, "Load balancer health checks"): checks run every
//! `intervalSeconds`; a newly registered target needs ONE passing check to become healthy, while a
//! target recovering from unhealthy needs `healthyThreshold` consecutive passes; `unhealthyThreshold`
//! consecutive failures make a target unhealthy; a deregistered target is `draining` for the
//! deregistration delay (default 300 s), then gone. The first check of a new target comes at a
//! seeded random point within one interval of registration. A check passes or fails at once:
//! `timeoutSeconds` only matters through `timeoutSeconds < intervalSeconds`.

use crate::model::aws::TargetState;

use super::world::Failure;
use super::{SECOND, Sim, TaskState};

/// One registered target.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(super) struct Target {
    /// initial, healthy, unhealthy or draining.
    pub state: TargetState,
    /// Consecutive passing checks.
    passes: u32,
    /// Consecutive failing checks.
    failures: u32,
    /// When the next check runs.
    next_check_ms: u64,
    /// When draining ends.
    drain_until_ms: u64,
}

impl Sim {
    /// Registers a task in a target group: `initial` until its first check.
    pub(super) fn register_target(&mut self, group: &str, task_id: u64) {
        let now = self.now_ms;
        let Some(interval) = self
            .target_groups
            .get(group)
            .map(|g| u64::from(g.health.interval_seconds))
        else {
            return;
        };
        let first = self.rng.between(1, interval.max(1)) * SECOND;
        if let Some(g) = self.target_groups.get_mut(group) {
            g.targets.insert(
                task_id,
                Target {
                    state: TargetState::Initial,
                    passes: 0,
                    failures: 0,
                    next_check_ms: now + first,
                    drain_until_ms: 0,
                },
            );
        }
    }

    /// Deregisters a task: `draining` for the deregistration delay. Returns that delay in ms.
    pub(super) fn deregister_target(&mut self, group: &str, task_id: u64) -> u64 {
        let now = self.now_ms;
        let Some(g) = self.target_groups.get_mut(group) else {
            return 0;
        };
        let delay = g.deregistration_delay_ms;
        if let Some(target) = g.targets.get_mut(&task_id) {
            target.state = TargetState::Draining;
            target.drain_until_ms = now + delay;
        }
        delay
    }

    /// Runs every check that is due, and ends draining that is over.
    pub(super) fn run_health_checks(&mut self) {
        let now = self.now_ms;
        let ready_after = self.world.tasks.app_ready_seconds * SECOND;
        let names: Vec<String> = self.target_groups.keys().cloned().collect();
        for name in names {
            let Some(group) = self.target_groups.get(&name) else {
                continue;
            };
            let interval = u64::from(group.health.interval_seconds) * SECOND;
            let healthy_threshold = group.health.healthy_threshold;
            let unhealthy_threshold = group.health.unhealthy_threshold;
            // The verdict each due target's task would give, computed before mutating the group.
            let verdicts: Vec<(u64, bool)> = group
                .targets
                .iter()
                .filter(|(_, t)| t.state != TargetState::Draining && t.next_check_ms <= now)
                .map(|(id, _)| {
                    let passes = self.tasks.get(id).is_some_and(|task| {
                        task.state == TaskState::Running
                            && task.running_since.is_some_and(|s| now >= s + ready_after)
                            && !task
                                .failure
                                .as_ref()
                                .is_some_and(|f| f.failure == Failure::FailsHealthChecks)
                    });
                    (*id, passes)
                })
                .collect();
            let Some(group) = self.target_groups.get_mut(&name) else {
                continue;
            };
            group
                .targets
                .retain(|_, t| !(t.state == TargetState::Draining && t.drain_until_ms <= now));
            for (id, passed) in verdicts {
                let Some(target) = group.targets.get_mut(&id) else {
                    continue;
                };
                target.next_check_ms += interval;
                if passed {
                    target.passes += 1;
                    target.failures = 0;
                    let needed = if target.state == TargetState::Initial {
                        1
                    } else {
                        healthy_threshold
                    };
                    if target.state != TargetState::Healthy && target.passes >= needed {
                        target.state = TargetState::Healthy;
                    }
                } else {
                    target.failures += 1;
                    target.passes = 0;
                    if target.state != TargetState::Unhealthy
                        && target.failures >= unhealthy_threshold
                    {
                        target.state = TargetState::Unhealthy;
                    }
                }
            }
        }
    }

    /// Healthy targets of a target group.
    pub(super) fn healthy_targets(&self, group: &str) -> usize {
        self.target_groups.get(group).map_or(0, |g| {
            g.targets
                .values()
                .filter(|t| t.state == TargetState::Healthy)
                .count()
        })
    }
}

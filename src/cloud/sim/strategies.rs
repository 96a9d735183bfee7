//! Traffic-shifting deployments: ECS's BLUE_GREEN, CANARY and LINEAR strategies (aws-facts.md,
//! "What ECS and AAS added in 2024-2026"; the ECS developer guide's "Amazon ECS blue/green
//! deployments", "canary deployments" and "linear deployments" pages). Behaviours modelled:
//! - a new deployment's tasks (green) start at the full desired count beside the old ones (blue),
//!   registered in the alternate target group; `maximumPercent` does not bound them; blue keeps all
//!   production traffic until every green task is healthy;
//! - production traffic then moves through the listener rule's weights: all at once (blue/green),
//!   `canaryPercent` for `canaryBakeTimeInMinutes` then the rest (canary), `stepPercent` more every
//!   `stepBakeTimeInMinutes` (linear); a test listener rule's traffic (not offered load here) is a
//!   stage of no duration;
//! - with all traffic on green, blue is kept `bakeTimeInMinutes`, then stopped; the two target
//!   groups swap roles; the deployment is COMPLETED;
//! - a rollback (the circuit breaker or an alarm with rollback on, or StopServiceDeployment with
//!   ROLLBACK) moves production traffic back to blue, which is still running, and stops green:
//!   no task is started for it;
//! - during a deployment a failed task is replaced from its own revision, and a change of the
//!   desired count applies to both revisions (ECS's November 2025 change).

use crate::model::aws::RolloutState;

use super::ecs::is_active;
use super::{SECOND, Service, Sim, Task};

/// Whether a service deploys by shifting traffic (a strategy other than ROLLING, and a load
/// balancer with an alternate target group to shift to).
pub(super) fn shifts_traffic(service: &Service) -> bool {
    !service.config.strategy.is_rolling()
        && service
            .load_balancers
            .iter()
            .any(|lb| lb.advanced.is_some())
}

impl Sim {
    /// The scheduler of a traffic-shifting service, once a second.
    pub(super) fn schedule_shifting(&mut self, key: &(String, String)) {
        let Some(service) = self.services.get(key).cloned() else {
            return;
        };
        let desired = service.desired_count;
        let active: Vec<Task> = self
            .tasks_for(key)
            .filter(|t| is_active(t.state))
            .cloned()
            .collect();
        let of = |deployment: u64| -> Vec<Task> {
            active
                .iter()
                .filter(|t| t.deployment == deployment)
                .cloned()
                .collect()
        };
        let primary = service.deployments[0].clone();
        let blue = service
            .deployments
            .iter()
            .skip(1)
            .find(|d| !of(d.id).is_empty())
            .map(|d| d.id);
        // Green (or the only deployment) and, while a deployment runs, blue: each kept at the
        // desired count from its own revision. A failed green launches nothing more.
        let mut keep = Vec::new();
        if primary.rollout != RolloutState::Failed {
            keep.push(primary.id);
        }
        if primary.rollout == RolloutState::InProgress
            && let Some(blue) = blue
        {
            keep.push(blue);
        }
        for deployment in &keep {
            let tasks = of(*deployment);
            let n = u32::try_from(tasks.len()).unwrap_or(u32::MAX);
            for _ in n..desired {
                self.launch(key, *deployment);
            }
            if n > desired {
                self.stop_surplus(tasks, (n - desired) as usize, &service);
            }
        }
        // Anything else (an older deployment, a rolled-back green) is stopped.
        for task in active.iter().filter(|t| !keep.contains(&t.deployment)) {
            self.begin_stop(task.id, false);
        }
        self.judge_shift(key, blue);
    }

    /// Moves a shifting deployment along: shift, bake, complete; or fail it on the circuit breaker.
    fn judge_shift(&mut self, key: &(String, String), blue: Option<u64>) {
        let Some(service) = self.services.get(key).cloned() else {
            return;
        };
        let now = self.now_ms;
        let primary = service.deployments[0].clone();
        let active: Vec<Task> = self
            .tasks_for(key)
            .filter(|t| is_active(t.state))
            .cloned()
            .collect();
        let live: Vec<u64> = active.iter().map(|t| t.deployment).collect();
        let green_healthy = active
            .iter()
            .filter(|t| t.deployment == primary.id && self.is_healthy(t, &service))
            .count();
        let desired = service.desired_count as usize;
        if let Some(s) = self.services.get_mut(key) {
            s.deployments
                .retain(|d| d.id == primary.id || live.contains(&d.id));
        }
        if primary.rollout != RolloutState::InProgress {
            return;
        }
        let threshold = service.config.failure_threshold_for(service.desired_count);
        if service.config.circuit_breaker && primary.failed_tasks >= threshold {
            self.fail_deployment(
                key,
                super::ecs::breaker_reason(primary.failed_tasks, threshold),
            );
            return;
        }
        let steps = service.config.strategy.steps();
        let Some(s) = self.services.get_mut(key) else {
            return;
        };
        let complete = |s: &mut Service| {
            let green = &mut s.deployments[0];
            green.rollout = RolloutState::Completed;
            green.traffic_percent = None;
            green.shift = None;
            s.production_alternate = green.alternate;
            s.last_completed = Some(green.task_definition.clone());
        };
        if blue.is_none() {
            // No blue: the service's first deployment, or blue already gone.
            if green_healthy >= desired && primary.shift.is_none() {
                complete(s);
            }
            return;
        }
        match primary.shift {
            None if green_healthy >= desired => {
                s.deployments[0].shift = Some((0, now));
                s.deployments[0].traffic_percent = steps.first().map(|(share, _)| *share);
            }
            Some((step, since)) => {
                let hold_ms = steps
                    .get(step)
                    .map_or(0, |(_, minutes)| u64::from(*minutes) * 60 * SECOND);
                if now < since + hold_ms {
                    return;
                }
                if let Some((share, _)) = steps.get(step + 1) {
                    s.deployments[0].shift = Some((step + 1, now));
                    s.deployments[0].traffic_percent = Some(*share);
                    return;
                }
                complete(s);
                // Blue's tasks go: the last bake is over.
                let blue_tasks: Vec<u64> = active
                    .iter()
                    .filter(|t| Some(t.deployment) == blue)
                    .map(|t| t.id)
                    .collect();
                for id in blue_tasks {
                    self.begin_stop(id, false);
                }
            }
            None => {}
        }
    }

    /// Rolls a shifting deployment back: production traffic returns to blue, which is still
    /// running, and green is stopped. Nothing is started. Without a blue (a first deployment),
    /// the deployment is only marked FAILED.
    pub(super) fn roll_back_shift(&mut self, key: &(String, String), reason: String) {
        let live: Vec<u64> = self
            .tasks_for(key)
            .filter(|t| is_active(t.state))
            .map(|t| t.deployment)
            .collect();
        let Some(service) = self.services.get_mut(key) else {
            return;
        };
        let green = &mut service.deployments[0];
        green.rollout = RolloutState::Failed;
        green.reason = reason;
        green.traffic_percent = Some(0.0);
        green.shift = None;
        let green_id = green.id;
        let Some(blue_at) = service
            .deployments
            .iter()
            .skip(1)
            .position(|d| live.contains(&d.id))
            .map(|i| i + 1)
        else {
            return;
        };
        let mut blue = service.deployments.remove(blue_at);
        blue.rollout = RolloutState::Completed;
        blue.traffic_percent = None;
        blue.shift = None;
        service.last_completed = Some(blue.task_definition.clone());
        service.deployments.insert(0, blue);
        let green_tasks: Vec<u64> = self
            .tasks_for(key)
            .filter(|t| t.deployment == green_id && is_active(t.state))
            .map(|t| t.id)
            .collect();
        for id in green_tasks {
            self.begin_stop(id, false);
        }
    }

    /// The production traffic share of each deployment of a service, by deployment id, while a
    /// deployment shifts; `None` when all serving tasks share it equally.
    pub(super) fn traffic_shares(&self, key: &(String, String)) -> Option<Vec<(u64, f64)>> {
        let service = self.services.get(key)?;
        if !shifts_traffic(service) || service.deployments.len() < 2 {
            return None;
        }
        let green = &service.deployments[0];
        if green.rollout != RolloutState::InProgress {
            return None;
        }
        let share = green.traffic_percent.unwrap_or(0.0).clamp(0.0, 100.0);
        let blue = service.deployments.get(1)?;
        Some(vec![(green.id, share), (blue.id, 100.0 - share)])
    }
}

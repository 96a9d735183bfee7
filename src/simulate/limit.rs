//! The limits a scaler is measured against, per service, second by second on the same offered load
//! the simulation serves:
//!
//! - **Unavoidable overload**: seconds no scaler could serve. Before the service's first tasks can
//!   be healthy (the world's task start time, below), and whenever the load exceeds what `maxTasks`
//!   tasks serve.
//! - **The reactive limit**: the overload of the best scaler that reacts to published metrics. At
//!   the moment each minute's datapoint is published (the minute's end plus the world's
//!   publication delay) it sizes the service to that minute's demand at the rule's target
//!   utilisation (`ceil(average rps / (capacityRps x utilisation))`, within `minTasks..maxTasks`;
//!   [`crate::plan::scaling::target_utilisation`]), never scales in (fewer tasks never overload
//!   less), and its new tasks are healthy the world's task start time later. It is the reference
//!   reactive policy, not a proof of optimality: a rule whose headroom anticipates a slow ramp can
//!   overload less than it (a ratio below 1). What a scaler overloads beyond the unavoidable,
//!   divided by what the limit does, says how far it is from that reference (1.0: as good).
//!
//! The reactive limit is worked out twice: on 1-minute datapoints (ECS's default) and on 20-second
//! ones (a service whose `monitoringConfiguration` publishes 20-second CPU; the world's shorter
//! delay for them), each period sized to its own average load.
//!
//! The task start time is the world's best case: PROVISIONING, PENDING to RUNNING without jitter,
//! the application's readiness, and the earliest first health check (one second later; one passing
//! check makes a new target healthy).

use std::collections::VecDeque;

use crate::cloud::sim::world::World;

/// What the limits of one service are computed from.
#[derive(Debug, Clone, PartialEq)]
pub struct LimitModel {
    /// Requests per second one healthy task serves.
    pub capacity_rps: f64,
    /// The share of that capacity the limit sizes to (the rule's target utilisation).
    pub utilisation: f64,
    /// Tasks the service starts with.
    pub initial_tasks: u32,
    /// Never fewer.
    pub min_tasks: u32,
    /// Never more.
    pub max_tasks: u32,
    /// Seconds from a desired count going up to the new task being healthy.
    pub start_seconds: u64,
    /// Seconds of one datapoint: 60, or 20 for 20-second CPU.
    pub period_seconds: u64,
    /// Seconds from a period's end to its datapoint being readable.
    pub publication_delay_seconds: u64,
}

impl LimitModel {
    /// The model of a service starting with `initial_tasks`, scaled within `min..=max` at
    /// `utilisation`, in `world`.
    pub fn new(
        world: &World,
        initial_tasks: u32,
        (min_tasks, max_tasks): (u32, u32),
        utilisation: f64,
    ) -> Self {
        let tasks = &world.tasks;
        Self {
            capacity_rps: tasks.capacity_rps,
            utilisation,
            initial_tasks,
            min_tasks,
            max_tasks,
            start_seconds: tasks.provisioning_seconds
                + tasks.start_seconds
                + tasks.app_ready_seconds
                + 1,
            period_seconds: 60,
            publication_delay_seconds: world.metrics.publication_delay_seconds,
        }
    }

    /// The same service, on 20-second datapoints.
    pub fn fine(&self, world: &World) -> Self {
        Self {
            period_seconds: u64::from(crate::model::aws::FINE_CPU_PERIOD_SECONDS),
            publication_delay_seconds: world.metrics.fine_publication_delay_seconds,
            ..self.clone()
        }
    }
}

/// The two limits, accumulated second by second.
#[derive(Debug, Clone)]
pub struct LimitTracker {
    model: LimitModel,
    /// Load summed over the minute in progress, and its seconds.
    minute: (f64, u32),
    /// Published minutes not yet served by healthy tasks: (healthy from, tasks needed).
    coming: VecDeque<(u64, u32)>,
    /// Tasks the limit scaler has healthy now.
    healthy: u32,
    /// Seconds no scaler could serve.
    pub unavoidable_seconds: u64,
    /// Seconds the reactive limit overloads.
    pub reactive_seconds: u64,
}

impl LimitTracker {
    /// A tracker for a service created at second 0.
    pub fn new(model: LimitModel) -> Self {
        let healthy = model.initial_tasks.clamp(model.min_tasks, model.max_tasks);
        Self {
            model,
            minute: (0.0, 0),
            coming: VecDeque::new(),
            healthy,
            unavoidable_seconds: 0,
            reactive_seconds: 0,
        }
    }

    /// Second `t` (from 1) with offered load `rps`.
    pub fn second(&mut self, t: u64, rps: f64) {
        let m = &self.model;
        while let Some(&(from, tasks)) = self.coming.front() {
            if from > t {
                break;
            }
            self.healthy = self.healthy.max(tasks);
            self.coming.pop_front();
        }
        let starting = t < m.start_seconds;
        let most = f64::from(m.max_tasks) * m.capacity_rps;
        if starting || rps > most + 1e-9 {
            self.unavoidable_seconds += 1;
        }
        let limit = if starting {
            0.0
        } else {
            f64::from(self.healthy) * m.capacity_rps
        };
        if rps > limit + 1e-9 {
            self.reactive_seconds += 1;
        }
        // Second t belongs to the period starting at t - 1 rounded down (seconds 1..=60 make the
        // first minute).
        self.minute.0 += rps;
        self.minute.1 += 1;
        if t.is_multiple_of(m.period_seconds.max(1)) {
            let average = self.minute.0 / f64::from(self.minute.1.max(1));
            let needed = (average / (m.capacity_rps * m.utilisation) - 1e-9)
                .ceil()
                .max(0.0);
            // Saturating: a load beyond u32 tasks is beyond maxTasks anyway.
            let needed = if needed >= f64::from(u32::MAX) {
                u32::MAX
            } else {
                needed as u32
            };
            let tasks = needed.clamp(m.min_tasks, m.max_tasks);
            self.coming
                .push_back((t + m.publication_delay_seconds + m.start_seconds, tasks));
            self.minute = (0.0, 0);
        }
    }
}

/// A scaler's avoidable overload as a ratio to the reactive limit's: (overloaded − unavoidable) /
/// (limit − unavoidable). `None` when the limit itself avoids everything (nothing to compare with).
pub fn ratio_to_limit(overloaded: u64, unavoidable: u64, reactive: u64) -> Option<f64> {
    let limit = reactive.saturating_sub(unavoidable);
    (limit > 0).then(|| overloaded.saturating_sub(unavoidable) as f64 / limit as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> LimitModel {
        LimitModel {
            capacity_rps: 100.0,
            utilisation: 1.0,
            initial_tasks: 2,
            min_tasks: 2,
            max_tasks: 4,
            start_seconds: 66,
            period_seconds: 60,
            publication_delay_seconds: 120,
        }
    }

    fn run(load: impl Fn(u64) -> f64, seconds: u64) -> LimitTracker {
        let mut tracker = LimitTracker::new(model());
        for t in 1..=seconds {
            tracker.second(t, load(t));
        }
        tracker
    }

    #[test]
    fn start_up_and_load_beyond_max_tasks_are_unavoidable() {
        let steady = run(|_| 150.0, 600);
        assert_eq!(
            steady.unavoidable_seconds, 65,
            "t = 1..65 before a task is healthy"
        );
        assert_eq!(steady.reactive_seconds, 65, "two tasks serve 150 rps");
        let beyond = run(|t| if t > 300 { 500.0 } else { 150.0 }, 600);
        assert_eq!(beyond.unavoidable_seconds, 65 + 300);
        assert!(beyond.reactive_seconds >= beyond.unavoidable_seconds);
    }

    #[test]
    fn a_step_is_served_once_its_minute_is_published_and_the_tasks_have_started() {
        // 150 rps, then 350 from second 601: the minute 601..660 is published at 660 + 120 and
        // served 66 s later, from 846; seconds 601..845 are overloaded.
        let step = run(|t| if t > 600 { 350.0 } else { 150.0 }, 1200);
        assert_eq!(step.reactive_seconds - step.unavoidable_seconds, 245);
        // The limit never scales in: after a minute at 350 and a dip, the return at 901 finds the
        // 4 tasks that minute asked for (healthy from 846); only the first minute is overloaded.
        let dip = run(
            |t| match t {
                601..=660 => 350.0,
                661..=900 => 50.0,
                _ if t > 900 => 350.0,
                _ => 150.0,
            },
            1200,
        );
        assert_eq!(dip.reactive_seconds - dip.unavoidable_seconds, 60);
    }

    #[test]
    fn twenty_second_datapoints_serve_a_step_sooner() {
        // The step at 601 fills the period 601..620, published at 620 + 20 and served 66 s later,
        // from 706: seconds 601..705 are overloaded.
        let mut fine = LimitTracker::new(LimitModel {
            period_seconds: 20,
            publication_delay_seconds: 20,
            ..model()
        });
        for t in 1..=1200 {
            fine.second(t, if t > 600 { 350.0 } else { 150.0 });
        }
        assert_eq!(fine.reactive_seconds - fine.unavoidable_seconds, 105);
    }

    #[test]
    fn ratios_compare_the_avoidable_parts() {
        assert_eq!(ratio_to_limit(365, 65, 165), Some(3.0));
        assert_eq!(ratio_to_limit(65, 65, 165), Some(0.0));
        assert_eq!(ratio_to_limit(100, 65, 65), None);
    }
}

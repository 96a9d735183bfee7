//! SNS messages (kept for tests), and CloudWatch alarms, as far as deployments use them (aws-facts.md, "What ECS and AAS added";
//! the ECS developer guide's "How CloudWatch alarms detect Amazon ECS deployment failures"):
//! - an alarm has a state (OK, ALARM, INSUFFICIENT_DATA), a reason and the time it last changed;
//!   DescribeAlarms reports them, at most 100 names a call, leaving out names with no alarm;
//! - a deployment whose configuration names alarms (`deploymentConfiguration.alarms`) is FAILED
//!   when one of them goes to ALARM while the deployment is in progress, and rolled back when
//!   `rollback` is on (a traffic-shifting one by moving the traffic back, a rolling one by a new
//!   deployment of the last completed revision);
//! - an alarm already in ALARM when the deployment starts does not fail it (ECS ignores it: the
//!   deployment alarms fail a deployment on a change to ALARM).
//!
//! Not modelled: what the alarms watch. The simulator evaluates no metric for them; a scenario
//! sets their state with [`Sim::set_alarm_state`], CloudWatch's own way to test an alarm
//! (SetAlarmState). Nor is the extra bake ECS adds to a rolling deployment with alarms (worked out
//! by ECS from the alarms' periods; it cannot be set): a rolling deployment completes as without
//! alarms.

use serde::{Deserialize, Serialize};

/// SNS messages the simulated account keeps.
const PUBLISHED_KEPT: usize = 1000;

use super::{SECOND, Sim};
use crate::cloud::{CloudError, Operation};
use crate::model::aws::{ALARMS_PER_CALL, AlarmState, AlarmStateValue, RolloutState};

/// One alarm.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Alarm {
    /// Its state.
    state: AlarmStateValue,
    /// Why it is in it.
    reason: String,
    /// When it entered it (ms).
    since_ms: u64,
}

impl Sim {
    /// Creates an alarm, in OK, as a stack's template would (PutMetricAlarm: infrastructure, not
    /// a controller call). An alarm that exists is left as it is.
    pub fn put_alarm(&mut self, name: &str) {
        let now = self.now_ms;
        self.alarms.entry(name.to_owned()).or_insert(Alarm {
            state: AlarmStateValue::Ok,
            reason: "created in OK".to_owned(),
            since_ms: now,
        });
    }

    /// SetAlarmState: the alarm (created first if it does not exist) enters `state` now, for
    /// `reason`, unless it is in it already.
    pub fn set_alarm_state(&mut self, name: &str, state: AlarmStateValue, reason: &str) {
        self.put_alarm(name);
        let now = self.now_ms;
        if let Some(alarm) = self.alarms.get_mut(name)
            && alarm.state != state
        {
            *alarm = Alarm {
                state,
                reason: reason.to_owned(),
                since_ms: now,
            };
        }
    }

    /// DescribeAlarms by name: the alarms that exist, their state, reason and when it changed
    /// (seconds).
    ///
    /// # Errors
    /// More than 100 names, throttling, faults.
    pub fn describe_alarms(&mut self, names: &[String]) -> Result<Vec<AlarmState>, CloudError> {
        const OP: Operation = Operation::DescribeAlarms;
        self.call(OP)?;
        if names.len() > ALARMS_PER_CALL {
            return Err(self.client_error(
                OP,
                format!(
                    "{} alarm names: at most {ALARMS_PER_CALL} a call",
                    names.len()
                ),
            ));
        }
        Ok(names
            .iter()
            .filter_map(|name| {
                let alarm = self.alarms.get(name)?;
                Some(AlarmState {
                    name: name.clone(),
                    state: alarm.state,
                    reason: alarm.reason.clone(),
                    since: alarm.since_ms / SECOND,
                })
            })
            .collect())
    }

    /// SNS Publish: the message is kept, in order, for [`Sim::published`] (the simulator has no
    /// subscribers). Any topic ARN of SNS's shape is taken: topics are infrastructure.
    ///
    /// # Errors
    /// A topic ARN that is not one, throttling, faults.
    pub fn publish(
        &mut self,
        topic_arn: &str,
        subject: &str,
        message: &str,
    ) -> Result<(), CloudError> {
        const OP: Operation = Operation::Publish;
        self.call(OP)?;
        if !topic_arn.starts_with("arn:") || !topic_arn.contains(":sns:") {
            return Err(self.client_error(OP, format!("Invalid parameter: TopicArn {topic_arn}")));
        }
        let at = self.now_ms / SECOND;
        self.published.push((
            at,
            topic_arn.to_owned(),
            subject.to_owned(),
            message.to_owned(),
        ));
        // A long-running simulated account keeps the newest only.
        if self.published.len() > PUBLISHED_KEPT {
            self.published
                .drain(..self.published.len() - PUBLISHED_KEPT);
        }
        Ok(())
    }

    /// Every message published so far: (second, topic, subject, message).
    pub fn published(&self) -> &[(u64, String, String, String)] {
        &self.published
    }

    /// ECS's alarm check of a service's deployment in progress: FAILED (and rolled back where
    /// configured) when a named alarm went to ALARM since it started.
    pub(super) fn judge_alarms(&mut self, key: &(String, String)) {
        let Some(service) = self.services.get(key) else {
            return;
        };
        let Some(primary) = service.deployments.first() else {
            return;
        };
        if primary.rollout != RolloutState::InProgress {
            return;
        }
        let tripped = service.config.alarms.iter().find_map(|name| {
            let alarm = self.alarms.get(name)?;
            (alarm.state == AlarmStateValue::Alarm && alarm.since_ms >= primary.started_ms)
                .then(|| format!("CloudWatch alarm {name} went into ALARM: {}", alarm.reason))
        });
        if let Some(reason) = tripped {
            self.fail_deployment(key, reason);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloud::sim::load::LoadTrace;
    use crate::cloud::sim::world::World;

    #[test]
    fn describe_alarms_reports_state_reason_and_when_it_changed_and_skips_unknown_names() {
        let mut sim = Sim::new(World::default(), LoadTrace::default(), 1);
        sim.put_alarm("web-5xx");
        sim.advance_to(30 * SECOND);
        sim.set_alarm_state("web-5xx", AlarmStateValue::Alarm, "5XX above 10");
        sim.advance_to(60 * SECOND);
        // The same state again changes nothing, as SetAlarmState to the state it is in.
        sim.set_alarm_state("web-5xx", AlarmStateValue::Alarm, "still");
        let seen = sim
            .describe_alarms(&["web-5xx".into(), "nobody".into()])
            .expect("described");
        assert_eq!(
            seen,
            vec![AlarmState {
                name: "web-5xx".into(),
                state: AlarmStateValue::Alarm,
                reason: "5XX above 10".into(),
                since: 30,
            }]
        );
        let too_many: Vec<String> = (0..=ALARMS_PER_CALL).map(|i| format!("a{i}")).collect();
        assert!(sim.describe_alarms(&too_many).is_err());
    }
}

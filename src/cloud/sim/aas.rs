//! The baseline users have today: Application Auto Scaling driven by CloudWatch alarms. It is
//! configured with plain policy values ([`ScalingPolicy`]); the simulation harness derives them
//! from a stack's `scaling` section, so tugboat's own scaler can be compared with it on the same
//! trace. The world knows no manifest.
//!
//! Facts modelled (aws-facts.md, "Application Auto Scaling"):
//! - Target tracking: the scale-out alarm needs 3 of 3 one-minute datapoints above the target, and
//!   scales out proportionally (desired = ceil(current x cpu / target)); the scale-in alarm needs 15
//!   of 15 below 90 % of the target, and scales in gradually (one task, never below the proportional
//!   count).
//! - Step scaling: an alarm over `evaluationPeriods` one-minute datapoints triggers a step.
//! - Cooldowns, scale-out and scale-in separately. No action on missing data (5XX counts are the
//!   exception: missing means 0). Scale-in is suspended while an ECS deployment is in progress;
//!   scale-out continues.
//!
//! - Target tracking on the 20-second metric (`ECSServiceAverageCPUUtilizationHighResolution`,
//!   2026; aws-facts.md, "What ECS and AAS added"): evaluated every 20 seconds; the scale-out alarm
//!   needs 3 of 3 20-second datapoints above the target (with the world's default delay, a step
//!   triggers in about 80 s, against AWS's benchmark of 86 s); the scale-in alarm keeps its
//!   15-minute span (45 of 45 datapoints below 90 % of the target), as AWS documents no other.
//!
//! Alarms see only published datapoints, so the publication delay is part of the reaction time.

use serde::Serialize;

use crate::model::aws::{FINE_CPU_PERIOD_SECONDS, MetricId, StepAdjustment};

/// 20-second datapoints the scale-in alarm of target tracking on the 20-second metric evaluates:
/// the 15 minutes of the 1-minute one.
const FINE_SCALE_IN_PERIODS: usize = 45;

use super::{SECOND, Sim};

/// One alarm-driven policy of a scalable target.
#[derive(Debug, Clone, PartialEq)]
pub enum Trigger {
    /// CPU target tracking at `target` percent.
    TargetCpu {
        /// Target CPU percent.
        target: f64,
    },
    /// CPU target tracking at `target` percent on the 20-second CPU metric.
    TargetCpuFine {
        /// Target CPU percent.
        target: f64,
    },
    /// CPU step scaling: an alarm above `out_above` (and one below `in_below`) over `periods`
    /// one-minute datapoints adds `out_step` (removes `in_step`) tasks.
    StepCpu {
        /// Scale-out alarm threshold, percent.
        out_above: f64,
        /// Scale-in alarm threshold, percent.
        in_below: Option<f64>,
        /// Datapoints the alarms evaluate.
        periods: usize,
        /// Tasks added.
        out_step: StepAdjustment,
        /// Tasks removed.
        in_step: StepAdjustment,
    },
    /// 5XX step scaling: `threshold` or more per minute for `periods` minutes multiplies the
    /// count by `factor`.
    Http5xx {
        /// The count metric the alarm watches.
        metric: MetricId,
        /// Count per minute.
        threshold: f64,
        /// Datapoints the alarm evaluates.
        periods: usize,
        /// Multiplier.
        factor: f64,
    },
}

/// One scalable target (a service) and its policies, as a user would configure them.
#[derive(Debug, Clone)]
pub struct ScalingPolicy {
    /// Cluster name.
    pub cluster: String,
    /// Service name.
    pub service: String,
    /// Minimum capacity.
    pub min: u32,
    /// Maximum capacity.
    pub max: u32,
    /// Scale-out cooldown, seconds.
    pub scale_out_cooldown_s: u64,
    /// Scale-in cooldown, seconds.
    pub scale_in_cooldown_s: u64,
    /// Its alarms.
    pub triggers: Vec<Trigger>,
}

/// A policy and when it last acted.
#[derive(Debug, Clone)]
struct Scalable {
    policy: ScalingPolicy,
    last_scale_out_s: Option<u64>,
    last_scale_any_s: Option<u64>,
}

/// One scaling action the baseline took.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScalingAction {
    /// Simulated seconds.
    pub t_seconds: u64,
    /// Service name.
    pub service: String,
    /// Desired count before.
    pub from: u32,
    /// Desired count after.
    pub to: u32,
    /// Which alarm.
    pub reason: String,
}

/// Application Auto Scaling for every service of a stack that has a `scaling` section.
#[derive(Debug, Clone, Default)]
pub struct Baseline {
    services: Vec<Scalable>,
    /// Every action taken, in order.
    pub actions: Vec<ScalingAction>,
}

impl Baseline {
    /// Application Auto Scaling with these policies.
    pub fn new(policies: Vec<ScalingPolicy>) -> Self {
        Self {
            services: policies
                .into_iter()
                .map(|policy| Scalable {
                    policy,
                    last_scale_out_s: None,
                    last_scale_any_s: None,
                })
                .collect(),
            actions: Vec::new(),
        }
    }

    /// Evaluates every alarm on published datapoints, and scales: 1-minute alarms once a
    /// minute, 20-second ones every 20 seconds.
    pub fn evaluate(&mut self, sim: &mut Sim) {
        let now_s = sim.now_ms() / SECOND;
        if !now_s.is_multiple_of(u64::from(FINE_CPU_PERIOD_SECONDS)) {
            return;
        }
        let minute = now_s.is_multiple_of(60);
        for scalable in &mut self.services {
            let Some(current) = sim
                .peek_service(&scalable.policy.cluster, &scalable.policy.service)
                .map(|d| d.desired_count)
            else {
                continue;
            };
            let rolling_out = sim
                .samples()
                .get(&(
                    scalable.policy.cluster.clone(),
                    scalable.policy.service.clone(),
                ))
                .is_some_and(|s| s.rolling_out);
            let mut out: Option<(u32, String)> = None;
            let mut scale_in: Option<(u32, String)> = None;
            for trigger in &scalable.policy.triggers {
                if !minute && !matches!(trigger, Trigger::TargetCpuFine { .. }) {
                    continue;
                }
                let (o, i) = recommend(sim, scalable, trigger, current);
                if let Some(o) = o
                    && out.as_ref().is_none_or(|(best, _)| o.0 > *best)
                {
                    out = Some(o);
                }
                if let Some(i) = i
                    && scale_in.as_ref().is_none_or(|(best, _)| i.0 > *best)
                {
                    scale_in = Some(i);
                }
            }
            let out_cooling = scalable
                .last_scale_out_s
                .is_some_and(|t| now_s < t + scalable.policy.scale_out_cooldown_s);
            let in_cooling = scalable
                .last_scale_any_s
                .is_some_and(|t| now_s < t + scalable.policy.scale_in_cooldown_s);
            let decision = match (out, scale_in) {
                (Some((to, reason)), _) if !out_cooling => Some((
                    to.clamp(scalable.policy.min, scalable.policy.max),
                    reason,
                    true,
                )),
                (None, Some((to, reason))) if !in_cooling && !rolling_out => Some((
                    to.clamp(scalable.policy.min, scalable.policy.max),
                    reason,
                    false,
                )),
                _ => None,
            };
            if let Some((to, reason, is_out)) = decision.filter(|(to, _, _)| *to != current) {
                sim.set_desired_count(&scalable.policy.cluster, &scalable.policy.service, to);
                if is_out {
                    scalable.last_scale_out_s = Some(now_s);
                }
                scalable.last_scale_any_s = Some(now_s);
                self.actions.push(ScalingAction {
                    t_seconds: now_s,
                    service: scalable.policy.service.clone(),
                    from: current,
                    to,
                    reason,
                });
            }
        }
    }
}

/// The last `periods` published minutes of a metric (20-second periods for
/// [`MetricId::ServiceCpuFine`]), oldest first; `None` where one is missing (or `Some(0)` for
/// counts, where missing means zero).
fn window(sim: &Sim, metric: &MetricId, periods: usize, missing_is_zero: bool) -> Vec<Option<f64>> {
    let now_ms = sim.now_ms();
    let (period, delay_s) = match metric {
        MetricId::ServiceCpuFine { .. } => (
            u64::from(FINE_CPU_PERIOD_SECONDS),
            sim.world().metrics.fine_publication_delay_seconds,
        ),
        _ => (60, sim.world().metrics.publication_delay_seconds),
    };
    // The newest period that can be published: it closed at least `delay` ago.
    let Some(newest_end_s) = now_ms
        .checked_sub(delay_s * SECOND)
        .map(|ms| ms / SECOND / period * period)
    else {
        return Vec::new();
    };
    let Some(first) = newest_end_s.checked_sub(period * periods as u64) else {
        return Vec::new();
    };
    let points = sim.metrics.visible(metric, first, newest_end_s, now_ms);
    (0..periods)
        .map(|i| {
            let minute = first + period * i as u64;
            points
                .iter()
                .find(|p| p.minute_start == minute)
                .map(|p| p.value)
                .or(missing_is_zero.then_some(0.0))
        })
        .collect()
}

/// Whether all `periods` minutes are present and satisfy `breach`.
fn alarm(values: &[Option<f64>], periods: usize, breach: impl Fn(f64) -> bool) -> bool {
    values.len() == periods && values.iter().all(|v| v.is_some_and(&breach))
}

type Recommendation = Option<(u32, String)>;

/// (scale-out, scale-in) recommendations of one trigger.
fn recommend(
    sim: &Sim,
    scalable: &Scalable,
    trigger: &Trigger,
    current: u32,
) -> (Recommendation, Recommendation) {
    let cpu = MetricId::ServiceCpu {
        cluster: scalable.policy.cluster.clone(),
        service: scalable.policy.service.clone(),
    };
    match trigger {
        Trigger::TargetCpu { target } => {
            let high = window(sim, &cpu, 3, false);
            let low = window(sim, &cpu, 15, false);
            let proportional = |v: f64| (f64::from(current) * v / target).ceil() as u32;
            let out = alarm(&high, 3, |v| v > *target)
                .then(|| high.last().copied().flatten())
                .flatten()
                .map(|v| {
                    (
                        proportional(v).max(current + 1),
                        format!("target tracking: CPU {v:.0}% > {target}% for 3 of 3 minutes"),
                    )
                });
            let scale_in = alarm(&low, 15, |v| v < 0.9 * target)
                .then(|| low.last().copied().flatten())
                .flatten()
                .map(|v| {
                    let to = proportional(v).max(current.saturating_sub(1));
                    (
                        to,
                        format!(
                            "target tracking: CPU {v:.0}% < 90% of {target}% for 15 of 15 minutes"
                        ),
                    )
                });
            (out, scale_in)
        }
        Trigger::TargetCpuFine { target } => {
            let fine = MetricId::ServiceCpuFine {
                cluster: scalable.policy.cluster.clone(),
                service: scalable.policy.service.clone(),
            };
            let high = window(sim, &fine, 3, false);
            let low = window(sim, &fine, FINE_SCALE_IN_PERIODS, false);
            let proportional = |v: f64| (f64::from(current) * v / target).ceil() as u32;
            let out = alarm(&high, 3, |v| v > *target)
                .then(|| high.last().copied().flatten())
                .flatten()
                .map(|v| {
                    (
                        proportional(v).max(current + 1),
                        format!(
                            "target tracking (20 s): CPU {v:.0}% > {target:.0}% for 3 of 3 datapoints"
                        ),
                    )
                });
            let scale_in = alarm(&low, FINE_SCALE_IN_PERIODS, |v| v < 0.9 * target)
                .then(|| low.last().copied().flatten())
                .flatten()
                .map(|v| {
                    (
                        proportional(v).max(current.saturating_sub(1)),
                        format!(
                            "target tracking (20 s): CPU {v:.0}% < 90% of {target:.0}% for 15 minutes"
                        ),
                    )
                });
            (out, scale_in)
        }
        Trigger::StepCpu {
            out_above,
            in_below,
            periods,
            out_step,
            in_step,
        } => {
            let values = window(sim, &cpu, *periods, false);
            let out = alarm(&values, *periods, |v| v > *out_above).then(|| {
                (
                    current + out_step.tasks(current),
                    format!("step scaling: CPU > {out_above}% for {periods} minutes"),
                )
            });
            let scale_in = in_below.and_then(|below| {
                alarm(&values, *periods, |v| v < below).then(|| {
                    (
                        current.saturating_sub(in_step.tasks(current)),
                        format!("step scaling: CPU < {below}% for {periods} minutes"),
                    )
                })
            });
            (out, scale_in)
        }
        Trigger::Http5xx {
            metric,
            threshold,
            periods,
            factor,
        } => {
            let values = window(sim, metric, *periods, true);
            let out = alarm(&values, *periods, |v| v >= *threshold).then(|| {
                let to = (f64::from(current.max(1)) * factor).ceil() as u32;
                (
                    to,
                    format!("step scaling: 5XX >= {threshold} per minute for {periods} minutes"),
                )
            });
            (out, None)
        }
    }
}

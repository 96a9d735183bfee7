//! The baseline users have today: Application Auto Scaling driven by CloudWatch alarms, built from a
//! stack's `scaling` section so tugboat's own scaler can be compared with it on the same trace.
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
//! Alarms see only published datapoints, so the publication delay is part of the reaction time.

use serde::Serialize;

use crate::cloud::types::MetricId;
use crate::manifest::spec::{Http5xxSource, ServiceSpec};
use crate::model::Stack;

use super::{SECOND, Sim};

/// One policy's trigger.
#[derive(Debug, Clone)]
enum Trigger {
    /// CPU target tracking.
    TargetCpu { target: f64 },
    /// CPU step scaling.
    StepCpu {
        out_above: f64,
        in_below: Option<f64>,
        periods: usize,
        out_step: u32,
        in_step: u32,
    },
    /// 5XX step scaling: multiply on breach.
    Http5xx {
        metric: MetricId,
        threshold: f64,
        periods: usize,
        factor: f64,
    },
}

/// One scalable service and its policies.
#[derive(Debug, Clone)]
struct Scalable {
    cluster: String,
    service: String,
    min: u32,
    max: u32,
    scale_out_cooldown_s: u64,
    scale_in_cooldown_s: u64,
    triggers: Vec<Trigger>,
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
    /// The policies a user would configure for `stack` with alarms and Application Auto Scaling.
    pub fn for_stack(stack: &Stack) -> Self {
        let cluster = stack.spec().cluster.clone();
        let services = stack
            .spec()
            .services
            .iter()
            .filter_map(|s| scalable(&cluster, stack.name(), s))
            .collect();
        Self {
            services,
            actions: Vec::new(),
        }
    }

    /// Evaluates every alarm once a minute, on published datapoints, and scales.
    pub fn evaluate(&mut self, sim: &mut Sim) {
        let now_s = sim.now_ms() / SECOND;
        if !now_s.is_multiple_of(60) {
            return;
        }
        for scalable in &mut self.services {
            let Some(current) = sim
                .peek_service(&scalable.cluster, &scalable.service)
                .map(|d| d.desired_count)
            else {
                continue;
            };
            let rolling_out = sim
                .samples()
                .get(&(scalable.cluster.clone(), scalable.service.clone()))
                .is_some_and(|s| s.rolling_out);
            let mut out: Option<(u32, String)> = None;
            let mut scale_in: Option<(u32, String)> = None;
            for trigger in &scalable.triggers {
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
                .is_some_and(|t| now_s < t + scalable.scale_out_cooldown_s);
            let in_cooling = scalable
                .last_scale_any_s
                .is_some_and(|t| now_s < t + scalable.scale_in_cooldown_s);
            let decision = match (out, scale_in) {
                (Some((to, reason)), _) if !out_cooling => {
                    Some((to.clamp(scalable.min, scalable.max), reason, true))
                }
                (None, Some((to, reason))) if !in_cooling && !rolling_out => {
                    Some((to.clamp(scalable.min, scalable.max), reason, false))
                }
                _ => None,
            };
            if let Some((to, reason, is_out)) = decision.filter(|(to, _, _)| *to != current) {
                sim.set_desired_count(&scalable.cluster, &scalable.service, to);
                if is_out {
                    scalable.last_scale_out_s = Some(now_s);
                }
                scalable.last_scale_any_s = Some(now_s);
                self.actions.push(ScalingAction {
                    t_seconds: now_s,
                    service: scalable.service.clone(),
                    from: current,
                    to,
                    reason,
                });
            }
        }
    }
}

fn scalable(cluster: &str, stack: &str, service: &ServiceSpec) -> Option<Scalable> {
    let scaling = service.scaling.as_ref()?;
    let mut triggers = Vec::new();
    if let Some(cpu) = &scaling.cpu {
        match cpu.target_percent {
            Some(target) => triggers.push(Trigger::TargetCpu {
                target: f64::from(target),
            }),
            None => triggers.push(Trigger::StepCpu {
                out_above: f64::from(cpu.scale_out_above_percent.unwrap_or(100)),
                in_below: cpu.scale_in_below_percent.map(f64::from),
                periods: cpu.evaluation_periods.unwrap_or(1) as usize,
                out_step: cpu.scale_out_step.unwrap_or(1),
                in_step: cpu.scale_in_step.unwrap_or(1),
            }),
        }
    }
    if let (Some(http), Some(lb)) = (&scaling.http5xx, service.load_balancers.first()) {
        let metric = match http.source {
            Http5xxSource::Target => MetricId::Target5xx {
                target_group: lb.target_group.clone(),
            },
            Http5xxSource::LoadBalancer => MetricId::Elb5xx {
                load_balancer: stack.to_owned(),
            },
        };
        triggers.push(Trigger::Http5xx {
            metric,
            threshold: f64::from(http.threshold),
            periods: http.evaluation_periods as usize,
            factor: http.scale_out_factor,
        });
    }
    Some(Scalable {
        cluster: cluster.to_owned(),
        service: service.name.clone(),
        min: scaling.min_tasks,
        max: scaling.max_tasks,
        scale_out_cooldown_s: u64::from(scaling.scale_out_cooldown_seconds),
        scale_in_cooldown_s: u64::from(scaling.scale_in_cooldown_seconds),
        triggers,
        last_scale_out_s: None,
        last_scale_any_s: None,
    })
}

/// The last `periods` published minutes of a metric, oldest first; `None` where a minute is missing
/// (or `Some(0)` for counts, where missing means zero).
fn window(sim: &Sim, metric: &MetricId, periods: usize, missing_is_zero: bool) -> Vec<Option<f64>> {
    let now_ms = sim.now_ms();
    let delay_ms = sim.world().metrics.publication_delay_seconds * SECOND;
    // The newest minute that can be published: it closed at least `delay` ago.
    let Some(newest_end_s) = now_ms.checked_sub(delay_ms).map(|ms| ms / SECOND / 60 * 60) else {
        return Vec::new();
    };
    let Some(first) = newest_end_s.checked_sub(60 * periods as u64) else {
        return Vec::new();
    };
    let points = sim.metrics.visible(metric, first, newest_end_s, now_ms);
    (0..periods)
        .map(|i| {
            let minute = first + 60 * i as u64;
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
        cluster: scalable.cluster.clone(),
        service: scalable.service.clone(),
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
                    current + out_step,
                    format!("step scaling: CPU > {out_above}% for {periods} minutes"),
                )
            });
            let scale_in = in_below.and_then(|below| {
                alarm(&values, *periods, |v| v < below).then(|| {
                    (
                        current.saturating_sub(*in_step),
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

//! Scaling: from published datapoints to a desired count, as a pipeline of small steps
//! (recommend per trigger -> combine -> cooldown -> rollout freeze -> clamp), each returning its
//! reason, in the manner of Kubernetes' HPA. `now` is an argument; nothing here reads a clock.
//!
//! Rules (design.md §5, issue 4):
//! - CPU thresholds: N consecutive 1-minute datapoints above `scaleOutAbovePercent` add
//!   `scaleOutStep` tasks; N below `scaleInBelowPercent` remove `scaleInStep`.
//! - CPU target tracking: desired = ceil(current x cpu / target), no change within 10 % of the target.
//! - HTTP 5XX: `threshold` or more per minute for N minutes multiplies the count by `scaleOutFactor`;
//!   with `proportionalScaleOut`, it scales to the demand the CPU measures at
//!   [`FIVE_XX_SIZING_PERCENT`] instead (where there is a CPU series), and with
//!   `scaleInWhenDemandFits` it scales in to the highest demand of [`STABILISATION_MINUTES`] calm
//!   minutes. A breach counted before the last scale-out's tasks all served a minute is not acted
//!   on (for [`LANDING_WAIT_S`] at most). Missing 5XX datapoints are zero (CloudWatch reports these
//!   counts only when non-zero).
//! - With 20-second CPU (`metricResolutionSeconds: 20`), the newest 20-second datapoint decides
//!   CPU scale-out and holds a scale-in while it is busy; the minutes decide scale-in.
//! - Missing CPU data never scales in (and cannot scale out either: there is nothing to act on).
//! - With `proportionalScaleOut` (the default), CPU scaling is sized to demand ([`demand`]): the
//!   newest datapoint above the threshold (or the target) scales out at once to the tasks its load
//!   needs at the rule's target utilisation, counting the tasks that served that minute
//!   (HealthyHostCount), not the desired count; while the CPU is saturated the requests offered
//!   (RequestCount) say how much more is needed. Scale-in takes the highest demand of the last
//!   [`STABILISATION_MINUTES`] minutes (HPA's stabilisation window), and a scale-out cooldown ends
//!   early once every task of the last scale-out has served a whole minute.
//! - Separate scale-out and scale-in cooldowns; scale-in is frozen during a rollout, scale-out is not.
//! - The result is clamped to [minTasks, maxTasks].

use serde::{Deserialize, Serialize};

use crate::manifest::spec::{Http5xxScaling, ScalingSpec, ScalingStep};
pub use crate::model::ScalingClock;
use crate::model::aws::StepAdjustment;

/// Within this fraction of the target, target tracking does not act (HPA's tolerance).
pub const TARGET_TOLERANCE: f64 = 0.10;
/// Average CPU at or above which a minute's CPU no longer measures its load: the tasks were busy
/// all the time, and requests beyond them queued or failed.
pub const SATURATED_PERCENT: f64 = 90.0;
/// Minutes of demand a scale-in looks back over: the highest wins (HPA's 300 s default).
pub const STABILISATION_MINUTES: usize = 5;
/// The CPU percent a 5XX rule sizes the demand to (its tasks' CPU measures the demand; the
/// load balancer's 5XX count, shared by every service behind it, cannot).
pub const FIVE_XX_SIZING_PERCENT: f64 = 80.0;
/// Seconds after a scale-out during which a 5XX breach counted before its tasks all served a
/// minute is not acted on (after that, tasks that never became healthy no longer hold it).
pub const LANDING_WAIT_S: u64 = 600;

/// Which way a decision goes; a bounded label for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// More tasks.
    Up,
    /// Fewer tasks.
    Down,
    /// No change.
    None,
}

/// What caused a decision; a bounded label for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// CPU thresholds or target tracking.
    Cpu,
    /// HTTP 5XX count.
    Http5xx,
    /// Bounds (minTasks / maxTasks) alone.
    Bounds,
    /// Nothing.
    None,
}

impl Trigger {
    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Cpu => "cpu",
            Trigger::Http5xx => "http5xx",
            Trigger::Bounds => "bounds",
            Trigger::None => "none",
        }
    }
}

/// The datapoints a decision may use: newest last, one per minute, `None` where a minute is missing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScalingInputs {
    /// Average CPU percent of the service's tasks, per minute.
    pub cpu: Vec<Option<f64>>,
    /// 5XX responses per minute (missing minutes are zero).
    pub http_5xx: Vec<Option<f64>>,
    /// Requests offered per minute (the target group's RequestCount), aligned with `cpu`.
    pub requests: Vec<Option<f64>>,
    /// Tasks that served each minute (HealthyHostCount, average), aligned with `cpu`.
    pub serving: Vec<Option<f64>>,
    /// The newest 20-second CPU datapoint, for a rule on 20-second datapoints: newer than the
    /// newest minute, it decides scale-out (and vetoes a scale-in while it is high).
    pub cpu_fine: Option<f64>,
}

/// A scaling decision with the reason shown to people and the labels counted in metrics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScaleDecision {
    /// The desired count after this decision.
    pub desired: u32,
    /// Which way.
    pub direction: Direction,
    /// Why, as a label.
    pub trigger: Trigger,
    /// Why, in words, with the datapoints used.
    pub reason: String,
    /// When a change held back by a cooldown may happen (seconds): the time to look again.
    pub held_until: Option<u64>,
}

/// One trigger's opinion.
#[derive(Debug, Clone, PartialEq)]
struct Recommendation {
    desired: u32,
    trigger: Trigger,
    reason: String,
}

/// The whole pipeline: what the desired count should be now.
pub fn decide(
    spec: &ScalingSpec,
    current: u32,
    inputs: &ScalingInputs,
    clock: ScalingClock,
    rolling_out: bool,
    now: u64,
) -> ScaleDecision {
    // A scale-out's 5XX count from before its tasks all served a minute is not acted on again.
    let fresh = landed(current, inputs)
        || clock
            .last_scale_out
            .is_none_or(|t| now >= t + LANDING_WAIT_S);
    let recommendations = recommend(spec, current, inputs, fresh);
    let (wanted, mut reason, trigger) = combine(current, &recommendations);
    let landed = spec.proportional_scale_out && landed(current, inputs);
    let (after_cooldown, held, held_until) = cooldown(spec, current, wanted, clock, landed, now);
    let (after_freeze, frozen) = freeze_scale_in(current, after_cooldown, rolling_out);
    let desired = after_freeze.clamp(spec.min_tasks, spec.max_tasks);
    if let Some(why) = held.or(frozen) {
        reason = format!("{reason}; held: {why}");
    }
    if desired != after_freeze {
        reason = format!(
            "{reason}; clamped to {}..{} tasks",
            spec.min_tasks, spec.max_tasks
        );
    }
    let direction = match desired.cmp(&current) {
        std::cmp::Ordering::Greater => Direction::Up,
        std::cmp::Ordering::Less => Direction::Down,
        std::cmp::Ordering::Equal => Direction::None,
    };
    let trigger = match direction {
        Direction::None => Trigger::None,
        _ if desired != after_freeze => Trigger::Bounds,
        _ => trigger,
    };
    ScaleDecision {
        desired,
        direction,
        trigger,
        reason,
        held_until,
    }
}

/// Every trigger's recommendation (those with an opinion); `fresh`: whether a 5XX breach may be
/// acted on (the last scale-out's tasks have served a minute, or long ago).
fn recommend(
    spec: &ScalingSpec,
    current: u32,
    inputs: &ScalingInputs,
    fresh: bool,
) -> Vec<Recommendation> {
    let mut out = Vec::new();
    if let Some(cpu) = &spec.cpu
        && spec.proportional_scale_out
    {
        if let Some(target) = cpu.target_percent {
            out.extend(sized_to_demand(current, f64::from(target), None, inputs));
        } else if let Some(above) = cpu.scale_out_above_percent {
            let below = cpu.scale_in_below_percent.map(f64::from);
            out.extend(sized_to_demand(
                current,
                f64::from(above),
                Some(ThresholdRule {
                    below,
                    periods: cpu.evaluation_periods.unwrap_or(3) as usize,
                    out_step: ScalingStep::or_one(cpu.scale_out_step.as_ref()),
                    in_step: ScalingStep::or_one(cpu.scale_in_step.as_ref()),
                }),
                inputs,
            ));
        }
    } else if let Some(cpu) = &spec.cpu {
        if let Some(target) = cpu.target_percent {
            out.extend(target_tracking(current, f64::from(target), &inputs.cpu));
        } else if let Some(above) = cpu.scale_out_above_percent {
            let periods = cpu.evaluation_periods.unwrap_or(3) as usize;
            out.extend(cpu_thresholds(
                current,
                f64::from(above),
                cpu.scale_in_below_percent.map(f64::from),
                periods,
                ScalingStep::or_one(cpu.scale_out_step.as_ref()),
                ScalingStep::or_one(cpu.scale_in_step.as_ref()),
                &inputs.cpu,
            ));
        }
    }
    if let Some(http) = &spec.http5xx {
        out.extend(http_5xx(
            current,
            http,
            spec.proportional_scale_out,
            inputs,
            fresh,
        ));
    }
    out
}

/// The CPU percent a threshold rule sizes to: between its two thresholds (so the next datapoint
/// triggers neither), or 85 % of the scale-out threshold without a scale-in one.
fn sizing_percent(above: f64, below: Option<f64>) -> f64 {
    below.map_or(above * 0.85, |b| (above + b) / 2.0)
}

/// The share of a task's capacity a service's scaling rule sizes to: its CPU target, or the
/// percent a threshold rule sizes to; 100 % for a rule on 5XX alone.
pub fn target_utilisation(spec: &ScalingSpec) -> f64 {
    let percent = spec.cpu.as_ref().map_or(100.0, |cpu| {
        match (cpu.target_percent, cpu.scale_out_above_percent) {
            (Some(t), _) => f64::from(t),
            (None, Some(above)) => {
                sizing_percent(f64::from(above), cpu.scale_in_below_percent.map(f64::from))
            }
            (None, None) => 100.0,
        }
    });
    percent / 100.0
}

/// A threshold rule's parts beyond its scale-out threshold.
struct ThresholdRule {
    below: Option<f64>,
    periods: usize,
    out_step: StepAdjustment,
    in_step: StepAdjustment,
}

/// The tasks minute `i`'s load needs at `target` percent CPU, and how that was worked out.
/// Unsaturated, the CPU measures the load: the tasks that served the minute x its CPU / target.
/// Saturated, the CPU is a floor; the requests offered that minute, at the CPU a request cost in
/// the newest unsaturated minute, say how far beyond it the demand goes. `None` without a CPU
/// datapoint.
pub fn demand(
    inputs: &ScalingInputs,
    i: usize,
    current: u32,
    target: f64,
) -> Option<(u32, String)> {
    let cpu = (*inputs.cpu.get(i)?)?;
    let served = inputs
        .serving
        .get(i)
        .copied()
        .flatten()
        .filter(|s| *s >= 0.5)
        .unwrap_or(f64::from(current));
    let tasks = |x: f64| -> u32 {
        let n = (x - 1e-9).ceil().max(1.0);
        if n >= f64::from(u32::MAX) {
            u32::MAX
        } else {
            n as u32
        }
    };
    let floor = tasks(served * cpu / target);
    if cpu < SATURATED_PERCENT {
        return Some((
            floor,
            format!("CPU {cpu:.0}% on {served:.0} serving tasks needs {floor} at {target:.0}%"),
        ));
    }
    let requests = inputs.requests.get(i).copied().flatten();
    // CPU per request and task, from the newest minute that measured it.
    let cost = (0..inputs.cpu.len()).rev().find_map(|j| {
        let c = inputs.cpu[j]?;
        let r = inputs.requests.get(j).copied().flatten()?;
        let s = inputs.serving.get(j).copied().flatten()?;
        (c < SATURATED_PERCENT && r > 0.0 && s >= 0.5).then_some(c * s / r)
    });
    match (requests, cost) {
        (Some(r), Some(k)) if r > 0.0 => {
            let n = tasks(r * k / target).max(floor);
            Some((
                n,
                format!(
                    "CPU {cpu:.0}% (saturated) on {served:.0} serving tasks; {r:.0} requests offered in the minute need {n} at {target:.0}%"
                ),
            ))
        }
        _ => Some((
            floor,
            format!(
                "CPU {cpu:.0}% (saturated) on {served:.0} serving tasks needs at least {floor} at {target:.0}%"
            ),
        )),
    }
}

/// Whether every task of the current count served the newest minute (HealthyHostCount averaged
/// at least the count): the last scale-out has landed and been measured.
fn landed(current: u32, inputs: &ScalingInputs) -> bool {
    inputs
        .serving
        .last()
        .copied()
        .flatten()
        .is_some_and(|s| s + 1e-9 >= f64::from(current))
}

/// CPU scaling sized to demand. Scale-out: the newest datapoint above `above` (thresholds) or
/// outside the tolerance of the target, to the tasks its load needs (at least one step, for a
/// threshold rule). Scale-in: a threshold rule's `periods` datapoints below its threshold, or
/// target tracking below the tolerance, to the highest demand of the last
/// [`STABILISATION_MINUTES`] minutes (never more than one step of a threshold rule).
fn sized_to_demand(
    current: u32,
    above: f64,
    rule: Option<ThresholdRule>,
    inputs: &ScalingInputs,
) -> Option<Recommendation> {
    if let Some(fine) = inputs.cpu_fine {
        let target = rule_target(above, rule.as_ref());
        // The 20-second datapoint as the newest "minute": served by the tasks of the newest
        // minute (or the count, while none is published), its requests those of that minute.
        let mut view = inputs.clone();
        view.serving.push(inputs.serving.last().copied().flatten());
        view.requests
            .push(inputs.requests.last().copied().flatten());
        view.cpu.push(Some(fine));
        let (needed, why) = demand(&view, view.cpu.len() - 1, current, target)?;
        let (out, calm) = match &rule {
            Some(r) => (fine > above, r.below.is_some_and(|b| fine < b)),
            None => (
                fine > above * (1.0 + TARGET_TOLERANCE),
                fine < above * (1.0 - TARGET_TOLERANCE),
            ),
        };
        if out {
            return Some(scale_out(
                current,
                above,
                rule.as_ref(),
                (needed, &why),
                fine,
                "the newest 20-second datapoint",
            ));
        }
        if !calm {
            return Some(Recommendation {
                desired: current,
                trigger: Trigger::Cpu,
                reason: format!(
                    "CPU {fine:.0}% in the newest 20-second datapoint: {why}; holding at {current}"
                ),
            });
        }
        // Calm: the minutes decide a scale-in (a stale minute above the threshold does not
        // scale out past the newer datapoint).
        let minutes = sized_to_demand_minutes(current, above, rule, inputs)?;
        return Some(if minutes.desired > current {
            Recommendation {
                desired: current,
                trigger: Trigger::Cpu,
                reason: format!(
                    "CPU {fine:.0}% in the newest 20-second datapoint: {why}; holding at {current} (an older minute was higher)"
                ),
            }
        } else {
            minutes
        });
    }
    sized_to_demand_minutes(current, above, rule, inputs)
}

/// The CPU percent a rule sizes to: a threshold rule's sizing percent, or the target.
fn rule_target(above: f64, rule: Option<&ThresholdRule>) -> f64 {
    rule.map_or(above, |r| sizing_percent(above, r.below))
}

/// A demand-sized scale-out on the datapoint `cpu` (which one: `datapoint`): to the `needed`
/// tasks, at least one step of a threshold rule.
fn scale_out(
    current: u32,
    above: f64,
    rule: Option<&ThresholdRule>,
    (needed, why): (u32, &str),
    cpu: f64,
    datapoint: &str,
) -> Recommendation {
    let (desired, threshold) = match rule {
        Some(r) => (
            needed.max(current.saturating_add(r.out_step.tasks(current))),
            "above",
        ),
        None => (needed.max(current), "over the target of"),
    };
    Recommendation {
        desired,
        trigger: Trigger::Cpu,
        reason: format!("CPU {cpu:.0}% {threshold} {above:.0}% in {datapoint}: {why}"),
    }
}

/// [`sized_to_demand`] on 1-minute datapoints.
fn sized_to_demand_minutes(
    current: u32,
    above: f64,
    rule: Option<ThresholdRule>,
    inputs: &ScalingInputs,
) -> Option<Recommendation> {
    let newest = inputs.cpu.len().checked_sub(1);
    let Some(latest) = newest.and_then(|i| inputs.cpu[i]) else {
        return Some(Recommendation {
            desired: current,
            trigger: Trigger::Cpu,
            reason: "no CPU datapoint for the last minute: holding (missing data never scales in)"
                .to_owned(),
        });
    };
    let newest = newest.unwrap_or_default();
    let target = rule_target(above, rule.as_ref());
    let (needed, why) = demand(inputs, newest, current, target)?;
    let out = match &rule {
        Some(_) => latest > above,
        None => latest > above * (1.0 + TARGET_TOLERANCE),
    };
    if out {
        return Some(scale_out(
            current,
            above,
            rule.as_ref(),
            (needed, &why),
            latest,
            "the newest minute",
        ));
    }
    let wants_in = match &rule {
        Some(r) => r.below.is_some_and(|below| {
            last_n(&inputs.cpu, r.periods).is_some_and(|w| w.iter().all(|v| *v < below))
        }),
        None => latest < above * (1.0 - TARGET_TOLERANCE),
    };
    if wants_in {
        let first = inputs.cpu.len().saturating_sub(STABILISATION_MINUTES);
        let highest = (first..inputs.cpu.len())
            .filter_map(|i| demand(inputs, i, current, target).map(|(n, _)| n))
            .max()
            .unwrap_or(current);
        let desired = match &rule {
            Some(r) => highest.max(current.saturating_sub(r.in_step.tasks(current))),
            None => highest,
        };
        if desired < current {
            let stepped = if desired > highest {
                format!(", {} tasks at most per scale-in", current - desired)
            } else {
                String::new()
            };
            return Some(Recommendation {
                desired,
                trigger: Trigger::Cpu,
                reason: format!(
                    "CPU {latest:.0}% below {:.0}%: the highest demand of the last {} minutes needs {highest} task{}{stepped} ({why})",
                    rule.as_ref().and_then(|r| r.below).unwrap_or(above),
                    inputs.cpu.len() - first,
                    if highest == 1 { "" } else { "s" }
                ),
            });
        }
    }
    Some(Recommendation {
        desired: current,
        trigger: Trigger::Cpu,
        reason: format!("CPU {latest:.0}% in the newest minute: {why}; holding at {current}"),
    })
}

/// The newest `n` minutes, if all are present.
fn last_n(points: &[Option<f64>], n: usize) -> Option<Vec<f64>> {
    if n == 0 || points.len() < n {
        return None;
    }
    points[points.len() - n..].iter().copied().collect()
}

fn show(values: &[f64]) -> String {
    values
        .iter()
        .map(|v| format!("{v:.0}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Target tracking: desired = ceil(current x cpu / target), outside the tolerance.
fn target_tracking(current: u32, target: f64, cpu: &[Option<f64>]) -> Option<Recommendation> {
    let Some(Some(latest)) = cpu.last() else {
        return Some(Recommendation {
            desired: current,
            trigger: Trigger::Cpu,
            reason: "no CPU datapoint for the last minute: holding (missing data never scales in)"
                .to_owned(),
        });
    };
    let ratio = latest / target;
    if (ratio - 1.0).abs() <= TARGET_TOLERANCE || current == 0 {
        return Some(Recommendation {
            desired: current,
            trigger: Trigger::Cpu,
            reason: format!("CPU {latest:.0}% is within 10% of the {target:.0}% target"),
        });
    }
    let desired = (f64::from(current) * ratio).ceil() as u32;
    Some(Recommendation {
        desired,
        trigger: Trigger::Cpu,
        reason: format!(
            "CPU {latest:.0}% against a {target:.0}% target: ceil({current} x {latest:.0} / {target:.0}) = {desired}"
        ),
    })
}

/// Thresholds: N consecutive datapoints above (out) or below (in).
fn cpu_thresholds(
    current: u32,
    above: f64,
    below: Option<f64>,
    periods: usize,
    out_step: StepAdjustment,
    in_step: StepAdjustment,
    cpu: &[Option<f64>],
) -> Option<Recommendation> {
    let Some(window) = last_n(cpu, periods) else {
        return Some(Recommendation {
            desired: current,
            trigger: Trigger::Cpu,
            reason: format!(
                "fewer than {periods} consecutive CPU datapoints: holding (missing data never scales in)"
            ),
        });
    };
    if window.iter().all(|v| *v > above) {
        return Some(Recommendation {
            desired: current.saturating_add(out_step.tasks(current)),
            trigger: Trigger::Cpu,
            reason: format!(
                "CPU above {above:.0}% for {periods} minutes ({}%): {}",
                show(&window),
                out_step.describe(current, '+')
            ),
        });
    }
    if let Some(below) = below
        && window.iter().all(|v| *v < below)
    {
        return Some(Recommendation {
            desired: current.saturating_sub(in_step.tasks(current)),
            trigger: Trigger::Cpu,
            reason: format!(
                "CPU below {below:.0}% for {periods} minutes ({}%): {}",
                show(&window),
                in_step.describe(current, '-')
            ),
        });
    }
    Some(Recommendation {
        desired: current,
        trigger: Trigger::Cpu,
        reason: format!("CPU within thresholds ({}%)", show(&window)),
    })
}

/// 5XX: `threshold` or more in each of the last N minutes multiplies the count.
fn http_5xx(
    current: u32,
    http: &Http5xxScaling,
    proportional: bool,
    inputs: &ScalingInputs,
    fresh: bool,
) -> Option<Recommendation> {
    let threshold = f64::from(http.threshold);
    let periods = http.evaluation_periods as usize;
    let factor = http.scale_out_factor;
    let counts = &inputs.http_5xx;
    if periods == 0 || counts.len() < periods {
        return None;
    }
    let window: Vec<f64> = counts[counts.len() - periods..]
        .iter()
        .map(|c| c.unwrap_or(0.0))
        .collect();
    let breached = format!(
        "{} 5XX per minute for {periods} minute{} (threshold {threshold:.0})",
        show(&window),
        if periods == 1 { "" } else { "s" }
    );
    if window.iter().all(|c| *c >= threshold) {
        if !fresh {
            let serving = inputs.serving.last().copied().flatten().unwrap_or(0.0);
            return Some(Recommendation {
                desired: current,
                trigger: Trigger::Http5xx,
                reason: format!(
                    "{breached}, counted before the last scale-out's tasks all served a minute (HealthyHostCount {serving:.1} of {current}): waiting for a minute they served"
                ),
            });
        }
        // Sized to the demand the CPU measures (per service: a load balancer's 5XX count is
        // shared by every service behind it, so it cannot size one of them).
        if proportional
            && let Some((needed, why)) = inputs
                .cpu
                .len()
                .checked_sub(1)
                .and_then(|i| demand(inputs, i, current, FIVE_XX_SIZING_PERCENT))
        {
            return Some(Recommendation {
                desired: needed.max(current.saturating_add(1)),
                trigger: Trigger::Http5xx,
                reason: format!("{breached}: {why}"),
            });
        }
        let desired = (f64::from(current.max(1)) * factor).ceil() as u32;
        return Some(Recommendation {
            desired,
            trigger: Trigger::Http5xx,
            reason: format!("{breached}: x{factor}"),
        });
    }
    if !http.scale_in_when_demand_fits {
        return None;
    }
    // Scale-in when the demand fits: no breach for the stabilisation window, and the highest
    // demand of its minutes (as the CPU measures it) fits fewer tasks.
    let first = counts.len().saturating_sub(STABILISATION_MINUTES);
    let calm = counts.len() >= STABILISATION_MINUTES
        && counts[first..].iter().all(|c| c.unwrap_or(0.0) < threshold);
    if !calm {
        return None;
    }
    let first_cpu = inputs.cpu.len().saturating_sub(STABILISATION_MINUTES);
    let demands: Vec<(u32, String)> = (first_cpu..inputs.cpu.len())
        .filter_map(|i| demand(inputs, i, current, FIVE_XX_SIZING_PERCENT))
        .collect();
    // Every minute of the window measured: a missing one never scales in.
    if demands.len() < STABILISATION_MINUTES {
        return None;
    }
    let (highest, why) = demands.into_iter().max_by_key(|(n, _)| *n)?;
    (highest < current).then(|| Recommendation {
        desired: highest,
        trigger: Trigger::Http5xx,
        reason: format!(
            "no 5XX breach for {STABILISATION_MINUTES} minutes, and the highest demand of those minutes fits {highest} task{} ({why})",
            if highest == 1 { "" } else { "s" }
        ),
    })
}

/// The largest scale-out wins; a scale-in only when nothing wants more.
fn combine(current: u32, recommendations: &[Recommendation]) -> (u32, String, Trigger) {
    if let Some(up) = recommendations
        .iter()
        .filter(|r| r.desired > current)
        .max_by_key(|r| r.desired)
    {
        return (up.desired, up.reason.clone(), up.trigger);
    }
    if recommendations.iter().any(|r| r.desired == current) {
        let holds: Vec<&str> = recommendations
            .iter()
            .filter(|r| r.desired == current)
            .map(|r| r.reason.as_str())
            .collect();
        return (current, holds.join("; "), Trigger::None);
    }
    match recommendations.iter().max_by_key(|r| r.desired) {
        Some(down) => (down.desired, down.reason.clone(), down.trigger),
        None => (
            current,
            "no scaling trigger has an opinion".to_owned(),
            Trigger::None,
        ),
    }
}

/// Scale-out waits for the scale-out cooldown after the last scale-out; scale-in waits for the
/// scale-in cooldown after any scaling.
fn cooldown(
    spec: &ScalingSpec,
    current: u32,
    wanted: u32,
    clock: ScalingClock,
    landed: bool,
    now: u64,
) -> (u32, Option<String>, Option<u64>) {
    let out_until = clock
        .last_scale_out
        .map(|t| t + u64::from(spec.scale_out_cooldown_seconds));
    let last_any = clock.last_scale_out.max(clock.last_scale_in);
    let in_until = last_any.map(|t| t + u64::from(spec.scale_in_cooldown_seconds));
    if wanted > current
        && !landed
        && let Some(until) = out_until.filter(|u| now < *u)
    {
        return (
            current,
            Some(format!("scale-out cooldown for {} more s", until - now)),
            Some(until),
        );
    }
    if wanted < current
        && let Some(until) = in_until.filter(|u| now < *u)
    {
        return (
            current,
            Some(format!("scale-in cooldown for {} more s", until - now)),
            Some(until),
        );
    }
    (wanted, None, None)
}

/// No scale-in while a rollout is in progress; scale-out goes ahead.
fn freeze_scale_in(current: u32, wanted: u32, rolling_out: bool) -> (u32, Option<String>) {
    if rolling_out && wanted < current {
        (
            current,
            Some("scale-in is frozen during a rollout".to_owned()),
        )
    } else {
        (wanted, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::spec::{CpuScaling, Http5xxScaling, Http5xxSource};

    fn thresholds() -> ScalingSpec {
        ScalingSpec {
            min_tasks: 2,
            max_tasks: 4,
            scale_out_cooldown_seconds: 60,
            scale_in_cooldown_seconds: 300,
            proportional_scale_out: false,
            metric_resolution_seconds: 60,
            cpu: Some(CpuScaling {
                target_percent: None,
                scale_out_above_percent: Some(70),
                scale_in_below_percent: Some(50),
                evaluation_periods: Some(5),
                scale_out_step: Some(ScalingStep::Tasks(1)),
                scale_in_step: Some(ScalingStep::Tasks(1)),
            }),
            http5xx: None,
        }
    }

    fn target(percent: u32) -> ScalingSpec {
        ScalingSpec {
            min_tasks: 1,
            max_tasks: 10,
            scale_out_cooldown_seconds: 60,
            scale_in_cooldown_seconds: 60,
            proportional_scale_out: false,
            metric_resolution_seconds: 60,
            cpu: Some(CpuScaling {
                target_percent: Some(percent),
                scale_out_above_percent: None,
                scale_in_below_percent: None,
                evaluation_periods: None,
                scale_out_step: None,
                scale_in_step: None,
            }),
            http5xx: None,
        }
    }

    fn cpu(values: &[f64]) -> ScalingInputs {
        ScalingInputs {
            cpu: values.iter().copied().map(Some).collect(),
            http_5xx: Vec::new(),
            ..ScalingInputs::default()
        }
    }

    const NOW: u64 = 10_000;

    /// Minutes of (CPU, requests, serving tasks), oldest first.
    fn minutes(points: &[(f64, f64, f64)]) -> ScalingInputs {
        ScalingInputs {
            cpu: points.iter().map(|p| Some(p.0)).collect(),
            requests: points.iter().map(|p| Some(p.1)).collect(),
            serving: points.iter().map(|p| Some(p.2)).collect(),
            ..ScalingInputs::default()
        }
    }

    fn proportional(mut spec: ScalingSpec) -> ScalingSpec {
        spec.proportional_scale_out = true;
        spec
    }

    /// 20-second CPU: the newest datapoint, newer than any published minute, scales out at once,
    /// sized with the tasks that served the newest minute.
    #[test]
    fn a_twenty_second_datapoint_scales_out_before_the_minute_shows_the_load() {
        let spec = proportional(thresholds());
        let mut inputs = minutes(&[(40.0, 4_800.0, 2.0), (40.0, 4_800.0, 2.0)]);
        inputs.cpu_fine = Some(80.0);
        let d = decide(&spec, 2, &inputs, ScalingClock::default(), false, NOW);
        assert_eq!((d.direction, d.desired), (Direction::Up, 3), "{d:?}");
        assert!(
            d.reason.starts_with(
                "CPU 80% above 70% in the newest 20-second datapoint: CPU 80% on 2 serving tasks needs 3 at 60%"
            ),
            "{}",
            d.reason
        );
    }

    /// 20-second CPU: a minute above the threshold that a newer, calm datapoint contradicts does
    /// not scale out; a busy newer datapoint vetoes a scale-in the minutes ask for.
    #[test]
    fn the_newest_twenty_second_datapoint_overrules_older_minutes() {
        let spec = proportional(thresholds());
        let mut stale_high = minutes(&[(40.0, 4_800.0, 2.0), (80.0, 9_600.0, 2.0)]);
        stale_high.cpu_fine = Some(30.0);
        let d = decide(&spec, 2, &stale_high, ScalingClock::default(), false, NOW);
        assert_eq!(d.direction, Direction::None, "{d:?}");
        assert!(
            d.reason.contains("an older minute was higher"),
            "{}",
            d.reason
        );
        let mut busy = minutes(&[(30.0, 3_600.0, 4.0); 6]);
        busy.cpu_fine = Some(65.0);
        let d = decide(&spec, 4, &busy, ScalingClock::default(), false, NOW);
        assert_eq!(d.direction, Direction::None, "{d:?}");
        assert!(
            d.reason
                .starts_with("CPU 65% in the newest 20-second datapoint"),
            "{}",
            d.reason
        );
        busy.cpu_fine = Some(30.0);
        let d = decide(&spec, 4, &busy, ScalingClock::default(), false, NOW);
        assert_eq!(
            d.direction,
            Direction::Down,
            "calm: the minutes scale in: {d:?}"
        );
    }

    /// Defect: five consecutive datapoints were awaited although the first already showed the
    /// tasks overloaded (240 s lost per load step).
    #[test]
    fn regression_scale_out_acts_on_the_newest_datapoint_not_five() {
        let spec = proportional(thresholds());
        let inputs = minutes(&[
            (40.0, 4_800.0, 2.0),
            (40.0, 4_800.0, 2.0),
            (80.0, 9_600.0, 2.0),
        ]);
        let d = decide(&spec, 2, &inputs, ScalingClock::default(), false, NOW);
        assert_eq!(d.direction, Direction::Up, "{d:?}");
        assert_eq!(d.desired, 3, "2 x 80 / 60 = 2.7: 3 tasks");
        assert!(
            d.reason.starts_with(
                "CPU 80% above 70% in the newest minute: CPU 80% on 2 serving tasks needs 3 at 60%"
            ),
            "{}",
            d.reason
        );
    }

    /// Defect: +1 task per step, so a load that needs two more took a second step after the
    /// cooldown. Saturated, the requests offered size the step.
    #[test]
    fn regression_one_step_sizes_to_the_demand_even_when_the_cpu_is_saturated() {
        let spec = proportional(thresholds());
        // 50 % for 3,000 requests a task a minute: a request costs 1/60 % of a task. Then 100 %
        // with 24,000 offered: 24,000 / 60 / 60 % = 6.7 tasks, capped at 4.
        let inputs = minutes(&[(50.0, 6_000.0, 2.0), (100.0, 24_000.0, 2.0)]);
        let d = decide(&spec, 2, &inputs, ScalingClock::default(), false, NOW);
        assert_eq!(d.desired, 4, "{d:?}");
        assert!(
            d.reason.contains(
                "(saturated) on 2 serving tasks; 24000 requests offered in the minute need 7 at 60%"
            ),
            "{}",
            d.reason
        );
        assert!(d.reason.ends_with("clamped to 2..4 tasks"), "{}", d.reason);
        // Without a measured request cost, the saturated CPU is a floor: 2 x 100 / 60.
        let blind = ScalingInputs {
            requests: Vec::new(),
            ..minutes(&[(100.0, 0.0, 2.0)])
        };
        let d = decide(&spec, 2, &blind, ScalingClock::default(), false, NOW);
        assert_eq!(d.desired, 4);
        assert!(d.reason.contains("needs at least 4 at 60%"), "{}", d.reason);
    }

    /// Defect: target tracking multiplied the *desired* count by a datapoint served by another
    /// number of tasks: hello-world cycled 1, 2, 3, 2, 1 at a steady load.
    #[test]
    fn regression_target_tracking_counts_the_tasks_that_served_the_datapoint() {
        let spec = proportional(target(70));
        // Desired went 1 -> 2 a minute ago; the datapoint was served by 1 task at 97 %.
        let inputs = minutes(&[(97.0, 4_800.0, 1.0)]);
        let d = decide(&spec, 2, &inputs, ScalingClock::default(), false, NOW);
        assert_eq!(
            d.desired, 2,
            "ceil(1 x 97 / 70) = 2, not ceil(2 x 97 / 70) = 3: {d:?}"
        );
        // The next minute, 2 tasks at 49 %: demand is 2 (ceil(2 x 49 / 70)), which holds.
        let inputs = minutes(&[(97.0, 4_800.0, 1.0), (49.0, 4_800.0, 2.0)]);
        let d = decide(&spec, 2, &inputs, ScalingClock::default(), false, NOW);
        assert_eq!((d.desired, d.direction), (2, Direction::None), "{d:?}");
    }

    /// Defect: a scale-in with no stabilisation window dropped tasks a load coming back needed.
    #[test]
    fn regression_scale_in_takes_the_highest_demand_of_the_last_five_minutes() {
        let spec = proportional(target(50));
        let inputs = minutes(&[
            (90.0, 9_000.0, 4.0),
            (30.0, 3_000.0, 4.0),
            (30.0, 3_000.0, 4.0),
            (30.0, 3_000.0, 4.0),
            (30.0, 3_000.0, 4.0),
        ]);
        let d = decide(&spec, 4, &inputs, ScalingClock::default(), false, NOW);
        assert_eq!(
            (d.desired, d.direction),
            (4, Direction::None),
            "the oldest minute of the window needed 8: no scale-in: {d:?}"
        );
        let calm = minutes(&[(30.0, 3_000.0, 4.0); 6]);
        let d = decide(&spec, 4, &calm, ScalingClock::default(), false, NOW);
        assert_eq!(d.desired, 3, "ceil(4 x 30 / 50) = 3: {d:?}");
        assert!(
            d.reason
                .contains("the highest demand of the last 5 minutes needs 3 tasks"),
            "{}",
            d.reason
        );
    }

    /// The scale-out cooldown ends early once every task of the last step served a whole minute;
    /// before that, a datapoint measured with fewer tasks does not step again.
    #[test]
    fn a_scale_out_cooldown_ends_once_the_last_step_has_landed() {
        let mut spec = proportional(thresholds());
        spec.max_tasks = 10;
        spec.scale_out_cooldown_seconds = 300;
        let clock = ScalingClock {
            last_scale_out: Some(NOW - 120),
            last_scale_in: None,
        };
        let before = minutes(&[(95.0, 9_000.0, 2.0)]);
        let d = decide(&spec, 4, &before, clock, false, NOW);
        assert_eq!(d.desired, 4, "measured on 2 of the 4 tasks: held: {d:?}");
        assert!(d.reason.contains("scale-out cooldown"), "{}", d.reason);
        let landed = minutes(&[(95.0, 9_000.0, 4.0)]);
        let d = decide(&spec, 4, &landed, clock, false, NOW);
        assert!(
            d.desired > 4,
            "all 4 served the minute and are still overloaded: {d:?}"
        );
    }

    #[test]
    fn five_minutes_above_seventy_adds_one_task() {
        let d = decide(
            &thresholds(),
            2,
            &cpu(&[75.0; 5]),
            ScalingClock::default(),
            false,
            NOW,
        );
        assert_eq!(
            (d.desired, d.direction, d.trigger),
            (3, Direction::Up, Trigger::Cpu)
        );
        assert!(d.reason.contains("above 70% for 5 minutes"), "{}", d.reason);
    }

    /// `25%` steps are AAS's PercentChangeInCapacity with MinAdjustmentMagnitude 1: rounded
    /// toward zero, at least one task.
    #[test]
    fn percentage_steps_round_toward_zero_and_move_at_least_one_task() {
        let mut spec = thresholds();
        spec.max_tasks = 40;
        spec.min_tasks = 1;
        if let Some(cpu) = spec.cpu.as_mut() {
            cpu.scale_out_step = Some(ScalingStep::Percent("25%".into()));
            cpu.scale_in_step = Some(ScalingStep::Percent("25%".into()));
        }
        for (current, load, want) in [
            (2, 75.0, 3),
            (10, 75.0, 12),
            (20, 75.0, 25),
            (3, 10.0, 2),
            (12, 10.0, 9),
        ] {
            let d = decide(
                &spec,
                current,
                &cpu(&[load; 5]),
                ScalingClock::default(),
                false,
                NOW,
            );
            assert_eq!(d.desired, want, "{current} at {load}%: {}", d.reason);
            assert!(d.reason.contains("25% of"), "{}", d.reason);
        }
    }

    #[test]
    fn four_minutes_above_is_not_enough() {
        let d = decide(
            &thresholds(),
            2,
            &cpu(&[40.0, 75.0, 75.0, 75.0, 75.0]),
            ScalingClock::default(),
            false,
            NOW,
        );
        assert_eq!(d.direction, Direction::None);
    }

    #[test]
    fn never_scales_in_on_missing_cpu_data() {
        let mut inputs = cpu(&[10.0; 5]);
        inputs.cpu[2] = None;
        let d = decide(
            &thresholds(),
            3,
            &inputs,
            ScalingClock::default(),
            false,
            NOW,
        );
        assert_eq!((d.desired, d.direction), (3, Direction::None));
        assert!(
            d.reason.contains("missing data never scales in"),
            "{}",
            d.reason
        );
        let empty = decide(
            &target(70),
            3,
            &ScalingInputs::default(),
            ScalingClock::default(),
            false,
            NOW,
        );
        assert_eq!(empty.desired, 3);
    }

    #[test]
    fn scale_in_is_frozen_during_a_rollout_but_scale_out_is_not() {
        let down = decide(
            &thresholds(),
            3,
            &cpu(&[10.0; 5]),
            ScalingClock::default(),
            true,
            NOW,
        );
        assert_eq!(down.desired, 3);
        assert!(
            down.reason.contains("frozen during a rollout"),
            "{}",
            down.reason
        );
        let up = decide(
            &thresholds(),
            3,
            &cpu(&[90.0; 5]),
            ScalingClock::default(),
            true,
            NOW,
        );
        assert_eq!(up.desired, 4);
    }

    #[test]
    fn cooldowns_are_separate_for_out_and_in() {
        let just_out = ScalingClock {
            last_scale_out: Some(NOW - 30),
            last_scale_in: None,
        };
        let held = decide(&thresholds(), 3, &cpu(&[90.0; 5]), just_out, false, NOW);
        assert_eq!(held.desired, 3);
        assert!(
            held.reason.contains("scale-out cooldown for 30 more s"),
            "{}",
            held.reason
        );
        let after = ScalingClock {
            last_scale_out: Some(NOW - 60),
            last_scale_in: None,
        };
        assert_eq!(
            decide(&thresholds(), 3, &cpu(&[90.0; 5]), after, false, NOW).desired,
            4
        );
        // Scale-in waits 300 s after any scaling.
        let in_held = decide(&thresholds(), 3, &cpu(&[10.0; 5]), after, false, NOW);
        assert_eq!(in_held.desired, 3);
        let long_ago = ScalingClock {
            last_scale_out: Some(NOW - 301),
            last_scale_in: None,
        };
        assert_eq!(
            decide(&thresholds(), 3, &cpu(&[10.0; 5]), long_ago, false, NOW).desired,
            2
        );
    }

    #[test]
    fn results_stay_within_min_and_max_tasks() {
        let capped = decide(
            &thresholds(),
            4,
            &cpu(&[99.0; 5]),
            ScalingClock::default(),
            false,
            NOW,
        );
        assert_eq!(capped.desired, 4);
        assert_eq!(capped.direction, Direction::None);
        let floor = decide(
            &thresholds(),
            2,
            &cpu(&[1.0; 5]),
            ScalingClock::default(),
            false,
            NOW,
        );
        assert_eq!(floor.desired, 2);
        // A current count outside the bounds is brought back in, with the bounds as the trigger.
        let raised = decide(
            &thresholds(),
            1,
            &cpu(&[60.0; 5]),
            ScalingClock::default(),
            false,
            NOW,
        );
        assert_eq!((raised.desired, raised.trigger), (2, Trigger::Bounds));
    }

    #[test]
    fn target_tracking_is_proportional_with_a_tolerance() {
        let up = decide(
            &target(70),
            2,
            &cpu(&[140.0]),
            ScalingClock::default(),
            false,
            NOW,
        );
        assert_eq!(up.desired, 4);
        let within = decide(
            &target(70),
            2,
            &cpu(&[75.0]),
            ScalingClock::default(),
            false,
            NOW,
        );
        assert_eq!(within.desired, 2, "75 is within 10% of 70");
        let down = decide(
            &target(70),
            4,
            &cpu(&[30.0]),
            ScalingClock::default(),
            false,
            NOW,
        );
        assert_eq!(down.desired, 2, "ceil(4 x 30 / 70) = 2");
    }

    #[test]
    fn five_xx_at_threshold_doubles_capped_at_max() {
        let spec = ScalingSpec {
            http5xx: Some(Http5xxScaling {
                source: Http5xxSource::LoadBalancer,
                threshold: 10,
                evaluation_periods: 1,
                scale_out_factor: 2.0,
                scale_in_when_demand_fits: false,
            }),
            cpu: None,
            min_tasks: 2,
            max_tasks: 8,
            scale_out_cooldown_seconds: 60,
            scale_in_cooldown_seconds: 300,
            proportional_scale_out: false,
            metric_resolution_seconds: 60,
        };
        let inputs = |n: f64| ScalingInputs {
            cpu: Vec::new(),
            http_5xx: vec![Some(n)],
            ..ScalingInputs::default()
        };
        let d = decide(&spec, 3, &inputs(10.0), ScalingClock::default(), false, NOW);
        assert_eq!((d.desired, d.trigger), (6, Trigger::Http5xx));
        assert_eq!(
            decide(&spec, 6, &inputs(50.0), ScalingClock::default(), false, NOW).desired,
            8
        );
        assert_eq!(
            decide(&spec, 3, &inputs(9.0), ScalingClock::default(), false, NOW).desired,
            3
        );
        // Missing 5XX minutes are zero: no breach.
        let missing = ScalingInputs {
            cpu: Vec::new(),
            http_5xx: vec![None],
            ..ScalingInputs::default()
        };
        assert_eq!(
            decide(&spec, 3, &missing, ScalingClock::default(), false, NOW).desired,
            3
        );
    }

    fn five_xx_rule(scale_in_when_demand_fits: bool) -> ScalingSpec {
        ScalingSpec {
            http5xx: Some(Http5xxScaling {
                source: Http5xxSource::LoadBalancer,
                threshold: 10,
                evaluation_periods: 1,
                scale_out_factor: 2.0,
                scale_in_when_demand_fits,
            }),
            cpu: None,
            min_tasks: 2,
            max_tasks: 8,
            scale_out_cooldown_seconds: 60,
            scale_in_cooldown_seconds: 300,
            proportional_scale_out: true,
            metric_resolution_seconds: 60,
        }
    }

    /// A 5XX breach is sized to the demand the tasks' CPU measures, in one step: a load
    /// balancer's 5XX count is shared by the services behind it and cannot size one of them.
    #[test]
    fn a_five_xx_breach_is_sized_to_the_demand_at_the_first_breach() {
        let mut inputs = minutes(&[(30.0, 3_000.0, 2.0), (99.0, 23_650.0, 2.0)]);
        inputs.http_5xx = vec![Some(0.0), Some(23_600.0)];
        let d = decide(
            &five_xx_rule(false),
            2,
            &inputs,
            ScalingClock::default(),
            false,
            NOW,
        );
        assert_eq!((d.desired, d.trigger), (6, Trigger::Http5xx), "{d:?}");
        assert!(
            d.reason.starts_with(
                "23600 5XX per minute for 1 minute (threshold 10): CPU 99% (saturated) on 2 serving tasks; 23650 requests offered in the minute need 6 at 80%"
            ),
            "{}",
            d.reason
        );
        // Without a CPU series, the factor.
        inputs.cpu = vec![None, None];
        let d = decide(
            &five_xx_rule(false),
            2,
            &inputs,
            ScalingClock::default(),
            false,
            NOW,
        );
        assert_eq!(d.desired, 4, "{d:?}");
    }

    /// Defect: after a doubling's cooldown the rule doubled again on errors counted while the
    /// first doubling's tasks were still starting.
    #[test]
    fn regression_no_second_five_xx_step_on_errors_from_before_the_last_step_landed() {
        let mut inputs = minutes(&[(99.0, 23_650.0, 2.0)]);
        inputs.http_5xx = vec![Some(23_600.0)];
        let after = ScalingClock {
            last_scale_out: Some(NOW - 120),
            last_scale_in: None,
        };
        let d = decide(&five_xx_rule(false), 6, &inputs, after, false, NOW);
        assert_eq!(d.direction, Direction::None, "{d:?}");
        assert!(
            d.reason.contains("waiting for a minute they served"),
            "{}",
            d.reason
        );
        // Served by all six: a breach then is news.
        inputs.serving = vec![Some(6.0)];
        let d = decide(&five_xx_rule(false), 6, &inputs, after, false, NOW);
        assert_eq!(d.direction, Direction::Up, "{d:?}");
        // Tasks that never became healthy hold it back for LANDING_WAIT_S at most.
        inputs.serving = vec![Some(2.0)];
        let long_ago = ScalingClock {
            last_scale_out: Some(NOW - LANDING_WAIT_S),
            last_scale_in: None,
        };
        let d = decide(&five_xx_rule(false), 6, &inputs, long_ago, false, NOW);
        assert_eq!(d.direction, Direction::Up, "{d:?}");
    }

    /// Defect: a 5XX rule alone never scaled in (todo stayed at 8 tasks at 9 % CPU for good);
    /// `scaleInWhenDemandFits` scales in to the highest demand of the calm minutes.
    #[test]
    fn regression_a_five_xx_rule_scales_in_when_the_demand_fits() {
        let mut inputs = minutes(&[(9.0, 6_000.0, 8.0); 6]);
        inputs.http_5xx = vec![None; 6];
        let never = decide(
            &five_xx_rule(false),
            8,
            &inputs,
            ScalingClock::default(),
            false,
            NOW,
        );
        assert_eq!(never.desired, 8, "not asked for: {never:?}");
        let d = decide(
            &five_xx_rule(true),
            8,
            &inputs,
            ScalingClock::default(),
            false,
            NOW,
        );
        assert_eq!((d.desired, d.direction), (2, Direction::Down), "{d:?}");
        assert!(
            d.reason.starts_with(
                "no 5XX breach for 5 minutes, and the highest demand of those minutes fits 1 task"
            ),
            "{}",
            d.reason
        );
        assert!(d.reason.contains("clamped to 2..8 tasks"), "{}", d.reason);
        // A breach within the window, or a minute without CPU, holds it.
        inputs.http_5xx[3] = Some(50.0);
        assert_eq!(
            decide(
                &five_xx_rule(true),
                8,
                &inputs,
                ScalingClock::default(),
                false,
                NOW
            )
            .desired,
            8
        );
        inputs.http_5xx[3] = None;
        inputs.cpu[4] = None;
        assert_eq!(
            decide(
                &five_xx_rule(true),
                8,
                &inputs,
                ScalingClock::default(),
                false,
                NOW
            )
            .desired,
            8
        );
    }

    #[test]
    fn the_largest_scale_out_wins() {
        let mut spec = thresholds();
        spec.max_tasks = 10;
        spec.http5xx = Some(Http5xxScaling {
            source: Http5xxSource::Target,
            threshold: 10,
            evaluation_periods: 1,
            scale_out_factor: 2.0,
            scale_in_when_demand_fits: false,
        });
        let inputs = ScalingInputs {
            cpu: vec![Some(90.0); 5],
            http_5xx: vec![Some(20.0)],
            ..ScalingInputs::default()
        };
        let d = decide(&spec, 3, &inputs, ScalingClock::default(), false, NOW);
        assert_eq!((d.desired, d.trigger), (6, Trigger::Http5xx));
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn spec() -> impl Strategy<Value = ScalingSpec> {
            (
                0u32..6,
                0u32..10,
                prop::option::of(1u32..100),
                1u32..100,
                0u32..99,
                1u32..6,
                1u32..4,
                prop::option::of((1u32..50, 1u32..4)),
            )
                .prop_map(|(min, extra, target, above, below, periods, step, http)| {
                    ScalingSpec {
                        min_tasks: min,
                        max_tasks: min + extra.max(1),
                        scale_out_cooldown_seconds: 60,
                        scale_in_cooldown_seconds: 300,
                        proportional_scale_out: false,
                        metric_resolution_seconds: 60,
                        cpu: Some(CpuScaling {
                            target_percent: target,
                            scale_out_above_percent: target.is_none().then_some(above),
                            scale_in_below_percent: target
                                .is_none()
                                .then_some(below.min(above.saturating_sub(1))),
                            evaluation_periods: Some(periods),
                            scale_out_step: Some(ScalingStep::Tasks(step)),
                            scale_in_step: Some(ScalingStep::Tasks(step)),
                        }),
                        http5xx: http.map(|(threshold, periods)| Http5xxScaling {
                            source: Http5xxSource::Target,
                            threshold,
                            evaluation_periods: periods,
                            scale_out_factor: 2.0,
                            scale_in_when_demand_fits: false,
                        }),
                    }
                })
        }

        fn series() -> impl Strategy<Value = Vec<Option<f64>>> {
            prop::collection::vec(prop::option::of(0.0f64..100.0), 0..8)
        }

        proptest! {
            // A fixed seed, so a failure replays.
            #![proptest_config(ProptestConfig { rng_seed: proptest::test_runner::RngSeed::Fixed(0x5EED), ..ProptestConfig::default() })]
            #[test]
            fn decisions_stay_within_bounds(spec in spec(), current in 0u32..20, cpu in series(), errors in series(),
                                            rolling in any::<bool>(), out in prop::option::of(0u64..1000)) {
                let inputs = ScalingInputs { cpu, http_5xx: errors, ..ScalingInputs::default() };
                let clock = ScalingClock { last_scale_out: out, last_scale_in: None };
                let d = decide(&spec, current, &inputs, clock, rolling, 1000);
                prop_assert!((spec.min_tasks..=spec.max_tasks).contains(&d.desired), "{d:?}");
                prop_assert_eq!(d.direction == Direction::None, d.desired == current);
            }

            #[test]
            fn missing_cpu_data_never_lowers_the_count(spec in spec(), current in 0u32..20, mut cpu in series(), gap in any::<prop::sample::Index>()) {
                prop_assume!(!cpu.is_empty());
                let at = gap.index(cpu.len());
                cpu[at] = None;
                let last = cpu.len() - 1;
                cpu[last] = None;
                let d = decide(&spec, current, &ScalingInputs { cpu, ..ScalingInputs::default() }, ScalingClock::default(), false, 1000);
                prop_assert!(d.desired >= current.min(spec.max_tasks), "{d:?}");
            }
        }
    }
}

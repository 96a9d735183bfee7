//! Scaling: from published datapoints to a desired count, as a pipeline of small steps
//! (recommend per trigger -> combine -> cooldown -> rollout freeze -> clamp), each returning its
//! reason, in the manner of Kubernetes' HPA. `now` is an argument; nothing here reads a clock.
//!
//! Rules (design.md §5, issue 4):
//! - CPU thresholds: N consecutive 1-minute datapoints above `scaleOutAbovePercent` add
//!   `scaleOutStep` tasks; N below `scaleInBelowPercent` remove `scaleInStep`.
//! - CPU target tracking: desired = ceil(current x cpu / target), no change within 10 % of the target.
//! - HTTP 5XX: `threshold` or more per minute for N minutes multiplies the count by `scaleOutFactor`.
//!   Missing 5XX datapoints are zero (CloudWatch reports these counts only when non-zero).
//! - Missing CPU data never scales in (and cannot scale out either: there is nothing to act on).
//! - Separate scale-out and scale-in cooldowns; scale-in is frozen during a rollout, scale-out is not.
//! - The result is clamped to [minTasks, maxTasks].

use serde::{Deserialize, Serialize};

use crate::manifest::spec::{ScalingSpec, ScalingStep};
pub use crate::model::ScalingClock;
use crate::model::aws::StepAdjustment;

/// Within this fraction of the target, target tracking does not act (HPA's tolerance).
pub const TARGET_TOLERANCE: f64 = 0.10;

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
    let recommendations = recommend(spec, current, inputs);
    let (wanted, mut reason, trigger) = combine(current, &recommendations);
    let (after_cooldown, held, held_until) = cooldown(spec, current, wanted, clock, now);
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

/// Every trigger's recommendation (those with an opinion).
fn recommend(spec: &ScalingSpec, current: u32, inputs: &ScalingInputs) -> Vec<Recommendation> {
    let mut out = Vec::new();
    if let Some(cpu) = &spec.cpu {
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
            f64::from(http.threshold),
            http.evaluation_periods as usize,
            http.scale_out_factor,
            &inputs.http_5xx,
        ));
    }
    out
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
    threshold: f64,
    periods: usize,
    factor: f64,
    counts: &[Option<f64>],
) -> Option<Recommendation> {
    if periods == 0 || counts.len() < periods {
        return None;
    }
    let window: Vec<f64> = counts[counts.len() - periods..]
        .iter()
        .map(|c| c.unwrap_or(0.0))
        .collect();
    if window.iter().all(|c| *c >= threshold) {
        let desired = (f64::from(current.max(1)) * factor).ceil() as u32;
        return Some(Recommendation {
            desired,
            trigger: Trigger::Http5xx,
            reason: format!(
                "{} 5XX per minute for {periods} minute{} (threshold {threshold:.0}): x{factor}",
                show(&window),
                if periods == 1 { "" } else { "s" }
            ),
        });
    }
    None
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
    now: u64,
) -> (u32, Option<String>, Option<u64>) {
    let out_until = clock
        .last_scale_out
        .map(|t| t + u64::from(spec.scale_out_cooldown_seconds));
    let last_any = clock.last_scale_out.max(clock.last_scale_in);
    let in_until = last_any.map(|t| t + u64::from(spec.scale_in_cooldown_seconds));
    if wanted > current
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
        }
    }

    const NOW: u64 = 10_000;

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
            }),
            cpu: None,
            min_tasks: 2,
            max_tasks: 8,
            scale_out_cooldown_seconds: 60,
            scale_in_cooldown_seconds: 300,
        };
        let inputs = |n: f64| ScalingInputs {
            cpu: Vec::new(),
            http_5xx: vec![Some(n)],
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
        };
        assert_eq!(
            decide(&spec, 3, &missing, ScalingClock::default(), false, NOW).desired,
            3
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
        });
        let inputs = ScalingInputs {
            cpu: vec![Some(90.0); 5],
            http_5xx: vec![Some(20.0)],
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
                let inputs = ScalingInputs { cpu, http_5xx: errors };
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
                let d = decide(&spec, current, &ScalingInputs { cpu, http_5xx: Vec::new() }, ScalingClock::default(), false, 1000);
                prop_assert!(d.desired >= current.min(spec.max_tasks), "{d:?}");
            }
        }
    }
}

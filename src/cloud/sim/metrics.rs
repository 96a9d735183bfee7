//! Traffic and CloudWatch in the simulator.
//!
//! Facts modelled (aws-facts.md, "CloudWatch"): AWS/ECS CPUUtilization is a 1-minute datapoint
//! produced only while tasks run (missing CPU is unknown, not 0); ALB metrics are 1-minute;
//! HTTPCode_ELB_5XX_Count has a LoadBalancer dimension and HTTPCode_Target_5XX_Count a TargetGroup
//! one, and both are reported only when non-zero; a datapoint is readable only after a publication
//! delay (1 to 3 minutes observed). A service whose `monitoringConfiguration` asks for 20-second
//! CPU also has CPUUtilization at period 20 ([`MetricId::ServiceCpuFine`]), readable after its own,
//! shorter delay (aws-facts.md, "What ECS and AAS added").
//!
//! Traffic: each second a service's offered load (from the trace) goes to its healthy tasks, each
//! serving up to the world's `capacityRps`. Load above that capacity is answered by the load balancer
//! with 5XX (502/504 from overloaded targets; 503 when no target is healthy): HTTPCode_ELB_5XX_Count.
//! A version that serves 5XX answers its `fraction` of what it serves with 5XX:
//! HTTPCode_Target_5XX_Count, on the service's first target group. CPU of a task is idle CPU plus
//! its share of load over its capacity, with seeded noise, capped at 100 %.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::aws::{Datapoint, FINE_CPU_PERIOD_SECONDS, MetricId};

use super::world::Failure;
use super::{SECOND, Sim};

/// How samples within a minute combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
enum Statistic {
    /// Mean of the samples (CPUUtilization, HealthyHostCount).
    Average,
    /// Total (5XX counts); a zero total publishes nothing.
    Sum,
}

/// The minute being collected for one metric.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct Open {
    statistic: Statistic,
    total: f64,
    samples: u32,
}

/// A published datapoint and when it becomes readable.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct Published {
    minute_start: u64,
    value: f64,
    visible_at_ms: u64,
}

/// CloudWatch: open minutes and published datapoints (the last [`KEPT_S`] seconds of them).
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct MetricStore {
    /// The minute being collected (its start, in seconds).
    minute: u64,
    /// Samples of that minute, per metric.
    #[serde(with = "super::pairs")]
    open: BTreeMap<MetricId, Open>,
    /// Datapoints per metric, oldest first.
    #[serde(with = "super::pairs")]
    published: BTreeMap<MetricId, Vec<Published>>,
    /// The 20-second period being collected (its start, in seconds).
    #[serde(default)]
    fine_period: u64,
    /// Samples of that period, per 20-second metric.
    #[serde(default, with = "super::pairs")]
    fine_open: BTreeMap<MetricId, Open>,
}

/// Datapoints kept per metric, in seconds of their minutes: six hours, far beyond any window the
/// controller or the alarms read (15 minutes), so a long-running simulated account does not grow
/// without bound.
pub(crate) const KEPT_S: u64 = 6 * 3_600;

impl MetricStore {
    /// Closes the open minute if `t_s` is past it: its datapoints become readable after `delay_ms`.
    fn roll(&mut self, t_s: u64, delay_ms: u64) {
        let minute = t_s / 60 * 60;
        if minute == self.minute {
            return;
        }
        let visible_at_ms = (self.minute + 60) * SECOND + delay_ms;
        for (id, open) in std::mem::take(&mut self.open) {
            let value = match open.statistic {
                Statistic::Average => open.total / f64::from(open.samples.max(1)),
                Statistic::Sum => open.total,
            };
            if open.statistic == Statistic::Sum && value <= 0.0 {
                continue;
            }
            self.published.entry(id).or_default().push(Published {
                minute_start: self.minute,
                value,
                visible_at_ms,
            });
        }
        if let Some(oldest) = minute.checked_sub(KEPT_S) {
            for points in self.published.values_mut() {
                let old = points.partition_point(|p| p.minute_start < oldest);
                points.drain(..old);
            }
        }
        self.minute = minute;
    }

    /// Closes the open 20-second period if `t_s` is past it, readable after `delay_ms`.
    fn roll_fine(&mut self, t_s: u64, delay_ms: u64) {
        let period = u64::from(FINE_CPU_PERIOD_SECONDS);
        let start = t_s / period * period;
        if start == self.fine_period {
            return;
        }
        let visible_at_ms = (self.fine_period + period) * SECOND + delay_ms;
        for (id, open) in std::mem::take(&mut self.fine_open) {
            self.published.entry(id).or_default().push(Published {
                minute_start: self.fine_period,
                value: open.total / f64::from(open.samples.max(1)),
                visible_at_ms,
            });
        }
        self.fine_period = start;
    }

    fn record_fine(&mut self, id: MetricId, value: f64) {
        let open = self.fine_open.entry(id).or_insert(Open {
            statistic: Statistic::Average,
            total: 0.0,
            samples: 0,
        });
        open.total += value;
        open.samples += 1;
    }

    fn record(&mut self, id: MetricId, statistic: Statistic, value: f64) {
        let open = self.open.entry(id).or_insert(Open {
            statistic,
            total: 0.0,
            samples: 0,
        });
        open.total += value;
        open.samples += 1;
    }

    /// Datapoints of `id` for minutes starting in [start_s, end_s) that are readable at `now_ms`.
    pub(crate) fn visible(
        &self,
        id: &MetricId,
        start_s: u64,
        end_s: u64,
        now_ms: u64,
    ) -> Vec<Datapoint> {
        self.published.get(id).map_or_else(Vec::new, |points| {
            points
                .iter()
                .filter(|p| {
                    p.minute_start >= start_s && p.minute_start < end_s && p.visible_at_ms <= now_ms
                })
                .map(|p| Datapoint {
                    minute_start: p.minute_start,
                    value: p.value,
                })
                .collect()
        })
    }
}

impl Sim {
    /// One second of traffic for every service: samples for timelines, metrics for CloudWatch.
    pub(super) fn serve_traffic(&mut self) {
        let t_s = self.now_ms / SECOND;
        let delay_ms = self.world.metrics.publication_delay_seconds * SECOND;
        self.metrics.roll(t_s, delay_ms);
        self.metrics.roll_fine(
            t_s,
            self.world.metrics.fine_publication_delay_seconds * SECOND,
        );
        let capacity = self.world.tasks.capacity_rps;
        let idle = self.world.tasks.idle_cpu_percent;
        let noise = self.world.tasks.cpu_noise_percent;
        let keys: Vec<(String, String)> = self.services.keys().cloned().collect();
        for key in keys {
            let mut sample = self.count_service(&key);
            let rps = self.load.rps(&key.1, t_s as f64);
            // (task, deployment, share of 5XX it serves, registered in the alternate groups).
            let serving: Vec<(u64, u64, f64, bool)> = self
                .serving_tasks(&key)
                .iter()
                .map(|t| {
                    let bad = t
                        .failure
                        .as_ref()
                        .filter(|f| f.failure == Failure::Serves5xx)
                        .and_then(|f| f.fraction)
                        .unwrap_or(0.0);
                    (t.id, t.deployment, bad, t.alternate)
                })
                .collect();
            let healthy_capacity = serving.len() as f64 * capacity;
            // Production traffic split by the listener rule's weights while a deployment shifts
            // it (strategies.rs); otherwise shared by every serving task.
            let groups: Vec<(Option<u64>, f64)> = match self.traffic_shares(&key) {
                Some(shares) => shares
                    .into_iter()
                    .map(|(d, share)| (Some(d), rps * share / 100.0))
                    .collect(),
                None => vec![(None, rps)],
            };
            let mut per_task: BTreeMap<u64, f64> = BTreeMap::new();
            let mut elb_5xx = 0.0;
            let mut target_5xx = 0.0;
            let mut alternate_5xx = 0.0;
            for (deployment, offered) in groups {
                let mine: Vec<&(u64, u64, f64, bool)> = serving
                    .iter()
                    .filter(|(_, d, _, _)| deployment.is_none_or(|g| g == *d))
                    .collect();
                let served = offered.min(mine.len() as f64 * capacity);
                elb_5xx += offered - served;
                let each = if mine.is_empty() {
                    0.0
                } else {
                    served / mine.len() as f64
                };
                for (id, _, bad, alternate) in mine {
                    per_task.insert(*id, each);
                    if *alternate {
                        alternate_5xx += each * bad;
                    } else {
                        target_5xx += each * bad;
                    }
                }
            }

            let running: Vec<u64> = self.running_tasks(&key).iter().map(|t| t.id).collect();
            let mut cpu_total = 0.0;
            for id in &running {
                let load = per_task.get(id).map_or(0.0, |each| each / capacity * 100.0);
                let jitter = (self.rng.unit() * 2.0 - 1.0) * noise;
                cpu_total += (idle + load + jitter).clamp(0.0, 100.0);
            }
            let cpu = (!running.is_empty()).then(|| cpu_total / running.len() as f64);

            let (cluster, service) = (&key.0, &key.1);
            if let Some(cpu) = cpu {
                let id = MetricId::ServiceCpu {
                    cluster: cluster.clone(),
                    service: service.clone(),
                };
                self.metrics.record(id, Statistic::Average, cpu);
                if self.fine_cpu(&key) {
                    let id = MetricId::ServiceCpuFine {
                        cluster: cluster.clone(),
                        service: service.clone(),
                    };
                    self.metrics.record_fine(id, cpu);
                }
            }
            let groups: Vec<String> = self.target_groups_of(&key);
            let alternate_group = self.services.get(&key).and_then(|s| {
                s.load_balancers
                    .first()
                    .and_then(|lb| lb.advanced.as_ref())
                    .map(|a| a.alternate_target_group.clone())
            });
            if let Some(group) = &alternate_group {
                self.metrics.record(
                    MetricId::Target5xx {
                        target_group: group.clone(),
                    },
                    Statistic::Sum,
                    alternate_5xx,
                );
            }
            for (i, group) in groups.iter().enumerate() {
                let healthy = self.healthy_targets(group) as f64;
                self.metrics.record(
                    MetricId::HealthyHosts {
                        target_group: group.clone(),
                    },
                    Statistic::Average,
                    healthy,
                );
                if i == 0 {
                    // RequestCount counts the requests for which a target was chosen: all of the
                    // offered load while one is healthy, none while none is (ELB 503s).
                    self.metrics.record(
                        MetricId::RequestCount {
                            target_group: group.clone(),
                        },
                        Statistic::Sum,
                        if serving.is_empty() { 0.0 } else { rps },
                    );
                    self.metrics.record(
                        MetricId::Target5xx {
                            target_group: group.clone(),
                        },
                        Statistic::Sum,
                        target_5xx,
                    );
                    if let Some(lb) = self
                        .target_groups
                        .get(group)
                        .map(|g| g.load_balancer.clone())
                    {
                        self.metrics.record(
                            MetricId::Elb5xx { load_balancer: lb },
                            Statistic::Sum,
                            elb_5xx,
                        );
                    }
                }
            }
            sample.cpu_percent = cpu;
            sample.rps = rps;
            sample.http_5xx = elb_5xx + target_5xx + alternate_5xx;
            sample.overloaded = rps > healthy_capacity + 1e-9;
            self.samples.insert(key, sample);
        }
    }
}

//! What-if on recorded traffic: a load trace built from a service's own history, so `tug simulate
//! --load cloudwatch://CLUSTER/SERVICE?days=7` replays last week's requests against tugboat and
//! against the baselines.
//!
//! The history is the RequestCount (Sum, 1-minute) of the service's first target group, as
//! DescribeServices names it, read with GetMetricData (paged) over the last `days` whole minutes.
//! CloudWatch keeps 1-minute datapoints for 15 days, so at most 15. Each minute's count becomes its
//! average requests per second at the minute's middle, linear between minutes (the resolution of
//! the data: nothing finer is known); a minute without a datapoint had no requests (the load
//! balancer reports RequestCount only when there were some).

use crate::cloud::sim::load::LoadTrace;
use crate::cloud::{Cloud, CloudError};
use crate::model::aws::{Datapoint, MetricId};

/// The most days CloudWatch keeps 1-minute datapoints for.
pub const MAX_DAYS: u64 = 15;
/// Days read when the address does not say.
pub const DEFAULT_DAYS: u64 = 7;

/// A parsed `cloudwatch://CLUSTER/SERVICE?days=N`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    /// The cluster.
    pub cluster: String,
    /// The service.
    pub service: String,
    /// Days of history.
    pub days: u64,
}

/// The form a `cloudwatch://` load must take, for messages.
pub const FORM: &str = "cloudwatch://CLUSTER/SERVICE?days=N (N from 1 to 15, default 7)";

impl Recorded {
    /// Parses `text` if it is a `cloudwatch://` address: `None` for anything else (a file).
    ///
    /// # Errors
    /// A `cloudwatch://` address of another shape, with the form to use.
    pub fn parse(text: &str) -> Option<Result<Self, String>> {
        let rest = text.strip_prefix("cloudwatch://")?;
        Some(Self::parse_rest(rest).map_err(|why| format!("`{text}`: {why}; expected {FORM}")))
    }

    fn parse_rest(rest: &str) -> Result<Self, String> {
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (cluster, service) = path
            .split_once('/')
            .filter(|(c, s)| !c.is_empty() && !s.is_empty() && !s.contains('/'))
            .ok_or("it names no CLUSTER/SERVICE")?;
        let mut days = DEFAULT_DAYS;
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("days", n)) => {
                    days = n
                        .parse::<u64>()
                        .ok()
                        .filter(|d| (1..=MAX_DAYS).contains(d))
                        .ok_or_else(|| {
                            format!(
                                "days `{n}` is not a whole number from 1 to {MAX_DAYS} (CloudWatch keeps 1-minute datapoints for {MAX_DAYS} days)"
                            )
                        })?;
                }
                _ => return Err(format!("unknown parameter `{pair}` (only `days`)")),
            }
        }
        Ok(Self {
            cluster: cluster.to_owned(),
            service: service.to_owned(),
            days,
        })
    }
}

/// What was read, for the summary's first line.
#[derive(Debug, Clone, PartialEq)]
pub struct History {
    /// The trace, for the service alone, from second 0 = the first minute read.
    pub trace: LoadTrace,
    /// The target group read.
    pub target_group: String,
    /// First minute read (epoch seconds).
    pub start_s: u64,
    /// Minutes read.
    pub minutes: u64,
    /// Minutes with a datapoint.
    pub datapoints: usize,
    /// Most requests per second in a minute.
    pub peak_rps: f64,
}

/// Why a history could not be read.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// A call failed.
    #[error("{0}")]
    Cloud(#[from] CloudError),
    /// The service is not there, or has no target group to read.
    #[error("{0}")]
    Missing(String),
}

/// Reads `recorded`'s history up to `now_s` (epoch seconds) and builds its trace.
///
/// # Errors
/// A call failed; the service does not exist or is behind no target group.
pub async fn read<C: Cloud>(
    cloud: &C,
    recorded: &Recorded,
    now_s: u64,
) -> Result<History, HistoryError> {
    let services = cloud
        .describe_services(&recorded.cluster, std::slice::from_ref(&recorded.service))
        .await?;
    let service = services.first().ok_or_else(|| {
        HistoryError::Missing(format!(
            "service `{}` not found in cluster `{}`",
            recorded.service, recorded.cluster
        ))
    })?;
    let target_group = service
        .load_balancers
        .first()
        .map(|lb| lb.target_group.clone())
        .ok_or_else(|| {
            HistoryError::Missing(format!(
                "service `{}` is behind no target group: its requests are not recorded",
                recorded.service
            ))
        })?;
    let end_s = now_s / 60 * 60;
    let start_s = end_s.saturating_sub(recorded.days * 86_400);
    let metric = MetricId::RequestCount {
        target_group: target_group.clone(),
    };
    let mut data = cloud
        .get_metric_data(std::slice::from_ref(&metric), start_s, end_s)
        .await?;
    if let Some(why) = data.unresolved.remove(&metric) {
        return Err(HistoryError::Missing(why));
    }
    let points = data.series.remove(&metric).unwrap_or_default();
    Ok(history(
        &recorded.service,
        target_group,
        &points,
        start_s,
        end_s,
    ))
}

/// The trace of `service` from per-minute request counts in [start_s, end_s).
pub fn history(
    service: &str,
    target_group: String,
    points: &[Datapoint],
    start_s: u64,
    end_s: u64,
) -> History {
    let minutes = end_s.saturating_sub(start_s) / 60;
    let mut rps = vec![0.0; usize::try_from(minutes).unwrap_or(0)];
    let mut datapoints = 0;
    for p in points {
        if p.minute_start < start_s || p.minute_start >= end_s || !p.value.is_finite() {
            continue;
        }
        if let Some(slot) = usize::try_from((p.minute_start - start_s) / 60)
            .ok()
            .and_then(|i| rps.get_mut(i))
        {
            *slot = p.value.max(0.0) / 60.0;
            datapoints += 1;
        }
    }
    let peak_rps = rps.iter().copied().fold(0.0, f64::max);
    let series: Vec<(f64, f64)> = rps
        .iter()
        .enumerate()
        .map(|(i, r)| (i as f64 * 60.0 + 30.0, *r))
        .collect();
    History {
        trace: LoadTrace::for_service(service, series),
        target_group,
        start_s,
        minutes,
        datapoints,
        peak_rps,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_parse_with_their_days_or_say_the_form() {
        assert_eq!(Recorded::parse("tests/traces/step.csv"), None);
        assert_eq!(
            Recorded::parse("cloudwatch://shop/web?days=3"),
            Some(Ok(Recorded {
                cluster: "shop".into(),
                service: "web".into(),
                days: 3
            }))
        );
        assert_eq!(
            Recorded::parse("cloudwatch://shop/web")
                .and_then(Result::ok)
                .map(|r| r.days),
            Some(7)
        );
        for bad in [
            "cloudwatch://shop",
            "cloudwatch:///web",
            "cloudwatch://shop/web?days=16",
            "cloudwatch://shop/web?days=0",
            "cloudwatch://shop/web?hours=3",
        ] {
            let error = Recorded::parse(bad)
                .and_then(Result::err)
                .unwrap_or_default();
            assert!(error.contains(FORM), "{bad}: {error}");
        }
    }

    #[test]
    fn minutes_become_their_average_rps_and_missing_minutes_none() {
        let points = [
            Datapoint {
                minute_start: 600,
                value: 600.0,
            },
            Datapoint {
                minute_start: 720,
                value: 1_200.0,
            },
            // Outside the window: ignored.
            Datapoint {
                minute_start: 60,
                value: 9_999.0,
            },
        ];
        let h = history("web", "tg".into(), &points, 600, 840);
        assert_eq!((h.minutes, h.datapoints, h.peak_rps), (4, 2, 20.0));
        assert_eq!(h.trace.rps("web", 30.0), 10.0);
        assert_eq!(
            h.trace.rps("web", 90.0),
            0.0,
            "the minute without a datapoint"
        );
        assert_eq!(h.trace.rps("web", 150.0), 20.0);
        assert_eq!(h.trace.rps("web", 120.0), 10.0, "linear between middles");
        assert_eq!(
            h.trace.rps("other", 150.0),
            0.0,
            "the trace is the service's alone"
        );
        assert_eq!(h.trace.end(), 210.0);
    }
}

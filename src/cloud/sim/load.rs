//! Offered load: a trace of requests per second over time, per service or shared.
//!
//! CSV with a header: `t_seconds,rps` or `t_seconds,rps,service`. Between points the load is linear;
//! before the first point it is the first value, after the last the last value. Rows without a
//! service apply to every service that has no rows of its own.

use std::collections::BTreeMap;

/// A parsed load trace.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LoadTrace {
    /// Points for every service without its own, sorted by time.
    shared: Vec<(f64, f64)>,
    /// Points per service, sorted by time.
    per_service: BTreeMap<String, Vec<(f64, f64)>>,
}

/// A trace file that cannot be used, with its line.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct TraceError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl LoadTrace {
    /// A constant load for every service.
    pub fn constant(rps: f64) -> Self {
        Self {
            shared: vec![(0.0, rps)],
            per_service: BTreeMap::new(),
        }
    }

    /// A trace for `service` alone (every other service offered nothing), from points sorted by
    /// time.
    pub fn for_service(service: &str, points: Vec<(f64, f64)>) -> Self {
        Self {
            shared: Vec::new(),
            per_service: BTreeMap::from([(service.to_owned(), points)]),
        }
    }

    /// Parses the CSV text of a trace.
    ///
    /// # Errors
    /// The first malformed line: bad header, non-numeric or negative values, time going backwards.
    pub fn parse(text: &str) -> Result<Self, TraceError> {
        let mut lines = text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty());
        let Some((_, header)) = lines.next() else {
            return Err(TraceError {
                line: 1,
                message: "empty trace: expected a header `t_seconds,rps[,service]`".into(),
            });
        };
        let columns: Vec<&str> = header.split(',').map(str::trim).collect();
        let with_service = match columns.as_slice() {
            ["t_seconds", "rps"] => false,
            ["t_seconds", "rps", "service"] => true,
            _ => {
                return Err(TraceError {
                    line: 1,
                    message: format!(
                        "header is `{header}`; expected `t_seconds,rps` or `t_seconds,rps,service`"
                    ),
                });
            }
        };
        let mut trace = LoadTrace::default();
        for (index, line) in lines {
            let number = index + 1;
            let fields: Vec<&str> = line.split(',').map(str::trim).collect();
            let want = if with_service { 3 } else { 2 };
            if fields.len() != want {
                return Err(TraceError {
                    line: number,
                    message: format!("expected {want} fields, found {}", fields.len()),
                });
            }
            let number_of = |s: &str, what: &str| -> Result<f64, TraceError> {
                s.parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite() && *v >= 0.0)
                    .ok_or_else(|| TraceError {
                        line: number,
                        message: format!("{what} `{s}` is not a non-negative number"),
                    })
            };
            let t = number_of(fields[0], "t_seconds")?;
            let rps = number_of(fields[1], "rps")?;
            let series = match fields.get(2).filter(|s| !s.is_empty()) {
                Some(service) => trace.per_service.entry((*service).to_owned()).or_default(),
                None => &mut trace.shared,
            };
            if series.last().is_some_and(|(last, _)| t < *last) {
                return Err(TraceError {
                    line: number,
                    message: format!("t_seconds {t} goes back in time"),
                });
            }
            series.push((t, rps));
        }
        if trace.shared.is_empty() && trace.per_service.is_empty() {
            return Err(TraceError {
                line: 2,
                message: "the trace has no data rows".into(),
            });
        }
        Ok(trace)
    }

    /// Offered requests per second for `service` at `t` seconds.
    pub fn rps(&self, service: &str, t: f64) -> f64 {
        let points = self.per_service.get(service).unwrap_or(&self.shared);
        interpolate(points, t)
    }

    /// When the trace's last point is, in seconds (0 for a constant trace).
    pub fn end(&self) -> f64 {
        self.per_service
            .values()
            .chain(std::iter::once(&self.shared))
            .filter_map(|p| p.last().map(|(t, _)| *t))
            .fold(0.0, f64::max)
    }
}

fn interpolate(points: &[(f64, f64)], t: f64) -> f64 {
    let Some(first) = points.first() else {
        return 0.0;
    };
    if t <= first.0 {
        return first.1;
    }
    // The first point at or after t.
    let after = points.partition_point(|(pt, _)| *pt < t);
    match (points.get(after.wrapping_sub(1)), points.get(after)) {
        (Some(&(t0, v0)), Some(&(t1, v1))) if t1 > t0 => v0 + (v1 - v0) * (t - t0) / (t1 - t0),
        (_, Some(&(_, v))) => v,
        (Some(&(_, v)), None) => v,
        (None, None) => 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_between_points_and_flat_outside() {
        let trace = LoadTrace::parse("t_seconds,rps\n0,50\n100,150\n").expect("valid");
        assert_eq!(trace.rps("any", -5.0), 50.0);
        assert_eq!(trace.rps("any", 50.0), 100.0);
        assert_eq!(trace.rps("any", 100.0), 150.0);
        assert_eq!(trace.rps("any", 1e6), 150.0);
    }

    #[test]
    fn a_step_is_two_points_at_one_time() {
        let trace = LoadTrace::parse("t_seconds,rps\n0,50\n60,50\n60,400\n").expect("valid");
        assert_eq!(trace.rps("s", 59.0), 50.0);
        assert_eq!(trace.rps("s", 61.0), 400.0);
    }

    #[test]
    fn per_service_rows_override_shared_ones() {
        let trace = LoadTrace::parse("t_seconds,rps,service\n0,10,\n0,99,web\n").expect("valid");
        assert_eq!(trace.rps("web", 0.0), 99.0);
        assert_eq!(trace.rps("api", 0.0), 10.0);
    }

    #[test]
    fn malformed_traces_name_their_line() {
        assert_eq!(LoadTrace::parse("time,load\n").map_err(|e| e.line), Err(1));
        assert_eq!(
            LoadTrace::parse("t_seconds,rps\n0,5\n-1,5\n").map_err(|e| e.line),
            Err(3)
        );
        assert_eq!(
            LoadTrace::parse("t_seconds,rps\n5,1\n2,1\n").map_err(|e| e.line),
            Err(3)
        );
        assert_eq!(
            LoadTrace::parse("t_seconds,rps\n0,abc\n").map_err(|e| e.line),
            Err(2)
        );
    }
}

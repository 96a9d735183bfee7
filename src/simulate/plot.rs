//! Plots of simulation runs: per service, the offered load against the healthy capacity, and the
//! desired, running and healthy task counts with the scaling decisions, over simulated time. One
//! run or several (`--compare`) on the same trace, overlaid. SVG through plotters' SVG backend,
//! whose text is SVG `<text>` (no font files are read).
//!
//! A run of days has hundreds of thousands of seconds: [`Recorder`] keeps at most [`BUCKETS`]
//! points per series, each bucket holding the most load offered, the least capacity healthy and
//! the last task counts of its seconds, so an overload shows however short it was.

use std::collections::BTreeMap;
use std::path::Path;

use plotters::prelude::*;

use super::TimelineRow;
use crate::cloud::sim::aas::ScalingAction;

/// Points kept per series, at most.
pub const BUCKETS: u64 = 1_200;

/// One bucket of one service's seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Bucket {
    /// First second of the bucket.
    t: u64,
    /// Most requests per second offered.
    offered: f64,
    /// Least healthy capacity, requests per second.
    capacity: f64,
    /// Task counts at the bucket's last second.
    desired: u32,
    running: u32,
    healthy: u32,
}

/// One run's timeline, bucketed, per service.
#[derive(Debug, Clone)]
pub struct Recorder {
    /// Seconds per bucket.
    width: u64,
    /// Requests per second one healthy task serves.
    capacity_rps: f64,
    services: BTreeMap<String, Vec<Bucket>>,
}

impl Recorder {
    /// A recorder for a run of `seconds`, where a healthy task serves `capacity_rps`.
    pub fn new(seconds: u64, capacity_rps: f64) -> Self {
        Self {
            width: seconds.div_ceil(BUCKETS).max(1),
            capacity_rps,
            services: BTreeMap::new(),
        }
    }

    /// Adds one second of one service.
    pub fn record(&mut self, row: &TimelineRow) {
        let s = &row.sample;
        let t = row.t_seconds / self.width * self.width;
        let capacity = f64::from(s.healthy) * self.capacity_rps;
        let buckets = self.services.entry(row.service.clone()).or_default();
        match buckets.last_mut() {
            Some(b) if b.t == t => {
                b.offered = b.offered.max(s.rps);
                b.capacity = b.capacity.min(capacity);
                b.desired = s.desired;
                b.running = s.running;
                b.healthy = s.healthy;
            }
            _ => buckets.push(Bucket {
                t,
                offered: s.rps,
                capacity,
                desired: s.desired,
                running: s.running,
                healthy: s.healthy,
            }),
        }
    }
}

/// One run to draw: its scaler's name, its timeline and its scaling decisions.
#[derive(Debug, Clone)]
pub struct Run<'a> {
    /// The scaler's name (`tug`, `aas`, ...).
    pub scaler: &'a str,
    /// Its timeline.
    pub recorder: &'a Recorder,
    /// Its scaling decisions.
    pub actions: &'a [ScalingAction],
}

/// Why a plot could not be written.
#[derive(Debug, thiserror::Error)]
#[error("{path}: cannot draw the plot: {message}")]
pub struct PlotError {
    /// The file.
    pub path: String,
    /// What went wrong.
    pub message: String,
}

/// Pixels of one panel.
const PANEL_HEIGHT: u32 = 320;
/// Pixels across.
const WIDTH: u32 = 1_200;

/// Series colours, in order of the runs (then of the task counts of a single run).
const COLOURS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
];
/// The offered load.
const OFFERED: RGBColor = RGBColor(214, 39, 40);

/// Draws `runs` (one, or several on the same trace) to an SVG file at `path`: two panels per
/// service, load and capacity above, tasks and decisions below. Series names are the legend's:
/// `offered rps`, `healthy capacity rps`, `desired tasks`, `running tasks`, `healthy tasks`,
/// `scaling decisions`; with several runs each but the offered load is drawn per run, its scaler
/// in brackets (`healthy tasks (aas)`), and the task panel shows healthy tasks only.
///
/// # Errors
/// The file cannot be written.
pub fn draw(path: &Path, runs: &[Run<'_>]) -> Result<(), PlotError> {
    let failed = |e: &dyn std::fmt::Display| PlotError {
        path: path.display().to_string(),
        message: e.to_string(),
    };
    let services: Vec<&String> = runs
        .first()
        .map(|r| r.recorder.services.keys().collect())
        .unwrap_or_default();
    let panels = (services.len() as u32 * 2).max(1);
    let root = SVGBackend::new(path, (WIDTH, PANEL_HEIGHT * panels)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| failed(&e))?;
    let areas = root.split_evenly((panels as usize, 1));
    for (i, service) in services.iter().enumerate() {
        load_panel(&areas[2 * i], service, runs).map_err(|e| failed(&e))?;
        task_panel(&areas[2 * i + 1], service, runs).map_err(|e| failed(&e))?;
    }
    root.present().map_err(|e| failed(&e))?;
    Ok(())
}

/// One of a bucket's task counts.
type TaskCount = fn(&Bucket) -> u32;
type Area<'a> = DrawingArea<SVGBackend<'a>, plotters::coord::Shift>;
type DrawResult = Result<(), DrawingAreaErrorKind<std::io::Error>>;

/// A series' name: with several runs, the scaler in brackets.
fn named(series: &str, run: &Run<'_>, several: bool) -> String {
    if several {
        format!("{series} ({})", run.scaler)
    } else {
        series.to_owned()
    }
}

fn buckets<'a>(run: &'a Run<'_>, service: &str) -> &'a [Bucket] {
    run.recorder
        .services
        .get(service)
        .map_or(&[][..], Vec::as_slice)
}

/// Simulated seconds as the x axis's minutes.
fn minutes(t: u64) -> f64 {
    t as f64 / 60.0
}

/// The x range of every run, in minutes.
fn x_range(service: &str, runs: &[Run<'_>]) -> std::ops::Range<f64> {
    let end = runs
        .iter()
        .filter_map(|r| buckets(r, service).last().map(|b| b.t + r.recorder.width))
        .max()
        .unwrap_or(60);
    0.0..minutes(end)
}

fn load_panel(area: &Area<'_>, service: &str, runs: &[Run<'_>]) -> DrawResult {
    let several = runs.len() > 1;
    let top = runs
        .iter()
        .flat_map(|r| {
            buckets(r, service)
                .iter()
                .map(|b| b.offered.max(b.capacity))
        })
        .fold(1.0_f64, f64::max)
        * 1.1;
    let mut chart = ChartBuilder::on(area)
        .caption(
            format!("{service}: offered load and healthy capacity"),
            ("sans-serif", 18),
        )
        .margin(12)
        .x_label_area_size(32)
        .y_label_area_size(56)
        .build_cartesian_2d(x_range(service, runs), 0.0..top)?;
    chart
        .configure_mesh()
        .x_desc("simulated minutes")
        .x_label_formatter(&|m| format!("{m:.0}"))
        .y_desc("requests per second")
        .y_label_formatter(&|r| format!("{r:.0}"))
        .draw()?;
    if let Some(first) = runs.first() {
        chart
            .draw_series(LineSeries::new(
                buckets(first, service)
                    .iter()
                    .map(|b| (minutes(b.t), b.offered)),
                OFFERED.stroke_width(2),
            ))?
            .label("offered rps")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], OFFERED.stroke_width(2)));
    }
    for (i, run) in runs.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        chart
            .draw_series(LineSeries::new(
                buckets(run, service)
                    .iter()
                    .map(|b| (minutes(b.t), b.capacity)),
                colour,
            ))?
            .label(named("healthy capacity rps", run, several))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], colour));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}

fn task_panel(area: &Area<'_>, service: &str, runs: &[Run<'_>]) -> DrawResult {
    let several = runs.len() > 1;
    let top = runs
        .iter()
        .flat_map(|r| {
            buckets(r, service)
                .iter()
                .map(|b| b.desired.max(b.running).max(b.healthy))
                .chain(
                    r.actions
                        .iter()
                        .filter(|a| a.service == service)
                        .map(|a| a.to),
                )
        })
        .max()
        .unwrap_or(1)
        .max(1);
    let mut chart = ChartBuilder::on(area)
        .caption(
            format!("{service}: tasks and scaling decisions"),
            ("sans-serif", 18),
        )
        .margin(12)
        .x_label_area_size(32)
        .y_label_area_size(56)
        .build_cartesian_2d(x_range(service, runs), 0.0..f64::from(top) * 1.15 + 0.5)?;
    chart
        .configure_mesh()
        .x_desc("simulated minutes")
        .x_label_formatter(&|m| format!("{m:.0}"))
        .y_desc("tasks")
        .y_label_formatter(&|n| format!("{n:.0}"))
        .y_labels((top as usize + 2).min(12))
        .draw()?;
    for (i, run) in runs.iter().enumerate() {
        let points = buckets(run, service);
        let series: Vec<(&str, TaskCount)> = if several {
            vec![("healthy tasks", |b| b.healthy)]
        } else {
            vec![
                ("desired tasks", |b| b.desired),
                ("running tasks", |b| b.running),
                ("healthy tasks", |b| b.healthy),
            ]
        };
        for (j, (name, value)) in series.into_iter().enumerate() {
            let colour = COLOURS[(i + j) % COLOURS.len()];
            chart
                .draw_series(LineSeries::new(
                    points.iter().map(|b| (minutes(b.t), f64::from(value(b)))),
                    colour,
                ))?
                .label(named(name, run, several))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], colour));
        }
        let colour = if several {
            COLOURS[i % COLOURS.len()]
        } else {
            BLACK
        };
        chart
            .draw_series(
                run.actions
                    .iter()
                    .filter(|a| a.service == service)
                    .map(|a| {
                        TriangleMarker::new(
                            (minutes(a.t_seconds), f64::from(a.to)),
                            6,
                            colour.filled(),
                        )
                    }),
            )?
            .label(named("scaling decisions", run, several))
            .legend(move |(x, y)| TriangleMarker::new((x + 10, y), 6, colour.filled()));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}

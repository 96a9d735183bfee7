//! `tug demo`: the quick start. tugboat's controller runs the four example stacks against the
//! simulated AWS in accelerated time, under a load that rises and falls, with two deploys (one good,
//! one broken). In about a hundred seconds a newcomer sees scale-outs, scale-ins, a rolling deploy
//! and a rollback, each with its reason. No AWS account, no store: everything stays in the process.
//!
//! On a terminal the view is redrawn in place; otherwise each decision is printed as a line.
//! Ctrl-C stops it early, cleanly.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::output::{emit, table};
use super::{CliError, read_manifests};
use crate::cloud::sim::load::LoadTrace;
use crate::cloud::sim::world::World;
use crate::manifest::{Source, parse_sources};
use crate::model::{DecisionKind, Stack};
use crate::simulate::{Scaler, Simulation, TimelineRow};

/// The example stacks, built in so `tug demo` runs from any directory.
const EXAMPLES: [(&str, &str); 4] = [
    (
        "manifests/app.yaml",
        include_str!("../../manifests/app.yaml"),
    ),
    (
        "manifests/fargate-test1.yaml",
        include_str!("../../manifests/fargate-test1.yaml"),
    ),
    (
        "manifests/hello-world.yaml",
        include_str!("../../manifests/hello-world.yaml"),
    ),
    (
        "manifests/todo.yaml",
        include_str!("../../manifests/todo.yaml"),
    ),
];
/// The demo's world: two deploys, one broken.
const WORLD: &str = include_str!("../../manifests/demo/world.yaml");
/// The demo's load: 60 rps, 350 rps from minute 11 to 40, then 60 again.
const LOAD: &str = include_str!("../../manifests/demo/load.csv");
/// Longest simulated time between two reconciles of a service.
const RESYNC_SECONDS: u64 = 30;
/// Fastest `--speed`.
const MAX_SPEED: f64 = 3600.0;
/// Wall time between redraws.
const FRAME: Duration = Duration::from_millis(250);
/// Decisions shown in the live view.
const SHOWN: usize = 12;

/// Arguments of `tug demo`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Simulated seconds per wall second; 0 runs as fast as the machine can.
    #[arg(long, default_value_t = 60.0)]
    pub speed: f64,
    /// Simulated time to run.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "100m")]
    pub duration: Duration,
    /// Stacks to run instead of the built-in examples.
    #[arg(short = 'f', long = "filename", value_name = "PATH", num_args = 1..)]
    pub files: Vec<String>,
}

/// Runs `tug demo`.
///
/// # Errors
/// Invalid `-f` manifests (exit 1), or a simulation that cannot be set up (exit 2).
pub fn run(args: Args) -> Result<ExitCode, CliError> {
    if !(args.speed.is_finite() && (0.0..=MAX_SPEED).contains(&args.speed)) {
        return Err(CliError::Rejected(format!(
            "--speed must be from 0 to {MAX_SPEED}, got {}",
            args.speed
        )));
    }
    if args.duration > Duration::from_secs(7 * 86_400) {
        return Err(CliError::Rejected(format!(
            "--duration must be at most 7 days, got {}",
            humantime::format_duration(args.duration)
        )));
    }
    let stacks = if args.files.is_empty() {
        example_stacks()?
    } else {
        read_manifests(&args.files)?
    };
    let world = World::parse(WORLD).map_err(|e| CliError::Failed(format!("demo world: {e}")))?;
    let load = LoadTrace::parse(LOAD).map_err(|e| CliError::Failed(format!("demo load: {e}")))?;
    let mut simulation = Simulation::new(
        &stacks,
        world,
        load,
        1,
        Scaler::Tug {
            resync_seconds: RESYNC_SECONDS,
        },
    )
    .map_err(|e| CliError::Failed(format!("simulation: {e}")))?;

    let interrupted = Arc::new(AtomicBool::new(false));
    let flag = interrupted.clone();
    simulation.spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            flag.store(true, Ordering::Relaxed);
        }
    });

    let live = std::io::stdout().is_terminal();
    let total = args.duration.as_secs();
    let per_frame = if args.speed > 0.0 {
        ((args.speed * FRAME.as_secs_f64()).round() as u64).max(1)
    } else {
        u64::MAX
    };
    let mut printed = 0;
    let mut rows: Vec<TimelineRow> = Vec::new();
    let mut t = 0;
    if live {
        emit("\x1b[?25l")?; // hide the cursor while redrawing
    }
    while t < total && !interrupted.load(Ordering::Relaxed) {
        let frame_end = t.saturating_add(per_frame).min(total);
        while t < frame_end {
            rows = simulation
                .step()
                .map_err(|e| CliError::Failed(format!("simulation: {e}")))?;
            t += 1;
        }
        if live {
            emit(&frame(t, total, args.speed, &rows, &simulation))?;
        } else {
            let decisions = simulation.decisions();
            for (at, service, d) in decisions.iter().skip(printed) {
                emit(&format!(
                    "{} {service}: {} {}\n",
                    clock(*at),
                    label(d.kind),
                    d.reason
                ))?;
            }
            printed = decisions.len();
        }
        if args.speed > 0.0 {
            // Wall time between frames; the simulation is frozen meanwhile.
            std::thread::sleep(FRAME);
        }
    }
    if live {
        emit("\x1b[?25h")?;
    }
    emit(&closing(
        &simulation,
        t,
        interrupted.load(Ordering::Relaxed),
    ))?;
    Ok(ExitCode::SUCCESS)
}

/// One redraw of the live view.
fn frame(t: u64, total: u64, speed: f64, rows: &[TimelineRow], simulation: &Simulation) -> String {
    let mut text = String::from("\x1b[H\x1b[2J");
    text.push_str(&format!(
        "tug demo: tugboat's controller on a simulated AWS account, {speed:.0}x real time    simulated {} of {}    Ctrl-C stops\n\n",
        clock(t),
        clock(total)
    ));
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            let s = &row.sample;
            let memory = simulation.memory(&row.service);
            let rollout = memory
                .as_ref()
                .and_then(|m| m.rollout.as_ref())
                .map_or_else(
                    || "-".to_owned(),
                    |r| {
                        format!(
                            "{} {}",
                            if r.rollback {
                                "rolling back to"
                            } else {
                                "rolling out"
                            },
                            r.target.id
                        )
                    },
                );
            vec![
                row.service.clone(),
                s.desired.to_string(),
                s.running.to_string(),
                s.pending.to_string(),
                s.healthy.to_string(),
                s.cpu_percent
                    .map_or_else(|| "-".to_owned(), |c| format!("{c:.0}%")),
                format!("{:.0}", s.rps),
                format!("{:.0}", s.http_5xx),
                rollout,
            ]
        })
        .collect();
    text.push_str(&table(
        &[
            "SERVICE", "DESIRED", "RUNNING", "PENDING", "HEALTHY", "CPU", "RPS", "5XX/S", "ROLLOUT",
        ],
        &cells,
    ));
    text.push_str("\nRecent decisions (each with its reason):\n");
    let decisions = simulation.decisions();
    let recent = decisions.iter().rev().take(SHOWN).collect::<Vec<_>>();
    for (at, service, d) in recent.into_iter().rev() {
        let reason: String = d.reason.chars().take(110).collect();
        text.push_str(&format!(
            "  {}  {service:<18} {:<16} {reason}\n",
            clock(*at),
            label(d.kind)
        ));
    }
    text
}

fn closing(simulation: &Simulation, t: u64, interrupted: bool) -> String {
    let decisions = simulation.decisions();
    let count = |kind: DecisionKind| decisions.iter().filter(|(_, _, d)| d.kind == kind).count();
    format!(
        "\n{} after {} of simulated time: {} scale-outs, {} scale-ins, {} rollouts verified, {} rollbacks, {} drift corrections.\n\
         Next: `tug simulate -f manifests/fargate-test1.yaml --load tests/traces/step.csv --compare tug,aas,aas-hr` to compare with Application Auto Scaling; `tug apply -f manifests/` and `tug controller --cloud sim` to run the daemon.\n",
        if interrupted { "Stopped" } else { "Done" },
        clock(t),
        count(DecisionKind::ScaleOut),
        count(DecisionKind::ScaleIn),
        count(DecisionKind::RolloutVerified),
        count(DecisionKind::Rollback),
        count(DecisionKind::DriftCorrection),
    )
}

fn label(kind: DecisionKind) -> &'static str {
    match kind {
        DecisionKind::Create => "create",
        DecisionKind::Register => "register",
        DecisionKind::ScaleOut => "scale out",
        DecisionKind::ScaleIn => "scale in",
        DecisionKind::RolloutStart => "rollout start",
        DecisionKind::RolloutComplete => "rollout complete",
        DecisionKind::RolloutVerified => "rollout verified",
        DecisionKind::Rollback => "ROLLBACK",
        DecisionKind::DriftCorrection => "drift corrected",
        DecisionKind::Hold => "hold",
        DecisionKind::Remove => "remove",
    }
}

/// Simulated seconds as H:MM:SS.
fn clock(t: u64) -> String {
    format!("{}:{:02}:{:02}", t / 3600, t / 60 % 60, t % 60)
}

/// The built-in example stacks.
fn example_stacks() -> Result<Vec<Stack>, CliError> {
    let sources: Vec<Source> = EXAMPLES
        .iter()
        .map(|(name, text)| Source {
            name: (*name).to_owned(),
            bytes: text.as_bytes().to_vec(),
        })
        .collect();
    parse_sources(&sources).map_err(CliError::Invalid)
}

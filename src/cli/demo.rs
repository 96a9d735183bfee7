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
    let specs: std::collections::BTreeMap<String, crate::manifest::spec::ServiceSpec> = stacks
        .iter()
        .flat_map(|s| s.spec().services.iter())
        .map(|s| (s.name.clone(), s.clone()))
        .collect();
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
            emit(&frame(t, total, args.speed, &rows, &simulation, &specs))?;
        } else {
            let decisions = simulation.decisions();
            for (at, service, d) in decisions.iter().skip(printed) {
                emit(&format!(
                    "{} {service}: {}: {}\n",
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
        live.then(|| terminal().0),
    ))?;
    Ok(ExitCode::SUCCESS)
}

/// The terminal's size (columns, rows), read again at every redraw so a resize takes effect;
/// 80x24 when it cannot be read.
fn terminal() -> (usize, usize) {
    terminal_size::terminal_size().map_or((80, 24), |(w, h)| {
        (usize::from(w.0).max(20), usize::from(h.0).max(8))
    })
}

/// One column of the live table: its header, a shorter one for narrow terminals, and whether it
/// may be left out when even the short headers do not fit (the last ones go first).
struct Column {
    header: &'static str,
    short: &'static str,
    optional: bool,
}

const COLUMNS: [Column; 10] = [
    Column {
        header: "SERVICE",
        short: "SERVICE",
        optional: false,
    },
    Column {
        header: "DESIRED",
        short: "DES",
        optional: false,
    },
    Column {
        header: "RUNNING",
        short: "RUN",
        optional: false,
    },
    Column {
        header: "HEALTHY",
        short: "OK",
        optional: false,
    },
    Column {
        header: "SCALING",
        short: "SCALING",
        optional: false,
    },
    Column {
        header: "ROLLOUT",
        short: "ROLLOUT",
        optional: false,
    },
    Column {
        header: "CPU",
        short: "CPU",
        optional: true,
    },
    Column {
        header: "RPS",
        short: "RPS",
        optional: true,
    },
    Column {
        header: "5XX/S",
        short: "5XX",
        optional: true,
    },
    Column {
        header: "PENDING",
        short: "PEND",
        optional: true,
    },
];

/// The table at the widest form that fits `width` columns: full headers, then short ones, then
/// without the optional columns (last first), then with each cell cut to fit (only names and
/// revisions are in cells; reasons are never put in the table).
fn fit_table(cells: &[Vec<String>], width: usize) -> String {
    let render = |short: bool, keep: usize| {
        let headers: Vec<&str> = COLUMNS
            .iter()
            .take(keep)
            .map(|c| if short { c.short } else { c.header })
            .collect();
        let rows: Vec<Vec<String>> = cells
            .iter()
            .map(|r| r.iter().take(keep).cloned().collect())
            .collect();
        table(&headers, &rows)
    };
    let fits = |text: &str| text.lines().all(|l| l.chars().count() <= width);
    let required = COLUMNS.iter().filter(|c| !c.optional).count();
    for short in [false, true] {
        for keep in (required..=COLUMNS.len()).rev() {
            let text = render(short, keep);
            if fits(&text) {
                return text;
            }
        }
    }
    render(true, required)
        .lines()
        .map(|l| format!("{}\n", l.chars().take(width).collect::<String>()))
        .collect()
}

/// `text` wrapped to `width` columns at spaces, continuation lines indented by `indent` spaces;
/// a word longer than a line is split. Nothing is dropped.
fn wrap(text: &str, width: usize, indent: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split(' ') {
        let mut word = word.to_owned();
        loop {
            let used = line.chars().count();
            let room = width.saturating_sub(used + usize::from(used > 0 && !line.ends_with(' ')));
            let len = word.chars().count();
            if len <= room {
                if used > 0 && !line.ends_with(' ') {
                    line.push(' ');
                }
                line.push_str(&word);
                break;
            }
            let continuation = " ".repeat(indent);
            if used > indent || (used > 0 && lines.is_empty()) {
                lines.push(std::mem::replace(&mut line, continuation));
                continue;
            }
            // A word longer than a whole line: split it.
            let take = room.max(1);
            let head: String = word.chars().take(take).collect();
            line.push_str(&head);
            word = word.chars().skip(take).collect();
            lines.push(std::mem::replace(&mut line, continuation));
        }
    }
    if !line.trim().is_empty() {
        lines.push(line);
    }
    lines
}

/// What a service's scaling allows now, in a few words: why 100 % CPU may bring no decision.
fn scaling_words(spec: Option<&crate::manifest::spec::ServiceSpec>, desired: u32) -> String {
    let Some(scaling) = spec.and_then(|s| s.scaling.as_ref()) else {
        return "no scaling".to_owned();
    };
    let rule = if scaling.cpu.is_some() {
        "CPU"
    } else if scaling
        .http5xx
        .as_ref()
        .is_some_and(|h| !h.scale_in_when_demand_fits)
    {
        "5XX: out only"
    } else {
        "5XX"
    };
    if desired >= scaling.max_tasks {
        format!("{rule}, at max {}", scaling.max_tasks)
    } else if desired <= scaling.min_tasks {
        format!("{rule}, at min {}", scaling.min_tasks)
    } else {
        format!("{rule} {}..{}", scaling.min_tasks, scaling.max_tasks)
    }
}

/// One redraw of the live view, sized to the terminal: the title and the service table always
/// on screen, then as many of the newest decisions as fit, each wrapped in full under its line.
fn frame(
    t: u64,
    total: u64,
    speed: f64,
    rows: &[TimelineRow],
    simulation: &Simulation,
    specs: &std::collections::BTreeMap<String, crate::manifest::spec::ServiceSpec>,
) -> String {
    let (width, height) = terminal();
    let mut lines: Vec<String> = Vec::new();
    let title = format!(
        "tug demo: simulated AWS, {speed:.0}x real time  {} of {}  Ctrl-C stops",
        clock(t),
        clock(total)
    );
    let title = if title.chars().count() <= width {
        title
    } else {
        format!("tug demo {} of {}", clock(t), clock(total))
    };
    lines.push(title.chars().take(width).collect());
    lines.push(String::new());
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
                            if r.rollback { "back to" } else { "to" },
                            r.target.id
                        )
                    },
                );
            vec![
                row.service.clone(),
                s.desired.to_string(),
                s.running.to_string(),
                s.healthy.to_string(),
                scaling_words(specs.get(&row.service), s.desired),
                rollout,
                s.cpu_percent
                    .map_or_else(|| "-".to_owned(), |c| format!("{c:.0}%")),
                format!("{:.0}", s.rps),
                format!("{:.0}", s.http_5xx),
                s.pending.to_string(),
            ]
        })
        .collect();
    lines.extend(fit_table(&cells, width).lines().map(str::to_owned));
    lines.push(String::new());
    lines.push(
        "Recent decisions, each with its reason:"
            .chars()
            .take(width)
            .collect(),
    );
    // The newest that fit in the rows left (one is kept free for the cursor).
    let room = height.saturating_sub(lines.len() + 1);
    let decisions = simulation.decisions();
    let mut shown: Vec<Vec<String>> = Vec::new();
    let mut used = 0;
    for (at, service, d) in decisions.iter().rev().take(SHOWN) {
        let entry = wrap(
            &format!("{}  {service}  {}: {}", clock(*at), label(d.kind), d.reason),
            width,
            4,
        );
        if used + entry.len() > room {
            break;
        }
        used += entry.len();
        shown.push(entry);
    }
    for entry in shown.into_iter().rev() {
        lines.extend(entry);
    }
    let mut text = String::from("\x1b[H\x1b[2J");
    for line in lines {
        text.push_str(&line);
        text.push('\n');
    }
    text
}

/// `n thing`, or `n things`.
fn count_of(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The closing summary and what to run next, wrapped to `width` columns on a terminal.
fn closing(simulation: &Simulation, t: u64, interrupted: bool, width: Option<usize>) -> String {
    let decisions = simulation.decisions();
    let count = |kind: DecisionKind| decisions.iter().filter(|(_, _, d)| d.kind == kind).count();
    // A new image verified: each service's first verification is its creation's.
    let mut verified_once = std::collections::BTreeSet::new();
    let new_images = decisions
        .iter()
        .filter(|(_, service, d)| {
            d.kind == DecisionKind::RolloutVerified && !verified_once.insert(service.clone())
        })
        .count();
    let summary = format!(
        "{} after {} of simulated time: {} created, {}, {}, {} rolled out and verified, {}, {}.",
        if interrupted { "Stopped" } else { "Done" },
        clock(t),
        count_of(count(DecisionKind::Create), "service", "services"),
        count_of(count(DecisionKind::ScaleOut), "scale-out", "scale-outs"),
        count_of(count(DecisionKind::ScaleIn), "scale-in", "scale-ins"),
        count_of(new_images, "new image", "new images"),
        count_of(count(DecisionKind::Rollback), "rollback", "rollbacks"),
        count_of(
            count(DecisionKind::DriftCorrection),
            "drift correction",
            "drift corrections"
        ),
    );
    let mut text = String::from("\n");
    match width {
        Some(width) => {
            for line in wrap(&summary, width, 0) {
                text.push_str(&line);
                text.push('\n');
            }
        }
        None => {
            text.push_str(&summary);
            text.push('\n');
        }
    }
    text.push_str("Next, from the repository's directory:\n");
    for command in [
        &[
            "tug simulate -f manifests/fargate-test1.yaml",
            "--load tests/traces/step.csv",
            "--compare tug,aas,aas-hr",
        ][..],
        &["tug apply -f manifests/ && tug controller --cloud sim"][..],
    ] {
        text.push_str(&command_lines(command, width));
    }
    text
}

/// A command indented by two spaces, its parts on one line, or (when that is wider than the
/// terminal) one part a line joined by ` \`: it still runs when pasted.
fn command_lines(parts: &[&str], width: Option<usize>) -> String {
    let one = format!("  {}\n", parts.join(" "));
    if width.is_none_or(|w| one.chars().count() <= w + 1) {
        return one;
    }
    let mut text = String::new();
    for (i, part) in parts.iter().enumerate() {
        let indent = if i == 0 { "  " } else { "      " };
        let end = if i + 1 < parts.len() { " \\" } else { "" };
        text.push_str(&format!("{indent}{part}{end}\n"));
    }
    text
}

/// Each decision kind in the words logs, `describe` and `events` use for it.
fn label(kind: DecisionKind) -> String {
    format!("{kind:?}")
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

//! `tug simulate -f STACK --load TRACE.csv [--world WORLD.yaml] [--duration D] [--seed N]
//! [--scaler aas|tug | --compare tug,aas] [--out TIMELINE.csv] [--plot FILE.svg]
//! [-o table|json|yaml]`: run stacks against the simulated AWS in virtual time and report what
//! happened, against the limits ([`crate::simulate::limit`]).

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use super::output::{OutputFormat, emit, json, table, yaml};
use super::{CliError, read_manifests};
use crate::cloud::sim::load::LoadTrace;
use crate::cloud::sim::world::World;
use crate::model::Stack;
use crate::simulate::plot::{self, Recorder};
use crate::simulate::recorded::{self, Recorded};
use crate::simulate::{Scaler as SimScaler, ServiceSummary, Simulation, Summary, TimelineRow};

/// Arguments of `tug simulate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Stack manifests to simulate.
    #[arg(short = 'f', long = "filename", value_name = "PATH", required = true, num_args = 1..)]
    pub files: Vec<String>,
    /// Offered load: CSV `t_seconds,rps[,service]`, linear between points; or
    /// `cloudwatch://CLUSTER/SERVICE?days=N`: the service's recorded requests (its target group's
    /// RequestCount, 1-minute) of the last N days (1 to 15, default 7), read from AWS.
    #[arg(long, value_name = "TRACE")]
    pub load: String,
    /// How the simulated AWS behaves (`kind: World`); defaults throughout when omitted.
    #[arg(long, value_name = "WORLD.yaml")]
    pub world: Option<String>,
    /// Simulated time to run, e.g. `3h` or `90m` (default: to the trace's last point, at least 1m).
    #[arg(long, value_parser = humantime::parse_duration)]
    pub duration: Option<Duration>,
    /// Seed: the same seed gives the same run.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Who scales: `aas` (Application Auto Scaling on 1-minute alarms, the baseline), `aas-hr`
    /// (target tracking on 20-second CPU) or `tug` (tugboat's controller).
    #[arg(long, value_enum, default_value_t = Scaler::Aas)]
    pub scaler: Scaler,
    /// Run each of these scalers on the same trace, world and seed, and print one table with
    /// their overload against the limits, e.g. `--compare tug,aas`.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        value_name = "SCALER,...",
        conflicts_with_all = ["scaler", "out"]
    )]
    pub compare: Vec<Scaler>,
    /// Draw offered load, healthy capacity, tasks and scaling decisions over time to this SVG
    /// file (with `--compare`, every scaler in one plot).
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<String>,
    /// With `--scaler tug`: longest simulated time between two reconciles of a service.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "30s")]
    pub resync: Duration,
    /// Write one row per simulated second per service to this CSV file.
    #[arg(long, value_name = "TIMELINE.csv")]
    pub out: Option<String>,
    /// Summary format.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,
}

/// Who scales during a simulation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scaler {
    /// Application Auto Scaling with CloudWatch alarms, as configured from the stack's `scaling`;
    /// ECS's circuit breaker rolls deployments back.
    Aas,
    /// The same, CPU rules as target tracking on the 20-second CPU metric (since 2026).
    AasHr,
    /// tugboat's controller: it creates the services, scales them, and rolls deployments out and back.
    Tug,
}

/// Longest simulation accepted: a year and a day of simulated seconds.
const MAX_SECONDS: u64 = 366 * 86_400;

/// Header of the timeline CSV.
pub const TIMELINE_HEADER: &str =
    "t_seconds,service,desired,running,pending,healthy,cpu_percent,rps,http_5xx";

/// Runs `tug simulate`.
///
/// # Errors
/// Invalid manifests, trace or world (exit 1); an unwritable timeline (exit 2).
pub fn run(args: Args, now: std::time::SystemTime) -> Result<ExitCode, CliError> {
    let stacks = read_manifests(&args.files)?;
    // Every local input is checked before a recorded trace is read from AWS.
    let world = match &args.world {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| CliError::Rejected(format!("{path}: cannot read: {e}")))?;
            World::parse(&text).map_err(|e| CliError::Rejected(format!("{path}:{e}")))?
        }
        None => World::default(),
    };
    let trace = match Recorded::parse(&args.load) {
        Some(Err(why)) => return Err(CliError::Rejected(format!("--load {why}"))),
        Some(Ok(recorded)) => recorded_trace(&stacks, &recorded, now)?,
        None => {
            let text = std::fs::read_to_string(&args.load)
                .map_err(|e| CliError::Rejected(format!("{}: cannot read: {e}", args.load)))?;
            LoadTrace::parse(&text)
                .map_err(|e| CliError::Rejected(format!("{}: {e}", args.load)))?
        }
    };
    let seconds = args
        .duration
        .map_or_else(|| (trace.end().ceil() as u64).max(60), |d| d.as_secs());
    if seconds > MAX_SECONDS {
        return Err(CliError::Rejected(format!(
            "--duration: at most 366 days of simulated time, got {seconds} s"
        )));
    }

    let setup = Setup {
        stacks: &stacks,
        world: &world,
        trace: &trace,
        seed: args.seed,
        seconds,
        resync_seconds: args.resync.as_secs().max(1),
    };
    if !args.compare.is_empty() {
        return compare(&args, &setup);
    }

    let mut timeline = match &args.out {
        Some(path) => {
            let file = std::fs::File::create(path)
                .map_err(|e| CliError::Failed(format!("{path}: cannot write: {e}")))?;
            let mut writer = std::io::BufWriter::new(file);
            writeln!(writer, "{TIMELINE_HEADER}")?;
            Some((path.clone(), writer))
        }
        None => None,
    };
    let mut recorder = args
        .plot
        .as_ref()
        .map(|_| Recorder::new(seconds, world.tasks.capacity_rps));
    let summary = setup.run(args.scaler, |row| {
        if let Some(recorder) = recorder.as_mut() {
            recorder.record(row);
        }
        if let Some((path, writer)) = timeline.as_mut() {
            write_row(writer, row)
                .map_err(|e| CliError::Failed(format!("{path}: cannot write: {e}")))?;
        }
        Ok(())
    })?;
    if let Some((path, mut writer)) = timeline {
        writer
            .flush()
            .map_err(|e| CliError::Failed(format!("{path}: cannot write: {e}")))?;
    }
    if let (Some(path), Some(recorder)) = (&args.plot, &recorder) {
        let run = plot::Run {
            scaler: summary.scaler,
            recorder,
            actions: &summary.actions,
        };
        plot::draw(std::path::Path::new(path), &[run])
            .map_err(|e| CliError::Failed(e.to_string()))?;
    }
    let text = match args.output {
        OutputFormat::Json => json(&summary)?,
        OutputFormat::Yaml => yaml(&summary)?,
        OutputFormat::Table => summary_table(&summary),
    };
    emit(&text)?;
    Ok(ExitCode::SUCCESS)
}

/// The trace of a service's recorded requests, read from AWS (the standard credential chain). The
/// stacks must have the service: it is what the recorded load is replayed against.
fn recorded_trace(
    stacks: &[Stack],
    recorded: &Recorded,
    now: std::time::SystemTime,
) -> Result<LoadTrace, CliError> {
    if !stacks.iter().any(|s| {
        s.spec()
            .services
            .iter()
            .any(|svc| svc.name == recorded.service)
    }) {
        return Err(CliError::Rejected(format!(
            "--load cloudwatch://{}/{}: no stack given with -f has a service `{}` to replay its traffic against",
            recorded.cluster, recorded.service, recorded.service
        )));
    }
    let now_s = now
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Failed(format!("cannot start the runtime: {e}")))?;
    let history = runtime
        .block_on(async {
            let aws = crate::cloud::aws::AwsCloud::from_env(true).await;
            recorded::read(&aws, recorded, now_s).await
        })
        .map_err(|e| {
            CliError::Failed(format!(
                "--load cloudwatch://{}/{}: {e} (the account is read with the standard AWS chain: environment, profile or task role, and AWS_REGION)",
                recorded.cluster, recorded.service
            ))
        })?;
    eprintln!(
        "read {} minutes of RequestCount of target group `{}` from {} ({} with requests, peak {:.1} rps)",
        history.minutes,
        history.target_group,
        humantime::format_rfc3339_seconds(
            std::time::UNIX_EPOCH + Duration::from_secs(history.start_s)
        ),
        history.datapoints,
        history.peak_rps
    );
    Ok(history.trace)
}

/// What every run of one `tug simulate` shares.
struct Setup<'a> {
    stacks: &'a [Stack],
    world: &'a World,
    trace: &'a LoadTrace,
    seed: u64,
    seconds: u64,
    resync_seconds: u64,
}

impl Setup<'_> {
    /// Runs `scaler` for the whole duration, handing every timeline row to `row`.
    fn run(
        &self,
        scaler: Scaler,
        mut row: impl FnMut(&TimelineRow) -> Result<(), CliError>,
    ) -> Result<Summary, CliError> {
        let failed =
            |e: crate::simulate::SimulationError| CliError::Failed(format!("simulation: {e}"));
        let scaler = match scaler {
            Scaler::Aas => SimScaler::Aas,
            Scaler::AasHr => SimScaler::AasHr,
            Scaler::Tug => SimScaler::Tug {
                resync_seconds: self.resync_seconds,
            },
        };
        let mut simulation = Simulation::new(
            self.stacks,
            self.world.clone(),
            self.trace.clone(),
            self.seed,
            scaler,
        )
        .map_err(failed)?;
        for _ in 0..self.seconds {
            for r in simulation.step().map_err(failed)? {
                row(&r)?;
            }
        }
        Ok(simulation.summary())
    }
}

/// Several scalers on the same setup: one run each, one table (or one JSON/YAML document with
/// every run's summary), one plot.
fn compare(args: &Args, setup: &Setup<'_>) -> Result<ExitCode, CliError> {
    let mut scalers: Vec<Scaler> = Vec::new();
    for s in &args.compare {
        if !scalers.contains(s) {
            scalers.push(*s);
        }
    }
    let mut runs: Vec<(Summary, Recorder)> = Vec::new();
    for scaler in scalers {
        let mut recorder = Recorder::new(setup.seconds, setup.world.tasks.capacity_rps);
        let summary = setup.run(scaler, |row| {
            recorder.record(row);
            Ok(())
        })?;
        runs.push((summary, recorder));
    }
    if let Some(path) = &args.plot {
        let drawn: Vec<plot::Run<'_>> = runs
            .iter()
            .map(|(summary, recorder)| plot::Run {
                scaler: summary.scaler,
                recorder,
                actions: &summary.actions,
            })
            .collect();
        plot::draw(std::path::Path::new(path), &drawn)
            .map_err(|e| CliError::Failed(e.to_string()))?;
    }
    let summaries: Vec<&Summary> = runs.iter().map(|(s, _)| s).collect();
    let text = match args.output {
        OutputFormat::Json => json(&Comparison { runs: &summaries })?,
        OutputFormat::Yaml => yaml(&Comparison { runs: &summaries })?,
        OutputFormat::Table => comparison_table(setup, &summaries),
    };
    emit(&text)?;
    Ok(ExitCode::SUCCESS)
}

/// `--compare -o json|yaml`: every run's summary, in the order asked.
#[derive(serde::Serialize)]
struct Comparison<'a> {
    runs: &'a [&'a Summary],
}

/// Overload beyond what no scaler avoids.
fn avoidable(s: &ServiceSummary) -> u64 {
    s.seconds_overloaded
        .saturating_sub(s.unavoidable_seconds_overloaded)
}

/// `a / b` with two decimals, `-` where `b` is 0 (nothing to compare with).
fn ratio(a: u64, b: u64) -> String {
    if b == 0 {
        "-".to_owned()
    } else {
        format!("{:.2}", a as f64 / b as f64)
    }
}

/// One row per service and scaler, then the service's reactive limit: overload, its avoidable
/// part, and the ratios to the limit's and to `aas`'s (or the first scaler's) avoidable overload
/// and task-seconds.
fn comparison_table(setup: &Setup<'_>, runs: &[&Summary]) -> String {
    let reference = runs
        .iter()
        .find(|s| s.scaler == "aas")
        .or(runs.first())
        .copied();
    let base = reference.map_or("aas", |r| r.scaler);
    let services: Vec<&String> = runs
        .first()
        .map(|s| s.services.keys().collect())
        .unwrap_or_default();
    let mut rows = Vec::new();
    for service in services {
        let against = reference.and_then(|r| r.services.get(service));
        // The limits are the same in every run: they depend on the load alone.
        let Some(first) = runs.iter().find_map(|r| r.services.get(service)) else {
            continue;
        };
        let beyond =
            |overloaded: u64| overloaded.saturating_sub(first.unavoidable_seconds_overloaded);
        let limits = [
            ("limit", first.reactive_limit_seconds_overloaded),
            ("limit-20s", first.reactive_limit_20s_seconds_overloaded),
        ];
        let (minute, fine) = (beyond(limits[0].1), beyond(limits[1].1));
        let row = |name: &str, overloaded: u64, avoided: u64, s: Option<&ServiceSummary>| {
            vec![
                service.clone(),
                name.to_owned(),
                overloaded.to_string(),
                avoided.to_string(),
                ratio(avoided, minute),
                ratio(avoided, fine),
                against.map_or_else(|| "-".to_owned(), |a| ratio(avoided, avoidable(a))),
                s.map_or_else(|| "-".to_owned(), |s| s.task_seconds.to_string()),
                s.zip(against).map_or_else(
                    || "-".to_owned(),
                    |(s, a)| ratio(s.task_seconds, a.task_seconds),
                ),
                s.map_or_else(|| "-".to_owned(), |s| s.scaling_actions.to_string()),
            ]
        };
        for run in runs {
            if let Some(s) = run.services.get(service) {
                rows.push(row(run.scaler, s.seconds_overloaded, avoidable(s), Some(s)));
            }
        }
        for (name, overloaded) in limits {
            rows.push(row(name, overloaded, beyond(overloaded), None));
        }
    }
    let vs_base = format!("VS-{}", base.to_uppercase());
    let task_vs_base = format!("TASK-S-VS-{}", base.to_uppercase());
    let mut text = format!(
        "simulated {} s, seed {}, the same trace for each scaler; AVOIDABLE-S: overloaded seconds beyond start-up and load above maxTasks; limit, limit-20s: the best reactive scaler on 1-minute, 20-second datapoints\n",
        setup.seconds, setup.seed
    );
    text.push_str(&table(
        &[
            "SERVICE",
            "SCALER",
            "OVERLOADED-S",
            "AVOIDABLE-S",
            "VS-LIMIT",
            "VS-LIMIT-20S",
            &vs_base,
            "TASK-SECONDS",
            &task_vs_base,
            "SCALINGS",
        ],
        &rows,
    ));
    text
}

/// One CSV row: numbers with fixed decimals so runs compare byte for byte.
pub fn write_row(out: &mut impl Write, row: &TimelineRow) -> std::io::Result<()> {
    let s = &row.sample;
    let cpu = s.cpu_percent.map(|c| format!("{c:.2}")).unwrap_or_default();
    writeln!(
        out,
        "{},{},{},{},{},{},{},{:.2},{:.2}",
        row.t_seconds,
        row.service,
        s.desired,
        s.running,
        s.pending,
        s.healthy,
        cpu,
        s.rps,
        s.http_5xx
    )
}

fn summary_table(summary: &Summary) -> String {
    let rows: Vec<Vec<String>> = summary
        .services
        .iter()
        .map(|(name, s)| {
            vec![
                name.clone(),
                s.task_seconds.to_string(),
                s.seconds_overloaded.to_string(),
                format!("{:.0}", s.http_5xx_total),
                s.max_tasks.to_string(),
                s.scaling_actions.to_string(),
                s.min_healthy_during_rollouts
                    .map_or_else(|| "-".to_owned(), |m| m.to_string()),
                s.rollout_seconds.to_string(),
            ]
        })
        .collect();
    let calls: u64 = summary.api_calls.values().flat_map(|o| o.values()).sum();
    let mut text = format!(
        "simulated {} s, seed {}, scaler {}: {calls} API calls ({} throttled), {} failed tasks\n",
        summary.duration_seconds,
        summary.seed,
        summary.scaler,
        summary.throttled_calls,
        summary.failed_tasks
    );
    text.push_str(&table(
        &[
            "SERVICE",
            "TASK-SECONDS",
            "OVERLOADED-S",
            "5XX",
            "MAX-TASKS",
            "SCALINGS",
            "MIN-HEALTHY-ROLLOUT",
            "ROLLOUT-S",
        ],
        &rows,
    ));
    text.push_str(&limits_text(summary));
    text
}

/// Per service: how much of its overload no scaler could avoid, what the reactive limit
/// overloads on the same load, and the ratio of the avoidable parts.
fn limits_text(summary: &Summary) -> String {
    let mut text = String::from(
        "overload against the limits (seconds; unavoidable: start-up and load beyond maxTasks; limit: the best reactive scaler on 1-minute datapoints, or on 20-second ones):\n",
    );
    for (name, s) in &summary.services {
        let avoidable = s
            .seconds_overloaded
            .saturating_sub(s.unavoidable_seconds_overloaded);
        let limit = s
            .reactive_limit_seconds_overloaded
            .saturating_sub(s.unavoidable_seconds_overloaded);
        let fine = s
            .reactive_limit_20s_seconds_overloaded
            .saturating_sub(s.unavoidable_seconds_overloaded);
        let ratio = s.ratio_to_limit().map_or_else(
            || "the limit avoids all of its overload".to_owned(),
            |r| format!("{r:.2}x the limit's {limit}"),
        );
        let ratio = if fine > 0 {
            format!(
                "{ratio}, {:.2}x the 20-second limit's {fine}",
                avoidable as f64 / fine as f64
            )
        } else {
            format!("{ratio}; the 20-second limit avoids all of it")
        };
        text.push_str(&format!(
            "  {name}: {} overloaded, {} unavoidable, {avoidable} avoidable: {ratio}\n",
            s.seconds_overloaded, s.unavoidable_seconds_overloaded
        ));
    }
    text
}

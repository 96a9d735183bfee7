//! `tug controller [--cloud aws|sim] [--resync 30s] [--listen ADDR] [--once] [--workers N]
//! [--log-format text|json]`: the daemon. Exits 0 after a clean shutdown on SIGTERM or SIGINT.
//!
//! Wiring only: the endpoints are served first (so `/healthz` answers whatever AWS does), then the
//! account is checked, then the daemon runs until a signal. With `--cloud sim` the simulated
//! account runs in this process on a clock `--speed` times faster than wall time, and every timer
//! of the daemon (resync, requeues, backoff, rate limits) runs on that clock.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::{CliError, Context};
use crate::cloud::aws::{AwsCloud, Scope};
use crate::cloud::sim::Sim;
use crate::cloud::sim::load::LoadTrace;
use crate::cloud::sim::world::World;
use crate::cloud::{Clock, Cloud, Layered, SimCloud};
use crate::controller::daemon::{DEFAULT_WORKERS, Daemon, DaemonConfig, Readiness};
use crate::controller::layers;
use crate::controller::lease::{self, Backend, Fence, Leadership};
use crate::controller::metrics::Metrics;
use crate::http;
use crate::store::{AnyStore, Store};

/// Fastest `--speed`: beyond this a simulated second is shorter than the world's own step.
const MAX_SPEED: f64 = 3600.0;

/// Arguments of `tug controller`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Which cloud: `aws` (the real one) or `sim` (the simulated AWS, in this process).
    #[arg(long, value_enum, default_value_t = CloudKind::Aws)]
    pub cloud: CloudKind,
    /// Longest time between two reconciles of a service when nothing asks for one sooner
    /// (1s to 1h; simulated time with `--cloud sim`).
    #[arg(long, value_parser = parse_resync, default_value = "30s")]
    pub resync: Duration,
    /// Address of `/metrics`, `/healthz` and `/readyz`.
    #[arg(long, default_value = "0.0.0.0:9464")]
    pub listen: std::net::SocketAddr,
    /// Reconcile every service once, then exit (1 when some service's calls failed).
    #[arg(long)]
    pub once: bool,
    /// Services reconciled at once (1 to 500).
    #[arg(long, default_value_t = DEFAULT_WORKERS, value_parser = parse_workers)]
    pub workers: usize,
    /// After SIGTERM, how long reconciles in flight may take to finish (at most 25s, below ECS's
    /// 30 s stopTimeout).
    #[arg(long, value_parser = parse_drain, default_value = "20s")]
    pub drain: Duration,
    /// Log format: `text` for people, `json` for CloudWatch Logs. Levels from RUST_LOG (default info).
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// With `--cloud sim`: offered load (CSV `t_seconds,rps[,service]`); default 50 rps for every service.
    #[arg(long, value_name = "TRACE.csv")]
    pub load: Option<String>,
    /// With `--cloud sim`: simulated seconds per wall second (above 0, at most 3600).
    #[arg(long, default_value_t = 1.0, value_parser = parse_speed)]
    pub speed: f64,
}

fn parse_resync(text: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(text).map_err(|e| e.to_string())?;
    if d < Duration::from_secs(1) || d > Duration::from_secs(3600) {
        return Err(format!("must be between 1s and 1h, got {text}"));
    }
    Ok(d)
}

fn parse_workers(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n) if (1..=500).contains(&n) => Ok(n),
        _ => Err(format!("must be a whole number from 1 to 500, got {text}")),
    }
}

fn parse_drain(text: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(text).map_err(|e| e.to_string())?;
    if d > Duration::from_secs(25) {
        return Err(format!(
            "must be at most 25s (ECS stops the task 30 s after SIGTERM), got {text}"
        ));
    }
    Ok(d)
}

fn parse_speed(text: &str) -> Result<f64, String> {
    let speed: f64 = text
        .parse()
        .map_err(|_| format!("`{text}` is not a number"))?;
    if !(speed.is_finite() && speed > 0.0 && speed <= MAX_SPEED) {
        return Err(format!(
            "must be above 0 and at most {MAX_SPEED}, got {text}"
        ));
    }
    Ok(speed)
}

/// Which cloud the controller drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CloudKind {
    /// AWS, through the standard credential chain.
    Aws,
    /// The simulated AWS, in this process.
    Sim,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One human-readable line per event.
    Text,
    /// One JSON object per line.
    Json,
}

/// Runs `tug controller`.
///
/// # Errors
/// An account that is not ready (a failed preflight), a listen address in use, a store that
/// cannot be read or is held by another controller (exit 2).
pub async fn run(args: Args, context: &Context) -> Result<ExitCode, CliError> {
    init_logging(args.log_format);
    let store = context.store()?;
    let metrics = Metrics::new().map_err(|e| CliError::Failed(format!("metrics: {e}")))?;
    let readiness = Arc::new(Readiness::default());
    let (stop, stopped) = watch::channel(false);
    tokio::spawn(signals(stop.clone()));
    let server = serve_endpoints(&args, &metrics, &readiness, stopped.clone()).await?;
    // Every controller is a candidate; only the one holding the lease acts.
    let leadership = Leadership::new();
    let backend = match &store {
        AnyStore::File(file) => Backend::Directory(file.clone()),
        AnyStore::DynamoDb(table) => Backend::Table(table.clone()),
    };
    // `--once` acts only as the leader, and does not wait for a running one to stop: a lock is
    // free at once or held; a lease may need a whole lease and a renewal to be taken over.
    let patience = args.once.then(|| match &store {
        AnyStore::File(_) => Duration::from_secs(3),
        AnyStore::DynamoDb(_) => Duration::from_millis(lease::LEASE_MS + lease::RENEW_EVERY_MS),
    });
    // The campaign outlives the daemon's drain: the lease is renewed until the last reconcile
    // in flight has finished, and given up only then.
    let (release, released) = watch::channel(false);
    let campaign = tokio::spawn(lease::campaign(
        backend,
        holder(context),
        leadership.clone(),
        metrics.clone(),
        released,
    ));
    let config = DaemonConfig {
        resync_ms: u64::try_from(args.resync.as_millis()).unwrap_or(u64::MAX),
        workers: args.workers,
        once: args.once,
        drain: args.drain,
        ..DaemonConfig::default()
    };
    let result = match args.cloud {
        CloudKind::Aws => {
            let aws = AwsCloud::from_env(true).await;
            let checked = tokio::select! {
                biased;
                _ = wait_for_stop(stopped.clone()) => None,
                checked = preflight(&aws, &store) => Some(checked),
            };
            match checked {
                None => Ok(None),
                Some(Err(e)) => Err(e),
                Some(Ok(())) => {
                    let clock = Clock::Wall;
                    let daemon = Daemon {
                        store: store.clone(),
                        cloud: Layered::new(
                            layers(&clock, &metrics),
                            Layered::new(Fence(leadership.clone()), aws),
                        ),
                        clock,
                        metrics: metrics.clone(),
                        readiness,
                        config,
                    };
                    run_led(daemon, &leadership, patience, stopped).await
                }
            }
        }
        CloudKind::Sim => {
            let load = match &args.load {
                Some(path) => {
                    let text = std::fs::read_to_string(path)
                        .map_err(|e| CliError::Rejected(format!("{path}: cannot read: {e}")))?;
                    Some(
                        LoadTrace::parse(&text)
                            .map_err(|e| CliError::Rejected(format!("{path}: {e}")))?,
                    )
                }
                None => None,
            };
            // The simulated account lives with the leader: a candidate neither runs nor saves it.
            let leading = lead(&leadership, patience, stopped.clone()).await;
            if !matches!(leading, Ok(true)) {
                let _ = stop.send(true);
                let _ = release.send(true);
                let _ = campaign.await;
                let _ = server.await;
                return leading.map(|_| ExitCode::SUCCESS);
            }
            let saved = saved_account(&store);
            let sim = open_account(saved.as_deref(), &store, load, args.speed).await;
            let clock = sim.clock().clone();
            provide_infrastructure(&sim, &store).await;
            tokio::spawn(advance_simulation(
                sim.clone(),
                store.clone(),
                saved.clone(),
                stopped.clone(),
            ));
            let daemon = Daemon {
                store: store.clone(),
                cloud: Layered::new(
                    layers(&clock, &metrics),
                    Layered::new(Fence(leadership.clone()), sim.clone()),
                ),
                clock,
                metrics: metrics.clone(),
                readiness,
                config,
            };
            let result = run_led(daemon, &leadership, patience, stopped).await;
            if let Some(path) = &saved {
                save_account(&sim, path);
            }
            result
        }
    };
    let _ = stop.send(true);
    let _ = release.send(true);
    let _ = campaign.await;
    let _ = server.await;
    match result? {
        Some(report) if args.once && !report.failed.is_empty() => {
            let names: Vec<String> = report.failed.iter().map(ToString::to_string).collect();
            eprintln!(
                "error: the calls of {} service{} failed: {} (see `tug describe service NAME`)",
                names.len(),
                if names.len() == 1 { "" } else { "s" },
                names.join(", ")
            );
            Ok(ExitCode::from(1))
        }
        _ => Ok(ExitCode::SUCCESS),
    }
}

/// Runs the daemon and maps its failure to the CLI's.
async fn run_daemon<S, C>(
    daemon: Daemon<S, C>,
    stopped: watch::Receiver<bool>,
) -> Result<crate::controller::daemon::Report, CliError>
where
    S: Store + Clone + 'static,
    C: Cloud + Clone + 'static,
{
    daemon
        .run(stopped)
        .await
        .map_err(|e| CliError::Failed(e.to_string()))
}

/// Runs the daemon whenever this process holds the lease, until `stopped`: a term that ends
/// (deposed, or a renewal that did not come in time) abandons the reconciles in flight at once
/// and waits as a candidate again. `None` when stopped before or between terms.
async fn run_led<S, C>(
    daemon: Daemon<S, C>,
    leadership: &Leadership,
    patience: Option<Duration>,
    stopped: watch::Receiver<bool>,
) -> Result<Option<crate::controller::daemon::Report>, CliError>
where
    S: Store + Clone + 'static,
    C: Cloud + Clone + 'static,
{
    loop {
        if !lead(leadership, patience, stopped.clone()).await? {
            return Ok(None);
        }
        tokio::select! {
            result = run_daemon(daemon.clone(), stopped.clone()) => return result.map(Some),
            () = leadership.lost() => {
                daemon.readiness.reset();
                tracing::warn!("no longer the leader: the reconciles in flight are abandoned; waiting as a candidate");
            }
        }
    }
}

/// Waits until this process leads (`true`) or is stopped (`false`); with `patience`, gives up
/// after that long (`--once` does not wait for a running controller to stop).
async fn lead(
    leadership: &Leadership,
    patience: Option<Duration>,
    stopped: watch::Receiver<bool>,
) -> Result<bool, CliError> {
    tokio::select! {
        biased;
        () = wait_for_stop(stopped) => Ok(false),
        () = leadership.leading() => Ok(true),
        () = tokio::time::sleep(patience.unwrap_or_default()), if patience.is_some() => {
            Err(CliError::Failed(
                "another controller holds the store's lease (`tug get controllers` names it); --once acts only as the leader".to_owned(),
            ))
        }
    }
}

/// Who this controller is, as the lease and the store's lock record it.
fn holder(context: &Context) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "this host".to_owned());
    format!(
        "tug controller, pid {} on {host}, started {}",
        std::process::id(),
        humantime::format_rfc3339_seconds(context.now)
    )
}

/// Binds the listener and serves the endpoints until `stopped`.
async fn serve_endpoints(
    args: &Args,
    metrics: &Metrics,
    readiness: &Arc<Readiness>,
    stopped: watch::Receiver<bool>,
) -> Result<tokio::task::JoinHandle<std::io::Result<()>>, CliError> {
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| CliError::Failed(format!("cannot listen on {}: {e}", args.listen)))?;
    let address = listener
        .local_addr()
        .map_err(|e| CliError::Failed(format!("listener: {e}")))?;
    tracing::info!(%address, "serving /metrics, /healthz and /readyz");
    Ok(tokio::spawn(http::serve(
        listener,
        metrics.clone(),
        readiness.clone(),
        wait_for_stop(stopped),
    )))
}

/// Completes once a stop is asked for.
async fn wait_for_stop(mut stopped: watch::Receiver<bool>) {
    let _ = stopped.wait_for(|stop| *stop).await;
}

/// Checks the account before starting: region, credentials, the stacks' clusters and target
/// groups. What stops everything (no region, no credentials, access denied) stops the controller
/// with what to fix; a missing cluster or target group is reported and concerns only the stacks
/// naming it; an account that does not answer in time is reported and the controller starts
/// anyway, its calls failing and retried per service.
async fn preflight(aws: &AwsCloud, store: &AnyStore) -> Result<(), CliError> {
    let stacks = store.list().await?;
    let mut clusters: Vec<String> = stacks.iter().map(|s| s.spec().cluster.clone()).collect();
    clusters.sort();
    clusters.dedup();
    let mut groups: Vec<String> = stacks
        .iter()
        .flat_map(|s| s.spec().services.iter())
        .flat_map(|s| s.load_balancers.iter().map(|lb| lb.target_group.clone()))
        .chain(
            stacks
                .iter()
                .flat_map(|s| s.spec().target_groups.iter().map(|g| g.name.clone())),
        )
        .collect();
    groups.sort();
    groups.dedup();
    let problems = match aws.preflight(&clusters, &groups).await {
        Ok(()) => {
            tracing::info!(
                clusters = clusters.len(),
                target_groups = groups.len(),
                "preflight passed"
            );
            return Ok(());
        }
        Err(problems) => problems,
    };
    let fatal: Vec<String> = problems
        .iter()
        .filter(|p| p.scope == Scope::Account)
        // One paragraph: the SDK's chain of credential providers comes over several lines.
        .map(|p| {
            p.to_string()
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    if !fatal.is_empty() {
        return Err(CliError::Failed(format!(
            "the AWS account is not ready for the controller: {}. Fix that and start it again; to try tugboat without an AWS account, run `tug controller --cloud sim` (the simulated AWS) or `tug demo`.",
            fatal.join("; ")
        )));
    }
    for p in &problems {
        match p.scope {
            Scope::Transient => {
                tracing::warn!(error = %p, "preflight: AWS did not answer; starting anyway, calls are retried with backoff")
            }
            _ => {
                tracing::warn!(problem = %p, "preflight: the stacks naming it will be reported Degraded until it is fixed; the others are reconciled")
            }
        }
    }
    Ok(())
}

/// SIGTERM (ECS stopping the task) or SIGINT (Ctrl-C): finish what is in flight, then stop. A
/// second signal exits at once.
async fn signals(stop: watch::Sender<bool>) {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot watch SIGTERM");
                    return;
                }
            };
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM: stopping after the reconciles in flight"),
            _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT: stopping after the reconciles in flight (again to exit at once)"),
        }
        let _ = stop.send(true);
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        tracing::warn!("a second signal: exiting at once");
        std::process::exit(130);
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        let _ = stop.send(true);
    }
}

/// Creates, in the simulated account, the target groups and the alarms the store's stacks name:
/// in a real account they exist before tugboat runs (CloudFormation, say).
async fn provide_infrastructure(sim: &SimCloud, store: &AnyStore) {
    if let Ok(stacks) = store.list().await {
        sim.with(|s| crate::simulate::provide_infrastructure(s, &stacks));
    }
}

/// Where the simulated account is kept: beside a file store.
fn saved_account(store: &AnyStore) -> Option<std::path::PathBuf> {
    match store {
        AnyStore::File(file) => Some(file.dir().join("simulated-aws.json")),
        AnyStore::DynamoDb(_) => None,
    }
}

/// The simulated account saved beside the store, or a new one (and says which). A new one starts
/// after everything the store remembers, so the controller's clock never goes back.
async fn open_account(
    saved: Option<&std::path::Path>,
    store: &AnyStore,
    load: Option<LoadTrace>,
    speed: f64,
) -> SimCloud {
    if let Some(path) = saved {
        match std::fs::read_to_string(path) {
            Ok(text) => match SimCloud::restore(&text, speed) {
                Ok(sim) => {
                    if let Some(load) = load {
                        sim.with(|s| s.set_load(load));
                    }
                    let (services, at) = sim.with(|s| (s.service_count(), s.now_ms() / 1000));
                    tracing::info!(
                        path = %path.display(),
                        services,
                        simulated_seconds = at,
                        speed,
                        "resuming the simulated AWS account saved beside the store"
                    );
                    return sim;
                }
                Err(e) => tracing::warn!(
                    path = %path.display(),
                    error = %e,
                    "the saved simulated account cannot be read; starting a new one"
                ),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot read the saved simulated account; starting a new one")
            }
        }
    }
    let mut newest_s = 0;
    if let Ok(stacks) = store.list().await {
        for stack in &stacks {
            if let Ok(Some(status)) = store.load_status(stack.name()).await {
                newest_s = newest_s.max(status.updated_at);
            }
        }
    }
    let origin = Clock::Wall.now_ms().max((newest_s + 60) * 1000) / 60_000 * 60_000;
    let clock = Clock::scaled(origin, speed);
    let sim = SimCloud::new(
        Sim::new(
            World::default(),
            load.unwrap_or_else(|| LoadTrace::constant(50.0)),
            1,
        ),
        clock,
        origin,
    );
    tracing::info!(
        speed,
        "a new simulated AWS account: the store's services are created in it, and revisions the controller remembers are registered again"
    );
    sim
}

/// Saves the simulated account (a temporary file renamed over the old one, so a crash leaves one
/// or the other).
fn save_account(sim: &SimCloud, path: &std::path::Path) {
    let written = sim.save().and_then(|text| {
        let temp = path.with_extension("json.tmp");
        // The account holds every revision's environment: its owner's only, like the store.
        crate::store::file::private_file(&temp)
            .and_then(|mut file| std::io::Write::write_all(&mut file, text.as_bytes()))
            .and_then(|()| std::fs::rename(&temp, path))
            .map_err(|e| e.to_string())
    });
    if let Err(e) = written {
        tracing::warn!(path = %path.display(), error = %e, "cannot save the simulated account");
    }
}

/// Moves the simulated world along with its clock (so metrics and task lifecycles advance while
/// the controller waits), keeps providing target groups for stacks applied meanwhile, and saves
/// the account every few seconds.
async fn advance_simulation(
    sim: SimCloud,
    store: AnyStore,
    saved: Option<std::path::PathBuf>,
    mut stopped: watch::Receiver<bool>,
) {
    let step = Duration::from_millis(100);
    let mut ticks: u32 = 0;
    loop {
        tokio::select! {
            () = tokio::time::sleep(step) => {}
            _ = stopped.wait_for(|stop| *stop) => return,
        }
        ticks = ticks.wrapping_add(1);
        sim.with(|_| {});
        if ticks.is_multiple_of(10) {
            provide_infrastructure(&sim, &store).await;
        }
        if ticks.is_multiple_of(50)
            && let Some(path) = &saved
        {
            save_account(&sim, path);
        }
    }
}

fn init_logging(format: LogFormat) {
    // The AWS SDK's own warnings (instance metadata lookups, retries) only when RUST_LOG asks.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(
            "info,aws_config=error,aws_runtime=error,aws_smithy_runtime=error",
        )
    });
    // Colours only for a person at a terminal, never in files or CloudWatch Logs.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

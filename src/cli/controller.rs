//! `tug controller [--cloud sim|aws] [--resync 30s] [--listen ADDR] [--once] [--log-format text|json]`:
//! the daemon. Exits 0 after a clean shutdown on SIGTERM or SIGINT.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::{CliError, Context};
use crate::cloud::aws::AwsCloud;
use crate::cloud::limiter::Limited;
use crate::cloud::sim::Sim;
use crate::cloud::sim::load::LoadTrace;
use crate::cloud::sim::world::World;
use crate::cloud::{SimAccess, SimCloud};
use crate::controller::daemon::{self, DaemonConfig};
use crate::controller::metered::Metered;
use crate::controller::metrics::Metrics;
use crate::http::{self, Readiness};
use crate::store::Store;

/// Arguments of `tug controller`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Which cloud: `aws` (the real one) or `sim` (the simulated AWS, in this process).
    #[arg(long, value_enum, default_value_t = CloudKind::Aws)]
    pub cloud: CloudKind,
    /// Time between reconciles when nothing changes.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "30s")]
    pub resync: Duration,
    /// Address of `/metrics`, `/healthz` and `/readyz`.
    #[arg(long, default_value = "0.0.0.0:9464")]
    pub listen: std::net::SocketAddr,
    /// Reconcile once, then exit.
    #[arg(long)]
    pub once: bool,
    /// Log format: `text` for people, `json` for CloudWatch Logs. Levels from RUST_LOG (default info).
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// With `--cloud sim`: offered load (CSV `t_seconds,rps[,service]`); default 50 rps for every service.
    #[arg(long, value_name = "TRACE.csv")]
    pub load: Option<String>,
    /// With `--cloud sim`: simulated seconds per wall second.
    #[arg(long, default_value_t = 1.0)]
    pub speed: f64,
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
/// An unavailable cloud (a failed preflight), a listen address in use, a store that cannot be
/// read (exit 2).
pub async fn run(args: Args, context: &Context) -> Result<ExitCode, CliError> {
    init_logging(args.log_format);
    let store = context.store()?;
    let metrics = Metrics::new().map_err(|e| CliError::Failed(format!("metrics: {e}")))?;
    let (stop, stopped) = watch::channel(false);
    tokio::spawn(signals(stop.clone()));
    let result = match args.cloud {
        CloudKind::Aws => {
            let aws = AwsCloud::from_env(true).await;
            preflight(&aws, &store).await?;
            // Every call waits for the shared rate limit, then is counted.
            let cloud = Metered::new(Limited::new(aws), metrics.clone());
            serve(&args, &store, &cloud, wall_clock, &metrics, stopped).await
        }
        CloudKind::Sim => {
            if !(args.speed.is_finite() && args.speed > 0.0) {
                return Err(CliError::Rejected(format!(
                    "--speed must be above 0, got {}",
                    args.speed
                )));
            }
            let load = match &args.load {
                Some(path) => {
                    let text = std::fs::read_to_string(path)
                        .map_err(|e| CliError::Rejected(format!("{path}: cannot read: {e}")))?;
                    LoadTrace::parse(&text)
                        .map_err(|e| CliError::Rejected(format!("{path}: {e}")))?
                }
                None => LoadTrace::constant(50.0),
            };
            let sim = SimCloud::new(Sim::new(World::default(), load, 1));
            let cloud = Metered::new(Limited::new(sim.clone()), metrics.clone());
            provide_target_groups(&sim, &store).await;
            tokio::spawn(advance_simulation(
                sim.clone(),
                args.speed,
                store.clone(),
                stopped.clone(),
            ));
            let now = || sim.with(|s| s.now_ms() / 1000);
            serve(&args, &store, &cloud, now, &metrics, stopped).await
        }
    };
    let _ = stop.send(true);
    result?;
    Ok(ExitCode::SUCCESS)
}

/// The controller's clock on AWS: seconds since the epoch.
#[allow(clippy::disallowed_methods)] // the daemon's one clock on real AWS, passed down as `now`
fn wall_clock() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Checks the account before starting: region, credentials, the stacks' clusters and target
/// groups. Stacks applied later are checked by the reconciles themselves.
async fn preflight(aws: &AwsCloud, store: &crate::store::AnyStore) -> Result<(), CliError> {
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
    aws.preflight(&clusters, &groups)
        .await
        .map_err(|problems| {
            CliError::Failed(format!(
                "the AWS account is not ready for the controller:\n{problems}"
            ))
        })?;
    tracing::info!(
        clusters = clusters.len(),
        target_groups = groups.len(),
        "preflight passed"
    );
    Ok(())
}

/// Serves the endpoints and runs the daemon until it stops.
async fn serve<C: crate::cloud::Cloud>(
    args: &Args,
    store: &crate::store::AnyStore,
    cloud: &C,
    now: impl Fn() -> u64,
    metrics: &Metrics,
    stopped: watch::Receiver<bool>,
) -> Result<(), CliError> {
    let readiness = Arc::new(Readiness::default());
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| CliError::Failed(format!("cannot listen on {}: {e}", args.listen)))?;
    let address = listener
        .local_addr()
        .map_err(|e| CliError::Failed(format!("listener: {e}")))?;
    tracing::info!(%address, "serving /metrics, /healthz and /readyz");
    let mut server_stop = stopped.clone();
    let (server_done_tx, server_done) = watch::channel(false);
    let server = tokio::spawn(http::serve(
        listener,
        metrics.clone(),
        readiness.clone(),
        async move {
            tokio::select! {
                _ = server_stop.wait_for(|stop| *stop) => {}
                _ = async {
                    let mut done = server_done;
                    let _ = done.wait_for(|d| *d).await;
                } => {}
            }
        },
    ));
    let config = DaemonConfig {
        resync: args.resync,
        once: args.once,
    };
    let result = daemon::run(
        store,
        cloud,
        now,
        metrics,
        || readiness.set(true),
        &config,
        stopped,
    )
    .await;
    let _ = server_done_tx.send(true);
    let _ = server.await;
    result.map_err(|e| CliError::Failed(e.to_string()))
}

/// SIGTERM (ECS stopping the task) or SIGINT (Ctrl-C): finish the current pass, then stop.
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
            _ = term.recv() => tracing::info!("SIGTERM: stopping after the current pass"),
            _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT: stopping after the current pass"),
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
    let _ = stop.send(true);
}

/// Creates, in the simulated account, the target groups the store's stacks name: in a real account
/// they exist before tugboat runs (CloudFormation, say).
async fn provide_target_groups(sim: &SimCloud, store: &crate::store::AnyStore) {
    if let Ok(stacks) = store.list().await {
        sim.with(|s| {
            stacks
                .iter()
                .for_each(|stack| s.provide_target_groups(stack))
        });
    }
}

/// Moves the simulated clock with wall time, and keeps providing target groups for new stacks.
async fn advance_simulation(
    sim: SimCloud,
    speed: f64,
    store: crate::store::AnyStore,
    mut stopped: watch::Receiver<bool>,
) {
    let step = Duration::from_millis(100);
    let mut since_stacks = Duration::ZERO;
    loop {
        if since_stacks >= Duration::from_secs(1) {
            since_stacks = Duration::ZERO;
            provide_target_groups(&sim, &store).await;
        }
        tokio::select! {
            () = tokio::time::sleep(step) => {}
            _ = stopped.wait_for(|stop| *stop) => return,
        }
        since_stacks += step;
        let advance = (step.as_secs_f64() * speed * 1000.0) as u64;
        sim.with(|s| {
            let target = s.now_ms() + advance;
            s.advance_to(target);
        });
    }
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
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

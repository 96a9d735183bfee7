//! How a change would roll out, said before it is applied (`tug diff`): the strategy, its waves or
//! traffic steps and bakes, the peak task count (and so the capacity it needs beyond the service's
//! own), and how long it takes. The duration is measured, not guessed: the service alone is
//! created in the simulator with the stored spec, the new spec is applied, and tugboat's
//! controller rolls it out there, with the world file's task timings and the stack's own health
//! checks and deregistration delays.

use crate::cloud::sim::load::LoadTrace;
use crate::cloud::sim::world::World;
use crate::manifest::rules::rollout_batch;
use crate::model::Stack;
use crate::model::aws::Strategy;
use crate::plan::DesiredService;

use super::{Scaler, Simulation, SimulationError};

/// Simulated seconds allowed for the service to be created and verified before the change.
const SETTLE_LIMIT: u64 = 2 * 3600;
/// Simulated seconds allowed for the rollout of the change.
const ROLLOUT_LIMIT: u64 = 6 * 3600;

/// How one service's change would roll out.
#[derive(Debug, Clone, PartialEq)]
pub struct RolloutPreview {
    /// ECS's name of the strategy.
    pub strategy: &'static str,
    /// Tasks the service runs (its live desired count, or the manifest's).
    pub tasks: u32,
    /// Waves or traffic steps, in words.
    pub shape: String,
    /// The most tasks running or starting at once during the simulated rollout.
    pub peak_tasks: u32,
    /// Seconds from the apply to the new revision verified good, in the simulator; `None` when it
    /// did not get there.
    pub seconds: Option<u64>,
    /// What happened instead, when it did not.
    pub outcome: Option<String>,
    /// The world's figures the duration depends on.
    pub assumptions: String,
}

/// The waves or steps of a deployment of `tasks` tasks of `after`'s `service`, in words.
pub fn shape(after: &Stack, service: &str, tasks: u32) -> Option<(&'static str, String)> {
    let spec = after.spec().services.iter().find(|s| s.name == service)?;
    let deployment = &spec.deployment;
    let strategy = Strategy::of(&deployment.strategy);
    let minutes = |m: u32| format!("{m} min");
    let text = match &strategy {
        Strategy::Rolling => {
            let batch = rollout_batch(
                tasks,
                deployment.minimum_healthy_percent,
                deployment.maximum_percent,
            )
            .max(1);
            let waves = u64::from(tasks).div_ceil(batch).max(1);
            format!(
                "{waves} wave{} of up to {batch} task{} (minimum healthy {} %, maximum {} %)",
                if waves == 1 { "" } else { "s" },
                if batch == 1 { "" } else { "s" },
                deployment.minimum_healthy_percent,
                deployment.maximum_percent
            )
        }
        shifting => {
            let steps = shifting.steps();
            let mut parts: Vec<String> = steps
                .iter()
                .take(steps.len().saturating_sub(1))
                .map(|(share, held)| format!("{share} % for {}", minutes(*held)))
                .collect();
            parts.push("100 %".to_owned());
            let last = steps.last().map_or(0, |(_, held)| *held);
            format!(
                "{tasks} new tasks beside the {tasks} old; production traffic {}; old tasks kept {} for an instant rollback",
                parts.join(", then "),
                minutes(last)
            )
        }
    };
    Some((strategy.ecs_name(), text))
}

/// `stack` with only `service`, at `tasks` tasks and without scaling (the rollout, not the
/// scaler, is being measured); `None` when that is not a valid stack.
fn alone(stack: &Stack, service: &str, tasks: u32) -> Option<Stack> {
    let mut manifest = stack.manifest().clone();
    manifest.spec.services.retain(|s| s.name == service);
    let spec = manifest.spec.services.first_mut()?;
    spec.scaling = None;
    spec.desired_count = tasks;
    crate::manifest::validate(&manifest).ok()
}

/// Rolls `service` out from `before`'s spec to `after`'s in the simulator, with `world`'s
/// timings (its scheduled deployments left out).
///
/// # Errors
/// The simulation could not be set up; `Ok(None)` when the service is not in both stacks or its
/// reduced stack is not valid.
pub fn preview(
    before: &Stack,
    after: &Stack,
    service: &str,
    tasks: u32,
    world: &World,
) -> Result<Option<RolloutPreview>, SimulationError> {
    let (Some(old), Some(new), Some((strategy, shape))) = (
        alone(before, service, tasks),
        alone(after, service, tasks),
        shape(after, service, tasks),
    ) else {
        return Ok(None);
    };
    let Some(digest) = DesiredService::of_stack(&new)
        .first()
        .map(|d| d.digest.clone())
    else {
        return Ok(None);
    };
    let mut world = world.clone();
    world.deployments.clear();
    let assumptions = format!(
        "tasks start in {} to {} s and stop in {} s, the world's figures; health checks and deregistration delays as the stack declares them",
        world.tasks.provisioning_seconds
            + world.tasks.start_seconds
            + world.tasks.app_ready_seconds,
        world.tasks.provisioning_seconds
            + world.tasks.start_seconds
            + world.tasks.start_jitter_seconds
            + world.tasks.app_ready_seconds,
        world.tasks.stop_seconds
    );
    let mut simulation = Simulation::new(
        std::slice::from_ref(&old),
        world,
        LoadTrace::constant(0.0),
        1,
        Scaler::Tug { resync_seconds: 30 },
    )?;
    let verified = |simulation: &Simulation, digest: Option<&str>| {
        simulation.memory(service).is_some_and(|m| {
            m.rollout.is_none()
                && m.verified_good
                    .as_ref()
                    .is_some_and(|g| digest.is_none_or(|d| g.digest == d))
        })
    };
    for _ in 0..SETTLE_LIMIT {
        if verified(&simulation, None) {
            break;
        }
        simulation.step()?;
    }
    let start = simulation.now();
    simulation.apply(vec![new])?;
    let mut peak = 0;
    let mut seconds = None;
    let mut outcome = None;
    for _ in 0..ROLLOUT_LIMIT {
        for row in simulation.step()? {
            peak = peak.max(row.sample.running + row.sample.pending);
        }
        if verified(&simulation, Some(&digest)) {
            seconds = Some(simulation.now() - start);
            break;
        }
        if let Some(m) = simulation.memory(service)
            && m.failed_digests.contains(&digest)
        {
            outcome = Some(
                "it fails in the simulator and is rolled back (the world file's images?)"
                    .to_owned(),
            );
            break;
        }
    }
    if seconds.is_none() && outcome.is_none() {
        outcome = Some(format!(
            "not verified within {} h in the simulator",
            ROLLOUT_LIMIT / 3600
        ));
    }
    Ok(Some(RolloutPreview {
        strategy,
        tasks,
        shape,
        peak_tasks: peak,
        seconds,
        outcome,
        assumptions,
    }))
}

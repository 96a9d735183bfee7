//! `kind: World`: how the simulated AWS behaves. Every field has a default, so an empty world (or
//! none at all) is a plausible Fargate region; a WORLD.yaml changes only what it names.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A world file: `apiVersion: tugboat/v1`, `kind: World`, `spec: ...`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WorldFile {
    /// Must be `tugboat/v1`.
    pub api_version: String,
    /// Must be `World`.
    pub kind: String,
    /// Optional name, for the reader.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// The world.
    #[serde(default)]
    pub spec: World,
}

/// How the simulated AWS behaves.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct World {
    /// The simulated account: its id and region appear in the ARNs it gives out.
    pub account: Account,
    /// Task lifecycle and capacity.
    pub tasks: TaskBehaviour,
    /// Target groups.
    pub target_groups: TargetGroupBehaviour,
    /// CloudWatch.
    pub metrics: MetricBehaviour,
    /// EC2 container instances (Auto Scaling group) for the EC2 launch type.
    pub ec2: Ec2Capacity,
    /// API faults.
    pub api: ApiBehaviour,
    /// Images that fail, and how.
    pub images: Vec<FailingImage>,
    /// Deployments started during a run: a new image for a service at a given time.
    pub deployments: Vec<ScheduledDeployment>,
}

/// A deployment the simulation starts by itself, as a CI job would.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScheduledDeployment {
    /// When, in simulated seconds from the start.
    pub at_seconds: u64,
    /// Which service (by name).
    pub service: String,
    /// The new image of its first essential container.
    pub image: String,
}

/// The simulated account's identity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Account {
    /// The 12-digit account id.
    pub account_id: String,
    /// The region.
    pub region: String,
}

impl Default for Account {
    fn default() -> Self {
        Self {
            account_id: "123456789012".to_owned(),
            region: "us-east-1".to_owned(),
        }
    }
}

/// Task lifecycle durations and capacity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct TaskBehaviour {
    /// PROVISIONING (ENI attachment, placement).
    pub provisioning_seconds: u64,
    /// PENDING to RUNNING (image pull, container start): about 60 s observed for a ~400 MB image.
    pub start_seconds: u64,
    /// Up to this many seconds more, seeded, per task.
    pub start_jitter_seconds: u64,
    /// After RUNNING, before the application answers health checks.
    pub app_ready_seconds: u64,
    /// STOPPING: from SIGTERM to exit (at most the container's stopTimeout, default 30 s).
    pub stop_seconds: u64,
    /// Requests per second one task serves at 100 % CPU.
    pub capacity_rps: f64,
    /// CPU of a task with no load, percent.
    pub idle_cpu_percent: f64,
    /// Uniform noise added to each CPU sample, plus or minus this many percent.
    pub cpu_noise_percent: f64,
}

impl Default for TaskBehaviour {
    fn default() -> Self {
        Self {
            provisioning_seconds: 10,
            start_seconds: 50,
            start_jitter_seconds: 10,
            app_ready_seconds: 5,
            stop_seconds: 5,
            capacity_rps: 100.0,
            idle_cpu_percent: 2.0,
            cpu_noise_percent: 3.0,
        }
    }
}

/// Target-group behaviour.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct TargetGroupBehaviour {
    /// Health check of target groups the stack does not configure (ELBv2 defaults).
    pub health_check: WorldHealthCheck,
    /// Seconds a deregistered target drains (ELBv2 default 300, range 0 to 3,600).
    pub deregistration_delay_seconds: u64,
}

impl Default for TargetGroupBehaviour {
    fn default() -> Self {
        Self {
            health_check: WorldHealthCheck::default(),
            deregistration_delay_seconds: 300,
        }
    }
}

/// Health-check settings for target groups the stack leaves alone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct WorldHealthCheck {
    /// Seconds between checks (ELBv2 default 30).
    pub interval_seconds: u32,
    /// Check timeout (ELBv2 default 5).
    pub timeout_seconds: u32,
    /// Passes to recover (ELBv2 default 5).
    pub healthy_threshold: u32,
    /// Failures to turn unhealthy (ELBv2 default 2).
    pub unhealthy_threshold: u32,
}

impl Default for WorldHealthCheck {
    fn default() -> Self {
        Self {
            interval_seconds: 30,
            timeout_seconds: 5,
            healthy_threshold: 5,
            unhealthy_threshold: 2,
        }
    }
}

/// CloudWatch behaviour.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct MetricBehaviour {
    /// Seconds after a minute closes before its datapoint can be read (1 to 3 minutes observed).
    pub publication_delay_seconds: u64,
    /// Seconds after a 20-second CPU period closes before its datapoint can be read. AWS's own
    /// benchmark of target tracking on the 20-second metric triggers in 86 s: three 20-second
    /// periods and about 26 s more; the default takes 20 of those for publication.
    pub fine_publication_delay_seconds: u64,
}

impl Default for MetricBehaviour {
    fn default() -> Self {
        Self {
            publication_delay_seconds: 120,
            fine_publication_delay_seconds: 20,
        }
    }
}

/// EC2 capacity for EC2 tasks: one Auto Scaling group per cluster (see `sim::ec2`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Ec2Capacity {
    /// Instances running (and registered) at the start.
    pub instances: u32,
    /// The group's minimum.
    pub min_instances: u32,
    /// The group's maximum.
    pub max_instances: u32,
    /// CPU units an instance registers (2,048: 2 vCPU).
    pub instance_cpu: u32,
    /// MiB an instance registers (3,840 of a 4 GiB instance: the agent and the OS keep the rest).
    pub instance_memory: u32,
    /// Availability zones the group spans.
    pub zones: u32,
    /// Seconds from launching an instance to it registering with the cluster.
    pub launch_seconds: u64,
    /// ECS's managed scaling, for clusters whose services use a capacity provider.
    pub managed_scaling: ManagedScaling,
}

impl Default for Ec2Capacity {
    fn default() -> Self {
        Self {
            instances: 2,
            min_instances: 0,
            max_instances: 10,
            instance_cpu: 2048,
            instance_memory: 3840,
            zones: 2,
            launch_seconds: 180,
            managed_scaling: ManagedScaling::default(),
        }
    }
}

/// A capacity provider's managed scaling (aws-facts.md, "EC2 capacity").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct ManagedScaling {
    /// On for the capacity providers the services name.
    pub enabled: bool,
    /// `targetCapacity`, percent (100: no spare instances).
    pub target_capacity: u32,
    /// `instanceWarmupPeriod`, seconds: no second scale-out before it ends.
    pub instance_warmup_seconds: u64,
    /// `minimumScalingStepSize`.
    pub minimum_scaling_step_size: u32,
    /// `maximumScalingStepSize`.
    pub maximum_scaling_step_size: u32,
}

impl Default for ManagedScaling {
    fn default() -> Self {
        Self {
            enabled: true,
            target_capacity: 100,
            instance_warmup_seconds: 300,
            minimum_scaling_step_size: 1,
            maximum_scaling_step_size: 10_000,
        }
    }
}

/// API faults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct ApiBehaviour {
    /// Enforce the documented per-category token buckets.
    pub throttling: bool,
    /// Fraction of every call answered with a server error (0 to 1).
    pub error_rate: f64,
    /// Per-operation error rates, overriding `errorRate` (e.g. `UpdateService: 0.1`).
    pub error_rates: BTreeMap<String, f64>,
    /// Fraction of calls throttled on top of the buckets (0 to 1).
    pub throttle_rate: f64,
    /// Milliseconds each call takes, in simulated time.
    pub latency_ms: u64,
    /// Per-operation latencies, overriding `latencyMs` (e.g. `GetMetricData: 400`).
    pub latencies_ms: BTreeMap<String, u64>,
    /// Seconds during which a describe after an update may still show the old value.
    pub consistency_delay_seconds: u64,
}

impl Default for ApiBehaviour {
    fn default() -> Self {
        Self {
            throttling: true,
            error_rate: 0.0,
            error_rates: BTreeMap::new(),
            throttle_rate: 0.0,
            latency_ms: 0,
            latencies_ms: BTreeMap::new(),
            consistency_delay_seconds: 0,
        }
    }
}

/// An image that fails, and how.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FailingImage {
    /// The image reference, exactly as in the task definition.
    pub image: String,
    /// How it fails.
    pub failure: Failure,
    /// `exitsAfter`: seconds of RUNNING before the essential container exits.
    #[serde(default)]
    pub after_seconds: Option<u64>,
    /// `serves5xx`: fraction of requests answered with a 5XX (0 to 1).
    #[serde(default)]
    pub fraction: Option<f64>,
}

/// Ways a version can fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Failure {
    /// Never reaches RUNNING (a bad image: CannotPullContainerError).
    NeverRuns,
    /// Runs, then its essential container exits after `afterSeconds`.
    ExitsAfter,
    /// Runs, but fails every health check.
    FailsHealthChecks,
    /// Runs and passes health checks, but answers `fraction` of requests with 5XX.
    Serves5xx,
}

impl World {
    /// Parses a world file.
    ///
    /// # Errors
    /// A message with the line and column of the problem, or a value out of range.
    pub fn parse(text: &str) -> Result<World, String> {
        let file: WorldFile = serde_saphyr::from_str(text).map_err(|e| {
            let at = e
                .location()
                .map(|l| format!("{}:{}: ", l.line(), l.column()))
                .unwrap_or_default();
            let message = e.to_string();
            format!("{at}{}", message.lines().next().unwrap_or_default())
        })?;
        if file.api_version != crate::model::API_VERSION || file.kind != "World" {
            return Err(format!(
                "expected apiVersion `tugboat/v1` and kind `World`, found `{}` and `{}`",
                file.api_version, file.kind
            ));
        }
        file.spec.check()?;
        Ok(file.spec)
    }

    /// Range checks serde cannot express.
    fn check(&self) -> Result<(), String> {
        let rate = |name: &str, v: f64| {
            if (0.0..=1.0).contains(&v) {
                Ok(())
            } else {
                Err(format!(
                    "spec.api.{name}: must be between 0 and 1, found {v}"
                ))
            }
        };
        rate("errorRate", self.api.error_rate)?;
        rate("throttleRate", self.api.throttle_rate)?;
        for op in self
            .api
            .error_rates
            .keys()
            .chain(self.api.latencies_ms.keys())
        {
            if crate::cloud::Operation::from_name(op).is_none() {
                return Err(format!(
                    "spec.api: `{op}` is not an operation the simulator knows (for example `UpdateService`, `GetMetricData`)"
                ));
            }
        }
        for (op, v) in &self.api.error_rates {
            rate(&format!("errorRates.{op}"), *v)?;
        }
        if self.tasks.capacity_rps.is_nan() || self.tasks.capacity_rps <= 0.0 {
            return Err("spec.tasks.capacityRps: must be above 0".to_owned());
        }
        let hc = &self.target_groups.health_check;
        if hc.timeout_seconds >= hc.interval_seconds || hc.interval_seconds == 0 {
            return Err(
                "spec.targetGroups.healthCheck: timeoutSeconds must be below intervalSeconds"
                    .to_owned(),
            );
        }
        for (i, image) in self.images.iter().enumerate() {
            match image.failure {
                Failure::ExitsAfter if image.after_seconds.is_none() => {
                    return Err(format!("spec.images[{i}]: exitsAfter needs afterSeconds"));
                }
                Failure::Serves5xx if !image.fraction.is_some_and(|f| (0.0..=1.0).contains(&f)) => {
                    return Err(format!(
                        "spec.images[{i}]: serves5xx needs a fraction between 0 and 1"
                    ));
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// How `image` fails, if it does.
    pub fn failure_of(&self, image: &str) -> Option<&FailingImage> {
        self.images.iter().find(|f| f.image == image)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_world_is_all_defaults() {
        let world = World::parse("apiVersion: tugboat/v1\nkind: World\n").expect("valid");
        assert_eq!(world, World::default());
        assert_eq!(world.target_groups.deregistration_delay_seconds, 300);
    }

    #[test]
    fn unknown_fields_and_bad_rates_are_refused() {
        let err = World::parse("apiVersion: tugboat/v1\nkind: World\nspec: {taks: {}}\n")
            .expect_err("unknown");
        assert!(err.starts_with("3:"), "{err}");
        let err =
            World::parse("apiVersion: tugboat/v1\nkind: World\nspec: {api: {errorRate: 2}}\n")
                .expect_err("range");
        assert!(err.contains("errorRate"), "{err}");
    }
}

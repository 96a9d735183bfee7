//! The capacity key: one pass over the Auto Scaling group of a cluster whose capacity tugboat owns
//! (a stack's `capacity`), a unit of work of the daemon like a service, keyed by cluster. It reads
//! the group and the cluster's container instances, asks [`crate::plan::group`] what to do with
//! what every service on the cluster wants (from the daemon's registry: desired counts, counts
//! held for room, deployments' surge), and makes the calls.
//!
//! Reads: DescribeAutoScalingGroups (one group), ListContainerInstances and
//! DescribeContainerInstances (100 a call); only when a scale-in is due, ListTasks and DescribeTasks
//! on the few least-loaded instances (to never drain one that runs a task of a service tugboat
//! does not manage). Writes, in order: UpdateContainerInstancesState ACTIVE (drained instances
//! taken back), SetDesiredCapacity, SetInstanceProtection (50 instances a call: on for the
//! instances kept, off for the ones about to drain), UpdateContainerInstancesState DRAINING (10 a
//! call), TerminateInstanceInAutoScalingGroup.
//! Each is safe to repeat: a pass that fails midway is planned again from what the account says.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::cloud::{Cloud, CloudError, Operation, TASKS_PER_CALL};
use crate::manifest::spec::CapacitySpec;
use crate::model::{CapacityMemory, CapacityStatus};
use crate::plan::capacity::{InstanceLoad, ServiceDemand};
use crate::plan::group::{GroupAction, GroupPlan, GroupView, plan_group};

use super::observe::container_instances;

/// SetInstanceProtection's most instances per call.
const PROTECT_PER_CALL: usize = 50;
/// UpdateContainerInstancesState's most container instances per call.
const STATE_PER_CALL: usize = 10;

/// One pass's input.
#[derive(Debug, Clone)]
pub struct CapacityJob {
    /// The cluster.
    pub cluster: String,
    /// The stack that gives tugboat the group.
    pub stack: String,
    /// Its `capacity`.
    pub spec: Arc<CapacitySpec>,
    /// What the services on the cluster ask for.
    pub demands: Vec<ServiceDemand>,
    /// Tasks each service holds back for room.
    pub waiting: BTreeMap<String, u32>,
    /// The services tugboat manages on the cluster (their tasks may be moved).
    pub managed: BTreeSet<String>,
    /// What the last pass left.
    pub memory: CapacityMemory,
}

/// One pass's outcome.
#[derive(Debug, Clone)]
pub struct CapacityOutcome {
    /// Memory after it (the decisions of what succeeded).
    pub memory: CapacityMemory,
    /// What was observed, if the observation worked.
    pub status: Option<CapacityStatus>,
    /// When to look again (seconds), if sooner than the resync.
    pub requeue_after: Option<u64>,
    /// The failure, if a call failed.
    pub error: Option<CloudError>,
}

/// The group's name for DescribeAutoScalingGroups: the name itself, or the last part of an ARN
/// (`...:autoScalingGroupName/NAME`).
pub fn group_name(spec: &CapacitySpec) -> &str {
    let g = spec.auto_scaling_group.as_str();
    match g.rsplit_once("autoScalingGroupName/") {
        Some((_, name)) if g.starts_with("arn:") => name,
        _ => g,
    }
}

/// One pass at `now` (seconds).
pub async fn reconcile_capacity<C: Cloud>(
    cloud: &C,
    job: CapacityJob,
    now: u64,
) -> CapacityOutcome {
    let failed = |memory: CapacityMemory, error: CloudError| CapacityOutcome {
        memory,
        status: None,
        requeue_after: None,
        error: Some(error),
    };
    let name = group_name(&job.spec);
    let group = match Box::pin(cloud.describe_auto_scaling_group(name)).await {
        Ok(Some(group)) => group,
        Ok(None) => {
            return failed(
                job.memory,
                CloudError::Invalid {
                    operation: Operation::DescribeAutoScalingGroups,
                    message: format!(
                        "Auto Scaling group `{name}` not found (capacity.autoScalingGroup of stack `{}`): create it, or name the group behind cluster {}",
                        job.stack, job.cluster
                    ),
                },
            );
        }
        Err(e) => return failed(job.memory, e),
    };
    let instances = match Box::pin(container_instances(cloud, &job.cluster)).await {
        Ok(instances) => instances,
        Err(e) => return failed(job.memory, e),
    };
    let view = GroupView {
        cluster: &job.cluster,
        spec: &job.spec,
        group: &group,
        instances: &instances,
        demands: &job.demands,
        waiting: &job.waiting,
        loads: None,
    };
    let mut plan = plan_group(&view, &job.memory, now);
    if !plan.read_loads.is_empty() {
        let loads = match Box::pin(read_loads(cloud, &job, &plan, &instances)).await {
            Ok(loads) => loads,
            Err(e) => return failed(job.memory, e),
        };
        plan = plan_group(
            &GroupView {
                loads: Some(&loads),
                ..view
            },
            &job.memory,
            now,
        );
    }
    let GroupPlan {
        actions,
        memory: planned,
        status,
        requeue_after,
        ..
    } = plan;
    // What the calls made so far leave, should one fail: the pass is planned again from the
    // account, but the drains made are remembered (to terminate those instances once empty).
    let mut memory = job.memory.clone();
    for action in actions {
        let result = match &action {
            GroupAction::Activate(arns) => {
                Box::pin(set_state(cloud, &job.cluster, arns, "ACTIVE")).await
            }
            GroupAction::SetDesiredCapacity(to) => {
                Box::pin(cloud.set_desired_capacity(&group.name, *to)).await
            }
            GroupAction::Protect(ids) => Box::pin(protect(cloud, &group.name, ids, true)).await,
            GroupAction::Unprotect(ids) => Box::pin(protect(cloud, &group.name, ids, false)).await,
            GroupAction::Drain(arns) => {
                Box::pin(set_state(cloud, &job.cluster, arns, "DRAINING")).await
            }
            GroupAction::Terminate(id) => {
                Box::pin(cloud.terminate_instance_in_auto_scaling_group(id, true)).await
            }
        };
        if let Err(e) = result {
            return CapacityOutcome {
                memory,
                status: Some(status),
                requeue_after: None,
                error: Some(e),
            };
        }
        if let GroupAction::Drain(arns) = &action {
            memory.drained.extend(
                instances
                    .iter()
                    .filter(|c| arns.contains(&c.arn))
                    .map(|c| c.ec2_instance_id.clone()),
            );
        }
    }
    CapacityOutcome {
        memory: planned,
        status: Some(status),
        requeue_after,
        error: None,
    }
}

/// SetInstanceProtection, [`PROTECT_PER_CALL`] a call.
async fn protect<C: Cloud>(
    cloud: &C,
    group: &str,
    ids: &[String],
    protected: bool,
) -> Result<(), CloudError> {
    for chunk in ids.chunks(PROTECT_PER_CALL) {
        Box::pin(cloud.set_instance_protection(group, chunk, protected)).await?;
    }
    Ok(())
}

/// UpdateContainerInstancesState, [`STATE_PER_CALL`] a call.
async fn set_state<C: Cloud>(
    cloud: &C,
    cluster: &str,
    arns: &[String],
    status: &str,
) -> Result<(), CloudError> {
    for chunk in arns.chunks(STATE_PER_CALL) {
        Box::pin(cloud.update_container_instances_state(cluster, chunk, status)).await?;
    }
    Ok(())
}

/// The tasks on the scale-in candidates: how many belong to services tugboat manages, and how
/// many to anything else (another service, a standalone task, a daemon).
async fn read_loads<C: Cloud>(
    cloud: &C,
    job: &CapacityJob,
    plan: &GroupPlan,
    instances: &[crate::model::aws::ContainerInstance],
) -> Result<Vec<InstanceLoad>, CloudError> {
    let mut loads = Vec::with_capacity(plan.read_loads.len());
    for (arn, id) in &plan.read_loads {
        let tasks = Box::pin(cloud.list_instance_tasks(&job.cluster, arn)).await?;
        let mut groups = Vec::with_capacity(tasks.len());
        for chunk in tasks.chunks(TASKS_PER_CALL) {
            groups.extend(Box::pin(cloud.describe_task_groups(&job.cluster, chunk)).await?);
        }
        // A task that stopped between the two reads is not described, and not counted.
        let managed = u32::try_from(
            groups
                .iter()
                .filter(|g| {
                    g.strip_prefix("service:")
                        .is_some_and(|s| job.managed.contains(s))
                })
                .count(),
        )
        .unwrap_or(u32::MAX);
        let described = u32::try_from(groups.len()).unwrap_or(u32::MAX);
        let instance = instances.iter().find(|c| &c.arn == arn);
        loads.push(InstanceLoad {
            id: id.clone(),
            managed_tasks: managed,
            other_tasks: described - managed,
            cpu_reserved: instance.map_or(0, |c| c.registered_cpu.saturating_sub(c.remaining_cpu)),
            draining: instance.is_some_and(|c| c.status == "DRAINING"),
        });
    }
    Ok(loads)
}

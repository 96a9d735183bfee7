//! EC2 capacity: one Auto Scaling group per cluster, its instances registered as container
//! instances, ECS's placement of EC2 tasks on them, draining, and ECS's managed scaling of the
//! group through a capacity provider (aws-facts.md, "EC2 capacity"; the ECS developer guide's
//! "Amazon ECS task placement", "Container instance draining" and "Amazon ECS capacity provider
//! managed scaling" pages). Behaviours modelled:
//! - the group keeps `desired` instances within its min and max: an instance launched registers
//!   with the cluster (ACTIVE, accepting tasks) `launchSeconds` later; a scale-in terminates
//!   unprotected instances, empty ones first, then the newest; instances are billed from launch
//!   to termination;
//! - an instance offers its registered CPU and memory; a task is placed where its CPU, memory and
//!   static host ports fit (a host port is taken once per instance), never on a DRAINING instance,
//!   at most one per instance under `distinctInstance`; among those, spread by availability zone
//!   then by instance (ECS's default for services), or bin-packed on memory where the service's
//!   strategy says so; a task with no room waits (PROVISIONING with a capacity provider);
//! - a DRAINING instance's service tasks are replaced as in a deployment: replacements start
//!   elsewhere within `maximumPercent`, and a drained task stops only while the service keeps its
//!   `minimumHealthyPercent` healthy;
//! - a terminated instance's tasks stop at once (their host is gone), and ECS replaces them;
//! - managed scaling, for a cluster whose services use a capacity provider: each minute ECS works
//!   out `CapacityProviderReservation` = N / M x 100 (M instances in the group; N = M plus the
//!   instances the tasks waiting for room need beyond those still launching, at least
//!   `minimumScalingStepSize` more and at most `maximumScalingStepSize`, or, with none waiting,
//!   the instances running a task), and
//!   target tracking sets the group to ceil(N x 100 / targetCapacity): a scale-out on the newest
//!   datapoint above the target, no second one before the instance warm-up (300 s by default) is
//!   over; a scale-in after 15 datapoints below it, terminating empty instances only (managed
//!   termination protection). Datapoints are read after the world's publication delay.
//!
//! Not modelled: the 100-task cap on PROVISIONING tasks per cluster, and PROVISIONING tasks that
//! ECS stops after waiting too long; the shifting strategies' scheduler ignores draining.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::{SECOND, Sim, Task, TaskState};
use crate::cloud::{CloudError, Operation};
use crate::model::aws::{
    AutoScalingGroup, CONTAINER_INSTANCES_PER_CALL, ContainerInstance, GroupInstance,
    TaskDefinitionInput,
};

/// A container instance's ARN in the simulated account (its EC2 instance's id as the last part).
fn container_instance_arn(cluster: &str, id: &str) -> String {
    format!("arn:aws:ecs:us-east-1:123456789012:container-instance/{cluster}/{id}")
}

/// The EC2 instance id a simulated container instance's ARN (or the bare id) names.
fn instance_id_of(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// An availability zone's name for its index.
fn zone_name(zone: u32) -> String {
    let letter = char::from(b'a' + u8::try_from(zone % 26).unwrap_or(0));
    format!("us-east-1{letter}")
}

/// Datapoints below the target a managed-scaling scale-in waits for (15 minutes).
const SCALE_IN_DATAPOINTS: usize = 15;

/// The Auto Scaling group of one cluster.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Group {
    /// Its name.
    pub(super) name: String,
    /// Never fewer instances.
    pub(super) min: u32,
    /// Never more.
    pub(super) max: u32,
    /// Instances it keeps.
    pub(super) desired: u32,
    /// Its instances, oldest first.
    pub(super) instances: Vec<Instance>,
    /// Instances launched so far (for ids).
    launched: u64,
    /// Instance-seconds billed so far.
    pub(super) instance_seconds: u64,
    /// Managed scaling's state, for a group behind a capacity provider that has it on.
    managed: Managed,
}

/// Managed scaling's memory.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Managed {
    /// CapacityProviderReservation per minute: (minute start ms, percent, N).
    reservation: Vec<(u64, f64, u32)>,
    /// When it last scaled out (ms).
    last_scale_out_ms: Option<u64>,
}

/// One EC2 instance of the group, and its container instance.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Instance {
    /// `i-...`.
    pub(super) id: String,
    /// Its availability zone's index.
    pub(super) zone: u32,
    /// When it registers with the cluster (ms).
    ready_ms: u64,
    /// Registered CPU units and MiB.
    cpu: u32,
    memory: u32,
    /// Taken by its tasks.
    used_cpu: u32,
    used_memory: u32,
    /// Static host ports taken.
    ports: BTreeSet<u32>,
    /// Its tasks.
    pub(super) tasks: BTreeSet<u64>,
    /// DRAINING (UpdateContainerInstancesState).
    pub(super) draining: bool,
    /// Protected from scale-in (SetInstanceProtection).
    pub(super) protected: bool,
}

/// One instance as a test or a driver sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceView {
    /// `i-...`.
    pub id: String,
    /// Availability zone index.
    pub zone: u32,
    /// Registered with the cluster (it launched `launchSeconds` ago or more).
    pub registered: bool,
    /// DRAINING.
    pub draining: bool,
    /// Protected from scale-in.
    pub protected: bool,
    /// Its tasks' ids.
    pub tasks: Vec<u64>,
    /// CPU units left.
    pub remaining_cpu: u32,
    /// MiB left.
    pub remaining_memory: u32,
}

/// What a task takes on an instance: CPU units, MiB, static host ports.
pub(super) fn needs_of(definition: &TaskDefinitionInput) -> (u32, u32, Vec<u32>) {
    let needs = definition.placement_needs();
    (needs.cpu, needs.memory, needs.host_ports)
}

impl Instance {
    /// Whether it accepts tasks at `now`.
    fn active(&self, now: u64) -> bool {
        now >= self.ready_ms && !self.draining
    }

    /// Whether a task with these needs fits.
    fn fits(&self, cpu: u32, memory: u32, ports: &[u32]) -> bool {
        self.used_cpu + cpu <= self.cpu
            && self.used_memory + memory <= self.memory
            && ports.iter().all(|p| !self.ports.contains(p))
    }
}

impl Sim {
    /// The cluster's group, created on first use with the world's instances (registered already).
    pub(super) fn group_of(&mut self, cluster: &str) -> &mut Group {
        let world = self.world.ec2.clone();
        let now = self.now_ms;
        self.ec2.entry(cluster.to_owned()).or_insert_with(|| {
            let mut group = Group {
                name: format!("{cluster}-asg"),
                min: world.min_instances,
                max: world.max_instances.max(world.instances),
                desired: world.instances,
                instances: Vec::new(),
                launched: 0,
                instance_seconds: 0,
                managed: Managed::default(),
            };
            for _ in 0..world.instances {
                group.launch(now, &world);
            }
            group
        })
    }

    /// Sets a group's desired capacity (SetDesiredCapacity, or an operator's change): new
    /// instances register after the launch delay; fewer terminates unprotected instances.
    ///
    /// # Errors
    /// A capacity outside the group's min and max, an unknown group.
    pub fn set_desired_capacity(&mut self, group: &str, desired: u32) -> Result<(), CloudError> {
        const OP: Operation = Operation::SetDesiredCapacity;
        self.call(OP)?;
        let Some(cluster) = self.cluster_of_group(group) else {
            return Err(self.client_error(OP, format!("AutoScalingGroup name not found - {group}")));
        };
        let g = self.group_of(&cluster);
        if desired < g.min || desired > g.max {
            let (min, max) = (g.min, g.max);
            return Err(self.client_error(
                OP,
                format!("New SetDesiredCapacity value {desired} is outside the group's bounds {min}..{max}"),
            ));
        }
        g.desired = desired;
        Ok(())
    }

    /// Names a cluster's group as the manifest does (the infrastructure's set-up, not an API call).
    pub fn name_group(&mut self, cluster: &str, name: &str) {
        self.group_of(cluster).name = name.to_owned();
    }

    /// DescribeAutoScalingGroups of one group.
    ///
    /// # Errors
    /// An injected fault.
    pub fn describe_auto_scaling_group(
        &mut self,
        name: &str,
    ) -> Result<Option<AutoScalingGroup>, CloudError> {
        self.call(Operation::DescribeAutoScalingGroups)?;
        let now = self.now_ms;
        let zones = self.world.ec2.zones.max(1);
        Ok(self
            .ec2
            .values()
            .find(|g| g.name == name)
            .map(|g| AutoScalingGroup {
                name: g.name.clone(),
                min_size: g.min,
                max_size: g.max,
                desired_capacity: g.desired,
                zones: (0..zones).map(zone_name).collect(),
                instances: g
                    .instances
                    .iter()
                    .map(|i| GroupInstance {
                        id: i.id.clone(),
                        zone: zone_name(i.zone),
                        lifecycle_state: if now >= i.ready_ms {
                            "InService"
                        } else {
                            "Pending"
                        }
                        .to_owned(),
                        protected_from_scale_in: i.protected,
                    })
                    .collect(),
            }))
    }

    /// ListContainerInstances: the registered instances of the cluster's group.
    ///
    /// # Errors
    /// An injected fault.
    pub fn list_container_instances(&mut self, cluster: &str) -> Result<Vec<String>, CloudError> {
        self.call(Operation::ListContainerInstances)?;
        let now = self.now_ms;
        Ok(self.ec2.get(cluster).map_or_else(Vec::new, |g| {
            g.instances
                .iter()
                .filter(|i| now >= i.ready_ms)
                .map(|i| container_instance_arn(cluster, &i.id))
                .collect()
        }))
    }

    /// DescribeContainerInstances: each one's status, registered and remaining CPU and memory,
    /// the host ports its tasks reserve and its task counts.
    ///
    /// # Errors
    /// More than 100 ARNs; an injected fault.
    pub fn describe_container_instances(
        &mut self,
        cluster: &str,
        arns: &[String],
    ) -> Result<Vec<ContainerInstance>, CloudError> {
        const OP: Operation = Operation::DescribeContainerInstances;
        self.call(OP)?;
        self.check_batch(
            OP,
            arns.len(),
            CONTAINER_INSTANCES_PER_CALL,
            "containerInstances",
        )?;
        let now = self.now_ms;
        let Some(group) = self.ec2.get(cluster) else {
            return Ok(Vec::new());
        };
        let states = |i: &Instance, running: bool| {
            count(i.tasks.iter().filter(|t| {
                self.tasks
                    .get(t)
                    .is_some_and(|t| (t.state == TaskState::Running) == running)
            }))
        };
        Ok(arns
            .iter()
            .filter_map(|arn| {
                let i = group
                    .instances
                    .iter()
                    .find(|i| i.id == instance_id_of(arn) && now >= i.ready_ms)?;
                Some(ContainerInstance {
                    arn: container_instance_arn(cluster, &i.id),
                    ec2_instance_id: i.id.clone(),
                    status: if i.draining { "DRAINING" } else { "ACTIVE" }.to_owned(),
                    agent_connected: true,
                    registered_cpu: i.cpu,
                    registered_memory: i.memory,
                    remaining_cpu: i.cpu - i.used_cpu,
                    remaining_memory: i.memory - i.used_memory,
                    reserved_ports: i.ports.iter().copied().collect(),
                    running_tasks: states(i, true),
                    pending_tasks: states(i, false),
                })
            })
            .collect())
    }

    /// UpdateContainerInstancesState by ARN, to `DRAINING` or `ACTIVE`.
    ///
    /// # Errors
    /// Another status; an unknown instance; an injected fault.
    pub fn update_container_instances_state(
        &mut self,
        cluster: &str,
        arns: &[String],
        status: &str,
    ) -> Result<(), CloudError> {
        let draining = match status {
            "DRAINING" => true,
            "ACTIVE" => false,
            other => {
                return Err(self.client_error(
                    Operation::UpdateContainerInstancesState,
                    format!("status must be ACTIVE or DRAINING, not {other}"),
                ));
            }
        };
        let ids: Vec<String> = arns.iter().map(|a| instance_id_of(a).to_owned()).collect();
        self.set_draining(cluster, &ids, draining)
    }

    /// ListTasks of one container instance: its tasks still placed there.
    ///
    /// # Errors
    /// An injected fault.
    pub fn list_instance_tasks(
        &mut self,
        cluster: &str,
        container_instance: &str,
    ) -> Result<Vec<String>, CloudError> {
        self.call(Operation::ListTasks)?;
        let id = instance_id_of(container_instance);
        Ok(self
            .ec2
            .get(cluster)
            .and_then(|g| g.instances.iter().find(|i| i.id == id))
            .map_or_else(Vec::new, |i| {
                i.tasks
                    .iter()
                    .map(|t| super::registry::task_arn(cluster, *t))
                    .collect()
            }))
    }

    /// DescribeTasks for each task's group (`service:NAME`, or `family:NAME` for a standalone one).
    ///
    /// # Errors
    /// More than 100 ARNs; an injected fault.
    pub fn describe_task_groups(
        &mut self,
        _cluster: &str,
        arns: &[String],
    ) -> Result<Vec<String>, CloudError> {
        self.call(Operation::DescribeTasks)?;
        self.check_batch(
            Operation::DescribeTasks,
            arns.len(),
            crate::cloud::TASKS_PER_CALL,
            "tasks",
        )?;
        Ok(arns
            .iter()
            .filter_map(|arn| {
                let id: u64 = arn.rsplit('/').next()?.parse().ok()?;
                let task = self.tasks.get(&id)?;
                Some(if task.service.1.is_empty() {
                    format!("family:{}", task.task_definition.family)
                } else {
                    format!("service:{}", task.service.1)
                })
            })
            .collect())
    }

    /// The cluster whose group this is.
    fn cluster_of_group(&self, group: &str) -> Option<String> {
        self.ec2
            .iter()
            .find(|(_, g)| g.name == group)
            .map(|(c, _)| c.clone())
    }

    /// Sets instances of the cluster's group as an operator would (not an API call), within its
    /// bounds: the test hook for capacity someone else changed.
    pub fn set_ec2_instances(&mut self, cluster: &str, instances: u32) {
        let g = self.group_of(cluster);
        g.desired = instances.clamp(g.min, g.max);
    }

    /// Places a task on an instance of its cluster, if one has room; `true` when placed.
    pub(super) fn place(&mut self, id: u64) -> bool {
        let Some(task) = self.tasks.get(&id).cloned() else {
            return false;
        };
        let Some(definition) = self.revision(&task.task_definition).cloned() else {
            return false;
        };
        let (cpu, memory, ports) = needs_of(&definition);
        let options = self
            .services
            .get(&task.service)
            .map(|s| s.options.clone())
            .unwrap_or_default();
        let is = |(kind, field): &(String, Option<String>), k: &str, f: &str| {
            kind.eq_ignore_ascii_case(k)
                && field.as_deref().is_some_and(|x| x.eq_ignore_ascii_case(f))
        };
        let binpack = options
            .placement_strategy
            .iter()
            .any(|s| is(s, "binpack", "memory"));
        let distinct = options
            .placement_constraints
            .iter()
            .any(|(kind, _)| kind.eq_ignore_ascii_case("distinctInstance"));
        let siblings: BTreeSet<u64> = self
            .by_service
            .get(&task.service)
            .cloned()
            .unwrap_or_default();
        let now = self.now_ms;
        let group = self.group_of(&task.service.0);
        let mut per_zone: BTreeMap<u32, usize> = BTreeMap::new();
        for instance in &group.instances {
            *per_zone.entry(instance.zone).or_default() +=
                instance.tasks.intersection(&siblings).count();
        }
        let chosen = group
            .instances
            .iter()
            .enumerate()
            .filter(|(_, i)| i.active(now) && i.fits(cpu, memory, &ports))
            .filter(|(_, i)| !distinct || i.tasks.is_disjoint(&siblings))
            .min_by_key(|(_, i)| {
                let mine = i.tasks.intersection(&siblings).count();
                if binpack {
                    (0, i.memory - i.used_memory, mine)
                } else {
                    (per_zone.get(&i.zone).copied().unwrap_or(0), mine as u32, 0)
                }
            })
            .map(|(n, _)| n);
        let Some(n) = chosen else {
            return false;
        };
        let instance = &mut group.instances[n];
        instance.used_cpu += cpu;
        instance.used_memory += memory;
        instance.ports.extend(ports);
        instance.tasks.insert(id);
        let at = instance.id.clone();
        if let Some(t) = self.tasks.get_mut(&id) {
            t.instance = Some(at);
        }
        true
    }

    /// Frees what a task took on its instance.
    pub(super) fn release(&mut self, task: &Task) {
        let Some(at) = &task.instance else {
            return;
        };
        let Some(definition) = self.revision(&task.task_definition).cloned() else {
            return;
        };
        let (cpu, memory, ports) = needs_of(&definition);
        if let Some(instance) = self
            .ec2
            .get_mut(&task.service.0)
            .and_then(|g| g.instances.iter_mut().find(|i| &i.id == at))
        {
            instance.used_cpu = instance.used_cpu.saturating_sub(cpu);
            instance.used_memory = instance.used_memory.saturating_sub(memory);
            for p in ports {
                instance.ports.remove(&p);
            }
            instance.tasks.remove(&task.id);
        }
    }

    /// Ids of tasks on DRAINING instances.
    pub(super) fn on_draining(&self, cluster: &str) -> BTreeSet<u64> {
        self.ec2
            .get(cluster)
            .map(|g| {
                g.instances
                    .iter()
                    .filter(|i| i.draining)
                    .flat_map(|i| i.tasks.iter().copied())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Managed scaling at each minute, once the second's tasks have been placed.
    pub(super) fn evaluate_managed_scaling(&mut self) {
        if !self.now_ms.is_multiple_of(60 * SECOND) {
            return;
        }
        let clusters: Vec<String> = self.ec2.keys().cloned().collect();
        for cluster in clusters {
            if self.managed_scaling_on(&cluster) {
                self.managed_scaling(&cluster);
            }
        }
    }

    /// One second of every group: launches and terminations toward desired, billing.
    pub(super) fn advance_ec2(&mut self) {
        let now = self.now_ms;
        let world = self.world.ec2.clone();
        let clusters: Vec<String> = self.ec2.keys().cloned().collect();
        for cluster in clusters {
            let mut killed = Vec::new();
            if let Some(group) = self.ec2.get_mut(&cluster) {
                group.instance_seconds += group.instances.len() as u64;
                let count = |g: &Group| u32::try_from(g.instances.len()).unwrap_or(u32::MAX);
                while count(group) < group.desired {
                    group.launch(now + world.launch_seconds * SECOND, &world);
                }
                while count(group) > group.desired {
                    // Unprotected only: empty ones first, then the newest.
                    let Some(n) = group
                        .instances
                        .iter()
                        .enumerate()
                        .filter(|(_, i)| !i.protected)
                        .min_by_key(|(n, i)| (!i.tasks.is_empty(), std::cmp::Reverse(*n)))
                        .map(|(n, _)| n)
                    else {
                        break;
                    };
                    let gone = group.instances.remove(n);
                    killed.extend(gone.tasks);
                }
            }
            for id in killed {
                self.host_gone(id);
            }
        }
    }

    /// TerminateInstanceInAutoScalingGroup: the instance goes now (its tasks stop with it), and the
    /// desired capacity drops by one when `decrement`.
    ///
    /// # Errors
    /// An instance of no group; a decrement below the group's minimum.
    pub fn terminate_instance(
        &mut self,
        instance: &str,
        decrement: bool,
    ) -> Result<(), CloudError> {
        const OP: Operation = Operation::TerminateInstanceInAutoScalingGroup;
        self.call(OP)?;
        let found = self.ec2.iter().find_map(|(c, g)| {
            g.instances
                .iter()
                .position(|i| i.id == instance)
                .map(|n| (c.clone(), n))
        });
        let Some((cluster, n)) = found else {
            return Err(self.client_error(OP, format!("Instance Id not found - {instance}")));
        };
        let world = self.world.ec2.clone();
        let now = self.now_ms;
        let Some(group) = self.ec2.get_mut(&cluster) else {
            return Ok(());
        };
        if decrement && group.desired <= group.min {
            let min = group.min;
            return Err(self.client_error(
                OP,
                format!(
                    "Currently, desiredCapacity is at the group's minimum {min}: cannot decrement"
                ),
            ));
        }
        let gone = group.instances.remove(n);
        if decrement {
            group.desired -= 1;
        } else {
            // The group replaces it.
            group.launch(now + world.launch_seconds * SECOND, &world);
        }
        for id in gone.tasks {
            self.host_gone(id);
        }
        Ok(())
    }

    /// A task whose instance was terminated: its targets are deregistered and it stops at once,
    /// as a failure (ECS replaces it elsewhere).
    fn host_gone(&mut self, id: u64) {
        let Some(task) = self.tasks.get_mut(&id) else {
            return;
        };
        task.instance = None;
        let task = task.clone();
        for group in self.target_groups_of_task(&task) {
            self.deregister_target(&group, id);
        }
        self.finish(id, true);
    }

    /// SetInstanceProtection of instances of a group.
    ///
    /// # Errors
    /// An unknown group or instance.
    pub fn set_instance_protection(
        &mut self,
        group: &str,
        instances: &[String],
        protected: bool,
    ) -> Result<(), CloudError> {
        const OP: Operation = Operation::SetInstanceProtection;
        self.call(OP)?;
        let Some(cluster) = self.cluster_of_group(group) else {
            return Err(self.client_error(OP, format!("AutoScalingGroup name not found - {group}")));
        };
        let g = self.group_of(&cluster);
        if let Some(missing) = instances
            .iter()
            .find(|id| !g.instances.iter().any(|i| &&i.id == id))
        {
            let missing = missing.clone();
            return Err(self.client_error(OP, format!("Instance Id not found - {missing}")));
        }
        for instance in &mut g.instances {
            if instances.contains(&instance.id) {
                instance.protected = protected;
            }
        }
        Ok(())
    }

    /// UpdateContainerInstancesState to DRAINING (`true`) or ACTIVE.
    ///
    /// # Errors
    /// An unknown instance.
    pub fn set_draining(
        &mut self,
        cluster: &str,
        instances: &[String],
        draining: bool,
    ) -> Result<(), CloudError> {
        const OP: Operation = Operation::UpdateContainerInstancesState;
        self.call(OP)?;
        let g = self.group_of(cluster);
        if let Some(missing) = instances
            .iter()
            .find(|id| !g.instances.iter().any(|i| &&i.id == id))
        {
            let missing = missing.clone();
            return Err(self.client_error(OP, format!("container instance {missing} not found")));
        }
        for instance in &mut g.instances {
            if instances.contains(&instance.id) {
                instance.draining = draining;
            }
        }
        Ok(())
    }

    /// Whether ECS scales the cluster's group: one of its services uses a capacity provider
    /// (the world's providers have managed scaling on unless it says otherwise).
    fn managed_scaling_on(&self, cluster: &str) -> bool {
        self.world.ec2.managed_scaling.enabled
            && self.services.values().any(|s| {
                s.cluster == cluster
                    && s.options
                        .capacity_provider_strategy
                        .iter()
                        .any(|(p, _, _)| !p.starts_with("FARGATE"))
            })
    }

    /// One minute of managed scaling: the reservation computed, and target tracking on the
    /// published datapoints.
    fn managed_scaling(&mut self, cluster: &str) {
        let now = self.now_ms;
        let world = self.world.ec2.clone();
        let managed = world.managed_scaling.clone();
        let delay = self.world.metrics.publication_delay_seconds * SECOND;
        let waiting: Vec<(u32, u32, Vec<u32>)> = self
            .tasks
            .values()
            .filter(|t| {
                t.service.0 == cluster
                    && t.instance.is_none()
                    && t.state == TaskState::Pending
                    && t.next_at.is_none()
            })
            .filter_map(|t| self.revision(&t.task_definition).map(needs_of))
            .collect();
        let group = self.group_of(cluster);
        let m = u32::try_from(group.instances.len()).unwrap_or(u32::MAX);
        let busy = count(group.instances.iter().filter(|i| !i.tasks.is_empty()));
        let launching = count(group.instances.iter().filter(|i| now < i.ready_ms));
        let needed = instances_for(&waiting, world.instance_cpu, world.instance_memory);
        let n = if waiting.is_empty() {
            busy
        } else if needed <= launching {
            // The instances still launching will take them.
            m
        } else {
            m + (needed - launching).clamp(
                managed.minimum_scaling_step_size,
                managed.maximum_scaling_step_size,
            )
        };
        let reservation = if m == 0 {
            if n > 0 { 200.0 } else { 100.0 }
        } else {
            f64::from(n) * 100.0 / f64::from(m)
        };
        let g = &mut group.managed;
        g.reservation.push((now, reservation, n));
        let keep = SCALE_IN_DATAPOINTS + 10;
        if g.reservation.len() > keep {
            g.reservation.drain(..g.reservation.len() - keep);
        }
        // Published: the minute ended and the delay passed.
        let published: Vec<(f64, u32)> = g
            .reservation
            .iter()
            .filter(|(at, _, _)| at + 60 * SECOND + delay <= now)
            .map(|(_, r, n)| (*r, *n))
            .collect();
        let Some(&(newest, wanted_n)) = published.last() else {
            return;
        };
        let target = managed.target_capacity;
        let wanted = |n: u32| {
            u32::try_from((u64::from(n) * 100).div_ceil(u64::from(target.max(1))))
                .unwrap_or(u32::MAX)
        };
        let warm = g
            .last_scale_out_ms
            .is_none_or(|t| now >= t + managed.instance_warmup_seconds * SECOND);
        if newest > f64::from(target) && warm {
            let to = wanted(wanted_n).clamp(group.desired, group.max);
            if to > group.desired {
                group.desired = to;
                group.managed.last_scale_out_ms = Some(now);
            }
            return;
        }
        let calm = published.len() >= SCALE_IN_DATAPOINTS
            && published[published.len() - SCALE_IN_DATAPOINTS..]
                .iter()
                .all(|(r, _)| *r < f64::from(target));
        if calm {
            // Managed termination protection: only instances without tasks may go.
            let empty = count(group.instances.iter().filter(|i| i.tasks.is_empty()));
            let to = wanted(wanted_n)
                .max(m - empty)
                .clamp(group.min, group.desired);
            group.desired = to;
        }
    }

    /// The instances of a cluster's group, oldest first (for drivers and tests).
    pub fn instances(&self, cluster: &str) -> Vec<InstanceView> {
        let now = self.now_ms;
        self.ec2.get(cluster).map_or_else(Vec::new, |g| {
            g.instances
                .iter()
                .map(|i| InstanceView {
                    id: i.id.clone(),
                    zone: i.zone,
                    registered: now >= i.ready_ms,
                    draining: i.draining,
                    protected: i.protected,
                    tasks: i.tasks.iter().copied().collect(),
                    remaining_cpu: i.cpu - i.used_cpu,
                    remaining_memory: i.memory - i.used_memory,
                })
                .collect()
        })
    }

    /// The name of a cluster's group, if it has one.
    pub fn group_name(&self, cluster: &str) -> Option<String> {
        self.ec2.get(cluster).map(|g| g.name.clone())
    }

    /// A cluster's group: (desired, min, max).
    pub fn group_capacity(&self, cluster: &str) -> Option<(u32, u32, u32)> {
        self.ec2.get(cluster).map(|g| (g.desired, g.min, g.max))
    }

    /// Instance-hours billed so far, over every group.
    pub fn instance_hours(&self) -> f64 {
        self.ec2
            .values()
            .map(|g| g.instance_seconds as f64 / 3600.0)
            .sum()
    }

    /// Instances per cluster: (in the group, registered and ACTIVE, DRAINING).
    pub fn instance_counts(&self, cluster: &str) -> (u32, u32, u32) {
        let now = self.now_ms;
        self.ec2.get(cluster).map_or((0, 0, 0), |g| {
            (
                count(g.instances.iter()),
                count(g.instances.iter().filter(|i| i.active(now))),
                count(g.instances.iter().filter(|i| i.draining)),
            )
        })
    }
}

impl Group {
    /// Launches one instance that registers at `ready_ms`, in the zone with the fewest.
    fn launch(&mut self, ready_ms: u64, world: &super::world::Ec2Capacity) {
        let zones = world.zones.max(1);
        let zone = (0..zones)
            .min_by_key(|z| self.instances.iter().filter(|i| i.zone == *z).count())
            .unwrap_or(0);
        self.launched += 1;
        self.instances.push(Instance {
            id: format!("i-{:017x}", self.launched),
            zone,
            ready_ms,
            cpu: world.instance_cpu,
            memory: world.instance_memory,
            used_cpu: 0,
            used_memory: 0,
            ports: BTreeSet::new(),
            tasks: BTreeSet::new(),
            draining: false,
            protected: false,
        });
    }
}

/// A count as u32.
fn count<T>(items: impl Iterator<Item = T>) -> u32 {
    u32::try_from(items.count()).unwrap_or(u32::MAX)
}

/// ECS's estimate of the instances the waiting tasks need: the most of their total CPU, their
/// total memory, and the tasks sharing one static host port.
fn instances_for(waiting: &[(u32, u32, Vec<u32>)], cpu: u32, memory: u32) -> u32 {
    let total_cpu: u32 = waiting.iter().map(|(c, _, _)| c).sum();
    let total_memory: u32 = waiting.iter().map(|(_, m, _)| m).sum();
    let mut per_port: BTreeMap<u32, u32> = BTreeMap::new();
    for (_, _, ports) in waiting {
        for p in ports {
            *per_port.entry(*p).or_default() += 1;
        }
    }
    total_cpu
        .div_ceil(cpu.max(1))
        .max(total_memory.div_ceil(memory.max(1)))
        .max(per_port.values().copied().max().unwrap_or(0))
        .max(1)
}

//! One pass over the Auto Scaling group of a cluster whose capacity tugboat owns (a stack's
//! `capacity`), pure: from the group, its container instances and what every service on the
//! cluster asks for, the calls to make and the decisions with their reasons.
//!
//! - **Out, at once**: when the tasks (desired, held for room, and a deployment's surge) need
//!   more instances than are kept, instances tugboat drained come back first (ACTIVE again), then
//!   the group's desired capacity goes up, in the pass that saw the need. The services hold the
//!   tasks that have no room until the instances register ([`super::service`]).
//! - **In, slowly**: only once the tasks have needed fewer instances for the whole
//!   `scaleInCooldownSeconds`, as long since the last scale-out, and with nothing launching. The
//!   least-loaded instances are set DRAINING (ECS moves their tasks within each service's
//!   minimum healthy and maximum percent), never one that runs a task of a service tugboat does
//!   not manage; the rest are protected from the group's own scale-in. A drained instance is
//!   terminated, with the desired capacity decremented, only once it is empty (and only with
//!   `terminate: true`; otherwise it is left DRAINING, and said so).
//! - Never below `minInstances` (nor the group's MinSize), never above `maxInstances` (nor its
//!   MaxSize).

use std::collections::BTreeMap;

use crate::manifest::spec::CapacitySpec;
use crate::model::aws::{AutoScalingGroup, ContainerInstance, GroupInstance};
use crate::model::{CapacityMemory, CapacityStatus, DecisionKind};

use super::capacity::{
    GroupBounds, InstanceLoad, InstanceSize, ServiceDemand, choose_drain, instances_needed,
};
use super::rollout::decision;

/// Seconds between looks while instances launch or drain.
pub const BUSY_LOOK_SECONDS: u64 = 10;

/// What one pass sees.
#[derive(Debug, Clone, Copy)]
pub struct GroupView<'a> {
    /// The cluster.
    pub cluster: &'a str,
    /// The stack's `capacity`.
    pub spec: &'a CapacitySpec,
    /// The group, as DescribeAutoScalingGroups reports it.
    pub group: &'a AutoScalingGroup,
    /// The cluster's container instances.
    pub instances: &'a [ContainerInstance],
    /// What every service on the cluster asks for.
    pub demands: &'a [ServiceDemand],
    /// Tasks each service holds back for room.
    pub waiting: &'a BTreeMap<String, u32>,
    /// The tasks on the scale-in candidates, once read (see [`GroupPlan::read_loads`]).
    pub loads: Option<&'a [InstanceLoad]>,
}

/// One call to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupAction {
    /// UpdateContainerInstancesState ACTIVE: drained instances taken back.
    Activate(Vec<String>),
    /// SetDesiredCapacity.
    SetDesiredCapacity(u32),
    /// SetInstanceProtection on: the group's own scale-in may not take these instances.
    Protect(Vec<String>),
    /// SetInstanceProtection off: instances about to be drained (how a restarted controller
    /// knows which DRAINING instances it drained).
    Unprotect(Vec<String>),
    /// UpdateContainerInstancesState DRAINING.
    Drain(Vec<String>),
    /// TerminateInstanceInAutoScalingGroup, decrementing the desired capacity.
    Terminate(String),
}

/// The pass's outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupPlan {
    /// Calls, in order.
    pub actions: Vec<GroupAction>,
    /// Memory once they succeed.
    pub memory: CapacityMemory,
    /// What `tug get capacity` shows.
    pub status: CapacityStatus,
    /// A scale-in is due: read the tasks on these container instances (ARN, instance id) and
    /// plan again with them.
    pub read_loads: Vec<(String, String)>,
    /// Seconds until the next look is needed; `None` leaves it to the resync.
    pub requeue_after: Option<u64>,
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// A hold, said once until another one is.
fn hold(memory: &mut CapacityMemory, now: u64, reason: String) {
    if memory.last_hold.as_deref() != Some(reason.as_str()) {
        memory.record(decision(
            now,
            DecisionKind::Hold,
            Some("instances"),
            reason.clone(),
        ));
        memory.last_hold = Some(reason);
    }
}

/// Plans one pass at `now` (seconds).
pub fn plan_group(view: &GroupView<'_>, memory: &CapacityMemory, now: u64) -> GroupPlan {
    let GroupView {
        cluster,
        spec,
        group,
        instances,
        demands,
        waiting,
        loads,
    } = *view;
    let mut memory = memory.clone();
    let mut actions = Vec::new();
    let mut read_loads = Vec::new();
    let live: Vec<&GroupInstance> = group.instances.iter().filter(|i| i.is_live()).collect();
    let is_live = |id: &str| live.iter().any(|i| i.id == id);
    let registered: Vec<&ContainerInstance> = instances
        .iter()
        .filter(|c| is_live(&c.ec2_instance_id))
        .collect();
    let launching = live
        .iter()
        .filter(|i| !registered.iter().any(|c| c.ec2_instance_id == i.id))
        .count();
    let active: Vec<&ContainerInstance> = registered
        .iter()
        .copied()
        .filter(|c| c.status == "ACTIVE")
        .collect();
    let draining: Vec<&ContainerInstance> = registered
        .iter()
        .copied()
        .filter(|c| c.status == "DRAINING")
        .collect();
    memory.drained.retain(|id| is_live(id));
    // tugboat protects every instance it keeps and unprotects the ones it drains: a DRAINING
    // instance without protection is one it drained (before a restart, say).
    for c in &draining {
        if live
            .iter()
            .any(|i| i.id == c.ec2_instance_id && !i.protected_from_scale_in)
        {
            memory.drained.insert(c.ec2_instance_id.clone());
        }
    }
    let tasks_waiting: u32 = waiting.values().sum();
    let sum = |f: &dyn Fn(&ContainerInstance) -> u32| -> u64 {
        registered.iter().map(|c| u64::from(f(c))).sum()
    };
    let mut status = CapacityStatus {
        cluster: cluster.to_owned(),
        auto_scaling_group: group.name.clone(),
        desired: group.desired_capacity,
        running: u32::try_from(active.len()).unwrap_or(u32::MAX),
        launching: u32::try_from(launching).unwrap_or(u32::MAX),
        draining: u32::try_from(draining.len()).unwrap_or(u32::MAX),
        needed: 0,
        cpu_reserved: sum(&|c| c.registered_cpu.saturating_sub(c.remaining_cpu)),
        cpu_registered: sum(&|c| c.registered_cpu),
        memory_reserved: sum(&|c| c.registered_memory.saturating_sub(c.remaining_memory)),
        memory_registered: sum(&|c| c.registered_memory),
        tasks_waiting,
        reason: String::new(),
        error: None,
        decisions: Vec::new(),
        observed_at: now,
    };
    let finish = |actions,
                  mut memory: CapacityMemory,
                  mut status: CapacityStatus,
                  read_loads,
                  requeue_after| {
        memory.active = u32::try_from(active.len()).unwrap_or(u32::MAX);
        status.decisions = memory.decisions.iter().cloned().collect();
        GroupPlan {
            actions,
            memory,
            status,
            read_loads,
            requeue_after,
        }
    };
    let busy = (launching > 0 || !draining.is_empty()).then_some(BUSY_LOOK_SECONDS);

    // The instance's size: the manifest's, else what the instances registered.
    let largest = |f: fn(&ContainerInstance) -> u32| registered.iter().map(|c| f(c)).max();
    let size = spec
        .instance_cpu
        .or_else(|| largest(|c| c.registered_cpu))
        .zip(
            spec.instance_memory
                .or_else(|| largest(|c| c.registered_memory)),
        )
        .map(|(cpu, memory)| InstanceSize { cpu, memory });
    let max = spec.max_instances.min(group.max_size);
    let min = spec.min_instances.max(group.min_size).min(max);
    let Some(size) = size else {
        let wanted: u32 = demands.iter().map(|d| d.tasks + d.surge).sum();
        if wanted > 0 && group.desired_capacity == 0 && live.is_empty() && max > 0 {
            let to = min.max(1);
            actions.push(GroupAction::SetDesiredCapacity(to));
            memory.record(decision(
                now,
                DecisionKind::ScaleOut,
                Some("instances"),
                format!(
                    "+{to} instance{} (0 -> {to}): {wanted} task{} need room and no instance is registered to size them by (capacity.instanceCpu and instanceMemory size the first scale-out at once)",
                    plural(to as usize),
                    plural(wanted as usize)
                ),
            ));
            memory.last_scale_out = Some(now);
        } else if live.is_empty() {
            hold(
                &mut memory,
                now,
                "the instances' size is not known: no instance is registered and capacity.instanceCpu and instanceMemory are not set".to_owned(),
            );
        }
        status.reason = "waiting for an instance to register, to learn its size".to_owned();
        return finish(
            actions,
            memory,
            status,
            read_loads,
            busy.or(Some(BUSY_LOOK_SECONDS)),
        );
    };
    let zones = u32::try_from(group.zones.len()).unwrap_or(1).max(1);
    let bounds = GroupBounds {
        min_instances: min,
        max_instances: max,
        spare_instances: spec.spare_instances,
    };
    let need = match instances_needed(size, zones, demands, bounds) {
        Ok(need) => need,
        Err(too_large) => {
            hold(
                &mut memory,
                now,
                format!("{too_large}: no count of instances places it"),
            );
            status.reason = too_large.to_string();
            return finish(actions, memory, status, read_loads, busy);
        }
    };
    status.needed = need.instances;
    status.reason.clone_from(&need.reason);
    if !need.unplaced.is_empty() {
        hold(
            &mut memory,
            now,
            format!("at the most instances allowed ({max}): {}", need.reason),
        );
    }

    let keeping = group
        .desired_capacity
        .saturating_sub(u32::try_from(draining.len()).unwrap_or(u32::MAX));
    let mut requeue = busy;
    let waiting_words = {
        let mut w: Vec<String> = waiting
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(s, n)| format!("{n} task{} of {s}", plural(*n as usize)))
            .collect();
        w.sort();
        if w.is_empty() {
            String::new()
        } else {
            format!(" ({} waiting for room)", w.join(", "))
        }
    };
    if need.instances > keeping {
        let mut shortfall = need.instances - keeping;
        let back: Vec<&ContainerInstance> = draining
            .iter()
            .copied()
            .filter(|c| memory.drained.contains(&c.ec2_instance_id))
            .take(shortfall as usize)
            .collect();
        if !back.is_empty() {
            actions.push(GroupAction::Activate(
                back.iter().map(|c| c.arn.clone()).collect(),
            ));
            for c in &back {
                memory.drained.remove(&c.ec2_instance_id);
            }
            shortfall -= u32::try_from(back.len()).unwrap_or(0);
        }
        let to = group
            .desired_capacity
            .saturating_add(shortfall)
            .min(group.max_size);
        if to > group.desired_capacity {
            actions.push(GroupAction::SetDesiredCapacity(to));
        }
        let added = need.instances - keeping;
        let mut reason = format!(
            "+{added} instance{} ({keeping} -> {}): {}{waiting_words}",
            plural(added as usize),
            need.instances,
            need.reason
        );
        if !back.is_empty() {
            let ids: Vec<&str> = back.iter().map(|c| c.ec2_instance_id.as_str()).collect();
            reason.push_str(&format!("; draining stopped on {}", ids.join(", ")));
        }
        memory.record(decision(
            now,
            DecisionKind::ScaleOut,
            Some("instances"),
            reason,
        ));
        memory.last_scale_out = Some(now);
        memory.fewer_since = None;
        memory.last_hold = None;
        requeue = Some(BUSY_LOOK_SECONDS);
    } else if need.instances < keeping {
        let since = *memory.fewer_since.get_or_insert(now);
        let cooldown = u64::from(spec.scale_in_cooldown_seconds);
        let due_at = (since + cooldown).max(memory.last_scale_out.map_or(0, |t| t + cooldown));
        if now < due_at {
            requeue = Some(requeue.map_or(due_at - now, |r| r.min(due_at - now)));
        } else if launching == 0 {
            let excess = keeping - need.instances;
            match loads {
                None => {
                    // The least busy first, a few more than needed in case some cannot go.
                    let mut candidates: Vec<&ContainerInstance> = active.clone();
                    candidates.sort_by_key(|c| {
                        (
                            c.running_tasks + c.pending_tasks,
                            c.registered_cpu - c.remaining_cpu.min(c.registered_cpu),
                        )
                    });
                    read_loads = candidates
                        .iter()
                        .take(excess as usize * 2 + 2)
                        .map(|c| (c.arn.clone(), c.ec2_instance_id.clone()))
                        .collect();
                }
                Some(loads) => {
                    let keep = u32::try_from(loads.iter().filter(|l| !l.draining).count())
                        .unwrap_or(0)
                        .saturating_sub(excess);
                    let chosen = choose_drain(loads, keep);
                    if chosen.is_empty() {
                        hold(
                            &mut memory,
                            now,
                            format!(
                                "{excess} instance{} fewer would do ({}), but each candidate runs a task of a service tugboat does not manage",
                                plural(excess as usize),
                                need.reason
                            ),
                        );
                    } else {
                        let protect: Vec<String> = live
                            .iter()
                            .filter(|i| {
                                !i.protected_from_scale_in
                                    && !chosen.contains(&i.id)
                                    && !memory.drained.contains(&i.id)
                            })
                            .map(|i| i.id.clone())
                            .collect();
                        if !protect.is_empty() {
                            actions.push(GroupAction::Protect(protect));
                        }
                        let unprotect: Vec<String> = live
                            .iter()
                            .filter(|i| i.protected_from_scale_in && chosen.contains(&i.id))
                            .map(|i| i.id.clone())
                            .collect();
                        if !unprotect.is_empty() {
                            actions.push(GroupAction::Unprotect(unprotect));
                        }
                        let arns: Vec<String> = chosen
                            .iter()
                            .filter_map(|id| {
                                active
                                    .iter()
                                    .find(|c| &c.ec2_instance_id == id)
                                    .map(|c| c.arn.clone())
                            })
                            .collect();
                        actions.push(GroupAction::Drain(arns));
                        let n = chosen.len();
                        let tasks: u32 = loads
                            .iter()
                            .filter(|l| chosen.contains(&l.id))
                            .map(|l| l.managed_tasks)
                            .sum();
                        memory.record(decision(
                            now,
                            DecisionKind::ScaleIn,
                            Some("instances"),
                            format!(
                                "-{n} instance{} ({keeping} -> {}): draining {} (the least loaded: {tasks} task{} to move); {} for {} s",
                                plural(n),
                                keeping as usize - n,
                                chosen.join(", "),
                                plural(tasks as usize),
                                need.reason,
                                now - since
                            ),
                        ));
                        memory.drained.extend(chosen);
                        memory.fewer_since = None;
                        memory.last_hold = None;
                        requeue = Some(BUSY_LOOK_SECONDS);
                    }
                }
            }
        }
    } else {
        memory.fewer_since = None;
    }

    // Every instance kept is protected from the group's own scale-in: only tugboat, which knows
    // what runs where, chooses what leaves.
    if !actions.iter().any(|a| matches!(a, GroupAction::Protect(_))) {
        let protect: Vec<String> = live
            .iter()
            .filter(|i| {
                !i.protected_from_scale_in
                    && i.lifecycle_state == "InService"
                    && !memory.drained.contains(&i.id)
                    && active.iter().any(|c| c.ec2_instance_id == i.id)
            })
            .map(|i| i.id.clone())
            .collect();
        if !protect.is_empty() {
            actions.insert(0, GroupAction::Protect(protect));
        }
    }

    // Drained and empty: terminated, one less in the group.
    let mut desired = group.desired_capacity;
    for c in &draining {
        if !memory.drained.contains(&c.ec2_instance_id) || c.running_tasks + c.pending_tasks > 0 {
            continue;
        }
        let id = c.ec2_instance_id.clone();
        if !spec.terminate {
            hold(
                &mut memory,
                now,
                format!(
                    "{id} is drained and empty; capacity.terminate is false, so terminating it is left to you"
                ),
            );
        } else if desired <= min {
            hold(
                &mut memory,
                now,
                format!("{id} is drained and empty, but the group is at its minimum of {min}"),
            );
        } else {
            actions.push(GroupAction::Terminate(id.clone()));
            memory.record(decision(
                now,
                DecisionKind::ScaleIn,
                Some("terminate"),
                format!(
                    "terminated {id}: drained and empty (desired capacity {desired} -> {})",
                    desired - 1
                ),
            ));
            memory.drained.remove(&id);
            desired -= 1;
        }
    }
    finish(actions, memory, status, read_loads, requeue)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::aws::PlacementNeeds;

    fn spec() -> CapacitySpec {
        CapacitySpec {
            auto_scaling_group: "appAutoScalingGroup".into(),
            min_instances: 0,
            max_instances: 10,
            spare_instances: 0,
            instance_cpu: Some(2048),
            instance_memory: Some(3840),
            scale_in_cooldown_seconds: 300,
            terminate: true,
        }
    }

    fn app(tasks: u32) -> ServiceDemand {
        ServiceDemand {
            service: "appService".into(),
            needs: PlacementNeeds {
                cpu: 0,
                memory: 512,
                host_ports: vec![80, 8000],
            },
            tasks,
            surge: 0,
            spread_by_zone: false,
            distinct_instance: false,
        }
    }

    fn load(id: &str, managed_tasks: u32, other_tasks: u32) -> InstanceLoad {
        InstanceLoad {
            id: id.into(),
            managed_tasks,
            other_tasks,
            cpu_reserved: 0,
            draining: false,
        }
    }

    fn group(desired: u32, ids: &[(&str, &str)]) -> AutoScalingGroup {
        AutoScalingGroup {
            name: "appAutoScalingGroup".into(),
            min_size: 0,
            max_size: 10,
            desired_capacity: desired,
            zones: vec!["us-east-1a".into(), "us-east-1b".into()],
            instances: ids
                .iter()
                .map(|(id, state)| GroupInstance {
                    id: (*id).into(),
                    zone: "us-east-1a".into(),
                    lifecycle_state: (*state).into(),
                    protected_from_scale_in: false,
                })
                .collect(),
        }
    }

    fn instance(id: &str, status: &str, tasks: u32) -> ContainerInstance {
        ContainerInstance {
            arn: format!("arn:aws:ecs:us-east-1:123456789012:container-instance/appCluster/{id}"),
            ec2_instance_id: id.into(),
            status: status.into(),
            agent_connected: true,
            registered_cpu: 2048,
            registered_memory: 3840,
            remaining_cpu: 2048,
            remaining_memory: 3840 - 512 * tasks,
            reserved_ports: if tasks > 0 {
                vec![80, 8000]
            } else {
                Vec::new()
            },
            running_tasks: tasks,
            pending_tasks: 0,
        }
    }

    #[test]
    fn an_empty_group_is_scaled_out_for_the_tasks_in_one_step_with_the_reason() {
        let (spec, group) = (spec(), group(0, &[]));
        let waiting = BTreeMap::from([("appService".to_owned(), 2)]);
        let demands = [app(2)];
        let view = GroupView {
            cluster: "appCluster",
            spec: &spec,
            group: &group,
            instances: &[],
            demands: &demands,
            waiting: &waiting,
            loads: None,
        };
        let plan = plan_group(&view, &CapacityMemory::default(), 1_000);
        assert_eq!(plan.actions, vec![GroupAction::SetDesiredCapacity(2)]);
        let d = plan.memory.decisions.back().expect("decision");
        assert_eq!(d.kind, DecisionKind::ScaleOut);
        assert_eq!(
            d.reason,
            "+2 instances (0 -> 2): 2 tasks need 2 instances (2 tasks of appService waiting for room)"
        );
        assert_eq!(plan.requeue_after, Some(BUSY_LOOK_SECONDS));
    }

    #[test]
    fn a_scale_in_waits_for_the_cooldown_then_drains_the_least_loaded_and_terminates_it_once_empty()
    {
        let mut spec = spec();
        spec.spare_instances = 0;
        let g = group(
            3,
            &[
                ("i-1", "InService"),
                ("i-2", "InService"),
                ("i-3", "InService"),
            ],
        );
        let instances = [
            instance("i-1", "ACTIVE", 1),
            instance("i-2", "ACTIVE", 1),
            instance("i-3", "ACTIVE", 0),
        ];
        let demands = [app(2)];
        let waiting = BTreeMap::new();
        let view = GroupView {
            cluster: "appCluster",
            spec: &spec,
            group: &g,
            instances: &instances,
            demands: &demands,
            waiting: &waiting,
            loads: None,
        };
        let first = plan_group(&view, &CapacityMemory::default(), 1_000);
        assert!(
            first
                .actions
                .iter()
                .all(|a| matches!(a, GroupAction::Protect(_))),
            "{:?}",
            first.actions
        );
        assert_eq!(first.requeue_after, Some(300));
        let due = plan_group(&view, &first.memory, 1_300);
        assert_eq!(
            due.read_loads.len(),
            3,
            "the least busy first: {:?}",
            due.read_loads
        );
        assert_eq!(due.read_loads[0].1, "i-3");
        let loads = [load("i-1", 1, 0), load("i-3", 0, 0), load("i-2", 1, 0)];
        let with_loads = GroupView {
            loads: Some(&loads),
            ..view
        };
        let drain = plan_group(&with_loads, &first.memory, 1_300);
        assert_eq!(
            drain.actions,
            vec![
                GroupAction::Protect(vec!["i-1".into(), "i-2".into()]),
                GroupAction::Drain(vec![instances[2].arn.clone()]),
            ]
        );
        assert!(drain.memory.drained.contains("i-3"));
        // Empty and DRAINING: terminated with a decrement.
        let drained = [
            instance("i-1", "ACTIVE", 1),
            instance("i-2", "ACTIVE", 1),
            instance("i-3", "DRAINING", 0),
        ];
        let after = GroupView {
            instances: &drained,
            loads: None,
            ..view
        };
        let end = plan_group(&after, &drain.memory, 1_310);
        assert_eq!(
            end.actions,
            vec![
                GroupAction::Protect(vec!["i-1".into(), "i-2".into()]),
                GroupAction::Terminate("i-3".into())
            ]
        );
    }

    #[test]
    fn an_instance_running_a_task_tugboat_does_not_manage_is_never_drained() {
        let spec = spec();
        let g = group(2, &[("i-1", "InService"), ("i-2", "InService")]);
        let instances = [instance("i-1", "ACTIVE", 1), instance("i-2", "ACTIVE", 0)];
        let demands = [app(1)];
        let waiting = BTreeMap::new();
        let loads = [load("i-1", 1, 0), load("i-2", 0, 1)];
        let memory = CapacityMemory {
            fewer_since: Some(0),
            ..CapacityMemory::default()
        };
        let view = GroupView {
            cluster: "appCluster",
            spec: &spec,
            group: &g,
            instances: &instances,
            demands: &demands,
            waiting: &waiting,
            loads: Some(&loads),
        };
        // The busier instance goes (its task is moved), not the one with a task of another.
        let plan = plan_group(&view, &memory, 1_000);
        assert_eq!(
            plan.actions.last(),
            Some(&GroupAction::Drain(vec![instances[0].arn.clone()])),
            "{:?}",
            plan.actions
        );
        // With a task of another on each, none is drained, and that is said.
        let mut both = loads.clone();
        both[0].other_tasks = 1;
        let plan = plan_group(
            &GroupView {
                loads: Some(&both),
                ..view
            },
            &memory,
            1_000,
        );
        assert!(
            !plan
                .actions
                .iter()
                .any(|a| matches!(a, GroupAction::Drain(_))),
            "{:?}",
            plan.actions
        );
        assert!(
            plan.memory
                .decisions
                .iter()
                .any(|d| d.kind == DecisionKind::Hold && d.reason.contains("does not manage"))
        );
    }

    #[test]
    fn never_above_max_instances_and_the_rest_is_said() {
        let mut spec = spec();
        spec.max_instances = 3;
        let g = group(0, &[]);
        let demands = [app(5)];
        let waiting = BTreeMap::new();
        let view = GroupView {
            cluster: "appCluster",
            spec: &spec,
            group: &g,
            instances: &[],
            demands: &demands,
            waiting: &waiting,
            loads: None,
        };
        let plan = plan_group(&view, &CapacityMemory::default(), 0);
        assert_eq!(plan.actions, vec![GroupAction::SetDesiredCapacity(3)]);
        assert!(
            plan.memory
                .decisions
                .iter()
                .any(|d| d.kind == DecisionKind::Hold
                    && d.reason.contains("do not fit maxInstances"))
        );
    }
}

//! EC2 capacity (pure): how many instances of an Auto Scaling group the tasks of a cluster need,
//! and which instances a scale-in takes. Nothing here reads a clock or calls AWS; the controller
//! calls it (`controller/capacity.rs`) before it scales a service out or rolls one out on an EC2
//! cluster, so the room is provisioned first.
//!
//! The count: every service's desired tasks, plus the surge a rolling deployment may start beside
//! them (`floor(desired x maximumPercent / 100) - desired`), packed onto instances of the group's
//! usable CPU and memory, first fit by decreasing size, with each static host port taken at most
//! once per instance (the first seed's 80/8000 host ports allow one task per instance) and a
//! `distinctInstance` constraint as one task of the service per instance. A service spread by
//! availability zone has its tasks split evenly over the group's zones, each zone packed on its
//! own (ECS's spread places them so). Then the spares kept warm, within `minInstances..maxInstances`;
//! what does not fit `maxInstances` is reported, not hidden.
//!
//! A scale-in drains the least-loaded instances first and never one that runs a task tugboat does
//! not manage, nor one already draining.

use std::collections::{BTreeMap, BTreeSet};

/// What one instance offers to tasks (its registered CPU units and MiB, less what the agent keeps).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InstanceSize {
    /// CPU units (1,024 per vCPU).
    pub cpu: u32,
    /// MiB.
    pub memory: u32,
}

/// What one task takes on an instance (the definition's, as the simulator's placement reads it).
pub use crate::model::aws::PlacementNeeds as TaskNeeds;

/// The tasks one service asks of the cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceDemand {
    /// Service name.
    pub service: String,
    /// One task's needs.
    pub needs: TaskNeeds,
    /// Desired tasks.
    pub tasks: u32,
    /// Extra tasks a deployment in progress (or about to start) may run beside them.
    pub surge: u32,
    /// Spread evenly over availability zones (`placementStrategy: spread attribute:ecs.availability-zone`).
    pub spread_by_zone: bool,
    /// At most one task of the service per instance (`placementConstraints: distinctInstance`).
    pub distinct_instance: bool,
}

impl ServiceDemand {
    /// What `spec` asks of an EC2 cluster with `tasks` desired tasks, while a deployment is in
    /// progress (`deploying`: its surge counted) or not. CPU and memory are the task's, or the sum
    /// of its containers' (the hard limit where set, else the reservation). Static host ports
    /// come from bridge mode's non-zero `hostPort`s and host mode's ports; awsvpc tasks take none
    /// (each has its own network interface). The surge: a rolling deployment's maximumPercent, or
    /// a whole second set of tasks for the strategies that start green at full size.
    pub fn of(spec: &crate::manifest::spec::ServiceSpec, tasks: u32, deploying: bool) -> Self {
        use crate::manifest::spec::{
            DeploymentStrategy, PlacementConstraintType, PlacementStrategyType,
        };
        let surge = match (&spec.deployment.strategy, deploying) {
            (_, false) => 0,
            (DeploymentStrategy::Rolling, true) => {
                Self::rolling_surge(tasks, spec.deployment.maximum_percent)
            }
            (_, true) => tasks,
        };
        Self {
            service: spec.name.clone(),
            needs: crate::plan::render::render(spec, None).placement_needs(),
            tasks,
            surge,
            spread_by_zone: spec.placement_strategy.iter().any(|p| {
                p.kind == PlacementStrategyType::Spread
                    && p.field.as_deref() == Some("attribute:ecs.availability-zone")
            }),
            distinct_instance: spec
                .placement_constraints
                .iter()
                .any(|c| c.kind == PlacementConstraintType::DistinctInstance),
        }
    }

    /// The surge of a rolling deployment of `tasks` tasks at `maximum_percent`.
    pub fn rolling_surge(tasks: u32, maximum_percent: u32) -> u32 {
        (u64::from(tasks) * u64::from(maximum_percent) / 100)
            .saturating_sub(u64::from(tasks))
            .try_into()
            .unwrap_or(u32::MAX)
    }
}

/// The group's bounds and what the controller keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupBounds {
    /// Never fewer instances.
    pub min_instances: u32,
    /// Never more.
    pub max_instances: u32,
    /// Instances kept beyond what the tasks need.
    pub spare_instances: u32,
}

/// How many instances the cluster needs, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Need {
    /// Instances wanted, within the bounds.
    pub instances: u32,
    /// Instances the tasks need, before spares and bounds.
    pub for_tasks: u32,
    /// Tasks that do not fit even `maxInstances` instances, per service.
    pub unplaced: BTreeMap<String, u32>,
    /// Why, in words.
    pub reason: String,
}

/// One instance being filled.
#[derive(Debug, Default, Clone)]
struct Bin {
    cpu: u32,
    memory: u32,
    ports: BTreeSet<u32>,
    services: BTreeSet<String>,
}

/// One task to place.
#[derive(Debug, Clone)]
struct Item<'a> {
    service: &'a str,
    needs: &'a TaskNeeds,
    distinct: bool,
}

impl Bin {
    fn fits(&self, size: InstanceSize, item: &Item<'_>) -> bool {
        self.cpu + item.needs.cpu <= size.cpu
            && self.memory + item.needs.memory <= size.memory
            && item
                .needs
                .host_ports
                .iter()
                .all(|p| !self.ports.contains(p))
            && !(item.distinct && self.services.contains(item.service))
    }

    fn put(&mut self, item: &Item<'_>) {
        self.cpu += item.needs.cpu;
        self.memory += item.needs.memory;
        self.ports.extend(item.needs.host_ports.iter().copied());
        self.services.insert(item.service.to_owned());
    }
}

/// Instances for `items`, first fit by decreasing size; `None` if one task fits no instance at all.
fn pack(size: InstanceSize, mut items: Vec<Item<'_>>) -> Option<usize> {
    // Largest first: by the larger share of CPU or memory, then ports (the scarcest).
    let share = |n: &TaskNeeds| {
        let cpu = u64::from(n.cpu) * 1_000 / u64::from(size.cpu.max(1));
        let memory = u64::from(n.memory) * 1_000 / u64::from(size.memory.max(1));
        (cpu.max(memory), n.host_ports.len())
    };
    items.sort_by_key(|i| std::cmp::Reverse(share(i.needs)));
    let mut bins: Vec<Bin> = Vec::new();
    for item in &items {
        if !Bin::default().fits(size, item) {
            return None;
        }
        match bins.iter_mut().find(|b| b.fits(size, item)) {
            Some(bin) => bin.put(item),
            None => {
                let mut bin = Bin::default();
                bin.put(item);
                bins.push(bin);
            }
        }
    }
    Some(bins.len())
}

/// Why a demand cannot be placed on any instance of the group.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "a task of `{service}` ({cpu} CPU units, {memory} MiB) does not fit an instance of {instance_cpu} CPU units and {instance_memory} MiB"
)]
pub struct TooLarge {
    /// The service.
    pub service: String,
    /// Its task's CPU units.
    pub cpu: u32,
    /// Its task's MiB.
    pub memory: u32,
    /// The instance's CPU units.
    pub instance_cpu: u32,
    /// The instance's MiB.
    pub instance_memory: u32,
}

/// The instances the demands need on `zones` availability zones (at least one) of instances of
/// `size`, with spares, within `bounds`.
///
/// # Errors
/// A task larger than an instance: no count places it.
pub fn instances_needed(
    size: InstanceSize,
    zones: u32,
    demands: &[ServiceDemand],
    bounds: GroupBounds,
) -> Result<Need, TooLarge> {
    if let Some(d) = demands
        .iter()
        .find(|d| d.needs.cpu > size.cpu || d.needs.memory > size.memory)
    {
        return Err(TooLarge {
            service: d.service.clone(),
            cpu: d.needs.cpu,
            memory: d.needs.memory,
            instance_cpu: size.cpu,
            instance_memory: size.memory,
        });
    }
    let for_tasks = count(size, zones, demands);
    let most = bounds.max_instances.max(bounds.min_instances);
    let wanted = for_tasks.saturating_add(bounds.spare_instances);
    let instances = wanted.clamp(bounds.min_instances, most);
    // What maxInstances leaves out: from the last service back, the fewest of its tasks (surge
    // first) to take away, found by bisection.
    let mut unplaced = BTreeMap::new();
    let mut fit: Vec<ServiceDemand> = demands.to_vec();
    for i in (0..fit.len()).rev() {
        if count(size, zones, &fit) <= most {
            break;
        }
        let original = (fit[i].tasks, fit[i].surge);
        let reduced = |fit: &mut Vec<ServiceDemand>, r: u32| {
            let (tasks, surge) = original;
            fit[i].surge = surge.saturating_sub(r);
            fit[i].tasks = tasks.saturating_sub(r.saturating_sub(surge));
        };
        let all = original.0.saturating_add(original.1);
        let (mut low, mut high) = (0, all);
        while low < high {
            let mid = low + (high - low) / 2;
            reduced(&mut fit, mid);
            if count(size, zones, &fit) <= most {
                high = mid;
            } else {
                low = mid + 1;
            }
        }
        reduced(&mut fit, low);
        if low > 0 {
            unplaced.insert(fit[i].service.clone(), low);
        }
    }
    let plural = |n: u32| if n == 1 { "" } else { "s" };
    let tasks: u32 = demands
        .iter()
        .map(|d| d.tasks.saturating_add(d.surge))
        .sum();
    let mut reason = format!(
        "{tasks} task{} need{} {for_tasks} instance{}",
        plural(tasks),
        if tasks == 1 { "s" } else { "" },
        plural(for_tasks)
    );
    let surge: u32 = demands.iter().map(|d| d.surge).sum();
    if surge > 0 {
        reason.push_str(&format!(" ({surge} of them a deployment's surge)"));
    }
    if bounds.spare_instances > 0 {
        reason.push_str(&format!("; {} spare kept", bounds.spare_instances));
    }
    if instances != wanted {
        reason.push_str(&format!(
            "; within {}..{} instances",
            bounds.min_instances, bounds.max_instances
        ));
    }
    if !unplaced.is_empty() {
        let left: Vec<String> = unplaced
            .iter()
            .map(|(s, n)| format!("{n} of {s}"))
            .collect();
        reason.push_str(&format!("; {} do not fit maxInstances", left.join(", ")));
    }
    Ok(Need {
        instances,
        for_tasks,
        unplaced,
        reason,
    })
}

/// Instances for every task of `demands`. With a service spread by zone, every task is shared
/// out over the zones in turn (ECS spreads a service without a strategy by zone too) and each
/// zone is packed on its own; otherwise all are packed together.
fn count(size: InstanceSize, zones: u32, demands: &[ServiceDemand]) -> u32 {
    let zones = if demands.iter().any(|d| d.spread_by_zone) {
        zones.max(1) as usize
    } else {
        1
    };
    let mut per_zone: Vec<Vec<Item<'_>>> = vec![Vec::new(); zones];
    let mut next = 0;
    for d in demands {
        let item = Item {
            service: &d.service,
            needs: &d.needs,
            distinct: d.distinct_instance,
        };
        for _ in 0..d.tasks.saturating_add(d.surge) {
            per_zone[next % zones].push(item.clone());
            next += 1;
        }
    }
    let total: usize = per_zone
        .into_iter()
        .map(|items| pack(size, items).unwrap_or(usize::MAX))
        .fold(0, usize::saturating_add);
    u32::try_from(total).unwrap_or(u32::MAX)
}

/// How many more tasks of `desired`'s service the cluster's registered instances have room for
/// now (each instance's remaining CPU, memory and host ports), on a cluster whose capacity tugboat
/// owns; `None` elsewhere, and for a Fargate service. Tasks of other services placed meanwhile
/// are seen at the next look.
pub fn room_of(
    desired: &crate::plan::DesiredService,
    observed: &crate::model::ObservedService,
) -> Option<u32> {
    desired.capacity.as_ref()?;
    if desired.spec.launch() == crate::manifest::spec::LaunchType::Fargate {
        return None;
    }
    let instances = observed.instances.as_ref()?;
    let needs = crate::plan::render::render(&desired.spec, None).placement_needs();
    Some(
        instances
            .iter()
            .map(|i| i.room_for(&needs))
            .fold(0, u32::saturating_add),
    )
}

/// One registered instance, as observed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceLoad {
    /// EC2 instance id.
    pub id: String,
    /// Tasks of services tugboat manages running on it.
    pub managed_tasks: u32,
    /// Tasks of anything else running on it.
    pub other_tasks: u32,
    /// CPU units reserved by its tasks.
    pub cpu_reserved: u32,
    /// ECS already drains it.
    pub draining: bool,
}

/// The instances to drain to come down to `keep` of those not draining: least loaded first (fewest
/// tasks, then least CPU reserved, then id), never one running a task tugboat does not manage.
pub fn choose_drain(instances: &[InstanceLoad], keep: u32) -> Vec<String> {
    let active = instances.iter().filter(|i| !i.draining).count();
    let excess = active.saturating_sub(keep as usize);
    let mut candidates: Vec<&InstanceLoad> = instances
        .iter()
        .filter(|i| !i.draining && i.other_tasks == 0)
        .collect();
    candidates.sort_by(|a, b| {
        (a.managed_tasks, a.cpu_reserved, &a.id).cmp(&(b.managed_tasks, b.cpu_reserved, &b.id))
    });
    candidates
        .into_iter()
        .take(excess)
        .map(|i| i.id.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first seed's instance (t3.small: 2 vCPU, 2 GiB, less the agent's share).
    const SMALL: InstanceSize = InstanceSize {
        cpu: 2_048,
        memory: 1_900,
    };

    fn app(tasks: u32, maximum_percent: u32) -> ServiceDemand {
        ServiceDemand {
            service: "appService".into(),
            needs: TaskNeeds {
                cpu: 256,
                memory: 512,
                host_ports: vec![80, 8000],
            },
            tasks,
            surge: ServiceDemand::rolling_surge(tasks, maximum_percent),
            spread_by_zone: false,
            distinct_instance: false,
        }
    }

    fn bounds(min: u32, max: u32, spare: u32) -> GroupBounds {
        GroupBounds {
            min_instances: min,
            max_instances: max,
            spare_instances: spare,
        }
    }

    /// The first seed: static host ports 80 and 8000 allow one task per instance; at maximum
    /// 100 % a rollout stops a task before its replacement starts, so no third instance.
    #[test]
    fn static_host_ports_take_an_instance_each_and_a_100_percent_rollout_needs_no_more() {
        let need = instances_needed(SMALL, 2, &[app(2, 100)], bounds(0, 10, 0)).expect("fits");
        assert_eq!((need.instances, need.for_tasks), (2, 2), "{need:?}");
        assert_eq!(need.reason, "2 tasks need 2 instances");
        let surge = instances_needed(SMALL, 2, &[app(2, 200)], bounds(0, 10, 0)).expect("fits");
        assert_eq!(surge.instances, 4, "{surge:?}");
        assert_eq!(
            surge.reason,
            "4 tasks need 4 instances (2 of them a deployment's surge)"
        );
    }

    /// The app seed as `manifests/app.yaml` has it: its static host ports 80 and 8000 and soft
    /// memory limit read from the manifest; two tasks need two instances, rolling out at maximum
    /// 100 % as well.
    #[test]
    fn the_app_example_needs_an_instance_per_task() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/manifests/app.yaml");
        let stacks = crate::manifest::parse_sources(&[crate::manifest::Source {
            name: path.into(),
            bytes: std::fs::read(path).expect("example"),
        }])
        .expect("valid");
        let spec = &stacks[0].spec().services[0];
        let demand = ServiceDemand::of(spec, 2, true);
        assert_eq!(
            demand.needs,
            TaskNeeds {
                cpu: 0,
                memory: 512,
                host_ports: vec![80, 8000],
            }
        );
        assert_eq!(demand.surge, 0, "maximum 100 %: no surge");
        let need = instances_needed(SMALL, 2, &[demand], bounds(0, 10, 0)).expect("fits");
        assert_eq!(need.instances, 2);
        // Scaled out to 3: a third instance.
        let need = instances_needed(
            SMALL,
            2,
            &[ServiceDemand::of(spec, 3, false)],
            bounds(0, 10, 0),
        )
        .expect("fits");
        assert_eq!(need.instances, 3);
    }

    #[test]
    fn tasks_without_host_ports_pack_by_memory_and_cpu() {
        let web = ServiceDemand {
            service: "web".into(),
            needs: TaskNeeds {
                cpu: 256,
                memory: 512,
                host_ports: Vec::new(),
            },
            tasks: 7,
            surge: 0,
            spread_by_zone: false,
            distinct_instance: false,
        };
        // 3 of 512 MiB per 1,900 MiB instance: 7 tasks on 3 instances.
        let need =
            instances_needed(SMALL, 1, std::slice::from_ref(&web), bounds(0, 10, 0)).expect("fits");
        assert_eq!(need.for_tasks, 3, "{need:?}");
        // distinctInstance: one per instance.
        let distinct = ServiceDemand {
            distinct_instance: true,
            ..web.clone()
        };
        let need = instances_needed(SMALL, 1, &[distinct], bounds(0, 10, 0)).expect("fits");
        assert_eq!(need.for_tasks, 7);
        // 4 tasks fit 2 instances; spread over 3 zones (2, 1 and 1 tasks) they take 3.
        let spread = ServiceDemand {
            spread_by_zone: true,
            tasks: 4,
            ..web
        };
        let pooled = ServiceDemand {
            spread_by_zone: false,
            ..spread.clone()
        };
        let need = instances_needed(SMALL, 1, &[pooled], bounds(0, 10, 0)).expect("fits");
        assert_eq!(need.for_tasks, 2, "{need:?}");
        let need = instances_needed(SMALL, 3, &[spread], bounds(0, 10, 0)).expect("fits");
        assert_eq!(need.for_tasks, 3, "{need:?}");
    }

    #[test]
    fn spares_and_bounds_apply_and_what_does_not_fit_is_reported() {
        let need = instances_needed(SMALL, 1, &[app(2, 100)], bounds(0, 10, 1)).expect("fits");
        assert_eq!(need.instances, 3);
        assert_eq!(need.reason, "2 tasks need 2 instances; 1 spare kept");
        let floor = instances_needed(SMALL, 1, &[app(0, 100)], bounds(1, 10, 0)).expect("fits");
        assert_eq!(floor.instances, 1, "never below minInstances: {floor:?}");
        let most = instances_needed(SMALL, 1, &[app(5, 100)], bounds(0, 3, 0)).expect("fits");
        assert_eq!(most.instances, 3);
        assert_eq!(most.unplaced.get("appService"), Some(&2), "{most:?}");
        assert!(
            most.reason
                .ends_with("; within 0..3 instances; 2 of appService do not fit maxInstances"),
            "{}",
            most.reason
        );
        let huge = ServiceDemand {
            needs: TaskNeeds {
                cpu: 4_096,
                memory: 512,
                host_ports: Vec::new(),
            },
            ..app(1, 100)
        };
        let refused = instances_needed(SMALL, 1, &[huge], bounds(0, 10, 0));
        assert!(refused.is_err_and(|e| {
            e.to_string()
                .starts_with("a task of `appService` (4096 CPU units")
        }),);
    }

    proptest::proptest! {
        /// Any demand: within the bounds, never fewer instances than the tasks' memory and CPU
        /// fill, never more than one per task; what is reported unplaced fits nothing more.
        #[test]
        fn counts_are_bounded_by_the_obvious(
            services in proptest::collection::vec(
                (1_u32..=2_048, 1_u32..=1_900, 0_u32..40, 0_u32..40, proptest::bool::ANY, proptest::bool::ANY, proptest::option::of(1_u32..4)),
                0..4,
            ),
            zones in 1_u32..4,
            (min, max, spare) in (0_u32..5, 0_u32..30, 0_u32..3),
        ) {
            let demands: Vec<ServiceDemand> = services
                .iter()
                .enumerate()
                .map(|(i, (cpu, memory, tasks, surge, spread, distinct, port))| ServiceDemand {
                    service: format!("s{i}"),
                    needs: TaskNeeds { cpu: *cpu, memory: *memory, host_ports: port.map(|p| vec![p * 1000]).unwrap_or_default() },
                    tasks: *tasks,
                    surge: *surge,
                    spread_by_zone: *spread,
                    distinct_instance: *distinct,
                })
                .collect();
            let need = instances_needed(SMALL, zones, &demands, bounds(min, max, spare)).expect("every task fits an instance");
            let tasks: u32 = demands.iter().map(|d| d.tasks + d.surge).sum();
            let memory: u64 = demands.iter().map(|d| u64::from(d.needs.memory) * u64::from(d.tasks + d.surge)).sum();
            let cpu: u64 = demands.iter().map(|d| u64::from(d.needs.cpu) * u64::from(d.tasks + d.surge)).sum();
            proptest::prop_assert!(need.for_tasks <= tasks);
            proptest::prop_assert!(u64::from(need.for_tasks) >= memory.div_ceil(u64::from(SMALL.memory)));
            proptest::prop_assert!(u64::from(need.for_tasks) >= cpu.div_ceil(u64::from(SMALL.cpu)));
            proptest::prop_assert!(need.instances >= min && need.instances <= max.max(min));
            proptest::prop_assert_eq!(need.unplaced.is_empty(), need.for_tasks <= max.max(min));
        }
    }

    #[test]
    fn scale_in_drains_the_least_loaded_and_never_an_instance_with_other_tasks() {
        let instance = |id: &str, managed: u32, other: u32, draining: bool| InstanceLoad {
            id: id.into(),
            managed_tasks: managed,
            other_tasks: other,
            cpu_reserved: managed * 256,
            draining,
        };
        let instances = [
            instance("i-a", 2, 0, false),
            instance("i-b", 0, 1, false),
            instance("i-c", 1, 0, false),
            instance("i-d", 0, 0, false),
            instance("i-e", 0, 0, true),
        ];
        assert_eq!(choose_drain(&instances, 2), ["i-d", "i-c"]);
        assert_eq!(choose_drain(&instances, 4), Vec::<String>::new());
        // Only three may go at all: i-b runs a task tugboat does not manage.
        assert_eq!(choose_drain(&instances, 0), ["i-d", "i-c", "i-a"]);
    }
}

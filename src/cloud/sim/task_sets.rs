//! The EXTERNAL deployment controller: task sets, each holding a `scale` percent of the service's
//! desired count (aws-facts.md: CreateTaskSet, UpdateTaskSet `scale` = percent of desired,
//! UpdateServicePrimaryTaskSet, DeleteTaskSet; UpdateService then only changes desiredCount).
//!
//! ECS keeps each task set at its computed desired count, ceil(desired x scale / 100), and applies
//! no minimum-healthy or maximum bound: keeping capacity during a switch is the caller's job. A
//! deleted task set's tasks are stopped (draining first) and the set disappears.

use serde::Serialize;

use crate::cloud::{CloudError, Operation};
use crate::model::aws::{DeploymentController, RolloutState, TaskDefinitionId};

use super::ecs::is_active;
use super::{Sim, TaskState};

/// A task set as DescribeTaskSets shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskSetDescription {
    /// Task set id.
    pub id: String,
    /// `PRIMARY` or `ACTIVE`.
    pub status: String,
    /// Its revision.
    pub task_definition: TaskDefinitionId,
    /// Percent of the service's desired count.
    pub scale_percent: f64,
    /// ceil(desired x scale / 100).
    pub computed_desired_count: u32,
    /// RUNNING tasks.
    pub running_count: u32,
    /// Tasks not yet RUNNING.
    pub pending_count: u32,
}

/// ECS's computed desired count of a task set: the service's desired count times `scale` percent,
/// always rounded up.
pub fn computed_desired(desired: u32, scale_percent: f64) -> u32 {
    (f64::from(desired) * scale_percent / 100.0).ceil().max(0.0) as u32
}

impl Sim {
    fn external_service(
        &mut self,
        operation: Operation,
        cluster: &str,
        service: &str,
    ) -> Result<(String, String), CloudError> {
        let key = (cluster.to_owned(), service.to_owned());
        match self.services.get(&key) {
            Some(s) if s.controller == DeploymentController::External => Ok(key),
            Some(_) => Err(self.client_error(
                operation,
                format!("service {service} does not use the EXTERNAL deployment controller"),
            )),
            None => Err(self.client_error(operation, format!("service {service} not found"))),
        }
    }

    fn check_scale(&mut self, operation: Operation, scale_percent: f64) -> Result<(), CloudError> {
        if (0.0..=100.0).contains(&scale_percent) {
            Ok(())
        } else {
            Err(self.client_error(
                operation,
                format!("scale must be between 0 and 100 percent, got {scale_percent}"),
            ))
        }
    }

    /// CreateTaskSet: a new set running `task_definition` at `scale_percent` of desired. The first
    /// set of a service becomes its primary.
    ///
    /// # Errors
    /// Not an EXTERNAL service, unknown revision, scale out of range, throttling, faults.
    pub fn create_task_set(
        &mut self,
        cluster: &str,
        service: &str,
        task_definition: TaskDefinitionId,
        scale_percent: f64,
    ) -> Result<TaskSetDescription, CloudError> {
        const OP: Operation = Operation::CreateTaskSet;
        self.call(OP)?;
        let key = self.external_service(OP, cluster, service)?;
        self.check_scale(OP, scale_percent)?;
        if self.revision(&task_definition).is_none() {
            return Err(self.client_error(
                OP,
                format!("task definition {task_definition} does not exist"),
            ));
        }
        let mut set = self.new_deployment(task_definition);
        set.scale_percent = Some(scale_percent);
        let id = set.id;
        if let Some(s) = self.services.get_mut(&key) {
            s.deployments.push(set);
        }
        self.describe_task_set(&key, id)
    }

    /// UpdateTaskSet: a new scale for a set.
    ///
    /// # Errors
    /// Unknown service or set, scale out of range, throttling, faults.
    pub fn update_task_set(
        &mut self,
        cluster: &str,
        service: &str,
        id: &str,
        scale_percent: f64,
    ) -> Result<TaskSetDescription, CloudError> {
        const OP: Operation = Operation::UpdateTaskSet;
        self.call(OP)?;
        let key = self.external_service(OP, cluster, service)?;
        self.check_scale(OP, scale_percent)?;
        let set = self.find_set(OP, &key, id)?;
        if let Some(d) = self
            .services
            .get_mut(&key)
            .and_then(|s| s.deployments.iter_mut().find(|d| d.id == set))
        {
            d.scale_percent = Some(scale_percent);
        }
        self.describe_task_set(&key, set)
    }

    /// UpdateServicePrimaryTaskSet: makes a set the primary one.
    ///
    /// # Errors
    /// Unknown service or set, throttling, faults.
    pub fn update_service_primary_task_set(
        &mut self,
        cluster: &str,
        service: &str,
        id: &str,
    ) -> Result<(), CloudError> {
        const OP: Operation = Operation::UpdateServicePrimaryTaskSet;
        self.call(OP)?;
        let key = self.external_service(OP, cluster, service)?;
        let set = self.find_set(OP, &key, id)?;
        if let Some(s) = self.services.get_mut(&key)
            && let Some(index) = s.deployments.iter().position(|d| d.id == set)
        {
            let primary = s.deployments.remove(index);
            s.deployments.insert(0, primary);
        }
        Ok(())
    }

    /// DeleteTaskSet: its tasks stop (draining first) and the set is gone.
    ///
    /// # Errors
    /// Unknown service or set, throttling, faults.
    pub fn delete_task_set(
        &mut self,
        cluster: &str,
        service: &str,
        id: &str,
    ) -> Result<(), CloudError> {
        const OP: Operation = Operation::DeleteTaskSet;
        self.call(OP)?;
        let key = self.external_service(OP, cluster, service)?;
        let set = self.find_set(OP, &key, id)?;
        if let Some(s) = self.services.get_mut(&key) {
            s.deployments.retain(|d| d.id != set);
        }
        let doomed: Vec<u64> = self
            .tasks_for(&key)
            .filter(|t| t.deployment == set)
            .map(|t| t.id)
            .collect();
        for task in doomed {
            self.begin_stop(task, false);
        }
        Ok(())
    }

    /// DescribeTaskSets of a service, primary first.
    ///
    /// # Errors
    /// Unknown service, throttling, faults.
    pub fn describe_task_sets(
        &mut self,
        cluster: &str,
        service: &str,
    ) -> Result<Vec<TaskSetDescription>, CloudError> {
        const OP: Operation = Operation::DescribeTaskSets;
        self.call(OP)?;
        let key = self.external_service(OP, cluster, service)?;
        let ids: Vec<u64> = self
            .services
            .get(&key)
            .map(|s| s.deployments.iter().map(|d| d.id).collect())
            .unwrap_or_default();
        ids.into_iter()
            .map(|id| self.describe_task_set(&key, id))
            .collect()
    }

    fn find_set(
        &mut self,
        operation: Operation,
        key: &(String, String),
        id: &str,
    ) -> Result<u64, CloudError> {
        let wanted = id
            .strip_prefix("ecs-svc/")
            .unwrap_or(id)
            .parse::<u64>()
            .ok();
        let found = self
            .services
            .get(key)
            .and_then(|s| s.deployments.iter().find(|d| Some(d.id) == wanted))
            .map(|d| d.id);
        found.ok_or_else(|| self.client_error(operation, format!("task set {id} not found")))
    }

    fn describe_task_set(
        &self,
        key: &(String, String),
        id: u64,
    ) -> Result<TaskSetDescription, CloudError> {
        let service = self.services.get(key).ok_or_else(|| CloudError::Invalid {
            operation: Operation::DescribeTaskSets,
            message: format!("service {} not found", key.1),
        })?;
        let (index, set) = service
            .deployments
            .iter()
            .enumerate()
            .find(|(_, d)| d.id == id)
            .ok_or_else(|| CloudError::Invalid {
                operation: Operation::DescribeTaskSets,
                message: format!("task set ecs-svc/{id} not found"),
            })?;
        let scale = set.scale_percent.unwrap_or(100.0);
        let count = |pred: &dyn Fn(TaskState) -> bool| {
            u32::try_from(
                self.tasks_for(key)
                    .filter(|t| t.deployment == id && pred(t.state))
                    .count(),
            )
            .unwrap_or(u32::MAX)
        };
        Ok(TaskSetDescription {
            id: format!("ecs-svc/{id}"),
            status: if index == 0 { "PRIMARY" } else { "ACTIVE" }.to_owned(),
            task_definition: set.task_definition.clone(),
            scale_percent: scale,
            computed_desired_count: computed_desired(service.desired_count, scale),
            running_count: count(&|s| s == TaskState::Running),
            pending_count: count(&|s| matches!(s, TaskState::Provisioning | TaskState::Pending)),
        })
    }

    /// Keeps every task set at its computed desired count; unhealthy tasks are replaced as with the
    /// ECS controller (handled by the caller before this runs).
    pub(super) fn schedule_task_sets(&mut self, key: &(String, String)) {
        let Some(service) = self.services.get(key).cloned() else {
            return;
        };
        for set in &service.deployments {
            let want = computed_desired(service.desired_count, set.scale_percent.unwrap_or(100.0));
            let mine: Vec<_> = self
                .tasks_for(key)
                .filter(|t| t.deployment == set.id && is_active(t.state))
                .cloned()
                .collect();
            let have = u32::try_from(mine.len()).unwrap_or(u32::MAX);
            for _ in have..want {
                self.launch(key, set.id);
            }
            if have > want {
                self.stop_surplus(mine, (have - want) as usize, &service);
            }
        }
        // Task sets report no rollout state of their own; keep them out of ECS's breaker logic.
        if let Some(s) = self.services.get_mut(key) {
            for set in &mut s.deployments {
                set.rollout = RolloutState::Completed;
            }
        }
    }
}

//! The simulated account behind the [`Cloud`] trait: [`SimCloud`] shares one [`Sim`] between the
//! controller and whoever drives the world (the simulation harness, `tug controller --cloud sim`,
//! tests), and keeps it in step with the controller's [`Clock`].
//!
//! Before every call the world is brought up to the clock's time, so it never lags behind what the
//! controller believes the time is; each call then takes the world's latency for its operation, on
//! the same clock. The controller speaks epoch seconds; the simulated world counts from its own
//! start, which sits at `origin` on the controller's clock (a whole minute, so CloudWatch's minutes
//! line up).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use super::Sim;
use crate::cloud::{Clock, Cloud, CloudError};
use crate::model::aws::{
    AlarmState, AutoScalingGroup, ContainerInstance, CreateServiceInput, Datapoint,
    HealthCheckSettings, MetricData, MetricId, RegisteredRevision, ServiceDescription,
    TargetGroupDescription, TargetHealth, TaskDefinitionId, TaskDefinitionInput,
    UpdateServiceInput,
};
use crate::model::image::{EcrRepository, TaskImages};

/// A shared simulated account on a clock.
#[derive(Debug, Clone)]
pub struct SimCloud {
    /// The simulated account.
    sim: Arc<Mutex<Sim>>,
    /// The controller's clock, which the world follows.
    clock: Clock,
    /// The controller's time, in milliseconds since the epoch, at the world's start.
    origin_ms: u64,
}

impl SimCloud {
    /// Shares `sim`, whose start is `origin_ms` on `clock` (rounded down to a whole minute).
    pub fn new(sim: Sim, clock: Clock, origin_ms: u64) -> Self {
        Self {
            sim: Arc::new(Mutex::new(sim)),
            clock,
            origin_ms: origin_ms / 60_000 * 60_000,
        }
    }

    /// The clock the world follows.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// The controller's time (ms since the epoch) of the world's start.
    pub fn origin_ms(&self) -> u64 {
        self.origin_ms
    }

    /// The controller's time in seconds for a simulated second.
    pub fn controller_s(&self, sim_s: u64) -> u64 {
        self.origin_ms / 1000 + sim_s
    }

    /// The simulated second for a controller time in seconds.
    pub fn sim_s(&self, controller_s: u64) -> u64 {
        controller_s.saturating_sub(self.origin_ms / 1000)
    }

    /// Runs `f` with the world, first brought up to the clock's time. A poisoned lock is taken
    /// over: the simulator holds no invariant a panicking caller could break.
    pub fn with<T>(&self, f: impl FnOnce(&mut Sim) -> T) -> T {
        let now = self.clock.now_ms().saturating_sub(self.origin_ms);
        let mut guard = self
            .sim
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if now > guard.now_ms() {
            guard.advance_to(now);
        }
        f(&mut guard)
    }

    /// The account and where it sits on the controller's clock, to restore with
    /// [`SimCloud::restore`]: a first line with the origin (ms), then the account.
    ///
    /// # Errors
    /// As [`Sim::save`].
    pub fn save(&self) -> Result<String, String> {
        let text = self.with(|s| s.save())?;
        Ok(format!("{}\n{text}", self.origin_ms))
    }

    /// An account saved by [`SimCloud::save`], going on from where it was saved at `speed`
    /// (simulated time does not pass while it is not running).
    ///
    /// # Errors
    /// Text that is not a saved account of this version.
    pub fn restore(text: &str, speed: f64) -> Result<Self, String> {
        let (origin, account) = text
            .split_once('\n')
            .ok_or_else(|| "not a saved simulated account".to_owned())?;
        let origin_ms: u64 = origin
            .trim()
            .parse()
            .map_err(|_| "not a saved simulated account: no origin".to_owned())?;
        let sim = Sim::restore(account)?;
        let clock = Clock::scaled(origin_ms + sim.now_ms(), speed);
        Ok(Self::new(sim, clock, origin_ms))
    }

    /// Makes one API call: at the clock's time, then waiting out the world's latency for it.
    async fn call<T>(
        &self,
        f: impl FnOnce(&mut Sim) -> Result<T, CloudError>,
    ) -> Result<T, CloudError> {
        let (result, latency_ms) = self.with(|s| {
            let result = f(s);
            (result, s.api().last_latency_ms())
        });
        self.clock.sleep_ms(latency_ms).await;
        result
    }
}

impl Cloud for SimCloud {
    async fn register_task_definition(
        &self,
        input: TaskDefinitionInput,
    ) -> Result<RegisteredRevision, CloudError> {
        self.call(|s| s.register_task_definition(input)).await
    }
    async fn describe_latest_task_definition(
        &self,
        family: &str,
    ) -> Result<Option<(RegisteredRevision, TaskDefinitionInput)>, CloudError> {
        self.call(|s| s.describe_latest_task_definition(family))
            .await
    }
    async fn describe_task_definition(
        &self,
        id: &TaskDefinitionId,
    ) -> Result<Option<RegisteredRevision>, CloudError> {
        self.call(|s| s.describe_task_definition(id))
            .await
            .map(|found| found.map(|(revision, _)| revision))
    }
    async fn create_service(
        &self,
        input: CreateServiceInput,
    ) -> Result<ServiceDescription, CloudError> {
        self.call(|s| s.create_service(input)).await
    }
    async fn update_service(
        &self,
        input: UpdateServiceInput,
    ) -> Result<ServiceDescription, CloudError> {
        self.call(|s| s.update_service(input)).await
    }
    async fn delete_service(
        &self,
        cluster: &str,
        service: &str,
    ) -> Result<ServiceDescription, CloudError> {
        self.call(|s| s.delete_service(cluster, service)).await
    }
    async fn describe_services(
        &self,
        cluster: &str,
        names: &[String],
    ) -> Result<Vec<ServiceDescription>, CloudError> {
        self.call(|s| s.describe_services(cluster, names)).await
    }
    async fn describe_target_health(
        &self,
        target_group: &str,
    ) -> Result<Vec<TargetHealth>, CloudError> {
        self.call(|s| s.describe_target_health(target_group)).await
    }
    async fn modify_target_group(
        &self,
        target_group: &str,
        health: HealthCheckSettings,
    ) -> Result<(), CloudError> {
        self.call(|s| s.modify_target_group(target_group, health))
            .await
    }
    async fn describe_target_groups(
        &self,
        names: &[String],
    ) -> Result<BTreeMap<String, TargetGroupDescription>, CloudError> {
        self.call(|s| s.describe_target_groups(names)).await
    }
    async fn stop_service_deployment(&self, arn: &str) -> Result<(), CloudError> {
        self.call(|s| s.stop_service_deployment(arn)).await
    }
    async fn describe_deregistration_delay(&self, target_group: &str) -> Result<u32, CloudError> {
        self.call(|s| s.describe_deregistration_delay(target_group))
            .await
    }
    async fn modify_deregistration_delay(
        &self,
        target_group: &str,
        seconds: u32,
    ) -> Result<(), CloudError> {
        self.call(|s| s.modify_deregistration_delay(target_group, seconds))
            .await
    }
    async fn list_tasks(&self, cluster: &str, service: &str) -> Result<Vec<String>, CloudError> {
        self.call(|s| s.list_tasks(cluster, service)).await
    }
    async fn describe_tasks(
        &self,
        cluster: &str,
        service: &str,
        tasks: &[String],
    ) -> Result<Vec<TaskImages>, CloudError> {
        self.call(|s| s.describe_tasks(cluster, service, tasks))
            .await
    }
    async fn get_lifecycle_policy(
        &self,
        repository: &EcrRepository,
    ) -> Result<Option<String>, CloudError> {
        self.call(|s| s.get_lifecycle_policy(repository)).await
    }
    async fn publish(
        &self,
        topic_arn: &str,
        subject: &str,
        message: &str,
    ) -> Result<(), CloudError> {
        self.call(|s| s.publish(topic_arn, subject, message)).await
    }
    async fn describe_auto_scaling_group(
        &self,
        name: &str,
    ) -> Result<Option<AutoScalingGroup>, CloudError> {
        self.call(|s| s.describe_auto_scaling_group(name)).await
    }
    async fn set_desired_capacity(&self, group: &str, desired: u32) -> Result<(), CloudError> {
        self.call(|s| s.set_desired_capacity(group, desired)).await
    }
    async fn set_instance_protection(
        &self,
        group: &str,
        instances: &[String],
        protected: bool,
    ) -> Result<(), CloudError> {
        self.call(|s| s.set_instance_protection(group, instances, protected))
            .await
    }
    async fn terminate_instance_in_auto_scaling_group(
        &self,
        instance: &str,
        decrement: bool,
    ) -> Result<(), CloudError> {
        self.call(|s| s.terminate_instance(instance, decrement))
            .await
    }
    async fn list_container_instances(&self, cluster: &str) -> Result<Vec<String>, CloudError> {
        self.call(|s| s.list_container_instances(cluster)).await
    }
    async fn describe_container_instances(
        &self,
        cluster: &str,
        arns: &[String],
    ) -> Result<Vec<ContainerInstance>, CloudError> {
        self.call(|s| s.describe_container_instances(cluster, arns))
            .await
    }
    async fn update_container_instances_state(
        &self,
        cluster: &str,
        arns: &[String],
        status: &str,
    ) -> Result<(), CloudError> {
        self.call(|s| s.update_container_instances_state(cluster, arns, status))
            .await
    }
    async fn list_instance_tasks(
        &self,
        cluster: &str,
        container_instance: &str,
    ) -> Result<Vec<String>, CloudError> {
        self.call(|s| s.list_instance_tasks(cluster, container_instance))
            .await
    }
    async fn describe_task_groups(
        &self,
        cluster: &str,
        tasks: &[String],
    ) -> Result<Vec<String>, CloudError> {
        self.call(|s| s.describe_task_groups(cluster, tasks)).await
    }
    async fn describe_alarms(&self, names: &[String]) -> Result<Vec<AlarmState>, CloudError> {
        let mut alarms = self.call(|s| s.describe_alarms(names)).await?;
        for alarm in &mut alarms {
            alarm.since = self.controller_s(alarm.since);
        }
        Ok(alarms)
    }
    async fn get_metric_data(
        &self,
        queries: &[MetricId],
        start_s: u64,
        end_s: u64,
    ) -> Result<MetricData, CloudError> {
        let (start, end) = (self.sim_s(start_s), self.sim_s(end_s));
        let mut data = self
            .call(|s| s.get_metric_data(queries, start, end))
            .await?;
        for points in data.series.values_mut() {
            for point in points.iter_mut() {
                *point = Datapoint {
                    minute_start: self.controller_s(point.minute_start),
                    value: point.value,
                };
            }
        }
        Ok(data)
    }
}

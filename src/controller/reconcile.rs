//! One reconcile of one service: plan (pure) on what was observed, carry the plan out, save the
//! memory right after, and say when to look again. `reconcile` never branches on why it was woken.
//!
//! Observation is the truth and memory a hint: before a call names a revision the controller
//! remembers but has not seen in this observation, the revision is looked up; one that no longer
//! exists (deleted, or the account's state was lost) is registered again from the remembered
//! definition, and the decision says so. A registration is saved at once (RegisterTaskDefinition
//! has no idempotency token, so a revision must never be forgotten), and the family's latest
//! revision is reused when it renders the same, so a crash between registering and saving never
//! leaves a duplicate behind.
//!
//! Every call is awaited through a box: a steady service makes none, and its reconcile's future
//! then stays small instead of carrying the state of every layer of every call it might make.

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::cloud::{Cloud, CloudError};
use crate::manifest::spec::TaskDefinitionSpec;
use crate::model::aws::{ServiceDescription, TaskDefinitionId, TaskDefinitionInput};
use crate::model::{ConditionType, DecisionKind, ObservedService, ServiceMemory, ServiceStatus};
use crate::plan::render::{digest as render_digest, short};
use crate::plan::rollout::decision;
use crate::plan::{Action, DesiredService, plan_service};
use crate::store::Store;

use super::status::{healthy_tasks, service_status};

/// Plans, each followed by its calls, in one reconcile: a registration (or a lost revision
/// registered again) is followed by planning once more, so the revision is used at once.
const PLANS_PER_RECONCILE: usize = 4;

/// What one reconcile did.
#[derive(Debug, Clone)]
pub struct Reconciled {
    /// The memory after it (saved, unless `save_error`).
    pub memory: ServiceMemory,
    /// The call that failed, if one did: the rest of the plan was not carried out.
    pub error: Option<CloudError>,
    /// The memory could not be saved (the calls made are still remembered in process).
    pub save_error: Option<String>,
    /// Seconds until the plan wants another look; `None` for the periodic resync.
    pub requeue_after: Option<u64>,
    /// The service's status after it.
    pub status: ServiceStatus,
    /// Healthy tasks, where the observation tells (for the `healthy` gauge).
    pub healthy: Option<u32>,
    /// Calls made.
    pub calls: u32,
}

/// Reconciles one service observed as `observed` (or whose observation failed), at `now`.
pub async fn reconcile<C: Cloud, S: Store>(
    cloud: &C,
    store: &S,
    desired: &DesiredService,
    observed: Result<ObservedService, CloudError>,
    memory: &ServiceMemory,
    previous: Option<&ServiceStatus>,
    now: u64,
) -> Reconciled {
    let mut run = Run {
        cloud,
        store,
        desired,
        memory: memory.clone(),
        loaded: memory,
        saved: None,
        calls: 0,
        save_error: None,
        seen: BTreeSet::new(),
        after: None,
    };
    let (error, requeue_after, mut observed) = match observed {
        Err(e) => (Some(e), None, ObservedService::default()),
        Ok(observed) => {
            let (error, requeue) = run.act(&observed, now).await;
            (error, requeue, observed)
        }
    };
    run.save().await;
    let healthy = healthy_tasks(&observed);
    let live = run
        .after
        .take()
        .or_else(|| observed.service.take())
        .or_else(|| {
            previous
                .and_then(|p| p.live.clone())
                .filter(|_| error.is_some())
        });
    let mut status = service_status(
        desired,
        &run.memory,
        live,
        &observed,
        error.as_ref(),
        previous,
        now,
    );
    if let Some(e) = &run.save_error {
        memory_not_saved(&mut status, e, previous, now);
    }
    Reconciled {
        memory: run.memory,
        error,
        save_error: run.save_error,
        requeue_after,
        status,
        healthy,
        calls: run.calls,
    }
}

/// The Degraded condition of a service whose memory could not be saved: what it did is
/// remembered in this process only, so a restart now could forget it.
fn memory_not_saved(
    status: &mut ServiceStatus,
    error: &str,
    previous: Option<&ServiceStatus>,
    now: u64,
) {
    let since = previous
        .and_then(|p| p.condition(ConditionType::Degraded))
        .filter(|c| c.status)
        .map_or(now, |c| c.last_transition_time);
    if let Some(c) = status
        .conditions
        .iter_mut()
        .find(|c| c.kind == ConditionType::Degraded)
    {
        c.status = true;
        c.reason = "MemoryNotSaved".to_owned();
        c.message = format!("{error}; retrying with backoff");
        c.last_transition_time = since;
    }
}

/// One reconcile in progress.
struct Run<'a, C, S> {
    cloud: &'a C,
    store: &'a S,
    desired: &'a DesiredService,
    /// Memory as it stands.
    memory: ServiceMemory,
    /// Memory as the reconcile found it (saved already).
    loaded: &'a ServiceMemory,
    /// Memory as this reconcile last saved it, if it did.
    saved: Option<ServiceMemory>,
    calls: u32,
    save_error: Option<String>,
    /// Revisions known to exist in this reconcile (observed, looked up, or registered).
    seen: BTreeSet<TaskDefinitionId>,
    /// The service as the last CreateService or UpdateService returned it.
    after: Option<ServiceDescription>,
}

impl<C: Cloud, S: Store> Run<'_, C, S> {
    /// Plans and acts until the plan is carried out or a call fails.
    async fn act(
        &mut self,
        observed: &ObservedService,
        now: u64,
    ) -> (Option<CloudError>, Option<u64>) {
        if let Some(service) = &observed.service {
            self.seen.insert(service.task_definition.clone());
            self.seen.extend(
                service
                    .deployments
                    .iter()
                    .map(|d| d.task_definition.clone()),
            );
        }
        let mut requeue = None;
        for _ in 0..PLANS_PER_RECONCILE {
            let plan = plan_service(self.desired, observed, &self.memory, now);
            requeue = plan.requeue_after;
            let registrations: Vec<(TaskDefinitionInput, String, Arc<TaskDefinitionSpec>)> = plan
                .actions
                .iter()
                .filter_map(|a| match a {
                    Action::RegisterTaskDefinition {
                        definition,
                        digest,
                        source,
                    } => Some((definition.clone(), digest.clone(), source.clone())),
                    _ => None,
                })
                .collect();
            if !registrations.is_empty() {
                for (definition, digest, source) in registrations {
                    // The manifest's definition carries the apply's change cause.
                    if digest == self.desired.digest
                        && let Some(cause) = &self.desired.change_cause
                        && !self.memory.causes.contains_key(&digest)
                    {
                        Arc::make_mut(&mut self.memory.causes)
                            .insert(digest.clone(), cause.clone());
                    }
                    if let Err(e) = Box::pin(self.register(definition, &digest, source, now)).await
                    {
                        return (Some(e), requeue);
                    }
                }
                continue;
            }
            // The plan's memory holds its decisions; it stands once every call has succeeded.
            match Box::pin(self.missing_revision(&plan.actions)).await {
                Err(e) => return (Some(e), requeue),
                Ok(Some(lost)) => {
                    if let Err(e) = Box::pin(self.register_again(&lost, now)).await {
                        return (Some(e), requeue);
                    }
                    continue;
                }
                Ok(None) => {}
            }
            for action in plan.actions {
                self.calls += 1;
                let result = match action {
                    // Handled above: a plan that registers is planned again.
                    Action::RegisterTaskDefinition { .. } => Ok(()),
                    Action::CreateService(input) => {
                        Box::pin(self.cloud.create_service(input)).await.map(|d| {
                            self.after = Some(d);
                        })
                    }
                    Action::UpdateService(input) => {
                        Box::pin(self.cloud.update_service(input)).await.map(|d| {
                            self.after = Some(d);
                        })
                    }
                    Action::ModifyTargetGroup {
                        target_group,
                        health,
                    } => Box::pin(self.cloud.modify_target_group(&target_group, health)).await,
                    Action::StopServiceDeployment { arn } => {
                        Box::pin(self.cloud.stop_service_deployment(&arn)).await
                    }
                    Action::ModifyDeregistrationDelay {
                        target_group,
                        seconds,
                    } => {
                        Box::pin(
                            self.cloud
                                .modify_deregistration_delay(&target_group, seconds),
                        )
                        .await
                    }
                };
                if let Err(e) = result {
                    return (Some(e), requeue);
                }
            }
            self.memory = plan.memory;
            return (None, requeue);
        }
        (None, requeue)
    }

    /// Registers `definition` (digest `digest`, rendered from `source`), or reuses the family's
    /// latest revision when it renders the same; remembers it and saves the memory at once.
    async fn register(
        &mut self,
        definition: TaskDefinitionInput,
        digest: &str,
        source: Arc<TaskDefinitionSpec>,
        now: u64,
    ) -> Result<(), CloudError> {
        self.calls += 1;
        if let Some((latest, existing)) = Box::pin(
            self.cloud
                .describe_latest_task_definition(&definition.family),
        )
        .await?
            && render_digest(&existing) == digest
        {
            self.memory.record(decision(
                now,
                DecisionKind::Register,
                None,
                format!("reusing {}: it renders the same as the manifest", latest.id),
            ));
            self.seen.insert(latest.id.clone());
            self.memory.remember(digest.to_owned(), latest, &source);
            self.save().await;
            return Ok(());
        }
        self.calls += 1;
        let registered = Box::pin(self.cloud.register_task_definition(definition)).await?;
        self.memory.record(decision(
            now,
            DecisionKind::Register,
            None,
            format!(
                "new revision {} for digest {}",
                registered.id,
                short(digest)
            ),
        ));
        self.seen.insert(registered.id.clone());
        self.memory.remember(digest.to_owned(), registered, &source);
        self.save().await;
        Ok(())
    }

    /// The first revision the actions name that was not seen in this reconcile and no longer
    /// exists, with the digest memory knows it by.
    async fn missing_revision(
        &mut self,
        actions: &[Action],
    ) -> Result<Option<(TaskDefinitionId, Option<String>)>, CloudError> {
        let named = actions.iter().filter_map(|a| match a {
            Action::CreateService(input) => Some(&input.task_definition),
            Action::UpdateService(input) => input.task_definition.as_ref(),
            _ => None,
        });
        for id in named {
            if self.seen.contains(id) {
                continue;
            }
            self.calls += 1;
            match Box::pin(self.cloud.describe_task_definition(id)).await? {
                Some(found) => {
                    self.seen.insert(found.id);
                }
                None => {
                    let memory = &self.memory;
                    let digest = memory
                        .ledger
                        .iter()
                        .find(|(_, kept)| *kept == id)
                        .map(|(d, _)| d.clone())
                        .or_else(|| {
                            [
                                memory.verified_good.as_ref(),
                                memory.rollout.as_ref().map(|r| &r.target),
                            ]
                            .into_iter()
                            .flatten()
                            .find(|r| r.id == *id)
                            .map(|r| r.digest.clone())
                        });
                    return Ok(Some((id.clone(), digest)));
                }
            }
        }
        Ok(None)
    }

    /// A remembered revision does not exist any more: registers its definition again (the
    /// manifest's, or the remembered source of an older one) and says so.
    async fn register_again(
        &mut self,
        (lost, digest): &(TaskDefinitionId, Option<String>),
        now: u64,
    ) -> Result<(), CloudError> {
        self.memory.forget_revision(lost);
        let definition = match digest {
            Some(d) if *d == self.desired.digest => Some((
                self.desired.definition(),
                self.desired.spec.task_definition.clone(),
            )),
            Some(d) => self.memory.sources.get(d).map(|source| {
                (
                    self.desired
                        .with_task_definition(source.clone())
                        .definition(),
                    source.clone(),
                )
            }),
            None => None,
        };
        let Some(((definition, source), digest)) = definition
            .zip(digest.clone())
            .filter(|((def, _), d)| render_digest(def) == *d)
        else {
            return Err(CloudError::Invalid {
                operation: crate::cloud::Operation::DescribeTaskDefinition,
                message: format!(
                    "revision {lost} no longer exists and its definition is not remembered; apply the manifest again to roll forward"
                ),
            });
        };
        self.memory.record(decision(
            now,
            DecisionKind::Register,
            None,
            format!(
                "remembered revision {lost} no longer exists: registering its definition again"
            ),
        ));
        Box::pin(self.register(definition, &digest, source, now)).await
    }

    /// Saves the memory if it changed since it was last saved.
    async fn save(&mut self) {
        if self.memory == *self.saved.as_ref().unwrap_or(self.loaded) {
            return;
        }
        let saving =
            self.store
                .save_memory(&self.desired.stack, &self.desired.spec.name, &self.memory);
        match Box::pin(saving).await {
            Ok(()) => {
                self.saved = Some(self.memory.clone());
                self.save_error = None;
            }
            Err(e) => self.save_error = Some(e.to_string()),
        }
    }
}

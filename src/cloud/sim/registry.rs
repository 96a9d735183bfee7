//! Images in the simulated account: a registry where a tag names a digest and can be moved, ECS's
//! image resolution, the tasks' reported digests (ListTasks, DescribeTasks) and ECR lifecycle
//! policies (GetLifecyclePolicy).
//!
//! ECS resolves a task definition's tags to digests when a deployment starts, and that
//! deployment's tasks all run those digests, however the tag moves afterwards; a new deployment
//! resolves them again; ECS's own rollback goes back to the previous deployment's digests
//! ("Container image resolution", ECS Developer Guide). How an image behaves (the world's
//! `images`) belongs to the digest a reference named when it was first resolved, so a tag moved
//! with [`Sim::push_image`] can make the same reference good or bad.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::world::FailingImage;
use super::{Sim, TaskState};
use crate::cloud::{CloudError, Operation, TASKS_PER_CALL};
use crate::model::aws::TaskDefinitionId;
use crate::model::image::{EcrRepository, ImageDigests, ImageRef, TaskImages};

/// The simulated registries: what each tag names, and how each digest behaves.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(super) struct Registry {
    /// Reference (with its tag) → the digest it names now.
    tags: BTreeMap<String, String>,
    /// Digest → how it fails (`None`: it works).
    behaviour: BTreeMap<String, Option<FailingImage>>,
    /// Pushes so far: each makes a new digest.
    pushes: u64,
    /// Repository name → lifecycle policy text.
    lifecycle_policies: BTreeMap<String, String>,
}

/// A digest for the `n`th push of `image`: deterministic, and shaped like a real one.
fn digest_for(image: &str, n: u64) -> String {
    let hash = Sha256::digest(format!("tugboat-sim/{image}#{n}").as_bytes());
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// A task's ARN in the simulated account.
pub(super) fn task_arn(cluster: &str, id: u64) -> String {
    format!("arn:aws:ecs:us-east-1:123456789012:task/{cluster}/{id}")
}

impl Sim {
    /// The digest `image` names now: the one it pins, or the one its tag names (first resolved
    /// here, behaving as the world's `images` say of the reference).
    pub(super) fn resolve(&mut self, image: &str) -> String {
        let reference = ImageRef::parse(image);
        if let Some(digest) = reference.digest {
            let failure = self.world.failure_of(image).cloned();
            self.registry
                .behaviour
                .entry(digest.to_owned())
                .or_insert(failure);
            return digest.to_owned();
        }
        if let Some(digest) = self.registry.tags.get(image) {
            return digest.clone();
        }
        let digest = digest_for(image, 0);
        let failure = self.world.failure_of(image).cloned();
        self.registry.behaviour.insert(digest.clone(), failure);
        self.registry.tags.insert(image.to_owned(), digest.clone());
        digest
    }

    /// How the image with `digest` fails, if it does.
    pub(super) fn failure_of_digest(&self, digest: &str) -> Option<FailingImage> {
        self.registry.behaviour.get(digest).cloned().flatten()
    }

    /// The digests a new deployment of `task_definition` runs: each container's image resolved
    /// now.
    pub(super) fn resolve_images(&mut self, task_definition: &TaskDefinitionId) -> ImageDigests {
        let containers: Vec<(String, String)> = self
            .revision(task_definition)
            .map(|def| {
                def.containers
                    .iter()
                    .map(|c| (c.name.clone(), c.image.clone()))
                    .collect()
            })
            .unwrap_or_default();
        containers
            .into_iter()
            .map(|(name, image)| (name, self.resolve(&image)))
            .collect()
    }

    /// Pushes a new image under `image`'s tag (a CI job re-tagging `latest`, or `v1` rebuilt):
    /// the tag names a new digest that fails as `failure` says. Returns the new digest; the old
    /// one still exists and behaves as before.
    pub fn push_image(&mut self, image: &str, failure: Option<FailingImage>) -> String {
        self.resolve(image);
        self.registry.pushes += 1;
        let digest = digest_for(image, self.registry.pushes);
        self.registry.behaviour.insert(digest.clone(), failure);
        self.registry.tags.insert(image.to_owned(), digest.clone());
        digest
    }

    /// The digest `image` names now, for tests.
    pub fn image_digest(&mut self, image: &str) -> String {
        self.resolve(image)
    }

    /// Sets the lifecycle policy of an ECR repository (by name).
    pub fn set_lifecycle_policy(&mut self, repository: &str, policy: &str) {
        self.registry
            .lifecycle_policies
            .insert(repository.to_owned(), policy.to_owned());
    }

    /// ListTasks of a service with desiredStatus RUNNING: its tasks not yet stopping (PROVISIONING
    /// and PENDING included, as ECS lists them), at most [`TASKS_PER_CALL`].
    pub fn list_tasks(&mut self, cluster: &str, service: &str) -> Result<Vec<String>, CloudError> {
        self.call(Operation::ListTasks)?;
        let key = (cluster.to_owned(), service.to_owned());
        Ok(self
            .tasks_for(&key)
            .filter(|t| !matches!(t.state, TaskState::Deactivating | TaskState::Stopping))
            .take(TASKS_PER_CALL)
            .map(|t| task_arn(cluster, t.id))
            .collect())
    }

    /// DescribeTasks: each task's revision and its containers' digests (reported once the task
    /// runs: the image has been pulled by then).
    pub fn describe_tasks(
        &mut self,
        cluster: &str,
        service: &str,
        arns: &[String],
    ) -> Result<Vec<TaskImages>, CloudError> {
        self.call(Operation::DescribeTasks)?;
        self.check_batch(
            Operation::DescribeTasks,
            arns.len(),
            TASKS_PER_CALL,
            "tasks",
        )?;
        let key = (cluster.to_owned(), service.to_owned());
        let prefix = task_arn(cluster, 0);
        let prefix = prefix.trim_end_matches('0');
        Ok(arns
            .iter()
            .filter_map(|arn| arn.strip_prefix(prefix)?.parse::<u64>().ok())
            .filter_map(|id| self.tasks.get(&id))
            .filter(|t| t.service == key)
            .map(|t| TaskImages {
                task_definition: t.task_definition.clone(),
                containers: t
                    .images
                    .iter()
                    .map(|(name, digest)| {
                        let pulled = matches!(
                            t.state,
                            TaskState::Running | TaskState::Deactivating | TaskState::Stopping
                        );
                        (name.clone(), pulled.then(|| digest.clone()))
                    })
                    .collect(),
            })
            .collect())
    }

    /// GetLifecyclePolicy: the repository's policy, `None` without one.
    pub fn get_lifecycle_policy(
        &mut self,
        repository: &EcrRepository,
    ) -> Result<Option<String>, CloudError> {
        self.call(Operation::GetLifecyclePolicy)?;
        Ok(self
            .registry
            .lifecycle_policies
            .get(&repository.name)
            .cloned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloud::sim::load::LoadTrace;
    use crate::cloud::sim::world::{Failure, World};

    #[test]
    fn a_moved_tag_names_a_new_digest_and_the_old_one_keeps_its_behaviour() {
        let mut sim = Sim::new(World::default(), LoadTrace::default(), 1);
        let first = sim.image_digest("app:v1");
        assert!(crate::model::image::is_digest(&first), "{first}");
        assert_eq!(sim.image_digest("app:v1"), first, "resolution is stable");
        let bad = FailingImage {
            image: "app:v1".into(),
            failure: Failure::FailsHealthChecks,
            after_seconds: None,
            fraction: None,
        };
        let second = sim.push_image("app:v1", Some(bad));
        assert_ne!(second, first);
        assert_eq!(sim.image_digest("app:v1"), second);
        assert!(sim.failure_of_digest(&second).is_some());
        assert!(sim.failure_of_digest(&first).is_none());
        let pinned = format!("app@{first}");
        assert_eq!(sim.image_digest(&pinned), first);
        assert!(
            sim.failure_of_digest(&first).is_none(),
            "pinned keeps the old behaviour"
        );
    }
}

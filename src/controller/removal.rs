//! Taking down a service that left the desired state (its stack was deleted, or it left a stack
//! with `spec.prune: true`): scale it to 0 first, then delete it when the removal says so.
//!
//! Only services carrying tugboat's managed-by tag (so created by tugboat) are touched; an adopted
//! service is left as it is. One step per pass, each safe to repeat: UpdateService with desiredCount 0 is absolute, and
//! DeleteService is only called on a service already at 0 (ECS refuses otherwise, without
//! `force`, which tugboat never uses). A service already gone, or draining after a delete, is done.

use crate::cloud::{Cloud, CloudError};
use crate::model::aws::{MANAGED_BY, TAG_MANAGED_BY, UpdateServiceInput};
use crate::model::{DecisionKind, DecisionRecord, Removal};
use crate::plan::rollout::decision;

/// One step of a removal at `now`: the decision taken, if any, and whether the removal is done.
///
/// # Errors
/// A failed call; the step is tried again later.
pub async fn step<C: Cloud>(
    cloud: &C,
    removal: &Removal,
    now: u64,
) -> Result<(Option<DecisionRecord>, bool), CloudError> {
    let found = cloud
        .describe_services(&removal.cluster, std::slice::from_ref(&removal.service))
        .await?;
    let Some(service) = found.into_iter().find(|s| s.status == "ACTIVE") else {
        // Gone (INACTIVE or unknown) or DRAINING after a delete: nothing left to do.
        return Ok((None, true));
    };
    let why = format!(
        "it left the desired state of stack `{}` ({})",
        removal.stack, removal.requested_at
    );
    if !service.managed_by_tugboat() {
        // Adopted, not created by tugboat: never scaled down or deleted on its behalf.
        let decision = decision(
            now,
            DecisionKind::Remove,
            Some("not_managed"),
            format!(
                "left as it is: {why}, but it lacks the tag {TAG_MANAGED_BY}={MANAGED_BY}, so tugboat did not create it"
            ),
        );
        return Ok((Some(decision), true));
    }
    if service.desired_count > 0 {
        cloud
            .update_service(UpdateServiceInput {
                cluster: removal.cluster.clone(),
                service: removal.service.clone(),
                desired_count: Some(0),
                ..UpdateServiceInput::default()
            })
            .await?;
        let decision = decision(
            now,
            DecisionKind::Remove,
            Some("scale_to_zero"),
            format!("scaled {} -> 0 tasks: {why}", service.desired_count),
        );
        // Deleting waits for the next pass, after ECS has taken the new count.
        return Ok((Some(decision), false));
    }
    if !removal.delete {
        let decision = decision(
            now,
            DecisionKind::Remove,
            Some("left_in_place"),
            format!("left in place at 0 tasks (the stack has no prune): {why}"),
        );
        return Ok((Some(decision), true));
    }
    cloud
        .delete_service(&removal.cluster, &removal.service)
        .await?;
    let decision = decision(
        now,
        DecisionKind::Remove,
        Some("delete"),
        format!("deleted (prune: true): {why}"),
    );
    Ok((Some(decision), true))
}

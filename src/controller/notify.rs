//! Telling people: the decisions a stack's `notifications` name, published to its SNS topic with
//! their reasons. Which decision is which kind is decided here, purely; the daemon publishes in
//! the background, so a slow or failing topic never holds a reconcile back (a failed publish is
//! logged and counted, not retried: the decision is in the log, `tug events` and `describe`).

use crate::manifest::spec::{NotificationKind, NotificationsSpec};
use crate::model::{DecisionKind, DecisionRecord, ServiceKey};

/// The notification kinds a decision is.
pub fn kinds_of(d: &DecisionRecord) -> Vec<NotificationKind> {
    let mut kinds = Vec::new();
    match d.kind {
        DecisionKind::Rollback => kinds.push(NotificationKind::Rollback),
        DecisionKind::Hold => kinds.push(NotificationKind::Hold),
        DecisionKind::ScaleOut => kinds.push(NotificationKind::ScaleOut),
        DecisionKind::ScaleIn => kinds.push(NotificationKind::ScaleIn),
        DecisionKind::RolloutStart => kinds.push(NotificationKind::RolloutStart),
        DecisionKind::RolloutVerified => kinds.push(NotificationKind::RolloutVerified),
        DecisionKind::DriftCorrection => kinds.push(NotificationKind::DriftCorrection),
        DecisionKind::Remove => kinds.push(NotificationKind::Remove),
        DecisionKind::Create | DecisionKind::Register | DecisionKind::RolloutComplete => {}
    }
    // The scaler says when its result was clamped to minTasks..maxTasks.
    if matches!(d.kind, DecisionKind::ScaleOut | DecisionKind::ScaleIn)
        && d.reason.contains("clamped to")
    {
        kinds.push(NotificationKind::ScalingLimit);
    }
    kinds
}

/// One message: its subject (at most 100 characters, as SNS takes) and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The topic.
    pub topic: String,
    /// Subject line.
    pub subject: String,
    /// Body: what, where, when, why.
    pub body: String,
}

/// The message for `decision` of service `key` in `stack`, if `spec` asks for one of its kinds.
pub fn message(
    spec: &NotificationsSpec,
    stack: &str,
    key: &ServiceKey,
    decision: &DecisionRecord,
) -> Option<Message> {
    let kind = kinds_of(decision)
        .into_iter()
        .find(|k| spec.kinds.contains(k))?;
    Some(compose(
        spec,
        stack,
        key,
        kind,
        &format!("{:?}", decision.kind),
        decision.at,
        &decision.reason,
    ))
}

/// The message saying that AWS calls for a service started failing, if `spec` asks for it.
pub fn calls_failing(
    spec: &NotificationsSpec,
    stack: &str,
    key: &ServiceKey,
    at: u64,
    error: &str,
) -> Option<Message> {
    spec.kinds
        .contains(&NotificationKind::CallsFailing)
        .then(|| {
            compose(
                spec,
                stack,
                key,
                NotificationKind::CallsFailing,
                "CallsFailing",
                at,
                &format!("{error}; retried with backoff"),
            )
        })
}

fn compose(
    spec: &NotificationsSpec,
    stack: &str,
    key: &ServiceKey,
    kind: NotificationKind,
    word: &str,
    at: u64,
    reason: &str,
) -> Message {
    let when = humantime::format_rfc3339_seconds(
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(at),
    );
    let subject: String = format!("tugboat: {word} of {} ({stack})", key.service)
        .chars()
        .take(100)
        .collect();
    let label = match kind {
        NotificationKind::ScalingLimit => " (at a scaling limit)",
        _ => "",
    };
    Message {
        topic: spec.sns_topic_arn.clone(),
        subject,
        body: format!(
            "{word}{label} of service {key} in stack {stack} at {when}:\n{reason}\n\nSee `tug describe {}` and `tug events --service {}`.",
            key.service, key.service
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decision(kind: DecisionKind, reason: &str) -> DecisionRecord {
        DecisionRecord {
            at: 1_800_000_000,
            kind,
            field: None,
            reason: reason.into(),
        }
    }

    #[test]
    fn each_decision_is_its_kind_and_a_clamped_scaling_one_is_at_a_limit() {
        assert_eq!(
            kinds_of(&decision(DecisionKind::Rollback, "x")),
            [NotificationKind::Rollback]
        );
        assert_eq!(
            kinds_of(&decision(
                DecisionKind::ScaleOut,
                "3 -> 4: CPU 100%; clamped to 2..4 tasks"
            )),
            [NotificationKind::ScaleOut, NotificationKind::ScalingLimit]
        );
        assert!(kinds_of(&decision(DecisionKind::Register, "x")).is_empty());
        let spec = NotificationsSpec {
            sns_topic_arn: "arn:aws:sns:us-east-1:123456789012:ops".into(),
            kinds: crate::manifest::spec::defaults::notification_kinds(),
        };
        let key = ServiceKey {
            cluster: "c".into(),
            service: "web".into(),
        };
        let m = message(
            &spec,
            "shop",
            &key,
            &decision(DecisionKind::Rollback, "5XX above 10"),
        )
        .expect("a rollback is told by default");
        assert_eq!(m.subject, "tugboat: Rollback of web (shop)");
        assert!(
            m.body.contains("5XX above 10") && m.body.contains("2027-01-15T08:00:00Z"),
            "{}",
            m.body
        );
        assert!(
            message(
                &spec,
                "shop",
                &key,
                &decision(DecisionKind::ScaleOut, "2 -> 3")
            )
            .is_none()
        );
        assert!(calls_failing(&spec, "shop", &key, 0, "UpdateService: AccessDenied").is_some());
    }
}

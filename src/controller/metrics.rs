//! The controller's Prometheus metrics (design.md §6). Labels come from bounded sets; service names
//! appear only on the per-service task gauges.

use prometheus::{
    Encoder, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

use crate::cloud::Operation;
use crate::model::{DecisionKind, DecisionRecord};

/// The outcomes a cloud call is counted under.
pub const CALL_OUTCOMES: [&str; 6] = [
    "ok",
    "throttled",
    "server_error",
    "timeout",
    "client_error",
    "not_leader",
];
/// The states of `tug_service_tasks`.
pub const TASK_STATES: [&str; 3] = ["desired", "running", "healthy"];

/// Every metric, registered in one registry.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    /// `tug_reconcile_total{result}`: ok | error.
    pub reconciles: IntCounterVec,
    /// `tug_reconcile_total{result="ok"}`, looked up once.
    pub reconciles_ok: IntCounter,
    /// `tug_reconcile_total{result="error"}`, looked up once.
    pub reconciles_error: IntCounter,
    /// `tug_reconcile_duration_seconds`.
    pub reconcile_seconds: Histogram,
    /// `tug_drift_corrections_total{field}`.
    pub drift_corrections: IntCounterVec,
    /// `tug_scaling_decisions_total{direction,trigger}`.
    pub scaling_decisions: IntCounterVec,
    /// `tug_rollouts_total{outcome}`: started | completed | verified | rolled_back.
    pub rollouts: IntCounterVec,
    /// `tug_service_tasks{service,state}`: desired | running | healthy.
    pub service_tasks: IntGaugeVec,
    /// `tug_aws_requests_total{service,operation,outcome}`.
    pub aws_requests: IntCounterVec,
    /// `tug_aws_throttled_total{service,operation}`.
    pub aws_throttled: IntCounterVec,
    /// `tug_leader`: 1 while this process holds the lease and so is the one acting.
    pub leader: IntGauge,
    /// `tug_leader_transitions_total`: times this process became or stopped being the leader.
    pub leader_transitions: IntCounter,
    /// `tug_queue_depth`: services waiting in the work queue (due or not).
    pub queue_depth: IntGauge,
    /// `tug_queue_latency_seconds`: from a service's due time to its reconcile starting.
    pub queue_latency_seconds: Histogram,
    /// `tug_capacity_instances{cluster,state}`: desired | running | launching | draining.
    pub capacity_instances: IntGaugeVec,
    /// `tug_capacity_decisions_total{direction}`: out | in | terminate.
    pub capacity_decisions: IntCounterVec,
}

/// The states of `tug_capacity_instances`.
pub const INSTANCE_STATES: [&str; 4] = ["desired", "running", "launching", "draining"];

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Metrics {
    /// A fresh registry with every metric.
    ///
    /// # Errors
    /// Only if a metric definition were invalid (a programming error, reported rather than panicking).
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let counter =
            |name: &str, help: &str, labels: &[&str]| -> Result<IntCounterVec, prometheus::Error> {
                let c = IntCounterVec::new(Opts::new(name, help), labels)?;
                registry.register(Box::new(c.clone()))?;
                Ok(c)
            };
        let reconciles = counter("tug_reconcile_total", "Reconciles by result.", &["result"])?;
        let drift_corrections = counter(
            "tug_drift_corrections_total",
            "Out-of-band changes put back, by field.",
            &["field"],
        )?;
        let scaling_decisions = counter(
            "tug_scaling_decisions_total",
            "Scaling decisions by direction and trigger.",
            &["direction", "trigger"],
        )?;
        let rollouts = counter(
            "tug_rollouts_total",
            "Rollout events by outcome.",
            &["outcome"],
        )?;
        let aws_requests = counter(
            "tug_aws_requests_total",
            "Cloud API calls by service, operation and outcome.",
            &["service", "operation", "outcome"],
        )?;
        let aws_throttled = counter(
            "tug_aws_throttled_total",
            "Throttled cloud API calls.",
            &["service", "operation"],
        )?;
        let reconcile_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "tug_reconcile_duration_seconds",
                "Time one reconcile of one service takes (observation excluded).",
            )
            .buckets(vec![0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0]),
        )?;
        registry.register(Box::new(reconcile_seconds.clone()))?;
        let service_tasks = IntGaugeVec::new(
            Opts::new(
                "tug_service_tasks",
                "Tasks per service: desired, running, healthy.",
            ),
            &["service", "state"],
        )?;
        registry.register(Box::new(service_tasks.clone()))?;
        let leader = IntGauge::new(
            "tug_leader",
            "1 while this controller holds the lease and so is the one acting.",
        )?;
        registry.register(Box::new(leader.clone()))?;
        let leader_transitions = IntCounter::new(
            "tug_leader_transitions_total",
            "Times this controller became, or stopped being, the leader.",
        )?;
        registry.register(Box::new(leader_transitions.clone()))?;
        let queue_depth = IntGauge::new(
            "tug_queue_depth",
            "Services waiting in the work queue, due or not.",
        )?;
        registry.register(Box::new(queue_depth.clone()))?;
        let queue_latency_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "tug_queue_latency_seconds",
                "From a service's due time to its reconcile starting.",
            )
            .buckets(vec![0.001, 0.01, 0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0]),
        )?;
        registry.register(Box::new(queue_latency_seconds.clone()))?;
        let capacity_decisions = counter(
            "tug_capacity_decisions_total",
            "Decisions on EC2 capacity, by direction (out, in: a drain, terminate).",
            &["direction"],
        )?;
        let capacity_instances = IntGaugeVec::new(
            Opts::new(
                "tug_capacity_instances",
                "Instances of a cluster's Auto Scaling group owned by tugboat: desired, running, launching, draining.",
            ),
            &["cluster", "state"],
        )?;
        registry.register(Box::new(capacity_instances.clone()))?;
        let metrics = Self {
            registry,
            reconciles_ok: reconciles.with_label_values(&["ok"]),
            reconciles_error: reconciles.with_label_values(&["error"]),
            reconciles,
            reconcile_seconds,
            drift_corrections,
            scaling_decisions,
            rollouts,
            service_tasks,
            aws_requests,
            aws_throttled,
            leader,
            leader_transitions,
            queue_depth,
            queue_latency_seconds,
            capacity_instances,
            capacity_decisions,
        };
        metrics.prime();
        Ok(metrics)
    }

    /// Creates every bounded label set at zero, so each metric is exported (and graphs start at
    /// zero) before its first event.
    fn prime(&self) {
        for result in ["ok", "error"] {
            self.reconciles.with_label_values(&[result]);
        }
        for field in [
            "desired_count",
            "deployment",
            "task_definition",
            "health_check",
        ] {
            self.drift_corrections.with_label_values(&[field]);
        }
        for direction in ["up", "down"] {
            for trigger in ["cpu", "http5xx", "bounds", "removal"] {
                self.scaling_decisions
                    .with_label_values(&[direction, trigger]);
            }
        }
        for direction in ["out", "in", "terminate"] {
            self.capacity_decisions.with_label_values(&[direction]);
        }
        for outcome in ["started", "completed", "verified", "rolled_back"] {
            self.rollouts.with_label_values(&[outcome]);
        }
        for operation in Operation::CONTROLLER {
            let (service, name) = (operation.service(), operation.name());
            for outcome in CALL_OUTCOMES {
                self.aws_requests
                    .with_label_values(&[service, name, outcome]);
            }
            self.aws_throttled.with_label_values(&[service, name]);
        }
    }

    /// Counts a decision under the metric its kind belongs to.
    pub fn count(&self, decision: &DecisionRecord) {
        let label = decision.field.as_deref().unwrap_or("none");
        match decision.kind {
            DecisionKind::DriftCorrection => {
                self.drift_corrections.with_label_values(&[label]).inc()
            }
            DecisionKind::ScaleOut => self
                .scaling_decisions
                .with_label_values(&["up", label])
                .inc(),
            DecisionKind::ScaleIn => self
                .scaling_decisions
                .with_label_values(&["down", label])
                .inc(),
            DecisionKind::RolloutStart => self.rollouts.with_label_values(&["started"]).inc(),
            DecisionKind::RolloutComplete => self.rollouts.with_label_values(&["completed"]).inc(),
            DecisionKind::RolloutVerified => self.rollouts.with_label_values(&["verified"]).inc(),
            DecisionKind::Rollback => self.rollouts.with_label_values(&["rolled_back"]).inc(),
            // Scaling a removed service to 0 is a scaling decision; the deletion itself is logged.
            DecisionKind::Remove if label == "scale_to_zero" => self
                .scaling_decisions
                .with_label_values(&["down", "removal"])
                .inc(),
            DecisionKind::Create
            | DecisionKind::Register
            | DecisionKind::Hold
            | DecisionKind::Remove => {}
        }
    }

    /// Counts a capacity decision and logs nothing (the caller does).
    pub fn count_capacity(&self, decision: &DecisionRecord) {
        let direction = match (decision.kind, decision.field.as_deref()) {
            (DecisionKind::ScaleOut, _) => "out",
            (DecisionKind::ScaleIn, Some("terminate")) => "terminate",
            (DecisionKind::ScaleIn, _) => "in",
            _ => return,
        };
        self.capacity_decisions
            .with_label_values(&[direction])
            .inc();
    }

    /// Sets a cluster's instance gauges.
    pub fn capacity_gauges(&self, status: &crate::model::CapacityStatus) {
        for (state, value) in INSTANCE_STATES.into_iter().zip([
            status.desired,
            status.running,
            status.launching,
            status.draining,
        ]) {
            self.capacity_instances
                .with_label_values(&[&status.cluster, state])
                .set(i64::from(value));
        }
    }

    /// Drops a cluster's instance gauges: its capacity left the store.
    pub fn forget_cluster(&self, cluster: &str) {
        for state in INSTANCE_STATES {
            let _ = self
                .capacity_instances
                .remove_label_values(&[cluster, state]);
        }
    }

    /// Drops a service's task gauges: it left the store.
    pub fn forget_service(&self, service: &str) {
        for state in TASK_STATES {
            let _ = self.service_tasks.remove_label_values(&[service, state]);
        }
    }

    /// The registry in the Prometheus text format.
    pub fn render(&self) -> String {
        let mut buffer = Vec::new();
        if TextEncoder::new()
            .encode(&self.registry.gather(), &mut buffer)
            .is_err()
        {
            return String::new();
        }
        String::from_utf8(buffer).unwrap_or_default()
    }
}

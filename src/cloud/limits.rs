//! AWS's documented API rate limits (../shared/aws-facts.md), by throttling category: the
//! simulator throttles with them, and the controller's [`super::limiter`] stays under them.
//! Which operation draws from which bucket is [`super::Operation::category`].

/// A throttling category: which bucket an operation draws from.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum Category {
    /// DescribeServices, ListServices: 100 burst, 20/s.
    ServiceRead,
    /// CreateService, UpdateService, DeleteService (and task-set changes, which aws-facts.md does
    /// not list; they are service changes): 50 burst, 5/s.
    ServiceModify,
    /// ListTasks, DescribeTasks, DescribeContainerInstances: 100 burst, 20/s.
    ClusterRead,
    /// RunTask, StopTask: 100 burst, 40/s.
    ClusterModify,
    /// RegisterTaskDefinition, DeregisterTaskDefinition: 20 burst, 1/s.
    TaskDefinitionModify,
    /// DescribeTaskDefinition, ListTaskDefinitions: 50 burst, 20/s.
    TaskDefinitionRead,
    /// Every ELBv2 action: 40 burst, 10/s, account-wide.
    Elb,
    /// CloudWatch GetMetricData: 50 TPS.
    CloudWatch,
    /// CloudWatch DescribeAlarms: 9 TPS (CloudWatch's service quotas; aws-facts.md lists only
    /// GetMetricData). A burst of 9: the controller reads a rollout's alarms once per look.
    CloudWatchAlarms,
    /// EC2 Auto Scaling's actions: the service documents no rate; a bucket of our own, 10 burst,
    /// 2/s (a cluster's capacity changes a few times an hour).
    AutoScaling,
    /// SNS Publish: hundreds to thousands a second by region (SNS's quotas); a bucket of our own,
    /// 20 burst, 10/s (decisions worth telling people are rare).
    Sns,
    /// ECR GetLifecyclePolicy: ECR documents no rate for it; a bucket of our own, 10 burst, 1/s
    /// (the controller reads one policy per repository every few hours).
    Ecr,
}

impl Category {
    /// (burst, refill per second), from aws-facts.md.
    pub fn bucket(self) -> (f64, f64) {
        match self {
            Category::ServiceRead | Category::ClusterRead => (100.0, 20.0),
            Category::ServiceModify => (50.0, 5.0),
            Category::ClusterModify => (100.0, 40.0),
            Category::TaskDefinitionModify => (20.0, 1.0),
            Category::TaskDefinitionRead => (50.0, 20.0),
            Category::Elb => (40.0, 10.0),
            Category::CloudWatch => (50.0, 50.0),
            Category::CloudWatchAlarms => (9.0, 9.0),
            Category::Ecr => (10.0, 1.0),
            Category::AutoScaling => (10.0, 2.0),
            Category::Sns => (20.0, 10.0),
        }
    }
}

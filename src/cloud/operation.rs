//! Every AWS operation tugboat calls or simulates, in one enum: its API name, the AWS service it
//! belongs to (the `service` label of the request metrics), its throttling category (the bucket it
//! draws from, aws-facts.md) and the IAM action that allows it. The rate limit, the metering, the
//! timeouts and the simulator's API front all read these from here, so they cannot disagree.

use super::limits::Category;

/// One AWS API operation.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum Operation {
    /// ECS RegisterTaskDefinition.
    RegisterTaskDefinition,
    /// ECS DescribeTaskDefinition.
    DescribeTaskDefinition,
    /// ECS CreateService.
    CreateService,
    /// ECS UpdateService.
    UpdateService,
    /// ECS DeleteService.
    DeleteService,
    /// ECS DescribeServices.
    DescribeServices,
    /// ECS StopServiceDeployment (a rollback of a traffic-shifting deployment).
    StopServiceDeployment,
    /// ECS ListTasks (a watched rollout's tasks, for their image digests).
    ListTasks,
    /// ECS DescribeTasks.
    DescribeTasks,
    /// ECS DescribeClusters (the controller's preflight).
    DescribeClusters,
    /// ECS CreateTaskSet (simulated EXTERNAL deployments).
    CreateTaskSet,
    /// ECS UpdateTaskSet.
    UpdateTaskSet,
    /// ECS UpdateServicePrimaryTaskSet.
    UpdateServicePrimaryTaskSet,
    /// ECS DeleteTaskSet.
    DeleteTaskSet,
    /// ECS DescribeTaskSets.
    DescribeTaskSets,
    /// ELBv2 DescribeTargetHealth.
    DescribeTargetHealth,
    /// ELBv2 ModifyTargetGroup.
    ModifyTargetGroup,
    /// ELBv2 DescribeTargetGroups.
    DescribeTargetGroups,
    /// ELBv2 DescribeTargetGroupAttributes (the deregistration delay).
    DescribeTargetGroupAttributes,
    /// ELBv2 ModifyTargetGroupAttributes.
    ModifyTargetGroupAttributes,
    /// CloudWatch GetMetricData.
    GetMetricData,
    /// ECR GetLifecyclePolicy (what the registry could delete of a verified image).
    GetLifecyclePolicy,
    /// CloudWatch DescribeAlarms (the state of the alarms a rollout is gated on).
    DescribeAlarms,
    /// EC2 Auto Scaling SetDesiredCapacity (an EC2 cluster's instances).
    SetDesiredCapacity,
    /// EC2 Auto Scaling TerminateInstanceInAutoScalingGroup (a drained instance).
    TerminateInstanceInAutoScalingGroup,
    /// EC2 Auto Scaling SetInstanceProtection (instances a scale-in must not take).
    SetInstanceProtection,
    /// ECS UpdateContainerInstancesState (DRAINING before a scale-in).
    UpdateContainerInstancesState,
    /// EC2 Auto Scaling DescribeAutoScalingGroups (an EC2 cluster's group).
    DescribeAutoScalingGroups,
    /// ECS ListContainerInstances.
    ListContainerInstances,
    /// ECS DescribeContainerInstances (each instance's remaining CPU, memory and ports).
    DescribeContainerInstances,
    /// SNS Publish (a decision told to people, `notifications`).
    Publish,
}

impl Operation {
    /// Every operation.
    pub const ALL: [Operation; 31] = [
        Operation::RegisterTaskDefinition,
        Operation::DescribeTaskDefinition,
        Operation::CreateService,
        Operation::UpdateService,
        Operation::DeleteService,
        Operation::DescribeServices,
        Operation::StopServiceDeployment,
        Operation::ListTasks,
        Operation::DescribeTasks,
        Operation::DescribeClusters,
        Operation::CreateTaskSet,
        Operation::UpdateTaskSet,
        Operation::UpdateServicePrimaryTaskSet,
        Operation::DeleteTaskSet,
        Operation::DescribeTaskSets,
        Operation::DescribeTargetHealth,
        Operation::ModifyTargetGroup,
        Operation::DescribeTargetGroups,
        Operation::DescribeTargetGroupAttributes,
        Operation::ModifyTargetGroupAttributes,
        Operation::GetMetricData,
        Operation::GetLifecyclePolicy,
        Operation::DescribeAlarms,
        Operation::SetDesiredCapacity,
        Operation::TerminateInstanceInAutoScalingGroup,
        Operation::SetInstanceProtection,
        Operation::UpdateContainerInstancesState,
        Operation::DescribeAutoScalingGroups,
        Operation::ListContainerInstances,
        Operation::DescribeContainerInstances,
        Operation::Publish,
    ];

    /// The operations of the [`super::Cloud`] trait and the preflight: what the controller calls,
    /// and so the label sets its request metrics start with.
    pub const CONTROLLER: [Operation; 26] = [
        Operation::RegisterTaskDefinition,
        Operation::DescribeTaskDefinition,
        Operation::CreateService,
        Operation::UpdateService,
        Operation::DeleteService,
        Operation::DescribeServices,
        Operation::StopServiceDeployment,
        Operation::ListTasks,
        Operation::DescribeTasks,
        Operation::DescribeClusters,
        Operation::DescribeTargetHealth,
        Operation::ModifyTargetGroup,
        Operation::DescribeTargetGroups,
        Operation::DescribeTargetGroupAttributes,
        Operation::ModifyTargetGroupAttributes,
        Operation::GetMetricData,
        Operation::GetLifecyclePolicy,
        Operation::DescribeAlarms,
        Operation::Publish,
        Operation::DescribeAutoScalingGroups,
        Operation::SetDesiredCapacity,
        Operation::SetInstanceProtection,
        Operation::TerminateInstanceInAutoScalingGroup,
        Operation::ListContainerInstances,
        Operation::DescribeContainerInstances,
        Operation::UpdateContainerInstancesState,
    ];

    /// The API's own name, e.g. `UpdateService`.
    pub fn name(self) -> &'static str {
        match self {
            Operation::RegisterTaskDefinition => "RegisterTaskDefinition",
            Operation::DescribeTaskDefinition => "DescribeTaskDefinition",
            Operation::CreateService => "CreateService",
            Operation::UpdateService => "UpdateService",
            Operation::DeleteService => "DeleteService",
            Operation::DescribeServices => "DescribeServices",
            Operation::StopServiceDeployment => "StopServiceDeployment",
            Operation::ListTasks => "ListTasks",
            Operation::DescribeTasks => "DescribeTasks",
            Operation::DescribeClusters => "DescribeClusters",
            Operation::CreateTaskSet => "CreateTaskSet",
            Operation::UpdateTaskSet => "UpdateTaskSet",
            Operation::UpdateServicePrimaryTaskSet => "UpdateServicePrimaryTaskSet",
            Operation::DeleteTaskSet => "DeleteTaskSet",
            Operation::DescribeTaskSets => "DescribeTaskSets",
            Operation::DescribeTargetHealth => "DescribeTargetHealth",
            Operation::ModifyTargetGroup => "ModifyTargetGroup",
            Operation::DescribeTargetGroups => "DescribeTargetGroups",
            Operation::DescribeTargetGroupAttributes => "DescribeTargetGroupAttributes",
            Operation::ModifyTargetGroupAttributes => "ModifyTargetGroupAttributes",
            Operation::GetMetricData => "GetMetricData",
            Operation::GetLifecyclePolicy => "GetLifecyclePolicy",
            Operation::DescribeAlarms => "DescribeAlarms",
            Operation::SetDesiredCapacity => "SetDesiredCapacity",
            Operation::TerminateInstanceInAutoScalingGroup => "TerminateInstanceInAutoScalingGroup",
            Operation::SetInstanceProtection => "SetInstanceProtection",
            Operation::UpdateContainerInstancesState => "UpdateContainerInstancesState",
            Operation::DescribeAutoScalingGroups => "DescribeAutoScalingGroups",
            Operation::ListContainerInstances => "ListContainerInstances",
            Operation::DescribeContainerInstances => "DescribeContainerInstances",
            Operation::Publish => "Publish",
        }
    }

    /// The operation an API name stands for.
    pub fn from_name(name: &str) -> Option<Operation> {
        Operation::ALL.into_iter().find(|op| op.name() == name)
    }

    /// The AWS service, as the `service` label of `tug_aws_requests_total`: `ecs`, `elbv2` or
    /// `cloudwatch`, `ecr`.
    pub fn service(self) -> &'static str {
        match self {
            Operation::DescribeTargetHealth
            | Operation::ModifyTargetGroup
            | Operation::DescribeTargetGroups
            | Operation::DescribeTargetGroupAttributes
            | Operation::ModifyTargetGroupAttributes => "elbv2",
            Operation::GetMetricData | Operation::DescribeAlarms => "cloudwatch",
            Operation::GetLifecyclePolicy => "ecr",
            Operation::Publish => "sns",
            Operation::SetDesiredCapacity
            | Operation::TerminateInstanceInAutoScalingGroup
            | Operation::SetInstanceProtection
            | Operation::DescribeAutoScalingGroups => "autoscaling",
            _ => "ecs",
        }
    }

    /// The IAM action that allows it, e.g. `ecs:UpdateService`.
    pub fn iam_action(self) -> String {
        let prefix = match self.service() {
            "elbv2" => "elasticloadbalancing",
            other => other,
        };
        format!("{prefix}:{}", self.name())
    }

    /// The throttling bucket it draws from (aws-facts.md, "ECS API throttling").
    pub fn category(self) -> Category {
        match self {
            Operation::DescribeServices | Operation::DescribeTaskSets => Category::ServiceRead,
            Operation::DescribeClusters
            | Operation::ListTasks
            | Operation::DescribeTasks
            | Operation::ListContainerInstances
            | Operation::DescribeContainerInstances => Category::ClusterRead,
            Operation::GetLifecyclePolicy => Category::Ecr,
            Operation::RegisterTaskDefinition => Category::TaskDefinitionModify,
            Operation::DescribeTaskDefinition => Category::TaskDefinitionRead,
            Operation::GetMetricData => Category::CloudWatch,
            Operation::DescribeAlarms => Category::CloudWatchAlarms,
            Operation::SetDesiredCapacity
            | Operation::TerminateInstanceInAutoScalingGroup
            | Operation::SetInstanceProtection
            | Operation::DescribeAutoScalingGroups => Category::AutoScaling,
            Operation::UpdateContainerInstancesState => Category::ClusterModify,
            Operation::Publish => Category::Sns,
            Operation::DescribeTargetHealth
            | Operation::ModifyTargetGroup
            | Operation::DescribeTargetGroups
            | Operation::DescribeTargetGroupAttributes
            | Operation::ModifyTargetGroupAttributes => Category::Elb,
            Operation::CreateService
            | Operation::UpdateService
            | Operation::StopServiceDeployment
            | Operation::DeleteService
            | Operation::CreateTaskSet
            | Operation::UpdateTaskSet
            | Operation::UpdateServicePrimaryTaskSet
            | Operation::DeleteTaskSet => Category::ServiceModify,
        }
    }

    /// Whether it changes something in the account (the calls only a leader may make).
    pub fn is_mutating(self) -> bool {
        !matches!(
            self,
            Operation::DescribeTaskDefinition
                | Operation::DescribeServices
                | Operation::DescribeClusters
                | Operation::ListTasks
                | Operation::DescribeTasks
                | Operation::GetLifecyclePolicy
                | Operation::DescribeTaskSets
                | Operation::DescribeTargetHealth
                | Operation::DescribeTargetGroups
                | Operation::DescribeTargetGroupAttributes
                | Operation::GetMetricData
                | Operation::DescribeAlarms
                | Operation::DescribeAutoScalingGroups
                | Operation::ListContainerInstances
                | Operation::DescribeContainerInstances
        )
    }
}

impl std::fmt::Display for Operation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_controller_operations_are_a_subset() {
        for op in Operation::ALL {
            assert_eq!(Operation::from_name(op.name()), Some(op));
        }
        assert!(
            Operation::CONTROLLER
                .iter()
                .all(|op| Operation::ALL.contains(op))
        );
        assert_eq!(
            Operation::ModifyTargetGroup.iam_action(),
            "elasticloadbalancing:ModifyTargetGroup"
        );
        assert_eq!(
            Operation::GetMetricData.iam_action(),
            "cloudwatch:GetMetricData"
        );
        assert!(Operation::UpdateService.is_mutating());
        assert!(!Operation::DescribeServices.is_mutating());
    }
}

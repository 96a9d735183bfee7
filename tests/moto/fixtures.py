"""Infrastructure the adapter tests need in moto, which in a real account exists before tugboat
runs (CloudFormation, say): a VPC with two subnets, a security group, an application load balancer
with a listener, target groups and an ECS cluster. Uses boto3 (installed with moto).

Usage: python fixtures.py ENDPOINT PREFIX TARGET_GROUP... ; prints JSON:
{"subnets": [...], "securityGroup": "...", "cluster": "PREFIX-cluster", "loadBalancer": ARN,
 "targetGroups": {NAME: ARN}}

Or: python fixtures.py ENDPOINT --delete-target-group NAME: deletes it (and the listeners that
forward to it), as someone changing the account out of band would.

Or: python fixtures.py ENDPOINT --capacity PREFIX: an ECS cluster `PREFIX-cluster` and an empty
Auto Scaling group `PREFIX-asg` (0..10 instances, two zones) behind it; prints
{"cluster": ..., "group": ...}.

Or: python fixtures.py ENDPOINT --register CLUSTER GROUP: registers the group's instances with the
cluster as container instances (the ECS agent's part, which moto does not play); prints their
ARNs by instance id.
"""

import json
import sys

import boto3


def delete_target_group(elb, name: str) -> None:
    arn = elb.describe_target_groups(Names=[name])["TargetGroups"][0]["TargetGroupArn"]
    for balancer in elb.describe_load_balancers()["LoadBalancers"]:
        for listener in elb.describe_listeners(LoadBalancerArn=balancer["LoadBalancerArn"])[
            "Listeners"
        ]:
            if any(a.get("TargetGroupArn") == arn for a in listener["DefaultActions"]):
                elb.delete_listener(ListenerArn=listener["ListenerArn"])
    elb.delete_target_group(TargetGroupArn=arn)
    print(json.dumps({"deleted": arn}))


def main() -> None:
    endpoint, prefix, *groups = sys.argv[1:]
    settings = dict(
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    if prefix == "--delete-target-group":
        delete_target_group(boto3.client("elbv2", **settings), groups[0])
        return
    if prefix == "--capacity":
        name = groups[0]
        ec2 = boto3.client("ec2", **settings)
        scaling = boto3.client("autoscaling", **settings)
        image = ec2.describe_images()["Images"][0]["ImageId"]
        scaling.create_launch_configuration(
            LaunchConfigurationName=f"{name}-lc", ImageId=image, InstanceType="t3.medium"
        )
        scaling.create_auto_scaling_group(
            AutoScalingGroupName=f"{name}-asg",
            LaunchConfigurationName=f"{name}-lc",
            MinSize=0,
            MaxSize=10,
            DesiredCapacity=0,
            AvailabilityZones=["us-east-1a", "us-east-1b"],
        )
        boto3.client("ecs", **settings).create_cluster(clusterName=f"{name}-cluster")
        print(json.dumps({"cluster": f"{name}-cluster", "group": f"{name}-asg"}))
        return
    if prefix == "--register":
        cluster, group = groups
        scaling = boto3.client("autoscaling", **settings)
        ecs = boto3.client("ecs", **settings)
        found = scaling.describe_auto_scaling_groups(AutoScalingGroupNames=[group])
        arns = {}
        for instance in found["AutoScalingGroups"][0]["Instances"]:
            document = json.dumps(
                {
                    "instanceId": instance["InstanceId"],
                    "availabilityZone": instance["AvailabilityZone"],
                    "region": "us-east-1",
                }
            )
            registered = ecs.register_container_instance(
                cluster=cluster, instanceIdentityDocument=document
            )
            arns[instance["InstanceId"]] = registered["containerInstance"]["containerInstanceArn"]
        print(json.dumps(arns))
        return
    ec2 = boto3.client("ec2", **settings)
    elb = boto3.client("elbv2", **settings)
    ecs = boto3.client("ecs", **settings)

    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=zone)[
            "Subnet"
        ]["SubnetId"]
        for i, zone in enumerate(["us-east-1a", "us-east-1b"], start=1)
    ]
    group = ec2.create_security_group(
        GroupName=f"{prefix}-sg", Description="tugboat test", VpcId=vpc
    )["GroupId"]
    balancer = elb.create_load_balancer(
        Name=f"{prefix}-lb", Subnets=subnets, SecurityGroups=[group]
    )["LoadBalancers"][0]["LoadBalancerArn"]
    target_groups = {}
    for name in groups:
        arn = elb.create_target_group(
            Name=name, Protocol="HTTP", Port=80, VpcId=vpc, TargetType="ip"
        )["TargetGroups"][0]["TargetGroupArn"]
        elb.create_listener(
            LoadBalancerArn=balancer,
            Protocol="HTTP",
            Port=8000 + len(target_groups),
            DefaultActions=[{"Type": "forward", "TargetGroupArn": arn}],
        )
        target_groups[name] = arn
    cluster = f"{prefix}-cluster"
    ecs.create_cluster(clusterName=cluster)
    print(
        json.dumps(
            {
                "subnets": subnets,
                "securityGroup": group,
                "cluster": cluster,
                "loadBalancer": balancer,
                "targetGroups": target_groups,
            }
        )
    )


if __name__ == "__main__":
    main()

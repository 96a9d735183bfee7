"""Infrastructure the adapter tests need in moto, which in a real account exists before tugboat
runs (CloudFormation, say): a VPC with two subnets, a security group, an application load balancer
with a listener, target groups and an ECS cluster. Uses boto3 (installed with moto).

Usage: python fixtures.py ENDPOINT PREFIX TARGET_GROUP... ; prints JSON:
{"subnets": [...], "securityGroup": "...", "cluster": "PREFIX-cluster", "loadBalancer": ARN,
 "targetGroups": {NAME: ARN}}
"""

import json
import sys

import boto3


def main() -> None:
    endpoint, prefix, *groups = sys.argv[1:]
    settings = dict(
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
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

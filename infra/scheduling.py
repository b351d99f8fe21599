"""Scheduling: the schedule group, and the role EventBridge Scheduler assumes to enqueue a dial."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra import constants as c
from infra.nag import acknowledge


class Scheduling(Construct):
    """Calls whose start-time is ahead become one-time schedules in this group; at their time the
    scheduler drops the dial message on the dial queue, and may do nothing else."""

    def __init__(self, scope: Construct, construct_id: str, *, dial_queue: sqs.IQueue) -> None:
        super().__init__(scope, construct_id)
        self.group = scheduler.ScheduleGroup(self, "Group")
        stack = Stack.of(self)
        self.role = iam.Role(
            self,
            "Role",
            description="Assumed by EventBridge Scheduler to send outdial's due calls to the dial queue",
            # Confused-deputy guard: only schedules of this account's group may assume it.
            assumed_by=iam.ServicePrincipal(
                c.SCHEDULER_SERVICE,
                conditions={
                    "StringEquals": {"aws:SourceAccount": stack.account},
                    "ArnEquals": {"aws:SourceArn": self.group.schedule_group_arn},
                },
            ),
        )
        self.role.add_to_principal_policy(
            iam.PolicyStatement(actions=["sqs:SendMessage"], resources=[dial_queue.queue_arn])
        )

    def grant_manage_schedules(
        self, function: lambda_.Function, actions: Sequence[str] = c.SCHEDULE_ACTIONS
    ) -> None:
        """``actions`` (by default create, read and delete) on schedules in this group only, and
        hand them this role only."""
        schedules = Stack.of(self).format_arn(
            service="scheduler",
            resource="schedule",
            resource_name=f"{self.group.schedule_group_name}/*",
        )
        function.add_to_role_policy(
            iam.PolicyStatement(actions=list(actions), resources=[schedules])
        )
        function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["iam:PassRole"],
                resources=[self.role.role_arn],
                conditions={"StringEquals": {"iam:PassedToService": c.SCHEDULER_SERVICE}},
            )
        )
        assert function.role is not None
        # CDK names the group at synth time, so the finding carries the literal name.
        group_name = Stack.of(self).resolve(self.group.schedule_group_name)
        acknowledge(
            function.role,
            "IAM5[Resource::arn:<AWS::Partition>:scheduler:<AWS::Region>:<AWS::AccountId>:"
            f"schedule/{group_name}/*]",
            "Schedules are created per request at run time, so their names cannot be listed; "
            "the wildcard is confined to outdial's own schedule group.",
        )

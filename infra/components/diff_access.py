"""StackFlowDiffRole: what `make diff` on a pull request may do, and nothing more.

A pull request's workflow runs code from a branch before review, so it gets its own
role instead of the release role: it trusts only the ``pull_request`` subject (through
the same GitHub OIDC provider, ``aud`` = STS) and can only read. ``cdk diff`` reads the
deployed templates through the CDK bootstrap's lookup role
(``cdk-<qualifier>-lookup-role-<account>-<region>``); when it cannot assume that role it
falls back to its own credentials, hence DescribeStacks / GetTemplate on this stage's
stacks. It cannot assume the bootstrap's deploy or file-publishing roles, so ``cdk
diff`` cannot create a change set and compares templates instead.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration, Stack
from aws_cdk import aws_iam as iam
from constructs import Construct

from infra.components.ci_access import trust_conditions
from infra.components.drift import stack_arn
from infra.config import Settings
from infra.nag import acknowledge, wildcard_finding

DIFF_ROLE_NAME = "StackFlowDiffRole"
# The only bootstrap role a diff needs: it reads templates and never writes.
LOOKUP_ROLE_ACTIONS = ("sts:AssumeRole",)
# `cdk diff` with its own credentials: find the stack, read its deployed template.
TEMPLATE_READ_ACTIONS = ("cloudformation:DescribeStacks", "cloudformation:GetTemplate")


def lookup_role_arn(scope: Construct, qualifier: str) -> str:
    """The bootstrap lookup role of the stack's own account and region, by exact name."""
    stack = Stack.of(scope)
    return stack.format_arn(
        service="iam", region="", resource="role",
        resource_name=f"cdk-{qualifier}-lookup-role-{stack.account}-{stack.region}")


class DiffAccess(Construct):
    """The read-only role the pull-request workflow assumes to run ``make diff``."""

    def __init__(self, scope: Construct, construct_id: str, *, settings: Settings,
                 provider: iam.IOidcProvider, stacks: Sequence[str]) -> None:
        super().__init__(scope, construct_id)
        self.role = iam.Role(
            self, "Role",
            role_name=settings.physical_name(f"{DIFF_ROLE_NAME}-{settings.stage.name}"),
            description="GitHub Actions pull requests: read-only `cdk diff` of this stage",
            max_session_duration=Duration.hours(1),
            assumed_by=iam.WebIdentityPrincipal(
                provider.oidc_provider_arn,
                conditions=trust_conditions(settings.diff_subjects)),
        )
        self.role.add_to_policy(iam.PolicyStatement(
            sid="AssumeCdkLookupRole", actions=list(LOOKUP_ROLE_ACTIONS),
            resources=[lookup_role_arn(self, settings.bootstrap_qualifier)]))
        stack_arns = [stack_arn(self, name) for name in stacks]
        self.role.add_to_policy(iam.PolicyStatement(
            sid="ReadDeployedTemplates", actions=list(TEMPLATE_READ_ACTIONS),
            resources=stack_arns))
        for arn in stack_arns:
            acknowledge(self.role, wildcard_finding(self, arn),
                        "A stack ARN ends in its stack id, which changes when the stack is "
                        "recreated; the name part is fixed to one StackFlow stack.")

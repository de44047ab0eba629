"""StackFlowDiffRole: what `make diff` on a pull request may do, and nothing more.

A pull request's workflow runs code from a branch before review, so it gets its own
role instead of the release role: it trusts only the ``pull_request`` subject (through
the same GitHub OIDC provider, ``aud`` = STS) and can read exactly one thing, the
deployed templates of this stage's stacks (``DescribeStacks``, ``GetTemplate``). It may
not assume any CDK bootstrap role: the lookup role carries the ReadOnlyAccess managed
policy, which would let unreviewed code read artifacts, migrations, approval tokens,
logs and every function's environment. ``cdk diff`` then falls back to these
credentials and compares templates (docs/infra.md says what that can and cannot show).
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration
from aws_cdk import aws_iam as iam
from constructs import Construct

from infra.components.ci_access import trust_conditions
from infra.components.drift import stack_arn
from infra.config import CI_MAX_SESSION_SECONDS, Settings
from infra.nag import acknowledge, wildcard_finding

DIFF_ROLE_NAME = "StackFlowDiffRole"
# `cdk diff` with its own credentials: find the stack, read its deployed template.
TEMPLATE_READ_ACTIONS = ("cloudformation:DescribeStacks", "cloudformation:GetTemplate")


class DiffAccess(Construct):
    """The read-only role the pull-request workflow assumes to run ``make diff``."""

    def __init__(self, scope: Construct, construct_id: str, *, settings: Settings,
                 provider: iam.IOidcProvider, stacks: Sequence[str]) -> None:
        super().__init__(scope, construct_id)
        self.role = iam.Role(
            self, "Role",
            role_name=settings.physical_name(f"{DIFF_ROLE_NAME}-{settings.stage.name}"),
            description="GitHub Actions pull requests: read-only `cdk diff` of this stage",
            max_session_duration=Duration.seconds(CI_MAX_SESSION_SECONDS),
            assumed_by=iam.WebIdentityPrincipal(
                provider.oidc_provider_arn,
                conditions=trust_conditions(settings.diff_subjects)),
        )
        stack_arns = [stack_arn(self, name) for name in stacks]
        self.role.add_to_policy(iam.PolicyStatement(
            sid="ReadDeployedTemplates", actions=list(TEMPLATE_READ_ACTIONS),
            resources=stack_arns))
        for arn in stack_arns:
            acknowledge(self.role, wildcard_finding(self, arn),
                        "A stack ARN ends in its stack id, which changes when the stack is "
                        "recreated; the name part is fixed to one StackFlow stack.")

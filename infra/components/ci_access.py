"""GitHub Actions access: the OIDC provider and StackFlowCICDRole.

CI holds no long-lived keys. It assumes ``StackFlowCICDRole`` with a GitHub OIDC token
whose ``aud`` is ``sts.amazonaws.com`` and whose ``sub`` names the allowed repository
and branch (or GitHub environment). The role can upload artifacts and start and watch
executions of this stage's state machine (reading back what it uploaded and the
execution history); the state machine does everything else.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import ArnFormat, Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra.config import CI_MAX_SESSION_SECONDS, Settings
from infra.nag import acknowledge, wildcard_finding

GITHUB_OIDC_URL = "https://token.actions.githubusercontent.com"
GITHUB_OIDC_HOST = "token.actions.githubusercontent.com"
STS_AUDIENCE = "sts.amazonaws.com"
CICD_ROLE_NAME = "StackFlowCICDRole"
# Upload a release and read it back (`stackflow pipeline start` skips an identical one).
ARTIFACT_ACTIONS = ("s3:PutObject", "s3:GetObject", "s3:GetObjectVersion")
# Follow an execution to its end and name the state and error that failed it.
WATCH_ACTIONS = ("states:DescribeExecution", "states:GetExecutionHistory")


def trust_conditions(subjects: Sequence[str]) -> dict[str, dict[str, object]]:
    """``aud`` must be STS and ``sub`` one of ``subjects``, both compared exactly.

    Never ``StringLike``: a pattern in a trust policy is how a role ends up trusting
    branches or repositories nobody meant (``infra.config.checked_subjects`` refuses
    wildcards before a template is written).
    """
    return {"StringEquals": {f"{GITHUB_OIDC_HOST}:aud": STS_AUDIENCE,
                             f"{GITHUB_OIDC_HOST}:sub": list(subjects)}}


class CiAccess(Construct):
    """The OIDC provider (created natively or imported) and the CI role."""

    def __init__(self, scope: Construct, construct_id: str, *, settings: Settings,
                 bucket: s3.IBucket, state_machine: sfn.IStateMachine,
                 state_machine_name: str) -> None:
        super().__init__(scope, construct_id)
        self.provider = self._provider(settings)
        self.role = iam.Role(
            self, "Role",
            role_name=settings.physical_name(f"{CICD_ROLE_NAME}-{settings.stage.name}"),
            description="GitHub Actions: upload artifacts, start and watch deployments",
            max_session_duration=Duration.seconds(CI_MAX_SESSION_SECONDS),
            assumed_by=iam.WebIdentityPrincipal(
                self.provider.oidc_provider_arn,
                conditions=trust_conditions(settings.oidc_subjects)),
        )
        executions = Stack.of(self).format_arn(
            service="states", resource="execution",
            resource_name=f"{state_machine_name}:*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME)
        self.role.add_to_policy(iam.PolicyStatement(
            sid="PutArtifacts", actions=list(ARTIFACT_ACTIONS),
            resources=[bucket.arn_for_objects("*")]))
        # Without ListBucket a missing key reads as 403, not 404: CI checks before upload.
        self.role.add_to_policy(iam.PolicyStatement(
            sid="FindArtifacts", actions=["s3:ListBucket"], resources=[bucket.bucket_arn]))
        self.role.add_to_policy(iam.PolicyStatement(
            sid="StartDeployments", actions=["states:StartExecution"],
            resources=[state_machine.state_machine_arn]))
        self.role.add_to_policy(iam.PolicyStatement(
            sid="WatchDeployments", actions=list(WATCH_ACTIONS), resources=[executions]))
        self.executions_arn = executions
        acknowledge(self.role, wildcard_finding(self, bucket.arn_for_objects("*")),
                    "CI uploads a new artifact key (commit-named zip, migrations, smoke "
                    "cases) on every run; the statement only puts and reads objects.")
        acknowledge(self.role, wildcard_finding(self, executions),
                    "Execution names are chosen per release; the pattern covers only "
                    "executions of this stage's deployment state machine.")

    def _provider(self, settings: Settings) -> iam.IOidcProvider:
        if settings.github_oidc_provider_arn:
            # An account holds one provider per URL: later stages import the first one.
            return iam.OidcProviderNative.from_oidc_provider_arn(
                self, "GitHubProvider", settings.github_oidc_provider_arn)
        return iam.OidcProviderNative(
            self, "GitHubProvider", url=GITHUB_OIDC_URL, client_ids=[STS_AUDIENCE])

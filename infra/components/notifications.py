"""Encrypted SNS topics: deployment failures and alarms, and drift reports."""

from __future__ import annotations

import jsii
from aws_cdk import Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk.interfaces.aws_events import IRuleRef
from constructs import Construct

from infra.config import Settings


class Notifications(Construct):
    """Two topics under one customer managed key.

    A customer managed key (not ``alias/aws/sns``) because EventBridge and CloudWatch
    alarms can only publish to encrypted topics whose key policy lets them use the key.
    """

    def __init__(self, scope: Construct, construct_id: str, *, settings: Settings) -> None:
        super().__init__(scope, construct_id)
        self.key = kms.Key(
            self, "TopicKey",
            description=f"StackFlow {settings.stage.name} notification topics",
            enable_key_rotation=True,
            policy=_key_policy(Stack.of(self).account),
        )
        self.failures = self._topic("Failures", "StackFlow deployment failures and alarms")
        self.drift = self._topic("Drift", "StackFlow drift reports")

    def _topic(self, construct_id: str, display_name: str) -> sns.Topic:
        return sns.Topic(self, construct_id, display_name=display_name,
                         master_key=self.key, enforce_ssl=True)


# The account administers the key with named actions (CDK's default policy says kms:*).
KEY_ADMIN_ACTIONS = (
    "kms:CancelKeyDeletion", "kms:CreateAlias", "kms:DeleteAlias", "kms:DescribeKey",
    "kms:DisableKey", "kms:DisableKeyRotation", "kms:EnableKey", "kms:EnableKeyRotation",
    "kms:GetKeyPolicy", "kms:GetKeyRotationStatus", "kms:ListResourceTags",
    "kms:PutKeyPolicy", "kms:ScheduleKeyDeletion", "kms:TagResource", "kms:UntagResource",
    "kms:UpdateAlias", "kms:UpdateKeyDescription",
)
KEY_USE_ACTIONS = ("kms:Decrypt", "kms:GenerateDataKey")
PUBLISHING_SERVICES = ("events.amazonaws.com", "cloudwatch.amazonaws.com")


def _key_policy(account: str) -> iam.PolicyDocument:
    return iam.PolicyDocument(statements=[
        iam.PolicyStatement(
            sid="AccountAdministersKey",
            principals=[iam.AccountRootPrincipal()],
            actions=[*KEY_ADMIN_ACTIONS, *KEY_USE_ACTIONS],
            resources=["*"],  # in a key policy "*" means this key
        ),
        # Only on behalf of this account's rules and alarms: without the condition, a
        # rule or alarm in another account could have the service use this key
        # (the confused-deputy case aws:SourceAccount exists for).
        iam.PolicyStatement(
            sid="ServicesPublishToTopics",
            principals=[iam.ServicePrincipal(s) for s in PUBLISHING_SERVICES],
            actions=list(KEY_USE_ACTIONS),
            resources=["*"],
            conditions={"StringEquals": {"aws:SourceAccount": account}},
        ),
    ])


@jsii.implements(events.IRuleTarget)
class SnsTarget:
    """An EventBridge rule target publishing to ``topic``.

    CDK's own ``targets.SnsTopic`` also adds ``kms:GenerateDataKey*`` for EventBridge to
    the key policy; the key policy above already grants the named actions, so this
    target only adds the topic policy statement scoped to the rule.
    """

    def __init__(self, topic: sns.ITopic) -> None:
        self._topic = topic

    def bind(self, rule: IRuleRef, id: str | None = None) -> events.RuleTargetConfig:
        self._topic.add_to_resource_policy(iam.PolicyStatement(
            sid=f"EventBridgePublishes{rule.node.addr[:8]}",
            principals=[iam.ServicePrincipal("events.amazonaws.com")],
            actions=["sns:Publish"],
            resources=[self._topic.topic_arn],
            conditions={"ArnEquals": {"aws:SourceArn": rule.rule_ref.rule_arn}},
        ))
        return events.RuleTargetConfig(arn=self._topic.topic_arn)

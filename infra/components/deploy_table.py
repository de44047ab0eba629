"""The DynamoDB table holding deployment locks, records and approval tokens."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

from infra.config import Settings

TTL_ATTRIBUTE = "ttl"


class DeployTable(Construct):
    """One table, ``pk``/``sk`` keys; expired locks vanish through the ``ttl`` attribute."""

    def __init__(self, scope: Construct, construct_id: str, *, settings: Settings) -> None:
        super().__init__(scope, construct_id)
        self.table = dynamodb.Table(
            self, "Table",
            partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="sk", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            time_to_live_attribute=TTL_ATTRIBUTE,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True),
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            deletion_protection=settings.stage.retain_data,
            removal_policy=RemovalPolicy.RETAIN if settings.stage.retain_data
            else RemovalPolicy.DESTROY,
        )

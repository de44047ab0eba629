"""A moto world for the drift tests: a function with versions and a PROD alias, the
deployment table, and an SNS topic with an SQS subscriber to read what was sent."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3
from moto import mock_aws
from stackflow.adapters import default_client
from stackflow.adapters.dynamodb import DynamoDeployStore

from tests.support.deploy_table import create_deploy_table

TABLE = "stackflow-deploy"
FUNCTION = "StackFlowAPI"


@dataclass
class World:
    lam: Any
    ddb: Any
    sns: Any
    sqs: Any
    topic_arn: str
    queue_url: str
    store: DynamoDeployStore

    def record(self, execution: str, status: str, version: str, day: int,
               alias: str = "PROD") -> None:
        """A deployment record as the deploy steps write it (docs/architecture.md)."""
        self.store.update_record(FUNCTION, execution, {
            "execution_id": execution, "function": FUNCTION, "alias": alias,
            "status": status, "new_version": version,
            "started_at": f"2024-04-{day:02d}T10:00:00Z",
            "finished_at": f"2024-04-{day:02d}T10:20:00Z"})

    def inbox(self) -> list[dict[str, Any]]:
        """The SNS notifications delivered to the subscriber since the last call."""
        messages = self.sqs.receive_message(QueueUrl=self.queue_url,
                                            MaxNumberOfMessages=10).get("Messages", [])
        for m in messages:
            self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=m["ReceiptHandle"])
        return [json.loads(m["Body"]) for m in messages]


def _zip(marker: int) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("app.py", f"def handler(event, context):\n    return {marker}\n")
    return buf.getvalue()


def _function(lam: Any, iam: Any) -> None:
    trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "sts:AssumeRole",
        "Principal": {"Service": "lambda.amazonaws.com"}}]}
    role = iam.create_role(RoleName="r", AssumeRolePolicyDocument=json.dumps(trust))
    lam.create_function(FunctionName=FUNCTION, Runtime="python3.11", Handler="app.handler",
                        Role=role["Role"]["Arn"], Code={"ZipFile": _zip(0)})
    for n in range(1, 6):
        lam.update_function_code(FunctionName=FUNCTION, ZipFile=_zip(n))
        lam.publish_version(FunctionName=FUNCTION, Description=f"v{n}")
    lam.create_alias(FunctionName=FUNCTION, Name="PROD", FunctionVersion="4")


def _table(ddb: Any) -> None:
    create_deploy_table(ddb, TABLE)


@contextmanager
def drift_world() -> Iterator[World]:
    """Everything inside one ``mock_aws``; needs the ``aws_env`` fixture's credentials."""
    default_client.cache_clear()  # clients the code builds itself must be moto's too
    with mock_aws():
        lam, ddb = boto3.client("lambda"), boto3.client("dynamodb")
        sns, sqs = boto3.client("sns"), boto3.client("sqs")
        _function(lam, boto3.client("iam"))
        _table(ddb)
        topic_arn = sns.create_topic(Name="stackflow-drift")["TopicArn"]
        queue_url = sqs.create_queue(QueueName="inbox")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(
            QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
        yield World(lam, ddb, sns, sqs, topic_arn, queue_url, DynamoDeployStore(TABLE, ddb))
    default_client.cache_clear()

"""The manual approval gate from the command line: ``stackflow approve | reject``.

The approval step stores the task token of its waiting state in the deploy table
(pk ``APPROVAL#<execution ARN>``, sk ``TOKEN``, attribute ``task_token``); answering
sends that token back to Step Functions with SendTaskSuccess or SendTaskFailure.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from stackflow.adapters import aws_error, default_client
from stackflow.adapters.stepfunctions import StepFunctions
from stackflow.errors import ApprovalRejected, ResourceNotFound

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

APPROVAL_SORT_KEY = "TOKEN"  # the item's sort key, not a secret


def approval_key(execution_arn: str) -> dict[str, Any]:
    return {"pk": {"S": f"APPROVAL#{execution_arn}"}, "sk": {"S": APPROVAL_SORT_KEY}}


class Approvals:
    """Reads the waiting task token and answers it."""

    def __init__(self, table: str, sfn: StepFunctions,
                 client: DynamoDBClient | None = None) -> None:
        self.table = table
        self.sfn = sfn
        self._client = client

    @property
    def client(self) -> DynamoDBClient:
        if self._client is None:
            self._client = default_client("dynamodb")
        return self._client

    def task_token(self, execution_arn: str) -> str:
        try:
            item = self.client.get_item(TableName=self.table, Key=approval_key(execution_arn),
                                        ConsistentRead=True).get("Item")
        except Exception as e:
            raise aws_error(e, f"GetItem {self.table} APPROVAL#{execution_arn}") from e
        token = (item or {}).get("task_token", {}).get("S")
        if not token:
            raise ResourceNotFound(f"no approval is waiting for {execution_arn}",
                                   execution=execution_arn)
        return token

    def approve(self, execution_arn: str, by: str, now: datetime | None = None) -> None:
        answered_at = (now or datetime.now(UTC)).isoformat()
        self.sfn.send_task_success(self.task_token(execution_arn),
                                   {"approved": True, "by": by, "at": answered_at})

    def reject(self, execution_arn: str, by: str, reason: str) -> None:
        # The error name is the one the state machine's Catch and the record report.
        self.sfn.send_task_failure(self.task_token(execution_arn), ApprovalRejected.__name__,
                                   f"rejected by {by}: {reason}")

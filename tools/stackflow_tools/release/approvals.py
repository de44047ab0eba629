"""The manual approval gate from the command line: ``stackflow approve | reject``.

The approval step stores the task token of its waiting state in the deploy table
(``stackflow.adapters.dynamodb`` owns that item); answering sends the token back to
Step Functions with SendTaskSuccess, whose output the state machine keeps at
``$.approval`` (``ApprovalAnswer``), or SendTaskFailure.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol

from stackflow.adapters.stepfunctions import StepFunctions
from stackflow.deploy.document import ApprovalAnswer
from stackflow.deploy.ports import ApprovalToken
from stackflow.errors import ApprovalRejected, ResourceNotFound


class ApprovalTokens(Protocol):
    """Where the approval step left its token (``DynamoDeployStore``)."""

    def get_approval(self, execution_id: str) -> ApprovalToken | None: ...


class Approvals:
    """Reads the waiting task token and answers it."""

    def __init__(self, tokens: ApprovalTokens, sfn: StepFunctions) -> None:
        self.tokens = tokens
        self.sfn = sfn

    def task_token(self, execution_arn: str) -> str:
        approval = self.tokens.get_approval(execution_arn)
        if approval is None:
            raise ResourceNotFound(f"no approval is waiting for {execution_arn}",
                                   execution=execution_arn)
        return approval.task_token

    def approve(self, execution_arn: str, by: str, now: datetime | None = None) -> None:
        answer = ApprovalAnswer(by=by, at=(now or datetime.now(UTC)).isoformat())
        self.sfn.send_task_success(self.task_token(execution_arn), answer.to_dict())

    def reject(self, execution_arn: str, by: str, reason: str) -> None:
        # The error name is the one the state machine's Catch and the record report.
        self.sfn.send_task_failure(self.task_token(execution_arn), ApprovalRejected.__name__,
                                   f"rejected by {by}: {reason}")

"""CloudFormation for ``stackflow infra``: change sets, the stack's wait, its outcome.

The calls, in order: ``DescribeStacks`` (does the stack exist?), ``GetTemplate`` (the
deployed template, for context), ``CreateChangeSet`` and ``DescribeChangeSet`` until it
is ready; then ``DeleteChangeSet`` (diff, refusal) or ``ExecuteChangeSet`` and
``DescribeStacks`` until the stack settles, with ``DescribeStackEvents`` naming the
resource that failed a rolled-back update. The caller's credentials make every call;
CloudFormation acts with the bootstrap's execution role (``RoleARN``), as under
``cdk deploy``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from stackflow.adapters import aws_error, default_client
from stackflow.errors import ChangeSetFailed

from stackflow_tools.infra_guard.model import ResourceChange

if TYPE_CHECKING:
    from mypy_boto3_cloudformation import CloudFormationClient

CAPABILITIES: list[Any] = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"]
REVIEW_IN_PROGRESS = "REVIEW_IN_PROGRESS"
SUCCEEDED, ROLLED_BACK, FAILED = "SUCCEEDED", "ROLLED_BACK", "FAILED"
_SUCCESS = frozenset({"CREATE_COMPLETE", "UPDATE_COMPLETE", "IMPORT_COMPLETE"})
_ROLLED_BACK = frozenset({"UPDATE_ROLLBACK_COMPLETE", "ROLLBACK_COMPLETE",
                          "IMPORT_ROLLBACK_COMPLETE"})
# Stacks a change set cannot update: a failed first create must be deleted first.
_STUCK = frozenset({"ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "DELETE_FAILED",
                    "UPDATE_ROLLBACK_FAILED"})
_NO_CHANGES = ("didn't contain changes", "No updates are to be performed")
_CANCELLED = ("Resource creation cancelled", "Resource update cancelled")


@dataclass(frozen=True)
class ChangeSet:
    """A created change set: its id, whether it created the stack, and its changes."""

    stack: str
    name: str
    change_set_id: str
    creates_stack: bool
    changes: tuple[ResourceChange, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.changes


@dataclass(frozen=True)
class StackOutcome:
    """How an executed change set ended."""

    stack: str
    status: str
    outcome: str  # SUCCEEDED | ROLLED_BACK | FAILED
    reason: str = ""
    failed_resource: str = ""

    def to_dict(self) -> dict[str, str]:
        return dict(self.__dict__)


class ChangeSets:
    """The CloudFormation calls of ``stackflow infra``, over one injected client."""

    def __init__(self, client: CloudFormationClient | None = None, *,
                 sleep: Callable[[float], None] = time.sleep,
                 poll_seconds: float = 5.0) -> None:
        self._client = client
        self._sleep = sleep
        self.poll_seconds = poll_seconds

    @property
    def client(self) -> CloudFormationClient:
        if self._client is None:
            self._client = default_client("cloudformation")
        return self._client

    @property
    def region(self) -> str:
        return str(self.client.meta.region_name)

    # --- stacks --------------------------------------------------------------------
    def describe_stack(self, stack: str) -> Mapping[str, Any] | None:
        """The stack, or None when it does not exist."""
        try:
            return self.client.describe_stacks(StackName=stack)["Stacks"][0]
        except _aws_errors() as e:
            if "does not exist" in str(e):
                return None
            raise aws_error(e, f"DescribeStacks {stack}") from e

    def deployed_template(self, stack: str) -> dict[str, Any] | None:
        """The template the stack runs now (None when it is not JSON)."""
        try:
            body: Any = self.client.get_template(StackName=stack,
                                                 TemplateStage="Original")["TemplateBody"]
        except _aws_errors() as e:
            raise aws_error(e, f"GetTemplate {stack}") from e
        if isinstance(body, str):
            try:
                body = json.loads(body)
            except ValueError:
                return None
        return dict(body) if isinstance(body, Mapping) else None

    def outputs(self, stack: str) -> dict[str, str]:
        found = self.describe_stack(stack) or {}
        return {o["OutputKey"]: o.get("OutputValue", "") for o in found.get("Outputs", [])}

    # --- change sets -----------------------------------------------------------------
    def create(self, stack: str, name: str, *, template_url: str, role_arn: str,
               tags: Sequence[tuple[str, str]], creates_stack: bool,
               description: str) -> ChangeSet:
        """Create a change set and wait until CloudFormation has computed it."""
        kwargs: dict[str, Any] = {
            "StackName": stack, "ChangeSetName": name, "TemplateURL": template_url,
            "ChangeSetType": "CREATE" if creates_stack else "UPDATE",
            "Capabilities": CAPABILITIES, "Description": description,
            "Tags": [{"Key": k, "Value": v} for k, v in tags]}
        if role_arn:
            kwargs["RoleARN"] = role_arn
        try:
            created = self.client.create_change_set(**kwargs)
        except _aws_errors() as e:
            raise aws_error(e, f"CreateChangeSet {stack}") from e
        change_set = ChangeSet(stack, name, created["Id"], creates_stack)
        changes = self._wait_created(change_set)
        return ChangeSet(stack, name, change_set.change_set_id, creates_stack, changes)

    def _wait_created(self, change_set: ChangeSet) -> tuple[ResourceChange, ...]:
        while True:
            page = self._describe_change_set(change_set.change_set_id)
            status = page["Status"]
            if status == "CREATE_COMPLETE":
                return tuple(self._all_changes(change_set.change_set_id, page))
            if status == "FAILED":
                reason = page.get("StatusReason", "")
                if any(text in reason for text in _NO_CHANGES):
                    return ()
                # A failed change set (and the empty stack a CREATE one made) goes now:
                # nobody can execute it, and the caller never learns its id.
                self.discard(change_set)
                raise ChangeSetFailed(f"change set for {change_set.stack} failed: {reason}",
                                      stack=change_set.stack)
            self._sleep(self.poll_seconds)

    def _all_changes(self, change_set_id: str, page: Any) -> Iterator[ResourceChange]:
        while True:
            yield from (resource_change(c["ResourceChange"]) for c in page.get("Changes", [])
                        if c.get("Type") == "Resource")
            token = page.get("NextToken")
            if not token:
                return
            page = self._describe_change_set(change_set_id, token)

    def _describe_change_set(self, change_set_id: str, token: str | None = None) -> Any:
        kwargs: dict[str, Any] = {"ChangeSetName": change_set_id}
        if token:
            kwargs["NextToken"] = token
        try:
            return self.client.describe_change_set(**kwargs)
        except _aws_errors() as e:
            raise aws_error(e, f"DescribeChangeSet {change_set_id}") from e

    def discard(self, change_set: ChangeSet) -> None:
        """Delete an unexecuted change set (and the empty stack a CREATE one made)."""
        try:
            self.client.delete_change_set(ChangeSetName=change_set.change_set_id)
            if change_set.creates_stack:
                self.client.delete_stack(StackName=change_set.stack)
        except _aws_errors() as e:
            raise aws_error(e, f"DeleteChangeSet {change_set.name}") from e

    # --- execution -------------------------------------------------------------------
    def execute(self, change_set: ChangeSet) -> StackOutcome:
        """Execute the change set and wait for the stack to settle."""
        try:
            self.client.execute_change_set(ChangeSetName=change_set.change_set_id)
        except _aws_errors() as e:
            raise aws_error(e, f"ExecuteChangeSet {change_set.name}") from e
        status, reason = self._wait_stack(change_set.stack)
        if status in _SUCCESS:
            return StackOutcome(change_set.stack, status, SUCCEEDED)
        failed, why = self.first_failure(change_set.stack)
        return StackOutcome(change_set.stack, status,
                            ROLLED_BACK if status in _ROLLED_BACK else FAILED,
                            reason=why or reason, failed_resource=failed)

    def _wait_stack(self, stack: str) -> tuple[str, str]:
        while True:
            found = self.describe_stack(stack) or {}
            status = str(found.get("StackStatus", "DELETE_COMPLETE"))
            if not status.endswith("_IN_PROGRESS"):
                return status, str(found.get("StackStatusReason", ""))
            self._sleep(self.poll_seconds)

    def first_failure(self, stack: str) -> tuple[str, str]:
        """(logical id, reason) of the first resource that failed in the last operation."""
        first = ("", "")
        for event in self._events_of_last_operation(stack):
            status, reason = event.get("ResourceStatus", ""), event.get("ResourceStatusReason", "")
            if status.endswith("_FAILED") and not reason.startswith(_CANCELLED):
                first = (event["LogicalResourceId"], reason)
        return first

    def _events_of_last_operation(self, stack: str) -> Iterator[Mapping[str, Any]]:
        """Events newest first, up to the stack's own event that started the operation."""
        try:
            for page in self.client.get_paginator("describe_stack_events").paginate(
                    StackName=stack):
                for event in page["StackEvents"]:
                    if _starts_operation(event, stack):
                        return
                    yield event
        except _aws_errors() as e:
            raise aws_error(e, f"DescribeStackEvents {stack}") from e


def check_updatable(stack: str, found: Mapping[str, Any] | None) -> bool:
    """True when a change set must create the stack; refuses a stack that cannot move."""
    status = str((found or {}).get("StackStatus", ""))
    if status in _STUCK:
        raise ChangeSetFailed(f"stack {stack} is {status}: resolve it in CloudFormation "
                              "(a failed first create must be deleted) before deploying",
                              stack=stack)
    if status.endswith("_IN_PROGRESS") and status != REVIEW_IN_PROGRESS:
        raise ChangeSetFailed(f"stack {stack} is busy ({status}); try again when it settles",
                              stack=stack)
    return found is None or status == REVIEW_IN_PROGRESS


def resource_change(raw: Mapping[str, Any]) -> ResourceChange:
    """A change set's ``ResourceChange`` as :class:`ResourceChange`."""
    return ResourceChange(
        logical_id=raw["LogicalResourceId"], resource_type=raw.get("ResourceType", ""),
        action=raw.get("Action", ""), replacement=raw.get("Replacement", ""),
        physical_id=raw.get("PhysicalResourceId", ""),
        causes=tuple(dict.fromkeys(_cause(d) for d in raw.get("Details", []))),
        policy_action=raw.get("PolicyAction", ""))


def _cause(detail: Mapping[str, Any]) -> str:
    target = detail.get("Target", {})
    name = target.get("Name") or target.get("Attribute", "")
    recreation = target.get("RequiresRecreation", "Never")
    if recreation == "Always":
        return f"{name} (create-only)"
    return f"{name} (conditionally create-only)" if recreation == "Conditionally" else name


def _starts_operation(event: Mapping[str, Any], stack: str) -> bool:
    return (event.get("ResourceType") == "AWS::CloudFormation::Stack"
            and event.get("LogicalResourceId") == stack
            and event.get("ResourceStatus") in ("UPDATE_IN_PROGRESS", "CREATE_IN_PROGRESS",
                                                "IMPORT_IN_PROGRESS"))


def _aws_errors() -> tuple[type[Exception], ...]:
    from botocore.exceptions import BotoCoreError, ClientError

    return (ClientError, BotoCoreError)

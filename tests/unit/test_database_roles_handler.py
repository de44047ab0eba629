"""The database-roles custom resource answers CloudFormation on every request."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from database_roles import handler as roles_handler
from stackflow.adapters import custom_resource
from stackflow.errors import AwsCallFailed, DatabaseUnavailable, InvalidRequest

from tests.support.patcher import FakeLambdaContext

URL = "https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/x?sig=1"


def event(request_type: str, **extra: Any) -> dict[str, Any]:
    return {"RequestType": request_type, "ResponseURL": URL,
            "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/db/1",
            "RequestId": "r-1", "LogicalResourceId": "RolesA9155BAA",
            "ResourceType": "Custom::StackFlowDatabaseRoles", **extra}


class Answers:
    """Stands in for urlopen: records each PUT CloudFormation would receive."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, dict[str, Any]]] = []

    def __call__(self, request: Any, timeout: float) -> io.BytesIO:
        self.sent.append((request.get_method(), request.full_url, json.loads(request.data)))
        return io.BytesIO(b"")


@pytest.fixture
def answers(monkeypatch: pytest.MonkeyPatch) -> Answers:
    fake = Answers()

    def send(url: str, body: dict[str, Any]) -> None:
        custom_resource.send_response(url, body, opener=fake)

    monkeypatch.setattr(roles_handler, "send_response", send)
    return fake


def test_create_runs_the_roles_and_answers_success(
        answers: Answers, monkeypatch: pytest.MonkeyPatch) -> None:
    ran: list[str] = []
    monkeypatch.setattr(roles_handler, "ensure_roles_from_secrets", lambda: ran.append("x"))
    # WHEN CloudFormation creates the resource
    result = roles_handler.handler(event("Create"), FakeLambdaContext())
    # THEN the roles ran once and CloudFormation got SUCCESS with a stable physical id
    assert ran == ["x"]
    [(method, url, body)] = answers.sent
    assert (method, url) == ("PUT", URL)
    assert body["Status"] == "SUCCESS"
    assert body["PhysicalResourceId"] == roles_handler.PHYSICAL_ID
    assert (body["RequestId"], body["LogicalResourceId"]) == ("r-1", "RolesA9155BAA")
    assert result["status"] == "SUCCESS"


def test_a_failure_is_answered_as_failed_with_its_type_and_message(
        answers: Answers, monkeypatch: pytest.MonkeyPatch) -> None:
    def fail() -> None:
        raise DatabaseUnavailable("cannot connect to PostgreSQL at db:5432/stackflow: ***")

    monkeypatch.setattr(roles_handler, "ensure_roles_from_secrets", fail)
    roles_handler.handler(event("Update", PhysicalResourceId="stackflow-database-roles"),
                          FakeLambdaContext())
    [(_, _, body)] = answers.sent
    # THEN the stack sees why (and rolls back) instead of waiting an hour for an answer
    assert body["Status"] == "FAILED"
    assert body["Reason"].startswith("DatabaseUnavailable: cannot connect to PostgreSQL")


def test_even_an_unexpected_error_is_answered(
        answers: Answers, monkeypatch: pytest.MonkeyPatch) -> None:
    def bug() -> None:
        raise KeyError("password")

    monkeypatch.setattr(roles_handler, "ensure_roles_from_secrets", bug)
    roles_handler.handler(event("Create"), FakeLambdaContext())
    [(_, _, body)] = answers.sent
    assert body["Status"] == "FAILED"
    assert body["Reason"] == "internal error (KeyError); see the function's log"


def test_delete_keeps_the_roles_and_touches_no_database(
        answers: Answers, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(roles_handler, "ensure_roles_from_secrets",
                        lambda: pytest.fail("Delete must not connect"))
    roles_handler.handler(event("Delete", PhysicalResourceId="stackflow-database-roles"),
                          FakeLambdaContext())
    [(_, _, body)] = answers.sent
    assert body["Status"] == "SUCCESS"


def test_a_response_only_goes_to_an_https_url() -> None:
    with pytest.raises(AwsCallFailed, match="non-HTTPS"):
        custom_resource.send_response("http://169.254.169.254/x", {}, opener=Answers())


def test_a_request_without_its_response_url_is_invalid() -> None:
    with pytest.raises(InvalidRequest):
        custom_resource.parse_request({"RequestType": "Create"})

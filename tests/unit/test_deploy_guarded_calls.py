"""The exact AWS calls of the deploy steps, asserted with botocore's Stubber.

moto ignores the ``CodeSha256`` / ``RevisionId`` guards and never reports an update in
progress, so these tests pin the requests themselves: each expected call's parameters
must match exactly, any call not queued fails, and ``assert_no_pending_responses``
proves every queued call was made.
"""

from __future__ import annotations

import copy
import dataclasses
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber
from stackflow.adapters.cloudwatch import CloudWatchAlarms
from stackflow.adapters.lambda_ import LambdaFunctions, LambdaInvoker
from stackflow.deploy.deps import DeploySettings, Deps
from stackflow.deploy.steps import run
from stackflow.deploy.traffic import routing_weights
from stackflow.errors import (
    AliasChangedExternally,
    ArtifactMismatch,
    AwsThrottled,
    CanaryUnhealthy,
    FunctionUpdateFailed,
    InvalidRequest,
    ResourceNotFound,
    RevisionConflict,
)

from tests.support.deploy_fakes import FakeClock, InMemoryStore, ScriptedInvoker
from tests.support.events import load_event

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch import CloudWatchClient
    from mypy_boto3_lambda import LambdaClient

FN = "StackFlowAPI"
# The RevisionIds the samples carry: the alias when Lock read it, after the first Shift.
LOCK_REV = load_event("deploy-step-shift")["lock"]["revision_id"]
SHIFT_REV = load_event("deploy-step-promote")["shift"]["revision_id"]


@dataclass
class Stubbed:
    lambda_client: LambdaClient
    lam: Stubber
    cw: Stubber
    store: InMemoryStore
    clock: FakeClock
    deps: Deps


@pytest.fixture
def stubbed(aws_env: None) -> Iterator[Stubbed]:
    lam: LambdaClient = boto3.client("lambda", region_name="us-east-1")
    cw: CloudWatchClient = boto3.client("cloudwatch", region_name="us-east-1")
    clock, store = FakeClock(), InMemoryStore()
    deps = Deps(settings=DeploySettings(table="unused"), functions=LambdaFunctions(lam),
                invoker=ScriptedInvoker(clock=clock), store=store,
                alarms=CloudWatchAlarms(cw), read_object=_no_s3, now=clock.now,
                monotonic=clock.monotonic, sleep=clock.sleep)
    with Stubber(lam) as lam_stub, Stubber(cw) as cw_stub:
        yield Stubbed(lam, lam_stub, cw_stub, store, clock, deps)
        lam_stub.assert_no_pending_responses()
        cw_stub.assert_no_pending_responses()


def _no_s3(bucket: str, key: str, version: str | None) -> bytes:
    raise AssertionError("no S3 read expected")


def event(name: str) -> dict[str, Any]:
    return copy.deepcopy(load_event(f"deploy-step-{name}"))


def config(**fields: Any) -> dict[str, Any]:
    return {"FunctionName": FN, "Version": "$LATEST", **fields}


def sha(doc: dict[str, Any]) -> str:
    return str(doc["input"]["artifact"]["sha256"])


def alias_response(version: str, revision: str, weights: dict[str, float] | None = None
                   ) -> dict[str, Any]:
    response: dict[str, Any] = {"Name": "PROD", "FunctionVersion": version, "RevisionId": revision}
    if weights is not None:
        response["RoutingConfig"] = {"AdditionalVersionWeights": weights}
    return response


# --- upload ------------------------------------------------------------------------
def test_upload_waits_out_an_update_in_progress_then_checks_the_hash(stubbed: Stubbed) -> None:
    # GIVEN another update still in progress when Upload starts
    doc = event("upload")
    art = doc["input"]["artifact"]
    update = {"FunctionName": FN, "S3Bucket": art["bucket"], "S3Key": art["key"],
              "S3ObjectVersion": art["version_id"]}
    stubbed.lam.add_client_error("update_function_code", "ResourceConflictException",
                                 "An update is in progress", 409, expected_params=update)
    stubbed.lam.add_response("update_function_code",
                             config(CodeSha256=sha(doc), LastUpdateStatus="InProgress"), update)
    stubbed.lam.add_response("get_function_configuration",
                             config(CodeSha256=sha(doc), LastUpdateStatus="InProgress"),
                             {"FunctionName": FN})
    stubbed.lam.add_response("get_function_configuration",
                             config(CodeSha256=sha(doc), LastUpdateStatus="Successful",
                                    RevisionId="rev-2", LastModified="2025-06-01T12:00:09Z"),
                             {"FunctionName": FN})
    # WHEN Upload runs
    result = run("upload", doc, stubbed.deps)
    # THEN the conflict was retried after a backoff, the status polled to Successful,
    # and the result carries the RevisionId Publish will guard with
    assert result == {"code_sha256": sha(doc), "revision_id": "rev-2",
                      "last_modified": "2025-06-01T12:00:09Z"}
    assert stubbed.clock.sleeps == [1.0, 1.0]


def test_upload_that_lambda_reports_failed_raises_with_the_reason(stubbed: Stubbed) -> None:
    # GIVEN an update Lambda accepts and then fails
    doc = event("upload")
    stubbed.lam.add_response("update_function_code",
                             config(CodeSha256=sha(doc), LastUpdateStatus="InProgress"))
    stubbed.lam.add_response("get_function_configuration", config(
        CodeSha256=sha(doc), LastUpdateStatus="Failed",
        LastUpdateStatusReasonCode="InvalidZipFileException",
        LastUpdateStatusReason="Could not unzip uploaded file"))
    # WHEN Upload runs / THEN FunctionUpdateFailed says why
    with pytest.raises(FunctionUpdateFailed, match="Could not unzip uploaded file"):
        run("upload", doc, stubbed.deps)


def test_upload_gives_up_to_the_state_machine_after_its_retries(stubbed: Stubbed) -> None:
    # GIVEN an update in progress that never clears
    for _ in range(8):
        stubbed.lam.add_client_error("update_function_code", "ResourceConflictException",
                                     "An update is in progress", 409)
    # WHEN Upload runs / THEN it raises the retryable AwsThrottled (the state machine
    # retries it with backoff) after backing off 60 s in total
    with pytest.raises(AwsThrottled) as info:
        run("upload", event("upload"), stubbed.deps)
    assert info.value.retryable
    assert sum(stubbed.clock.sleeps) == 60.0


# --- publish -----------------------------------------------------------------------
def test_publish_sends_both_guards_and_waits_for_active(stubbed: Stubbed) -> None:
    # GIVEN an uploaded artifact and no version holding it yet
    doc = event("publish")
    stubbed.lam.add_response("list_versions_by_function", {"Versions": [
        config(CodeSha256=sha(doc)), config(Version="6", CodeSha256="b2xkIGNvZGU=")]},
        {"FunctionName": FN})
    stubbed.lam.add_response("publish_version",
                             config(Version="7", CodeSha256=sha(doc), State="Pending"),
                             {"FunctionName": FN, "CodeSha256": sha(doc),
                              "RevisionId": doc["upload"]["revision_id"],
                              "Description": "StackFlow release-abc123 commit abc123"})
    for state in ("Pending", "Active"):
        stubbed.lam.add_response("get_function_configuration",
                                 config(Version="7", CodeSha256=sha(doc), State=state),
                                 {"FunctionName": FN, "Qualifier": "7"})
    # WHEN Publish runs
    result = run("publish", doc, stubbed.deps)
    # THEN exactly that guarded PublishVersion was sent and the version is Active
    assert result == {"version": "7", "code_sha256": sha(doc)}
    assert stubbed.store.records[(FN, doc["execution_id"])]["new_version"] == "7"


def versions_page(first: int, last: int, sha_of: dict[int, str]) -> list[dict[str, Any]]:
    """ListVersionsByFunction entries for versions ``first..last`` (other code by default)."""
    return [config(Version=str(n), CodeSha256=sha_of.get(n, "b2xkIGNvZGU="))
            for n in range(first, last + 1)]


def test_publish_retried_after_success_finds_its_version_on_a_later_page(
        stubbed: Stubbed) -> None:
    # GIVEN a function with 60 versions, listed 50 per page, and a Publish that already
    # published version 60 of this artifact (then timed out)
    doc = event("publish")
    stubbed.lam.add_response("list_versions_by_function", {
        "Versions": [config(CodeSha256=sha(doc)), *versions_page(1, 49, {})],
        "NextMarker": "page-2"}, {"FunctionName": FN})
    stubbed.lam.add_response("list_versions_by_function", {
        "Versions": versions_page(50, 60, {60: sha(doc)})},
        {"FunctionName": FN, "Marker": "page-2"})
    stubbed.lam.add_response("get_function_configuration",
                             config(Version="60", CodeSha256=sha(doc), State="Active"),
                             {"FunctionName": FN, "Qualifier": "60"})
    # WHEN Step Functions retries it with the same input
    result = run("publish", doc, stubbed.deps)
    # THEN both pages were read, no PublishVersion was sent (the stubber fails on an
    # unqueued call) and version 60 comes back
    assert result == {"version": "60", "code_sha256": sha(doc)}


def test_publish_when_only_an_older_version_holds_the_code_publishes_a_new_one(
        stubbed: Stubbed) -> None:
    # GIVEN version 12 (page 1) holds the artifact's code but the newest, 60, does not:
    # this is a re-release of old code, not a retry
    doc = event("publish")
    stubbed.lam.add_response("list_versions_by_function", {
        "Versions": versions_page(1, 50, {12: sha(doc)}), "NextMarker": "page-2"},
        {"FunctionName": FN})
    stubbed.lam.add_response("list_versions_by_function", {
        "Versions": versions_page(51, 60, {})}, {"FunctionName": FN, "Marker": "page-2"})
    stubbed.lam.add_response("publish_version",
                             config(Version="61", CodeSha256=sha(doc), State="Active"),
                             {"FunctionName": FN, "CodeSha256": sha(doc),
                              "RevisionId": doc["upload"]["revision_id"],
                              "Description": "StackFlow release-abc123 commit abc123"})
    stubbed.lam.add_response("get_function_configuration",
                             config(Version="61", CodeSha256=sha(doc), State="Active"),
                             {"FunctionName": FN, "Qualifier": "61"})
    # WHEN Publish runs / THEN it publishes 61 with both guards
    assert run("publish", doc, stubbed.deps)["version"] == "61"


@pytest.mark.parametrize(("code", "message", "error"), [
    ("PreconditionFailedException", "The Revision Id provided does not match the latest "
                                    "Revision Id.", RevisionConflict),
    ("InvalidParameterValueException", "CodeSHA256 (abc) is different from current "
                                       "CodeSHA256 in $LATEST (def).", ArtifactMismatch),
])
def test_publish_guard_refusals_become_typed_errors(stubbed: Stubbed, code: str, message: str,
                                                    error: type[Exception]) -> None:
    # GIVEN $LATEST changed after Upload (someone else's code, or a new revision)
    doc = event("publish")
    stubbed.lam.add_response("list_versions_by_function", {"Versions": [config(CodeSha256="x")]},
                             {"FunctionName": FN})
    stubbed.lam.add_client_error("publish_version", code, message, 412, expected_params={
        "FunctionName": FN, "CodeSha256": sha(doc), "RevisionId": doc["upload"]["revision_id"],
        "Description": "StackFlow release-abc123 commit abc123"})
    # WHEN Publish runs / THEN the guard's refusal is a typed verdict, not published code
    with pytest.raises(error):
        run("publish", doc, stubbed.deps)


# --- shift and promote ---------------------------------------------------------------
def test_first_shift_reads_alarms_then_sends_one_guarded_weighted_update(
        stubbed: Stubbed) -> None:
    # GIVEN the first Shift of a 10 % canary, with the alias at version 6
    doc = event("shift")
    stubbed.cw.add_response("describe_alarms", {"MetricAlarms": [
        {"AlarmName": "StackFlowAPI-dev-errors", "StateValue": "OK"}]},
        {"AlarmNames": ["StackFlowAPI-dev-errors"],
         "AlarmTypes": ["MetricAlarm", "CompositeAlarm"]})
    stubbed.lam.add_response("get_alias", alias_response("6", LOCK_REV),
                             {"FunctionName": FN, "Name": "PROD"})
    stubbed.lam.add_response("update_alias", alias_response("6", "alias-rev-2", {"7": 0.1}),
                             {"FunctionName": FN, "Name": "PROD", "FunctionVersion": "6",
                              "RoutingConfig": {"AdditionalVersionWeights": {"7": 0.1}},
                              "RevisionId": LOCK_REV})
    # WHEN Shift runs
    result = run("shift", doc, stubbed.deps)
    # THEN 10 % goes to 7 guarded by the RevisionId Lock read, and the 5-minute bake is
    # ten checks 30 s apart
    assert result["index"] == 0
    assert result["weight"] == 0.1
    assert result["wait_seconds"] == 300
    assert (result["checks"], result["check_seconds"]) == (10, 30)
    assert result["done"] is False
    assert result["preexisting_alarms"] == []
    # AND the next write must find the revision this one returned
    assert result["revision_id"] == "alias-rev-2"


def test_shift_after_someone_else_changed_the_alias_stops_and_writes_nothing(
        stubbed: Stubbed) -> None:
    # GIVEN an operator pointed the alias at a hotfix (version 8) after Lock read it
    doc = event("shift")
    stubbed.cw.add_response("describe_alarms", {"MetricAlarms": [
        {"AlarmName": "StackFlowAPI-dev-errors", "StateValue": "OK"}]})
    stubbed.lam.add_response("get_alias", alias_response("8", "operator-rev"))
    # WHEN Shift runs (no update_alias is queued: a write would fail the stubber)
    # THEN the deployment stops with the new verdict, naming what the alias serves now
    with pytest.raises(AliasChangedExternally, match=r"version 8 \(100%\)") as info:
        run("shift", doc, stubbed.deps)
    assert info.value.details["expected_revision"] == LOCK_REV


def test_shift_that_lost_the_alias_race_is_a_revision_conflict(stubbed: Stubbed) -> None:
    # GIVEN the alias changes between Shift's read and its write
    doc = event("shift")
    stubbed.cw.add_response("describe_alarms", {"MetricAlarms": [
        {"AlarmName": "StackFlowAPI-dev-errors", "StateValue": "OK"}]})
    stubbed.lam.add_response("get_alias", alias_response("6", LOCK_REV))
    stubbed.lam.add_client_error("update_alias", "PreconditionFailedException",
                                 "The Revision Id provided does not match", 412)
    # WHEN Shift runs / THEN nobody's change is overwritten: someone else wrote it
    with pytest.raises(AliasChangedExternally):
        run("shift", doc, stubbed.deps)


def test_retried_shift_whose_write_went_through_adopts_it_instead_of_stopping(
        stubbed: Stubbed) -> None:
    # GIVEN the first attempt's UpdateAlias went through but its answer was lost: the
    # alias holds exactly this step's weight, under a revision the document never saw
    doc = event("shift")
    stubbed.cw.add_response("describe_alarms", {"MetricAlarms": [
        {"AlarmName": "StackFlowAPI-dev-errors", "StateValue": "OK"}]})
    stubbed.lam.add_response("get_alias", alias_response("6", "written-rev", {"7": 0.1}))
    # WHEN Step Functions retries Shift (no write queued)
    result = run("shift", doc, stubbed.deps)
    # THEN it writes nothing and carries the revision its own write left
    assert (result["weight"], result["revision_id"]) == (0.1, "written-rev")


def test_missing_alarm_stops_the_first_shift_before_any_traffic_moves(
        stubbed: Stubbed) -> None:
    # GIVEN an alarm name that does not exist (a typo would never fire)
    stubbed.cw.add_response("describe_alarms", {"MetricAlarms": []})
    # WHEN Shift runs / THEN it refuses, and no alias call is made
    with pytest.raises(ResourceNotFound, match="StackFlowAPI-dev-errors"):
        run("shift", event("shift"), stubbed.deps)


def test_promote_is_one_guarded_update_with_an_empty_routing_config(stubbed: Stubbed) -> None:
    # GIVEN the canary at 10 % on version 7
    doc = event("promote")
    stubbed.lam.add_response("get_alias", alias_response("6", SHIFT_REV, {"7": 0.1}))
    stubbed.lam.add_response("update_alias", alias_response("7", "alias-rev-3", {}),
                             {"FunctionName": FN, "Name": "PROD", "FunctionVersion": "7",
                              "RoutingConfig": {"AdditionalVersionWeights": {}},
                              "RevisionId": SHIFT_REV})
    # WHEN Promote runs
    result = run("promote", doc, stubbed.deps)
    # THEN the alias points at 7 with no weights left, guarded by the last Shift's write
    assert result == {"version": "7", "alias": "PROD",
                      "previous": {"version": "6", "routing": {"7": 0.1}},
                      "revision_id": "alias-rev-3"}


def test_promote_after_an_operator_rolled_back_stops_instead_of_undoing_it(
        stubbed: Stubbed) -> None:
    # GIVEN an operator's rollback-alias put 100 % back on version 6 during the bake
    doc = event("promote")
    stubbed.lam.add_response("get_alias", alias_response("6", "operator-rev"))
    # WHEN Promote runs / THEN it stops and the alias stays on 6 (no write queued)
    with pytest.raises(AliasChangedExternally):
        run("promote", doc, stubbed.deps)


@pytest.mark.parametrize(("percent", "weights"), [
    (33, [0.33, 0.66, 0.99]),
    # 3 * 0.3 is 0.8999999999999999 in binary floating point: the plan must not drift
    (30, [0.3, 0.6, 0.9]),
    (12.5, [0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875]),
])
def test_linear_odd_percentages_send_exact_weights_and_end_at_100_percent_via_promote(
        stubbed: Stubbed, percent: float, weights: list[float]) -> None:
    # GIVEN a custom linear strategy whose steps do not divide 100, a minute apart
    doc = event("shift")
    doc["input"]["strategy"] = {"type": "linear", "percent": percent, "interval_seconds": 60}
    doc["lock"]["revision_id"] = "rev-0"
    stubbed.cw.add_response("describe_alarms", {"MetricAlarms": [
        {"AlarmName": "StackFlowAPI-dev-errors", "StateValue": "OK"}]})
    routing: dict[str, float] = {}
    for n, weight in enumerate(weights):
        stubbed.lam.add_response("get_alias", alias_response("6", f"rev-{n}", routing),
                                 {"FunctionName": FN, "Name": "PROD"})
        routing = {"7": weight}
        stubbed.lam.add_response("update_alias", alias_response("6", f"rev-{n + 1}", routing),
                                 {"FunctionName": FN, "Name": "PROD", "FunctionVersion": "6",
                                  "RoutingConfig": {"AdditionalVersionWeights": routing},
                                  "RevisionId": f"rev-{n}"})
    last = f"rev-{len(weights)}"
    # the last Shift (100 %) writes nothing but checks that the alias is as it left it
    stubbed.lam.add_response("get_alias", alias_response("6", last, routing),
                             {"FunctionName": FN, "Name": "PROD"})
    stubbed.lam.add_response("get_alias", alias_response("6", last, routing),
                             {"FunctionName": FN, "Name": "PROD"})
    stubbed.lam.add_response("update_alias", alias_response("7", "rev-final", {}),
                             {"FunctionName": FN, "Name": "PROD", "FunctionVersion": "7",
                              "RoutingConfig": {"AdditionalVersionWeights": {}},
                              "RevisionId": last})
    # WHEN Shift loops until done, then Promote runs
    shifts: list[dict[str, Any]] = []
    while not (shifts and shifts[-1]["done"]):
        doc["shift"] = run("shift", doc, stubbed.deps)
        shifts.append(doc["shift"])
    promoted = run("promote", doc, stubbed.deps)
    # THEN exactly these weights went to Lambda (the stubber compares the floats
    # exactly), the last Shift wrote nothing, and Promote moved the alias to 7 with
    # 100 % and no routing left
    assert [s["weight"] for s in shifts] == [*weights, 1.0]
    assert [s["done"] for s in shifts] == [False] * len(weights) + [True]
    assert [s["wait_seconds"] for s in shifts] == [60] * len(weights) + [0]
    assert promoted["version"] == "7"
    assert promoted["previous"] == {"version": "6", "routing": {"7": weights[-1]}}


@pytest.mark.parametrize(("primary", "version", "weight", "field"), [
    ("6", "$LATEST", 0.1, "publish.version"),
    ("$LATEST", "7", 0.1, "publish.version"),
    ("6", "6", 0.1, "publish.version"),
    ("6", "7", 0.0, "shift.weight"),
    ("6", "7", 1.0, "shift.weight"),
    ("6", "7", -0.1, "shift.weight"),
    ("6", "7", 1.5, "shift.weight"),
])
def test_routing_weights_refuse_latest_the_primary_and_weights_outside_0_1(
        primary: str, version: str, weight: float, field: str) -> None:
    # GIVEN a weighted step that Lambda should never be asked for
    # WHEN its routing config is built / THEN InvalidRequest names the culprit
    with pytest.raises(InvalidRequest) as info:
        routing_weights(primary, version, weight)
    assert info.value.field == field


def test_routing_weights_name_one_additional_version() -> None:
    # GIVEN a valid step / WHEN built / THEN one extra version with its weight
    assert routing_weights("6", "7", 0.25) == {"7": 0.25}


# --- rollback ------------------------------------------------------------------------
@pytest.mark.parametrize(("drop", "revision"), [
    # caught mid-canary: the alias is as the last Shift left it
    ([], SHIFT_REV),
    # the first Shift's write went through but its answer was lost: the alias holds
    # exactly a state of this execution's plan, under a revision it never saw
    (["shift", "health"], "lost-answer-rev"),
])
def test_rollback_makes_exactly_one_write_call_update_alias(
        stubbed: Stubbed, drop: list[str], revision: str) -> None:
    # GIVEN a failed deployment whose canary (10 % on 7) is still on the alias
    doc = event("rollback")
    for key in drop:
        doc.pop(key, None)
    stubbed.lam.add_response("get_alias", alias_response("6", revision, {"7": 0.1}),
                             {"FunctionName": FN, "Name": "PROD"})
    stubbed.lam.add_response("update_alias", alias_response("6", "alias-rev-3", {}),
                             {"FunctionName": FN, "Name": "PROD", "FunctionVersion": "6",
                              "RoutingConfig": {"AdditionalVersionWeights": {}},
                              "RevisionId": revision})
    # WHEN Rollback runs
    result = run("rollback", doc, stubbed.deps)
    # THEN the only write anywhere is one UpdateAlias back to version 6, guarded by the
    # revision it found (nobody else's change can be overwritten), and nothing is
    # written to the deploy table
    assert (result["version"], result["rolled_back"], result["outcome"]) == \
        ("6", True, "rolled_back")
    assert result["revision_id"] == "alias-rev-3"
    assert stubbed.store.calls == []
    # AND it never waited or polled
    assert stubbed.clock.sleeps == []


@pytest.mark.parametrize(("alias", "outcome"), [
    # an operator's hotfix: the alias no longer carries this deployment's version
    (alias_response("8", "operator-rev"), "left_alone"),
    # an operator changed the canary's weight: someone else's alias now
    (alias_response("6", "operator-rev", {"7": 0.5}), "left_alone"),
    # an operator's rollback-alias (or an earlier attempt of this Rollback): back on 6
    (alias_response("6", "operator-rev"), "already_previous"),
])
def test_rollback_leaves_an_alias_someone_else_changed_alone_and_says_why(
        stubbed: Stubbed, alias: dict[str, Any], outcome: str) -> None:
    # GIVEN a failed deployment whose alias someone else wrote since its last Shift
    stubbed.lam.add_response("get_alias", alias, {"FunctionName": FN, "Name": "PROD"})
    # WHEN Rollback runs (no update_alias is queued: a write would fail the stubber)
    result = run("rollback", event("rollback"), stubbed.deps)
    # THEN it writes nothing and records what it found
    assert (result["rolled_back"], result["outcome"]) == (False, outcome)
    assert "someone else" in result["reason"]
    # AND a record of it tells the alias went back only when it is on version 6 again
    assert result["moved"] is True


def test_rollback_without_a_lock_before_any_shift_makes_no_call_at_all(
        stubbed: Stubbed) -> None:
    # GIVEN a document that never got a lock (and so never moved the alias)
    doc = event("rollback")
    for key in ("lock", "publish", "smoke", "shift"):
        del doc[key]
    # WHEN Rollback runs (no AWS call is queued: any would fail the stubber)
    result = run("rollback", doc, stubbed.deps)
    # THEN it reports that there was nothing to undo, and wrote nothing anywhere
    assert (result["version"], result["rolled_back"]) == (None, False)
    assert stubbed.store.calls == []


def test_rollback_without_a_lock_after_a_shift_refuses_to_guess(stubbed: Stubbed) -> None:
    # GIVEN a document that shifted traffic but lost $.lock (a mis-wired ResultPath)
    doc = event("rollback")
    del doc["lock"]
    # WHEN Rollback runs / THEN it names the missing field instead of claiming success
    with pytest.raises(InvalidRequest) as info:
        run("rollback", doc, stubbed.deps)
    assert info.value.field == "lock"


# --- health --------------------------------------------------------------------------
def metric_query(version: str, start: datetime, end: datetime) -> dict[str, Any]:
    return {"MetricDataQueries": [{"Id": "errors", "ReturnData": True, "MetricStat": {
        "Metric": {"Namespace": "AWS/Lambda", "MetricName": "Errors", "Dimensions": [
            {"Name": "FunctionName", "Value": FN},
            {"Name": "Resource", "Value": f"{FN}:PROD"},
            {"Name": "ExecutedVersion", "Value": version}]},
        "Period": 60, "Stat": "Sum"}}], "StartTime": start, "EndTime": end}


def at(hh_mm_ss: str) -> datetime:
    return datetime.fromisoformat(f"2025-06-01T{hh_mm_ss}+00:00")


@pytest.mark.parametrize(("now", "shifted_at", "start", "end"), [
    # the bake ran 300 s after the shift: its whole minutes, up to the end of this one
    ("12:05:30", None, "12:00:00", "12:06:00"),
    ("12:05:30", "12:00:29", "12:00:00", "12:06:00"),
    # the Wait state started late: the window still reaches back to the shift
    ("12:05:20", "11:59:50", "11:59:00", "12:06:00"),
    # a check on a minute boundary still covers the minute it runs in
    ("12:05:00", "12:00:00", "12:00:00", "12:06:00"),
])
def test_health_reads_the_new_versions_errors_through_the_alias_over_the_bake(
        stubbed: Stubbed, now: str, shifted_at: str | None, start: str, end: str) -> None:
    # GIVEN the bake of a 10 % canary of version 7 just ended, alarms quiet
    doc = event("health")
    doc["shift"].pop("shifted_at")  # absent in documents of older releases
    if shifted_at is not None:
        doc["shift"]["shifted_at"] = f"2025-06-01T{shifted_at}Z"
    stubbed.clock.current = at(now)
    stubbed.lam.add_response("get_alias", alias_response("6", SHIFT_REV, {"7": 0.1}))
    stubbed.cw.add_response("describe_alarms", {"MetricAlarms": [
        {"AlarmName": "StackFlowAPI-dev-errors", "StateValue": "OK"}]},
        {"AlarmNames": ["StackFlowAPI-dev-errors"],
         "AlarmTypes": ["MetricAlarm", "CompositeAlarm"]})
    stubbed.cw.add_response("get_metric_data", {"MetricDataResults": [
        {"Id": "errors", "Values": [0.0, 1.0], "StatusCode": "Complete"}]},
        metric_query("7", at(start), at(end)))
    # WHEN HealthCheck runs with an error threshold of 0
    # THEN the one error of version 7 in the window (whole minutes from the shift to
    # the end of the current minute) fails the canary
    with pytest.raises(CanaryUnhealthy, match="1 errors from version 7 between") as info:
        run("health", doc, stubbed.deps)
    assert info.value.details["window"] == {"start": f"2025-06-01T{start}Z",
                                            "end": f"2025-06-01T{end}Z"}


# --- smoke ---------------------------------------------------------------------------
def test_smoke_invokes_the_version_number_never_the_alias(stubbed: Stubbed) -> None:
    # GIVEN version 7 published and the sample smoke case (GET /health, expects ok)
    doc = event("smoke")
    body = json.dumps({"statusCode": 200, "body": json.dumps({"status": "ok"})}).encode()
    stubbed.lam.add_response("invoke", {
        "StatusCode": 200, "ExecutedVersion": "7",
        "Payload": StreamingBody(io.BytesIO(body), len(body))}, {
        "FunctionName": FN, "Qualifier": "7", "InvocationType": "RequestResponse",
        "Payload": json.dumps(doc["input"]["smoke"]["cases"][0]["payload"]).encode()})
    deps = dataclasses.replace(stubbed.deps, invoker=LambdaInvoker(stubbed.lambda_client))
    # WHEN Smoke runs / THEN the one Invoke named the version as its Qualifier
    result = run("smoke", doc, deps)
    assert result["passed"] is True
    assert [c["name"] for c in result["cases"]] == ["health"]

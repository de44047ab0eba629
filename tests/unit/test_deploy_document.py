"""The document contract: each result key's type reads exactly what it writes.

The step that produces a result returns ``to_dict()`` and every later step reads it back
with ``from_document``; these tests hold the two directions to each other and to the
samples in ``events/`` (what the state machine really carries).
"""

from __future__ import annotations

from typing import Any

import pytest
from stackflow.deploy.document import (
    AliasSnapshot,
    ApprovalAnswer,
    BakeWindow,
    DocumentResult,
    HealthResult,
    LockResult,
    PromoteResult,
    PublishResult,
    RollbackResult,
    ShiftResult,
    SmokeCaseResult,
    SmokeResult,
    UnlockResult,
    UploadResult,
    read_optional,
)
from stackflow.errors import InvalidRequest

from tests.support.events import load_event

SHIFT = ShiftResult(index=0, weight=0.1, wait_seconds=300, done=False,
                    started_at="2025-06-01T12:00:30Z", preexisting_alarms=("api-errors",),
                    shifted_at="2025-06-01T12:00:30Z",
                    preexisting_since={"api-errors": "2025-06-01T11:00:00Z"},
                    steps_total=2, version="7")
ANSWER = ApprovalAnswer(by="alice", at="2025-06-01T12:10:00+00:00")
NEVER_MOVED = RollbackResult(version=None, rolled_back=False, alias="PROD", reason="no lock")
WRITTEN: list[DocumentResult] = [
    LockResult(holder="arn:x", expires_at="2025-06-01T13:05:00Z", previous_version="6",
               started_at="2025-06-01T12:00:00Z"),
    UploadResult(code_sha256="c2hh", revision_id=None, last_modified=None),
    PublishResult(version="7", code_sha256="c2hh"),
    SmokeResult(version="7", cases=(
        SmokeCaseResult(name="health", passed=True, failures=(), latency_ms=41.0),)),
    SHIFT,
    HealthResult(healthy=True, alarms=(), ignored_preexisting=("api-errors",), errors=0.0,
                 error_threshold=1.5, window_seconds=360, index=0, weight=0.1, version="7",
                 refired=(), window=BakeWindow("2025-06-01T12:00:00Z",
                                               "2025-06-01T12:06:00Z")),
    ANSWER,
    PromoteResult(version="7", alias="PROD", previous=AliasSnapshot("6", {"7": 0.1})),
    RollbackResult(version="6", rolled_back=True, alias="PROD",
                   before=AliasSnapshot("6", {"7": 0.1})),
    NEVER_MOVED,
    UnlockResult(released=False, holder="arn:other"),
]


@pytest.mark.parametrize("result", WRITTEN, ids=lambda r: type(r).__name__)
def test_what_a_step_writes_the_next_step_reads_back(result: DocumentResult) -> None:
    # GIVEN a result as its step writes it under its key
    doc = {type(result).KEY: result.to_dict()}
    # WHEN a later step reads the document / THEN it gets the very same result
    assert type(result).from_document(doc) == result


@pytest.mark.parametrize(("sample", "result"), [
    ("deploy-step-record-failure", LockResult), ("deploy-step-record-failure", UploadResult),
    ("deploy-step-record-failure", PublishResult), ("deploy-step-record-failure", SmokeResult),
    ("deploy-step-record-failure", ShiftResult), ("deploy-step-record-failure", RollbackResult),
    ("deploy-step-record", PromoteResult),
])
def test_a_sample_result_reads_and_writes_back_unchanged(
        sample: str, result: type[DocumentResult]) -> None:
    # GIVEN a document the state machine carries / WHEN one result is read and rewritten
    doc = load_event(sample)
    # THEN the same JSON comes out: no key is lost or added on the way
    assert result.from_document(doc).to_dict() == doc[result.KEY]


def test_a_health_result_of_an_earlier_release_still_reads() -> None:
    # GIVEN a $.health written before `refired` and `window` existed
    doc = load_event("deploy-step-promote")
    assert "window" not in doc["health"]
    # WHEN it is read / THEN the missing fields are empty, the rest as written
    health = HealthResult.from_document(doc)
    assert (health.refired, health.window, health.weight) == ((), None, 0.1)


def test_written_results_keep_the_contract_key_sets() -> None:
    # GIVEN the results of this release / THEN optional fields appear only when set
    assert set(SHIFT.to_dict()) == {
        "index", "weight", "wait_seconds", "done", "started_at", "shifted_at",
        "preexisting_alarms", "preexisting_since", "steps_total", "version", "checks"}
    assert NEVER_MOVED.to_dict() == {"version": None, "rolled_back": False, "alias": "PROD",
                                     "reason": "no lock"}
    assert ANSWER.to_dict() == {"approved": True, "by": "alice",
                                "at": "2025-06-01T12:10:00+00:00"}


def test_an_absent_result_is_none_and_a_malformed_one_names_its_field() -> None:
    # GIVEN a document before Shift ran / THEN there is no previous shift
    assert read_optional({"input": {}}, ShiftResult) is None
    # GIVEN a rollback result with a mistyped flag / THEN the error names the path
    with pytest.raises(InvalidRequest) as info:
        RollbackResult.from_document({"rollback": {"version": "6", "rolled_back": "yes"}})
    assert info.value.field == "rollback.rolled_back"


def test_a_minimal_rollback_result_reads() -> None:
    # GIVEN the least a rollback result holds / THEN it reads, alias and before unknown
    doc: dict[str, Any] = {"rollback": {"version": "6", "rolled_back": True}}
    assert RollbackResult.from_document(doc) == RollbackResult(version="6", rolled_back=True)

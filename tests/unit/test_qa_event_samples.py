"""Every sample in ``events/`` is accepted by the parser of the handler it is for.

The samples are what the README tells operators to send and what CI sends by default
(``events/deploy-execution.json``), so a sample the code no longer accepts is a broken
command line. Each file is claimed by exactly one reader below; a new sample without
one fails ``test_every_sample_has_a_reader``. Nothing here calls AWS or a database.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
from stackflow.deploy import approval
from stackflow.deploy.document import (
    DocumentResult,
    HealthResult,
    LockResult,
    PromoteResult,
    PublishResult,
    RollbackResult,
    ShiftResult,
    SmokeResult,
    UploadResult,
    read_execution_id,
    read_input,
)
from stackflow.deploy.reconcile import read_status_change
from stackflow.deploy.record import final_fields
from stackflow.deploy.smoke_cases import SmokeCase, check, parse_case, parse_cases
from stackflow.deploy.steps import run
from stackflow.drift.model import fingerprint_of
from stackflow.drift.request import parse_event
from stackflow.migrations.request import parse_request

from tests.support.deploy_fakes import offline_deps
from tests.support.events import EVENTS_DIR, load_event

Reader = Callable[[str, Any], None]

# What each state's result holds at least (docs/architecture.md, the state table).
RESULT_KEYS: Mapping[str, set[str]] = {
    "lock": {"holder", "expires_at", "previous_version", "started_at"},
    "upload": {"code_sha256", "revision_id", "last_modified"},
    "publish": {"version", "code_sha256"},
    "smoke": {"passed", "cases"},
    "shift": {"index", "weight", "wait_seconds", "done", "started_at", "preexisting_alarms"},
    "health": {"healthy", "alarms", "errors"},
    "promote": {"version", "alias"},
    "rollback": {"version", "rolled_back"},
    "schema_before": {"ok", "action", "current_version", "applied", "pending", "complete"},
    "migrate": {"ok", "action", "current_version", "applied", "pending", "complete"},
    "schema_after": {"ok", "action", "current_version", "applied", "pending", "complete"},
    "error": {"Error", "Cause"},
}
# The earlier results each step cannot run without.
NEEDS: Mapping[str, set[str]] = {
    "lock": set(), "upload": {"lock"}, "publish": {"lock", "upload"},
    "smoke": {"lock", "publish"}, "shift": {"lock", "publish"},
    "health": {"lock", "publish", "shift"}, "approval-request": {"lock", "publish"},
    "promote": {"lock", "publish"}, "rollback": {"lock", "error"}, "record": {"lock"},
    "record-failure": {"lock", "error", "rollback"}, "unlock": {"lock"},
}
# The type that reads each step result a sample carries (stackflow.deploy.document).
PARTS: tuple[type[DocumentResult], ...] = (
    LockResult, UploadResult, PublishResult, SmokeResult, ShiftResult, HealthResult,
    PromoteResult, RollbackResult,
)


def samples() -> list[str]:
    return sorted(p.relative_to(EVENTS_DIR).as_posix() for p in EVENTS_DIR.rglob("*.json"))


def read_execution_input(name: str, sample: Any) -> None:
    # Validate is the state that reads the execution input.
    normalized = run("validate", {"input": sample, "execution_id": "arn:x"}, deps=offline_deps())
    assert normalized["function_name"] == sample["function_name"]


def read_step_document(name: str, sample: Any) -> None:
    step = name.removeprefix("deploy-step-").removesuffix(".json")
    doc: Mapping[str, Any] = sample
    if step == "approval-request":
        doc, _token = approval.split_event(sample)
    if step == "validate":
        read_execution_input(name, doc["input"])
        return
    inp = read_input(doc)
    read_execution_id(doc)
    # Every later state gets Validate's output: a sample's input is already normalized.
    assert inp.to_dict() == doc["input"], f"{name}: input is not Validate's output"
    assert NEEDS[step] <= set(doc), f"{name} lacks {NEEDS[step] - set(doc)}"
    for part in PARTS:
        if part.KEY in doc:
            part.from_document(doc)
    for key, needed in RESULT_KEYS.items():
        if key in doc:
            assert needed <= set(doc[key]), f"{name}: {key} lacks {needed - set(doc[key])}"
    if step.startswith("record"):
        final_fields(doc, "StackFlowPatcher")


def read_status_event(name: str, sample: Any) -> None:
    # Reconcile's event is EventBridge's, not a document; its input the execution's.
    change = read_status_change(sample)
    read_execution_input(name, json.loads(change.input or ""))


def read_patcher_event(name: str, sample: Any) -> None:
    parse_request(sample)


def read_drift_event(name: str, sample: Any) -> None:
    parse_event(sample)


def read_drift_report(name: str, sample: Any) -> None:
    # Not an input: what the drift handler returns. Its fingerprint is its keys' (and
    # tests/integration/test_drift_sample.py reproduces it from the real checks).
    assert sample["fingerprint"] == fingerprint_of(sample["drift_keys"])
    assert sample["drifted"] is bool(sample["drift_keys"])


def read_smoke_case(name: str, sample: Any) -> None:
    parse_case(sample, name, Path(name).stem)


def read_release_input(name: str, sample: Any) -> None:
    # A multi-function release (issue 16): Validate's reader, every target complete.
    from stackflow.deploy.release import parse_release

    assert len(parse_release(sample).targets) == len(sample["functions"])


def reader_for(name: str) -> Reader | None:
    if name == "deploy-execution.json":
        return read_execution_input
    if name == "deploy-execution-release.json":
        return read_release_input
    if name == "drift-report.json":
        return read_drift_report
    if name == "deploy-step-reconcile.json":
        return read_status_event
    prefixes: list[tuple[str, Reader]] = [
        ("deploy-step-", read_step_document), ("patcher-", read_patcher_event),
        ("drift-", read_drift_event), ("smoke/", read_smoke_case)]
    return next((reader for prefix, reader in prefixes if name.startswith(prefix)), None)


def test_every_sample_has_a_reader() -> None:
    # GIVEN every JSON file under events/ / THEN each is claimed by a handler's parser
    assert [name for name in samples() if reader_for(name) is None] == []
    # and the deploy-step samples cover every state of the contract
    steps = {n.removeprefix("deploy-step-").removesuffix(".json") for n in samples()
             if n.startswith("deploy-step-")}
    assert steps == {"validate", "reconcile", *NEEDS}


@pytest.mark.parametrize("name", samples())
def test_each_sample_is_accepted_by_its_handler(name: str) -> None:
    # GIVEN a sample payload / WHEN its handler's parser reads it
    reader = reader_for(name)
    assert reader is not None
    # THEN it is accepted (any InvalidRequest or assertion names what drifted)
    reader(name, load_event(name))


def test_record_failure_sample_carries_the_schema_read_after_the_failure() -> None:
    # GIVEN RecordFailure's sample: SchemaAfter ran after Rollback (docs/architecture.md)
    doc = load_event("deploy-step-record-failure")
    # WHEN the failure record is computed
    hint = final_fields(doc, "StackFlowPatcher")["migration_rollback"]
    # THEN the rows applied_by this execution are the exact answer: no "exact": false
    name = doc["execution_id"].rsplit(":", 1)[-1]
    assert [r["version"] for r in doc["schema_after"]["applied"]
            if r["applied_by"] == name] == hint["applied"] == [4]
    assert hint["target"] == doc["schema_before"]["current_version"] == 3
    assert "exact" not in hint


def test_samples_name_the_repository_migrations() -> None:
    # GIVEN the migrations/ folder the patcher ships
    files = {int(p.name[:4]): p.name[5:].removesuffix(".up.sql")
             for p in (EVENTS_DIR.parent / "migrations").glob("*.up.sql")}
    # WHEN the step samples' patcher results are read
    for name in samples():
        if not name.startswith("deploy-step-"):
            continue
        sample = load_event(name)
        doc = sample.get("document", sample)
        rows = [row for key in ("schema_before", "migrate", "schema_after") if key in doc
                for row in doc[key]["applied"] + doc[key]["pending"]]
        # THEN every version they mention is the migration of that number and name
        for row in rows:
            assert files.get(row["version"]) == row["name"], (name, row)


def execution_cases() -> tuple[SmokeCase, ...]:
    return parse_cases(load_event("deploy-execution")["smoke"], "smoke")


def test_the_execution_sample_smoke_tests_the_example_api_health_route() -> None:
    # GIVEN the execution input CI sends by default, and StackFlowAPI's health answer
    from example_api import app

    healthy = json.dumps(app.respond(200, {"status": "ok"})).encode()
    # WHEN its smoke cases are routed and checked against that answer
    for case in execution_cases():
        routes = {key: (lambda params, path=key[1]: app.respond(200, {"route": path}))
                  for key in app.ROUTES}
        routed = json.loads(app.dispatch(routes, case.payload)["body"])
        # THEN each reaches GET /health and passes on a healthy response
        assert routed == {"route": "/health"}, case.name
        assert check(case, healthy, None, latency_ms=10) == [], case.name


def test_the_execution_sample_health_case_is_the_shipped_one() -> None:
    # GIVEN events/smoke/health.json, the case the example API ships
    shipped = parse_case(load_event("smoke/health"), "smoke/health.json", "health")
    # THEN the execution input smoke-tests exactly that
    assert execution_cases() == (shipped,)

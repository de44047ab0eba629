"""Smoke expectations: what makes a response pass or fail, and why it says so."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from stackflow.deploy.smoke_cases import check, decode_response, parse_case, parse_cases

from tests.support.events import EVENTS_DIR

API_OK = {"statusCode": 200, "headers": {"content-type": "application/json"},
          "body": json.dumps({"status": "ok", "db": {"tables": ["customers", "orders"]}})}


def outcome(expect: dict[str, Any], response: Any, *, error: str | None = None,
            latency_ms: float = 10.0) -> list[str]:
    case = parse_case({"name": "c", "payload": {}, "expect": expect}, "case")
    return check(case, json.dumps(response).encode(), error, latency_ms)


def test_api_response_meeting_every_expectation_passes() -> None:
    # GIVEN status, subset (inside the JSON body) and latency expectations
    expect = {"status_code": 200, "json_subset": {"body": {"status": "ok"}},
              "max_latency_ms": 100}
    # WHEN the response meets them / THEN there is nothing to report
    assert outcome(expect, API_OK) == []


def test_every_missed_expectation_is_reported_not_just_the_first() -> None:
    # GIVEN a response with the wrong status, body and latency
    expect = {"status_code": 200, "json_subset": {"body": {"status": "ok"}},
              "max_latency_ms": 100}
    response = {"statusCode": 503, "body": json.dumps({"status": "degraded"})}
    # WHEN checked
    failures = outcome(expect, response, latency_ms=250)
    # THEN each miss is named with what was expected and what came back
    assert failures == ["status_code 503 != expected 200",
                        'json_subset: $.body.status is "degraded", expected "ok"',
                        "latency 250 ms > max 100 ms"]


def test_function_error_fails_a_case_even_without_expectations() -> None:
    # GIVEN a case with no expectations and a response that is an unhandled error
    response = {"errorType": "KeyError", "errorMessage": "'id'"}
    # WHEN checked / THEN the FunctionError and the error type are reported
    assert outcome({}, response, error="Unhandled") == ["FunctionError Unhandled: KeyError: 'id'"]


@pytest.mark.parametrize(("subset", "problem"), [
    ({"body": {"db": {"tables": ["customers", "orders"]}}}, None),
    ({"body": {"db": {"tables": ["orders", "customers"]}}},
     '$.body.db.tables[0] is "customers", expected "orders"'),
    ({"body": {"db": {"tables": ["customers"]}}},
     '$.body.db.tables is ["customers", "orders"], expected ["customers"]'),
    ({"body": {"version": 2}}, "$.body.version is missing"),
    ({"statusCode": True}, "$.statusCode is 200, expected true"),
    ({"headers": "json"}, '$.headers is {"content-type": "application/json"}, expected "json"'),
])
def test_json_subset_matches_nested_objects_and_exact_arrays(subset: Any,
                                                             problem: str | None) -> None:
    # GIVEN a JSON subset / WHEN checked against the API response
    failures = outcome({"json_subset": subset}, API_OK)
    # THEN it passes, or names the first path that differs
    assert failures == ([] if problem is None else [f"json_subset: {problem}"])


def test_plain_text_body_stays_a_string() -> None:
    # GIVEN a response whose body is not JSON / WHEN decoded / THEN it is kept as text
    raw = json.dumps({"statusCode": 200, "body": "ok"}).encode()
    assert decode_response(raw) == {"statusCode": 200, "body": "ok"}


def test_cases_file_may_be_a_list_or_an_object_with_cases() -> None:
    # GIVEN the two shapes a cases file may take / WHEN parsed / THEN the same cases
    case = {"name": "health", "payload": {}, "expect": {"status_code": 200}}
    assert parse_cases([case], "f") == parse_cases({"cases": [case]}, "f")


def test_example_api_smoke_cases_in_events_smoke_are_valid() -> None:
    # GIVEN the example API's smoke cases / WHEN parsed / THEN each is a named case
    files = sorted(Path(EVENTS_DIR, "smoke").glob("*.json"))
    cases = [parse_case(json.loads(f.read_text()), f.name, f.stem) for f in files]
    assert {"health", "unknown-route"} <= {case.name for case in cases}
    health = next(case for case in cases if case.name == "health")
    assert health.payload["rawPath"] == "/health"
    assert health.expect.status_code == 200

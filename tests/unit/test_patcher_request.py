"""Parsing the Lambda event into a typed request: every bad field is named."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from stackflow.errors import InvalidRequest
from stackflow.migrations.request import PatcherRequest, parse_request

from tests.support.events import load_event


@pytest.mark.parametrize("name", ["patcher-migrate-dry-run", "patcher-migrate",
                                  "patcher-rollback", "patcher-status",
                                  "patcher-adopt-dry-run", "patcher-adopt"])
def test_sample_events_parse(name: str) -> None:
    assert isinstance(parse_request(load_event(name)), PatcherRequest)


def test_defaults() -> None:
    request = parse_request({"action": "migrate"})
    assert request == PatcherRequest("migrate", dry_run=False, target=None, steps=None,
                                     applied_by=None, allow_out_of_order=False)


def test_adopt_names_the_tool_it_takes_over_from() -> None:
    # GIVEN the adopt event the README shows
    request = parse_request({"action": "adopt", "from": "golang-migrate", "dry_run": True})
    # THEN the request carries the tool and the dry-run flag
    assert (request.action, request.adopt_from, request.dry_run) == (
        "adopt", "golang-migrate", True)


def test_null_target_means_no_target() -> None:
    # GIVEN the state machine passes migrations.target through, null when unset
    assert parse_request({"action": "migrate", "target": None}).target is None


@pytest.mark.parametrize(("event", "field"), [
    ([], "event"),
    ({}, "action"),
    ({"action": "drop"}, "action"),
    ({"action": 1}, "action"),
    ({"action": "migrate", "dry_run": "yes"}, "dry_run"),
    ({"action": "migrate", "target": "3"}, "target"),
    ({"action": "migrate", "target": True}, "target"),
    ({"action": "migrate", "target": -1}, "target"),
    ({"action": "rollback", "steps": 0}, "steps"),
    ({"action": "migrate", "steps": 1}, "steps"),
    ({"action": "rollback", "steps": 1, "target": 2}, "steps"),
    ({"action": "migrate", "applied_by": ""}, "applied_by"),
    ({"action": "migrate", "applied_by": "x" * 201}, "applied_by"),
    ({"action": "migrate", "allow_out_of_order": 1}, "allow_out_of_order"),
    ({"action": "migrate", "dryrun": True}, "dryrun"),
    # Values the run history could not store (bigint target, integer steps).
    ({"action": "migrate", "target": 2**63}, "target"),
    ({"action": "rollback", "steps": 2**31}, "steps"),
    # Text PostgreSQL or a UTF-8 log cannot take, or that would break the one-line message.
    ({"action": "migrate", "applied_by": "a\x00b"}, "applied_by"),
    ({"action": "migrate", "applied_by": "line\nbreak"}, "applied_by"),
    ({"action": "migrate", "applied_by": "\ud800"}, "applied_by"),
    ({"action": "migrate", "new\nline": 1}, "'new\\nline'"),
    # adopt: the tool is required, known, and only for adopt; no migrate/rollback fields.
    ({"action": "adopt"}, "from"),
    ({"action": "adopt", "from": "flyway"}, "from"),
    ({"action": "adopt", "from": 1}, "from"),
    ({"action": "migrate", "from": "golang-migrate"}, "from"),
    ({"action": "adopt", "from": "golang-migrate", "target": 3}, "target"),
    ({"action": "adopt", "from": "golang-migrate", "allow_out_of_order": True},
     "allow_out_of_order"),
])
def test_bad_field_is_invalid_request_naming_it(event: Any, field: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_request(event)
    assert caught.value.field == field
    assert caught.value.message.startswith(f"{field}: ")


any_text = st.text(st.characters(exclude_categories=()))  # lone surrogates, NUL too
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | any_text,
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(any_text, children, max_size=3),
    max_leaves=8)


@given(st.dictionaries(
    st.sampled_from(["action", "dry_run", "target", "steps", "applied_by",
                     "allow_out_of_order", "from", "other"]),
    json_values | st.sampled_from(["migrate", "rollback", "status", "adopt",
                                   "golang-migrate"]), max_size=6)
    | json_values)
def test_any_json_is_a_request_or_invalid_request(event: Any) -> None:
    # GIVEN any JSON value at all
    # THEN parsing gives a request or InvalidRequest, never another exception...
    outcome = parse_or_error(event)
    if isinstance(outcome, InvalidRequest):
        # AND the message stays one line a UTF-8 log can take
        assert "\n" not in outcome.message
        outcome.message.encode("utf-8")
        return
    # AND a request holds only what the database can store
    request = outcome
    assert request.target is None or 0 <= request.target < 2**63
    assert request.steps is None or 1 <= request.steps < 2**31
    assert request.applied_by is None or request.applied_by.isprintable()
    assert (request.adopt_from is not None) == (request.action == "adopt")


def parse_or_error(event: Any) -> PatcherRequest | InvalidRequest:
    try:
        return parse_request(event)
    except InvalidRequest as e:
        return e

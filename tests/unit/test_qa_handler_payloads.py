"""Malformed payloads to every handler raise only ``stackflow.errors`` classes.

``None``, ``[]``, ``"x"``, ``{}`` and objects with a wrong-typed field go to the deploy
steps, the drift check and StackFlowAPI: the answer is ``InvalidRequest`` naming the
field (or another StackFlow error), never ``KeyError`` / ``TypeError`` /
``AttributeError``. A property test then throws arbitrary JSON, and the samples with
one part replaced by arbitrary JSON, at every deploy step. AWS is never reached: the
Lambda and CloudWatch clients are real boto3 clients behind a ``Stubber`` with nothing
queued, so a call that gets through fails as the adapter's ``AwsCallFailed``.
"""

from __future__ import annotations

import copy
from functools import cache
from typing import Any

import pytest
from botocore.stub import Stubber
from deploy_steps import handler
from drift_check.handler import handler as drift_handler
from example_api import app
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stackflow.adapters.cloudwatch import CloudWatchAlarms
from stackflow.adapters.lambda_ import LambdaFunctions
from stackflow.deploy.deps import DeploySettings, Deps
from stackflow.errors import ConfigurationError, InvalidRequest, StackFlowError

from tests.support.deploy_fakes import FakeClock, FakeContext, InMemoryStore, ScriptedInvoker
from tests.support.events import load_event

STEPS = ("validate", "lock", "upload", "publish", "smoke", "shift", "health",
         "approval_request", "promote", "rollback", "record", "unlock")
SAMPLES = {step: f"deploy-step-{step.replace('_', '-')}" for step in STEPS}
CONTEXT = FakeContext()


@cache
def refusing_clients() -> tuple[Any, Any]:
    """Real Lambda and CloudWatch clients whose Stubber has nothing queued: every call
    fails (built once: a Stubber without responses keeps no state between calls)."""
    import boto3

    session = boto3.Session(region_name="us-east-1", aws_access_key_id="testing",
                            aws_secret_access_key="testing")
    lam, cw = session.client("lambda"), session.client("cloudwatch")
    for client in (lam, cw):
        Stubber(client).activate()
    return lam, cw


def stubbed_deps() -> Deps:
    """Deploy dependencies whose AWS clients answer every call with an error."""
    lam, cw = refusing_clients()
    clock = FakeClock()
    return Deps(settings=DeploySettings(table="deployments"), functions=LambdaFunctions(lam),
                invoker=ScriptedInvoker(clock=clock), store=InMemoryStore(),
                alarms=CloudWatchAlarms(cw), read_object=lambda b, k, v: b"[]",
                now=clock.now, monotonic=clock.monotonic, sleep=clock.sleep)


def call_step(step: str, event: Any) -> dict[str, Any] | StackFlowError:
    """The step's result over ``stubbed_deps``, or the StackFlow error it raised
    (anything else escapes)."""
    try:
        return handler.step_handler(step, stubbed_deps)(event, CONTEXT)
    except StackFlowError as e:
        return e


def sample(step: str) -> dict[str, Any]:
    return copy.deepcopy(load_event(SAMPLES[step]))


# --- the brief's five shapes, every deploy step --------------------------------------
@pytest.mark.parametrize("step", STEPS)
@pytest.mark.parametrize(("payload", "field"), [
    (None, "event"), ([], "event"), ("x", "event"), (7, "event")])
def test_a_payload_that_is_not_an_object_names_the_event(
        step: str, payload: Any, field: str) -> None:
    # GIVEN a payload that is not a JSON object / WHEN any deploy step gets it
    outcome = call_step(step, payload)
    # THEN InvalidRequest names the event itself
    assert isinstance(outcome, InvalidRequest)
    assert outcome.field == field


@pytest.mark.parametrize("step", STEPS)
def test_an_empty_object_names_the_first_missing_field(step: str) -> None:
    # GIVEN {} / WHEN any deploy step gets it / THEN InvalidRequest names what is missing
    outcome = call_step(step, {})
    assert isinstance(outcome, InvalidRequest)
    assert outcome.field == ("task_token" if step == "approval_request" else "input")


WRONG_TYPES = [
    (("execution_id",), 42, "execution_id"),
    (("input", "function_name"), 7, "input.function_name"),
    (("input", "artifact"), ["bucket", "key"], "input.artifact"),
    (("input", "alarms"), "StackFlowAPI-dev-errors", "input.alarms"),
]


# Validate reads only the execution input, so its execution_id is not checked.
@pytest.mark.parametrize(("step", "path", "value", "field"), [
    (step, *row) for step in STEPS for row in WRONG_TYPES
    if not (step == "validate" and row[0] == ("execution_id",))])
def test_a_wrong_typed_field_is_named(step: str, path: tuple[str, ...], value: Any,
                                      field: str) -> None:
    # GIVEN the step's own sample with one field of the wrong JSON type
    event = sample(step)
    doc = event["document"] if step == "approval_request" else event
    target = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    # WHEN the step runs / THEN InvalidRequest names exactly that field
    outcome = call_step(step, event)
    assert isinstance(outcome, InvalidRequest), outcome
    assert outcome.field == field


# --- drift check ---------------------------------------------------------------------
@pytest.fixture
def drift_unconfigured(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DRIFT_STACKS", "DRIFT_MANAGED_ALIASES", "DEPLOY_TABLE", "DATABASE_URL",
                 "DB_SECRET_ARN", "MIGRATIONS_DIR", "MIGRATIONS_BUCKET", "DRIFT_TOPIC_ARN"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize(("payload", "field"), [
    ([], "event"), ("x", "event"), (7, "event"), ({"stacks": "stackflow-dev"}, "stacks"),
    ({"stacks": [7]}, "stacks[0]"), ({"read_only": "yes"}, "read_only")])
def test_drift_check_names_the_malformed_field(drift_unconfigured: None, payload: Any,
                                               field: str) -> None:
    # GIVEN a malformed drift event / WHEN the handler gets it / THEN the field is named
    with pytest.raises(InvalidRequest) as raised:
        drift_handler(payload, CONTEXT)
    assert raised.value.field == field


@pytest.mark.parametrize("payload", [None, {}, {"stacks": None}])
def test_drift_check_reads_an_empty_event_as_a_scheduled_run(drift_unconfigured: None,
                                                             payload: Any) -> None:
    # GIVEN nothing configured and an event that narrows nothing (null stacks included)
    # WHEN the handler runs / THEN the error is the missing configuration, by name
    with pytest.raises(ConfigurationError, match="DRIFT_STACKS"):
        drift_handler(payload, CONTEXT)


def test_drift_check_null_stacks_checks_every_configured_stack(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a manual invoke with "stacks": null
    from stackflow.drift.request import parse_event

    # WHEN parsed / THEN it narrows nothing (an empty list would check no stack at all)
    assert parse_event({"stacks": None}).stacks is None
    assert parse_event({"stacks": []}).stacks == ()


# --- StackFlowAPI --------------------------------------------------------------------
@pytest.mark.parametrize(("payload", "field"), [
    (None, "event"), ([], "event"), ("x", "event"), (7, "event"),
    ({"rawPath": 5}, "rawPath"), ({"requestContext": "x"}, "requestContext"),
    ({"requestContext": []}, "requestContext"),
    ({"requestContext": {"http": "GET"}}, "requestContext.http"),
    ({"requestContext": {"http": {"method": 5}}}, "requestContext.http.method"),
    ({"requestContext": {"http": {"path": ["/health"]}}}, "requestContext.http.path"),
])
def test_example_api_names_the_malformed_field(payload: Any, field: str) -> None:
    # GIVEN a direct invoke whose payload is not an HTTP API event
    # WHEN StackFlowAPI gets it / THEN InvalidRequest names the field (no AttributeError)
    with pytest.raises(InvalidRequest) as raised:
        app.handler(payload, None)
    assert raised.value.field == field


def test_example_api_empty_event_is_a_request_for_the_root() -> None:
    # GIVEN {} (no path at all) / WHEN routed / THEN GET / is not a route: 404
    assert app.handler({}, None)["statusCode"] == 404


def test_example_api_without_a_database_setting_names_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN neither DATABASE_URL nor DB_SECRET_ARN
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("DB_SECRET_ARN", raising=False)
    # WHEN a route needs the database / THEN ConfigurationError names the variables
    with pytest.raises(ConfigurationError, match="DATABASE_URL or DB_SECRET_ARN"):
        app.handler(load_event("smoke/health")["payload"], None)


# --- property: arbitrary JSON ----------------------------------------------------------
any_text = st.text(st.characters(exclude_categories=()), max_size=12)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | any_text,
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(any_text, children, max_size=3),
    max_leaves=8)
documents = st.dictionaries(
    st.sampled_from(["input", "execution_id", "lock", "upload", "publish", "smoke", "shift",
                     "health", "promote", "rollback", "error", "migrate", "schema_before",
                     "schema_after", "document", "task_token"]) | any_text,
    json_values, max_size=6)


def replace_somewhere(doc: Any, data: st.DataObject) -> Any:
    """``doc`` with one value, at a random depth, replaced by arbitrary JSON."""
    if not isinstance(doc, dict | list) or not doc or data.draw(st.booleans()):
        return data.draw(json_values)
    keys = list(doc) if isinstance(doc, dict) else list(range(len(doc)))
    key = data.draw(st.sampled_from(keys))
    doc[key] = replace_somewhere(doc[key], data)
    return doc


def assert_only_stackflow_errors(step: str, event: Any) -> None:
    outcome = call_step(step, event)
    if isinstance(outcome, InvalidRequest):
        assert outcome.field, "InvalidRequest must name its field"
    else:
        assert isinstance(outcome, dict | StackFlowError)


QUIET = settings(max_examples=60, deadline=None,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@QUIET
@given(step=st.sampled_from(STEPS), event=json_values | documents)
def test_arbitrary_json_gets_only_stackflow_errors(step: str, event: Any) -> None:
    # GIVEN any JSON value / WHEN a deploy step gets it
    # THEN it returns a result or raises a StackFlow error, nothing else
    assert_only_stackflow_errors(step, event)


@QUIET
@given(step=st.sampled_from(STEPS), data=st.data())
def test_a_sample_with_one_part_replaced_gets_only_stackflow_errors(
        step: str, data: st.DataObject) -> None:
    # GIVEN the step's own sample with one value anywhere replaced by arbitrary JSON
    event = replace_somewhere(sample(step), data)
    # WHEN the step runs / THEN only StackFlow errors escape (deep fields included)
    assert_only_stackflow_errors(step, event)


@QUIET
@given(event=json_values | st.fixed_dictionaries(
    {}, optional={"rawPath": json_values, "requestContext": json_values | st.fixed_dictionaries(
        {}, optional={"http": json_values | st.fixed_dictionaries(
            {}, optional={"method": json_values, "path": json_values})})}))
def test_example_api_reads_any_json_as_a_request_or_names_the_field(event: Any) -> None:
    # GIVEN any JSON, shaped like an HTTP API event or not / WHEN its request line is read
    outcome = request_line_or_error(event)
    if isinstance(outcome, InvalidRequest):
        # THEN it is refused naming a field of the event
        assert outcome.field in {"event", "rawPath", "requestContext", "requestContext.http",
                                 "requestContext.http.method", "requestContext.http.path"}
    else:
        # or it is a method and a path to route
        method, path = outcome
        assert method == method.upper()
        assert path


def request_line_or_error(event: Any) -> tuple[str, str] | InvalidRequest:
    try:
        return app.request_line(event)
    except InvalidRequest as e:
        return e

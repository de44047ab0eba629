"""Every change local mode makes to moto's internals, in one place.

Each patch is a context manager applied for as long as local mode runs, and each was
written against one moto release line: :func:`check_moto_version` refuses another with
a clear message instead of letting a renamed internal fail somewhere deep in a release.

* :func:`lambda_invoke`: ``Invoke`` (from any client: the state machine, a deploy step,
  the AWS CLI in another shell) runs the version's code in a worker, not Docker;
* :func:`alias_revisions`: ``UpdateAlias`` honours ``RevisionId`` and issues a new one,
  as Lambda does, so the deploy steps' guards can fail locally;
* :func:`task_failure_cause`: ``SendTaskFailure`` keeps its ``cause``;
* :func:`scaled_waits`: ``Wait`` states and ``Retry`` intervals take ``time_scale`` of
  their time (the definition itself is unchanged).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any
from unittest import mock
from urllib.parse import unquote

from stackflow.errors import ConfigurationError

# The moto release line these patches were written and tested against.
MOTO_SERIES = "5.2."

InvokeAnswer = Callable[[Any, str, "str | None", Any, Any, dict[str, str]], "bytes | None"]


def check_moto_version(version: str | None = None) -> None:
    """Refuse a moto these patches were not written for."""
    if version is None:
        import moto

        version = str(moto.__version__)
    if not version.startswith(MOTO_SERIES):
        raise ConfigurationError(
            f"local mode patches moto {MOTO_SERIES}x internals (Lambda invoke, alias "
            f"revisions, Step Functions waits and task failures) and found moto {version}; "
            f"install moto {MOTO_SERIES}x (pyproject.toml pins it) or update "
            f"stackflow_tools/local/patches.py for this release", moto=version)


@contextmanager
def all_patches(answer: InvokeAnswer, *, time_scale: float,
                on_wait: Callable[[float], None]) -> Iterator[None]:
    """Every patch local mode needs, applied together."""
    check_moto_version()
    with ExitStack() as stack:
        stack.enter_context(lambda_invoke(answer))
        stack.enter_context(alias_revisions())
        stack.enter_context(task_failure_cause())
        stack.enter_context(scaled_waits(time_scale, on_wait))
        yield


@contextmanager
def lambda_invoke(answer: InvokeAnswer) -> Iterator[None]:
    """Answer moto's ``Invoke`` API with ``answer`` (moto would start Docker).

    The whole response is replaced: moto's own reads the qualifier under a name the
    server never receives (``qualifier`` instead of ``Qualifier``) and adds no
    ``X-Amz-Executed-Version``.
    """
    from moto.awslambda.responses import LambdaResponse

    def invoke(response: Any) -> tuple[int, dict[str, str], bytes]:
        function_name = unquote(response.path.rsplit("/", 2)[-2])
        qualifier = (response.querystring.get("Qualifier") or [None])[0]
        headers: dict[str, str] = {}
        payload = answer(response.backend, function_name, qualifier, response.body,
                         response.headers, headers) or b""
        kind = response.headers.get("X-Amz-Invocation-Type") or "RequestResponse"
        status = {"Event": 202, "DryRun": 204}.get(kind, 200)
        headers |= {"content-type": "application/json", "Content-Length": str(len(payload))}
        return status, headers, payload

    with mock.patch.object(LambdaResponse, "invoke", invoke):
        yield


@contextmanager
def alias_revisions() -> Iterator[None]:
    """``UpdateAlias`` checks ``RevisionId`` and every change issues a new one."""
    from moto.awslambda.exceptions import PreconditionFailedException
    from moto.awslambda.models import LambdaAlias
    from moto.awslambda.responses import LambdaResponse

    original_update = LambdaAlias.update
    original_response = LambdaResponse.update_alias

    def update(alias: Any, *args: Any, **kwargs: Any) -> None:
        original_update(alias, *args, **kwargs)
        alias.revision_id = str(uuid.uuid4())

    def update_alias(response: Any) -> Any:
        wanted = json.loads(response.body or "{}").get("RevisionId")
        if wanted:
            function_name = unquote(response.path.rsplit("/")[-3])
            alias_name = unquote(response.path.rsplit("/", 2)[-1])
            current = response.backend.get_alias(alias_name, function_name).revision_id
            if wanted != current:
                raise PreconditionFailedException(
                    "The Revision Id provided does not match the latest Revision Id. "
                    "Call the GetAlias API to retrieve the latest Revision Id")
        return original_response(response)

    with mock.patch.object(LambdaAlias, "update", update), \
            mock.patch.object(LambdaResponse, "update_alias", update_alias):
        yield


@contextmanager
def task_failure_cause() -> Iterator[None]:
    """``SendTaskFailure`` passes ``cause`` on (moto drops it)."""
    from moto.core.responses import EmptyResult
    from moto.stepfunctions.responses import StepFunctionResponse

    def send_task_failure(response: Any) -> Any:
        response.stepfunction_backend.send_task_failure(
            response._get_param("taskToken"), error=response._get_param("error"),
            cause=response._get_param("cause"))
        return EmptyResult()

    with mock.patch.object(StepFunctionResponse, "send_task_failure", send_task_failure):
        yield


@contextmanager
def scaled_waits(time_scale: float, on_wait: Callable[[float], None]) -> Iterator[None]:
    """Scale ``Wait`` states and ``Retry`` intervals of moto's interpreter."""
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
    from moto.stepfunctions.parser.asl.component.state.wait.wait_function import (
        wait_function,
    )

    def wait_interval(_self: Any, env: Any, wait_seconds: int) -> None:
        deadline = time.monotonic() + wait_seconds * time_scale
        on_wait(float(wait_seconds))
        remaining = deadline - time.monotonic()
        if remaining > 0:
            env.program_state_event.wait(remaining)  # set when the execution is stopped

    class ScaledTime:
        @staticmethod
        def sleep(seconds: float) -> None:
            time.sleep(seconds * time_scale)

    with mock.patch.object(wait_function.WaitFunction, "_wait_interval", wait_interval), \
            mock.patch.object(retrier_decl, "time", ScaledTime):
        yield

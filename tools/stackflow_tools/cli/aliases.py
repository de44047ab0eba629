"""Where an alias routes its traffic now, read from Lambda: the honest status line.

``pipeline status``, ``pipeline start --wait`` and ``history`` print this instead of
what a Shift state's result planned, which can be stale (an operator's rollback, a
canary still at 10 % after the last Shift, AllAtOnce waiting for approval).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any


def alias_now(function_name: str, alias: str) -> dict[str, Any]:
    """``{"version", "routing"}`` read from Lambda, or ``{"error"}`` when unreadable."""
    from stackflow.adapters import default_client
    from stackflow.adapters.lambda_ import get_alias
    from stackflow.deploy.document import AliasSnapshot
    from stackflow.errors import StackFlowError

    try:
        info = get_alias(function_name, alias, client=default_client("lambda"))
    except StackFlowError as e:
        return {"error": e.message}
    return AliasSnapshot.of(info).to_dict()


def alias_line(function_name: str, alias: str, state: Mapping[str, Any]) -> str:
    """``StackFlowAPI:PROD serves version 1 (90%) and version 2 (10%)``."""
    from stackflow.deploy.document import AliasSnapshot
    from stackflow.deploy.guard import describe

    if "error" in state:
        return f"{function_name}:{alias}: routing unknown ({state['error']})"
    return f"{function_name}:{alias} serves {describe(AliasSnapshot.from_object(state, 'alias'))}"


def alias_reader(function_name: str, alias: str) -> Callable[[], str]:
    """A function that reads the alias again on every call and says where it points."""
    return lambda: alias_line(function_name, alias, alias_now(function_name, alias))

"""``pipeline start`` for a multi-function release: which zip goes to which function.

``--artifact NAME=PATH`` (repeated) names one function's zip each; a manifest (the
``--input`` file) may list ``"functions": [{"function_name", "alias", "path", "smoke",
"alarms"}, ...]`` instead, or as well (``--artifact`` wins for a function both name).
A plain ``--artifact PATH`` is the single-function form, unchanged. Pure: the CLI
uploads and starts.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from stackflow.errors import InvalidRequest
from stackflow.validation import as_object, opt_list

from stackflow_tools.release.artifacts import Artifact

FLAG = "--artifact"


def named_artifacts(values: Sequence[str] | None) -> dict[str, Path] | None:
    """``NAME=PATH`` values as ``{name: path}``; None for the single form (one PATH)."""
    if not values:
        return None
    named = [v for v in values if "=" in v]
    if not named:
        if len(values) > 1:
            raise InvalidRequest(FLAG, "name each function when giving several zips: "
                                       "--artifact NAME=PATH")
        return None
    if len(named) != len(values):
        raise InvalidRequest(FLAG, "mixes PATH and NAME=PATH; name every function")
    result: dict[str, Path] = {}
    for value in values:
        name, _, path = value.partition("=")
        if not name or not path:
            raise InvalidRequest(FLAG, f"{value!r} is not NAME=PATH")
        if name in result:
            raise InvalidRequest(FLAG, f"names {name} twice")
        result[name] = Path(path)
    return result


def manifest_paths(base: Mapping[str, Any], root: Path) -> dict[str, Path]:
    """The zips a manifest names (``path``, relative to the manifest's folder)."""
    paths: dict[str, Path] = {}
    for i, item in enumerate(opt_list(base, "functions")):
        obj = as_object(item, f"functions[{i}]")
        name, path = obj.get("function_name"), obj.get("path")
        if isinstance(name, str) and isinstance(path, str):
            paths[name] = root / path
    return paths


def targets_input(base: Mapping[str, Any], artifacts: Mapping[str, Artifact], *,
                  default_alias: str) -> list[dict[str, Any]]:
    """The ``functions`` list: the manifest's entries with their artifacts, then the rest."""
    listed = [dict(as_object(item, f"functions[{i}]"))
              for i, item in enumerate(opt_list(base, "functions"))]
    names = [item.get("function_name") for item in listed]
    listed += [{"function_name": name} for name in artifacts if name not in names]
    targets = []
    for item in listed:
        name = str(item.get("function_name"))
        if name not in artifacts:
            raise InvalidRequest(FLAG, f"no zip for {name}: give --artifact {name}=PATH "
                                       "or a path in the manifest")
        item.pop("path", None)
        item.setdefault("alias", default_alias)
        item["artifact"] = artifacts[name].to_dict()
        targets.append(item)
    return targets


def multi_release_key(targets: Sequence[Mapping[str, Any]], migrations_digest: str) -> str:
    """A short hex digest of every target (function, alias, artifact) and the migrations."""
    identity = json.dumps([[t["function_name"], t["alias"], t["artifact"]["sha256"]]
                           for t in targets] + [migrations_digest])
    return hashlib.sha256(identity.encode()).hexdigest()[:16]


def release_stem(targets: Sequence[Mapping[str, Any]]) -> tuple[str, str]:
    """What names the execution: the first function, and how many others ride along."""
    first = targets[0]
    return str(first["function_name"]), f"{first['alias']}-and-{len(targets) - 1}"

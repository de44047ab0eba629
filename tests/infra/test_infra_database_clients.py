"""Every function whose code reads PostgreSQL is a database client in its template.

Which functions read the database is read from their code (``code_scan``), not from a
list kept by hand, so a new handler that imports psycopg cannot be deployed without the
secret, the network path and the security group it needs (local mode, which gives a
function only what its template gives it, would not notice otherwise).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from stackflow import env
from stackflow.roles import MIGRATOR_ROLE, READER_ROLE

from infra.config import STAGES
from tests.infra.code_scan import database_import
from tests.infra.conftest import (
    Synthesized,
    as_list,
    database_client_gaps,
    exported_ids,
    function_statements,
    functions_of,
)


def created_database(synthesized: Synthesized, stage: str) -> tuple[list[Any], Any]:
    """The function subnets and clients group of the stage's database stack, as imports."""
    exports = exported_ids(synthesized.template_json(f"stackflow-{stage}-database"))
    subnets = [{"Fn::ImportValue": n} for n, lid in exports.items()
               if lid.startswith("VpcfunctionsSubnet")]
    (group,) = [{"Fn::ImportValue": n} for n, lid in exports.items()
                if lid.startswith("DatabaseClients")]
    return subnets, group


def test_the_scan_follows_imports_into_function_bodies_and_other_modules(
        tmp_path: Path) -> None:
    # GIVEN handlers that reach psycopg through a helper's lazy import, through the
    # postgres adapter, only under TYPE_CHECKING, or not at all
    files = {
        "api/app.py": "from api import helpers\ndef handler(e, c): return helpers.q()\n",
        "api/helpers.py": "def q():\n    import psycopg\n    return psycopg\n",
        "job/handler.py": "from stackflow.adapters import postgres\n",
        "stackflow/adapters/postgres.py": "from psycopg import sql\n",
        "typed/handler.py": ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                             "    import psycopg\nimport json\n"),
        "plain/handler.py": "from . import util\n",
        "plain/util.py": "import boto3\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    # WHEN each is scanned THEN the database import and the module holding it are found
    assert database_import("api.app.handler", tmp_path) == ("api.helpers", "psycopg")
    assert database_import("job.handler.handler", tmp_path) == (
        "job.handler", "stackflow.adapters.postgres")
    # AND type-only and unrelated imports are not database access
    assert database_import("typed.handler.handler", tmp_path) is None
    assert database_import("plain.handler.handler", tmp_path) is None


@pytest.mark.parametrize("stage", STAGES)
def test_every_function_that_reads_the_database_is_a_database_client(
        synthesized: Synthesized, stage: str) -> None:
    # GIVEN the stage's functions and the database stack's network
    body = synthesized.template_json(f"stackflow-{stage}")
    subnets, group = created_database(synthesized, stage)
    assert len(subnets) == 2
    # WHEN the functions whose handler code imports psycopg are picked out
    readers = {f["Handler"]: f for f in functions_of(body).values()
               if database_import(f["Handler"])}
    assert {"example_api.app.handler", "patcher.handler.handler",
            "drift_check.handler.handler"} <= set(readers)
    # THEN each has the secret's ARN, the database's function subnets and clients group,
    # and a role that may read that secret
    gaps = {handler: database_client_gaps(body, f, subnets=subnets, security_group=group)
            for handler, f in readers.items()}
    assert {h: g for h, g in gaps.items() if g} == {}


@pytest.mark.parametrize("stage", STAGES)
def test_functions_that_never_touch_the_database_get_no_way_to_it(
        synthesized: Synthesized, stage: str) -> None:
    # GIVEN the stage's functions whose code imports no database module
    body = synthesized.template_json(f"stackflow-{stage}")
    others = [f for f in functions_of(body).values() if not database_import(f["Handler"])]
    assert others  # the deploy steps, at least
    for function in others:
        # THEN none is told a secret, placed in the VPC or allowed to read a secret
        assert env.DB_SECRET_ARN not in function["Environment"]["Variables"], function
        assert "VpcConfig" not in function, function["Handler"]
        actions = {a for st in function_statements(body, function) for a in as_list(st["Action"])}
        assert not {a for a in actions if a.startswith("secretsmanager:")}, function["Handler"]


@pytest.mark.parametrize("stage", STAGES)
def test_each_client_logs_in_as_its_own_role(synthesized: Synthesized, stage: str) -> None:
    # GIVEN the stage's database clients and the database stack's secrets by user
    body = synthesized.template_json(f"stackflow-{stage}")
    database = synthesized.template_json(f"stackflow-{stage}-database")
    by_user = secret_exports_by_user(database)
    told = {f["Handler"]: f["Environment"]["Variables"][env.DB_SECRET_ARN]
            for f in functions_of(body).values()
            if env.DB_SECRET_ARN in f["Environment"]["Variables"]}
    # THEN the patcher is the schema owner, the drift check and the example's two
    # functions (StackFlowAPI, the orders worker) only read,
    # and nobody connects as the master user
    assert told == {
        "patcher.handler.handler": {"Fn::ImportValue": by_user[MIGRATOR_ROLE]},
        "drift_check.handler.handler": {"Fn::ImportValue": by_user[READER_ROLE]},
        "example_api.app.handler": {"Fn::ImportValue": by_user[READER_ROLE]},
        "example_api.worker.handler": {"Fn::ImportValue": by_user[READER_ROLE]},
    }


def test_the_example_api_reads_the_database_it_is_given(synthesized: Synthesized) -> None:
    # GIVEN StackFlowAPI in dev
    body = synthesized.template_json("stackflow-dev")
    (api,) = [f for f in functions_of(body).values() if f.get("FunctionName") == "StackFlowAPI"]
    patcher = next(f for f in functions_of(body).values()
                   if f["Handler"] == "patcher.handler.handler")
    # THEN it is told a secret (the reader's), in the patcher's network, and (with its
    # code reading DATABASE_URL only when set) nothing points it anywhere else
    variables = api["Environment"]["Variables"]
    assert variables[env.DB_SECRET_ARN] != patcher["Environment"]["Variables"][
        env.DB_SECRET_ARN]
    assert env.DATABASE_URL not in variables
    assert api["VpcConfig"] == patcher["VpcConfig"]


def secret_exports_by_user(database: dict[str, Any]) -> dict[str, str]:
    """Username -> export name of the secret attachment generated for that user."""
    exports = {lid: name for name, lid in exported_ids(database).items()}
    out = {}
    for lid, attachment in database["Resources"].items():
        if attachment["Type"] != "AWS::SecretsManager::SecretTargetAttachment":
            continue
        secret = database["Resources"][attachment["Properties"]["SecretId"]["Ref"]]
        template = secret["Properties"]["GenerateSecretString"]["SecretStringTemplate"]
        user = json.loads(template)["username"]
        if lid in exports:
            out[user] = exports[lid]
    return out

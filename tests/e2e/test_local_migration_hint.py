"""A release whose migrations fail part-way: the record says what to roll back, and how.

The failure record's ``migration_rollback`` must list exactly the migrations this
execution applied before the broken one, and its command must take the schema back
when run through the real patcher.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import psycopg
import pytest
from stackflow_tools.local.runner import REPO_ROOT, LocalMode, LocalOptions

from tests.e2e.local_support import applied_migrations, lock_held, record, versions

PATCHER_HANDLER = "patcher.handler.handler"
SAMPLE_VERSIONS = [1, 2, 3, 4]


def write_release_migrations(folder: Path, first: int) -> None:
    """Two good migrations numbered ``first`` and ``first + 1``, then a broken one."""
    good, more, broken = first, first + 1, first + 2
    (folder / f"{good:04d}_create_release_notes.up.sql").write_text(
        "CREATE TABLE release_notes (id bigserial PRIMARY KEY);\n")
    (folder / f"{good:04d}_create_release_notes.down.sql").write_text(
        "DROP TABLE release_notes;\n")
    (folder / f"{more:04d}_add_release_notes_body.up.sql").write_text(
        "ALTER TABLE release_notes ADD COLUMN body text;\n")
    (folder / f"{more:04d}_add_release_notes_body.down.sql").write_text(
        "ALTER TABLE release_notes DROP COLUMN body;\n")
    (folder / f"{broken:04d}_add_broken.up.sql").write_text(
        "ALTER TABLE release_notes ADD COLUMN author text;\n"
        "ALTER TABLE no_such_table ADD COLUMN x int;\n")
    (folder / f"{broken:04d}_add_broken.down.sql").write_text(
        "ALTER TABLE release_notes DROP COLUMN author;\n")


def invoke_patcher(local: LocalMode, function_name: str, payload: str) -> dict[str, Any]:
    """``aws lambda invoke`` of the patcher in local mode; the function's JSON result."""
    response = local.local_aws.client("lambda").invoke(FunctionName=function_name,
                                                       Payload=payload.encode())
    body = json.loads(response["Payload"].read())
    assert "FunctionError" not in response, body
    assert isinstance(body, dict)
    return body


def table_exists(database_url: str, table: str) -> bool:
    with psycopg.connect(database_url) as conn:
        found = conn.execute("SELECT to_regclass(%s)", (table,)).fetchone()
        return found is not None and found[0] is not None


def states_entered(local: LocalMode, execution_arn: str) -> list[str]:
    return [e["stateEnteredEventDetails"]["name"] for e in local.history(execution_arn)
            if "stateEnteredEventDetails" in e]


@pytest.mark.parametrize(("existing", "new_versions", "target"), [
    pytest.param(SAMPLE_VERSIONS, [5, 6], 4, id="schema-at-4"),
    pytest.param([], [1, 2], 0, id="empty-database"),
])
def test_migration_failure_records_the_exact_rollback_of_what_this_release_applied(
        local_options: LocalOptions, tmp_path: Path, existing: list[int],
        new_versions: list[int], target: int) -> None:
    # GIVEN a database already at the `existing` migrations, applied by someone else
    migrations = tmp_path / "migrations"
    if existing:
        shutil.copytree(REPO_ROOT / "migrations", migrations)
    else:
        migrations.mkdir()
    options = LocalOptions(**{**local_options.__dict__, "migrations_dir": migrations})
    with LocalMode(options) as local:
        assert local.stack is not None
        patcher = local.stack.function_by_handler(PATCHER_HANDLER)
        if existing:
            invoke_patcher(local, patcher, '{"action":"migrate","applied_by":"earlier-run"}')
        assert applied_migrations(local.database_url) == existing
        # AND a release whose migration set adds two good migrations, then a broken one
        write_release_migrations(migrations, new_versions[0])
        local.upload_migrations()
        # WHEN the release runs
        result = local.release("good", "1.1.0")
        # THEN it fails on the broken migration, after the two good ones were applied
        assert result.status == "FAILED"
        assert result.error == "MigrationFailed"
        assert applied_migrations(local.database_url) == [*existing, *new_versions]
        # AND no version was published, the alias is untouched and the lock is released
        assert versions(local) == ["1"]
        assert local.alias_state() == ("1", {})
        assert not lock_held(local)
        # AND the failure path read the schema before recording
        assert "SchemaAfter" in states_entered(local, result.execution_arn)
        # AND the record lists exactly this release's migrations and the exact command
        payload = json.dumps({"action": "rollback", "target": target}, separators=(",", ":"))
        hint = record(local, result.execution_arn)["migration_rollback"]
        impact = hint.pop("impact")
        assert hint == {
            "needed": True, "applied": new_versions, "target": target, "function": patcher,
            "command": f"aws lambda invoke --function-name {patcher} "
                       f"--cli-binary-format raw-in-base64-out --payload '{payload}' out.json",
            "verdict": "safe to roll back the schema", "rows_lost": 0}
        # AND its impact report: the applied down scripts drop release_notes, still empty
        assert [s["version"] for s in impact["scripts"]] == new_versions[::-1]
        # WHEN an operator runs that command's payload through the patcher
        sent = re.search(r"--payload '([^']*)'", hint["command"])
        assert sent is not None
        rolled_back = invoke_patcher(local, hint["function"], sent.group(1))
        # THEN the schema is back where the release found it
        assert rolled_back["current_version"] == (target or None)
        assert sorted(step["version"] for step in rolled_back["applied"]) == new_versions
        assert applied_migrations(local.database_url) == existing
        assert not table_exists(local.database_url, "release_notes")

"""The drift report in local mode: the synthesized drift Lambda after real releases."""

from __future__ import annotations

import shutil
from pathlib import Path

from stackflow_tools.local.drift import STACKS_NOT_CHECKED, render, run_drift_check
from stackflow_tools.local.runner import REPO_ROOT, LocalMode, LocalOptions


def unmanaged_worker(local: LocalMode) -> str:
    """What the report says of the example worker's alias before its first release."""
    return f"alias {local.worker_name}:{local.alias} is unmanaged"


def test_after_a_release_the_alias_and_schema_are_in_sync_and_stacks_are_not_checked(
        local: LocalMode) -> None:
    # GIVEN a healthy release promoted to version 2
    assert local.release("good", "1.1.0").status == "SUCCEEDED"
    # WHEN the drift Lambda runs on its scheduled event
    result = run_drift_check(local)
    # THEN the alias is where the deployment record says and the schema matches its source
    assert result.error is None
    assert result.alias_status(local.function_name, local.alias) == "in_sync"
    assert result.schema["checked"] is True
    assert result.schema["current_version"] == 4
    assert result.schema_findings == []
    # AND the worker's alias, watched too but never released, is unmanaged (not drift)
    assert result.alias_status(str(local.worker_name), local.alias) == "unmanaged"
    assert result.problems() == [unmanaged_worker(local)]
    # AND stack drift is reported as not checked, never as in sync
    assert result.report is not None
    assert result.report["stacks"] == []
    assert result.stacks_not_checked == ("stackflow-dev", "stackflow-dev-database")
    text = render(result)
    assert f"stackflow-dev, stackflow-dev-database: {STACKS_NOT_CHECKED}" in text
    assert "no drift in aliases and schema (stacks not checked)" in text


def test_an_alias_moved_by_hand_is_reported_as_alias_drift(local: LocalMode) -> None:
    # GIVEN release 1.1.0 promoted version 2 and the drift check found nothing
    assert local.release("good", "1.1.0").status == "SUCCEEDED"
    assert run_drift_check(local).problems() == [unmanaged_worker(local)]
    # WHEN someone points the alias back at version 1 by hand
    local.local_aws.client("lambda").update_alias(
        FunctionName=local.function_name, Name=local.alias, FunctionVersion="1")
    result = run_drift_check(local)
    # THEN the report shows alias drift: on 1 where the last deployment put 2
    assert result.alias_status(local.function_name, local.alias) == "drifted"
    alias = result.aliases[0]
    assert (alias["actual"]["version"], alias["expected"]["version"]) == ("1", "2")
    assert result.report is not None
    assert result.report["drifted"] is True
    assert "DRIFTED" in render(result)


def test_an_applied_migration_edited_in_the_source_is_a_checksum_mismatch(
        local_options: LocalOptions, tmp_path: Path) -> None:
    # GIVEN a release that applied the migrations of a local migration folder
    migrations = tmp_path / "migrations"
    shutil.copytree(REPO_ROOT / "migrations", migrations)
    options = LocalOptions(**{**local_options.__dict__, "migrations_dir": migrations})
    with LocalMode(options) as local:
        assert local.release("good", "1.1.0").status == "SUCCEEDED"
        # WHEN the up script of applied migration 3 is edited and the source updated
        edited = next(migrations.glob("0003_*.up.sql"))
        edited.write_text(edited.read_text() + "\n-- edited after it was applied\n")
        local.upload_migrations()
        result = run_drift_check(local)
    # THEN the report names a checksum mismatch for migration 3 (and nothing else moved)
    findings = [(f["kind"], f["version"]) for f in result.schema_findings]
    assert findings == [("checksum_mismatch", 3)]
    assert result.alias_status("StackFlowAPI", "PROD") == "in_sync"
    assert "CHECKSUM_MISMATCH migration 3" in render(result)

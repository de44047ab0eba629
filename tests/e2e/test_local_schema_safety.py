"""Safe schema changes end to end, in one local-mode session for the whole module
(``make test`` is near its time budget); the scenarios run in order on it: a canary
writing into what its migration added and what the failure record says a schema
rollback would lose; expand before Publish and contract after Promote; a failing
contract that leaves the release promoted."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from stackflow_tools.local.runner import REPO_ROOT, LocalMode, LocalOptions
from stackflow_tools.local.traffic import http_event

from tests.e2e.local_support import applied_migrations, record, states_entered
from tests.support.postgres import fresh_database

REFERRAL_UP = "ALTER TABLE customers ADD COLUMN referral text;\n"
REFERRAL_DOWN = "ALTER TABLE customers DROP COLUMN referral;\n"


@pytest.fixture(scope="module")
def session(cdk_out: Path, pg_admin_uri: str,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalMode, Path]]:
    """One local environment (and database) for the scenarios below, which run in order
    on it (one test, so pytest-xdist keeps them on one worker); the migrations folder
    is theirs to add to."""
    workdir = tmp_path_factory.mktemp("schema-safety")
    migrations = workdir / "migrations"
    shutil.copytree(REPO_ROOT / "migrations", migrations)
    with fresh_database(pg_admin_uri) as url:
        options = LocalOptions(cdk_out=cdk_out, workdir=workdir, database_url=url,
                               time_scale=0.001, check_interval_seconds=150,
                               migrations_dir=migrations)
        with LocalMode(options) as local:
            yield local, migrations


def count(database_url: str, sql: str) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(sql).fetchone()
        assert row is not None
        return int(row[0])


class CanaryWrites:
    """What the new version's users write once its column exists: three customers with
    a referral, written from the test while the release runs. (StackFlowAPI reads as
    ``stackflow_reader``, as in AWS, so the example cannot write them itself.)"""

    def __init__(self, database_url: str) -> None:
        self.database_url, self.done = database_url, False

    def __call__(self) -> None:
        if self.done:
            return
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            found = conn.execute("SELECT 1 FROM information_schema.columns WHERE "
                                 "table_name = 'customers' AND column_name = 'referral'")
            if found.fetchone() is None:
                return
            conn.execute("INSERT INTO customers (email, name, referral) SELECT "
                         "'c' || n || '@canary.example', 'canary', 'v2' "
                         "FROM generate_series(1, 3) n")
        self.done = True


def canary_wrote_rows_a_schema_rollback_drops(
        session: tuple[LocalMode, Path]) -> None:
    local, migrations = session
    # GIVEN the sample schema released with the good build
    assert local.release("good", "1.1.0").status == "SUCCEEDED"
    assert applied_migrations(local.database_url) == [1, 2, 3, 4]
    promoted = local.alias_state()
    # AND a release that adds customers.referral, whose users write referrals while its
    # canary (a build erroring on GET /orders) bakes
    (migrations / "0005_add_customer_referral.up.sql").write_text(REFERRAL_UP)
    (migrations / "0005_add_customer_referral.down.sql").write_text(REFERRAL_DOWN)
    local.upload_migrations()
    # WHEN it runs
    writes = CanaryWrites(local.database_url)
    result = local.release("orders-regression", "1.2.0", on_poll=writes)
    # THEN the canary fails and the alias goes back, the schema stays (runbook: alias
    # first, then assess)
    assert (result.status, result.error) == ("FAILED", "CanaryUnhealthy")
    assert local.alias_state() == promoted
    assert applied_migrations(local.database_url) == [1, 2, 3, 4, 5]
    assert "RollbackImpact" in states_entered(local, result.execution_arn)
    # AND the record says exactly how many rows the down script would drop
    written = count(local.database_url, "SELECT count(referral) FROM customers")
    assert writes.done
    assert written == 3
    saved = record(local, result.execution_arn)
    hint = saved["migration_rollback"]
    assert hint["applied"] == [5]
    assert hint["rows_lost"] == written
    assert hint["verdict"] == f"rolling back loses {written} row(s) written by the new version"
    (script,) = hint["impact"]["scripts"]
    assert script["file"] == "0005_add_customer_referral.down.sql"
    assert [(o["kind"], o["object"], o["non_null_values"]) for o in script["objects"]] == [
        ("drop_column", "customers.referral", written)]
    assert saved["schema_baseline"]["version"] == 4


class PreviousVersionReads:
    """While the canary bakes (the alias routes part of the traffic to the new version),
    send the previous version a request whose query reads customers, and note whether
    the contract's column was still there."""

    def __init__(self, local: LocalMode, previous: str) -> None:
        self.local, self.previous = local, previous
        self.answers: list[int] = []
        self.column_present: list[bool] = []

    def __call__(self) -> None:
        _, routing = self.local.alias_state()
        if not routing:
            return
        event = json.dumps(http_event("/customers")).encode()
        answer = self.local.local_aws.client("lambda").invoke(
            FunctionName=self.local.function_name, Qualifier=self.previous, Payload=event)
        self.answers.append(json.loads(answer["Payload"].read())["statusCode"])
        self.column_present.append(count(
            self.local.database_url, "SELECT count(*) FROM information_schema.columns "
            "WHERE table_name = 'customers' AND column_name = 'referral'") == 1)


def expand_before_publish_and_contract_after_promote(
        session: tuple[LocalMode, Path]) -> None:
    local, migrations = session
    previous, _ = local.alias_state()
    # GIVEN the classic rename, in two migrations: expand (add the new column and
    # backfill it), then contract (drop the old one)
    (migrations / "0006_add_customer_source.up.sql").write_text(
        "ALTER TABLE customers ADD COLUMN source text;\n"
        "UPDATE customers SET source = referral;\n")
    (migrations / "0006_add_customer_source.down.sql").write_text(
        "ALTER TABLE customers DROP COLUMN source;\n")
    (migrations / "0007_drop_customer_referral.up.sql").write_text(
        "-- stackflow:phase contract\nALTER TABLE customers DROP COLUMN referral;\n")
    (migrations / "0007_drop_customer_referral.down.sql").write_text(
        "ALTER TABLE customers ADD COLUMN referral text;\n")
    local.upload_migrations()
    # WHEN the release runs, the previous version being asked while the canary bakes
    reads = PreviousVersionReads(local, previous)
    result = local.release("good", "1.3.0", on_poll=reads)
    # THEN it is promoted
    assert result.status == "SUCCEEDED"
    # AND the previous version answered while the canary baked, on the expanded schema
    assert reads.answers
    assert set(reads.answers) == {200}
    assert all(reads.column_present)
    # AND Migrate applied the expand migration before Publish, MigrateContract the
    # contract one after Promote
    entered = states_entered(local, result.execution_arn)
    assert entered.index("Migrate") < entered.index("Publish")
    assert entered.index("Promote") < entered.index("MigrateContract") < entered.index(
        "Record")
    saved = record(local, result.execution_arn)
    assert saved["status"] == "SUCCEEDED"
    assert saved["contract"] == {"applied": [7]}
    assert applied_migrations(local.database_url)[-2:] == [6, 7]


def failing_contract_leaves_the_release_promoted(
        session: tuple[LocalMode, Path]) -> None:
    local, migrations = session
    # GIVEN an expand migration and a contract migration that fails
    (migrations / "0008_add_customer_tier.up.sql").write_text(
        "ALTER TABLE customers ADD COLUMN tier text;\n")
    (migrations / "0008_add_customer_tier.down.sql").write_text(
        "ALTER TABLE customers DROP COLUMN tier;\n")
    (migrations / "0009_drop_customer_source.up.sql").write_text(
        "-- stackflow:phase contract\n-- stackflow:irreversible\n"
        "ALTER TABLE no_such_table DROP COLUMN source;\n")
    local.upload_migrations()
    # WHEN the release runs
    result = local.release("good", "1.4.0")
    # THEN the execution succeeds and the new version serves everything
    assert result.status == "SUCCEEDED"
    assert local.alias_state() == (record(local, result.execution_arn)["new_version"], {})
    # AND the record says the contract is pending, and why
    saved = record(local, result.execution_arn)
    assert saved["status"] == "SUCCEEDED_WITH_PENDING_CONTRACT"
    assert saved["contract"]["error"]["type"] == "MigrationFailed"
    assert saved["contract"]["finish_with"] == "stackflow migrate --phase contract"
    # AND the schema is the expanded one: 8 applied, 9 not
    assert applied_migrations(local.database_url)[-1] == 8


def test_safe_schema_changes_end_to_end(session: tuple[LocalMode, Path]) -> None:
    canary_wrote_rows_a_schema_rollback_drops(session)
    expand_before_publish_and_contract_after_promote(session)
    failing_contract_leaves_the_release_promoted(session)

"""Pure rules of the release path: what a zip ships, release names, terminal lines."""

from __future__ import annotations

import base64
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from stackflow.adapters.stepfunctions import Execution, HistoryEvent, execution_arn
from stackflow.errors import InvalidRequest, PackageBuildFailed
from stackflow_tools.cli.pipeline import ci_context, execution_input
from stackflow_tools.release import wheels
from stackflow_tools.release.artifacts import Artifact, artifact_key, migrations_digest
from stackflow_tools.release.package import check_imports, runtime_imports
from stackflow_tools.release.pipeline import (
    NAME_MAX,
    cause_message,
    current_state,
    describe_event,
    failure_text,
    plan_step,
    release_key,
    release_name,
)

SHA = "Dg6dnGC9+ltB8tVHEp7E/i7264QhiK9hUCXILvAqncQ="
T0 = datetime(2026, 1, 1, tzinfo=UTC)


# --- what a wheel contributes to a zip --------------------------------------------------
@pytest.mark.parametrize(("member", "shipped"), [
    ("psycopg/__init__.py", "psycopg/__init__.py"),
    ("pkg-1.0.data/purelib/pkg/extra.py", "pkg/extra.py"),
    ("pkg-1.0.data/platlib/pkg/_fast.so", "pkg/_fast.so"),
    ("pkg-1.0.data/scripts/pkg-cli", None),
    ("pkg-1.0.dist-info/METADATA", "pkg-1.0.dist-info/METADATA"),
    ("pkg-1.0.dist-info/licenses/LICENSE", "pkg-1.0.dist-info/licenses/LICENSE"),
    ("pkg-1.0.dist-info/RECORD", None),
    ("pkg-1.0.dist-info/entry_points.txt", None),
    ("pkg/__pycache__/mod.cpython-313.pyc", None),
    ("pkg/tests/test_mod.py", None),
    ("pkg/mod.pyi", None),
    ("pkg-stubs/__init__.pyi", None),
])
def test_only_what_runs_is_taken_from_a_wheel(member: str, shipped: str | None) -> None:
    # GIVEN a wheel member / THEN it lands at its site-packages path, or not at all
    assert wheels.installed_path(member) == shipped


def test_a_lambda_target_allows_no_newer_glibc_than_its_amazon_linux() -> None:
    # GIVEN the runtimes on Amazon Linux 2023 (3.12+) and Amazon Linux 2 (3.11)
    new, old = wheels.lambda_target("3.13", "x86_64"), wheels.lambda_target("3.11", "arm64")

    # THEN the wheel platforms stop at each one's glibc and name its CPU
    assert new.platforms[0] == "manylinux_2_34_x86_64"
    assert old.platforms[0] == "manylinux_2_26_aarch64"
    assert "manylinux2014_aarch64" in old.platforms
    assert new.abi == "cp313"


def test_an_unknown_architecture_is_refused_naming_the_flag() -> None:
    with pytest.raises(InvalidRequest) as caught:
        wheels.lambda_target("3.13", "sparc")
    assert caught.value.field == "--arch"


# --- getting the wheels ----------------------------------------------------------------
class FakePip:
    """Stands in for ``pip download``: each call answers with the next outcome, and a
    successful one writes the wheels into ``--dest`` as pip would."""

    def __init__(self, *outcomes: int | OSError, stderr: str = "") -> None:
        self.outcomes = list(outcomes)
        self.stderr = stderr
        self.calls: list[list[str]] = []

    def __call__(self, args: list[str], **_: Any) -> subprocess.CompletedProcess[str]:
        self.calls.append(args)
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, OSError):
            raise outcome
        if outcome == 0:
            dest = Path(args[args.index("--dest") + 1])
            (dest / "psycopg-3.3.9-py3-none-any.whl").write_bytes(b"wheel")
        return subprocess.CompletedProcess(args, outcome, "", self.stderr)


TARGET = wheels.lambda_target("3.13", "x86_64")


def fetch(tmp_path: Path, pip: FakePip) -> list[Path]:
    return wheels.fetch_wheels(TARGET, ["psycopg[binary]"], tmp_path / "constraints.txt",
                               tmp_path / "cache", run=pip)


def test_a_full_cache_is_used_without_the_network(tmp_path: Path) -> None:
    # GIVEN pip finds every wheel in the cache (--no-index succeeds)
    pip = FakePip(0)
    # WHEN the wheels are fetched
    fetched = fetch(tmp_path, pip)
    # THEN pip ran once, offline, reading the target's cache folder, and the wheels are
    # the cached files
    [args] = pip.calls
    assert "--no-index" in args
    assert args[args.index("--find-links") + 1] == str(tmp_path / "cache" / "cp313-x86_64")
    assert fetched == [tmp_path / "cache" / "cp313-x86_64" / "psycopg-3.3.9-py3-none-any.whl"]
    assert fetched[0].read_bytes() == b"wheel"


def test_missing_wheels_are_downloaded_once_into_the_cache(tmp_path: Path) -> None:
    # GIVEN an empty cache: offline fails, the download succeeds
    pip = FakePip(1, 0)
    fetched = fetch(tmp_path, pip)
    # THEN the second call went to the index and its wheels were kept in the cache
    assert ["--no-index" in args for args in pip.calls] == [True, False]
    assert [path.parent.name for path in fetched] == ["cp313-x86_64"]
    assert fetched[0].is_file()


@pytest.mark.parametrize("failure", [1, FileNotFoundError(2, "No such file", "python")])
def test_a_failed_download_is_package_build_failed_naming_target_and_cause(
        tmp_path: Path, failure: int | OSError) -> None:
    # GIVEN nothing cached and a download that fails (pip's error, or no pip at all)
    pip = FakePip(1, failure, stderr="Looking in indexes: https://pypi.org/simple\n"
                                     "ERROR: No matching distribution found for psycopg")
    # WHEN the wheels are fetched / THEN one typed error says what and why
    with pytest.raises(PackageBuildFailed) as caught:
        fetch(tmp_path, pip)
    message = caught.value.message
    assert message.startswith("cannot get the runtime wheels for cp313-x86_64")
    assert "is the package index reachable?" in message
    expected = "No matching distribution" if failure == 1 else "No such file"
    assert expected in message
    assert not list((tmp_path / "cache").rglob("*.whl"))


def test_locked_wheels_are_hash_checked_offline_and_online(tmp_path: Path) -> None:
    # GIVEN an empty cache: offline fails, the download succeeds
    pip = FakePip(1, 0)
    lock = tmp_path / "lambda-requirements.txt"
    # WHEN the locked wheels are fetched
    fetched = wheels.fetch_locked_wheels(TARGET, lock, tmp_path / "cache", run=pip)
    # THEN both pip calls require hashes and read the lock, and nothing else
    for args in pip.calls:
        assert "--require-hashes" in args
        assert args[args.index("--requirement") + 1] == str(lock)
        assert "--constraint" not in args
    # AND the download comes from the index only: a cached file that failed its hash
    # check is not offered to pip again
    offline, online = pip.calls
    assert "--find-links" in offline
    assert "--find-links" not in online
    assert fetched[0].read_bytes() == b"wheel"


def test_a_downloaded_wheel_replaces_a_different_cached_one(tmp_path: Path) -> None:
    # GIVEN a cached file under the wheel's name with other bytes (it failed the check)
    cached = tmp_path / "cache" / "cp313-x86_64" / "psycopg-3.3.9-py3-none-any.whl"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"tampered")
    # WHEN the wheels are fetched again (offline fails, the download succeeds)
    wheels.fetch_locked_wheels(TARGET, tmp_path / "lock.txt", tmp_path / "cache",
                               run=FakePip(1, 0, stderr="THESE PACKAGES DO NOT MATCH THE "
                                                        "HASHES"))
    # THEN the cache holds the checked download
    assert cached.read_bytes() == b"wheel"


# --- imports the zip must satisfy -------------------------------------------------------
def test_a_module_imported_but_not_shipped_fails_the_build_naming_it() -> None:
    # GIVEN a handler importing yaml, which neither the zip nor the runtime has
    project = {"patcher/handler.py": b"import json\nimport boto3\nimport yaml\n"}

    # WHEN the zip's imports are checked / THEN the build fails naming module and file
    with pytest.raises(PackageBuildFailed, match=r"yaml \(imported by patcher/handler.py\)"):
        check_imports(project, dict(project))


def test_type_checking_and_optional_imports_are_not_required() -> None:
    # GIVEN imports only type checkers or an ImportError fallback need
    source = (b"from typing import TYPE_CHECKING\n"
              b"if TYPE_CHECKING:\n    from mypy_boto3_s3 import S3Client\n"
              b"try:\n    import ujson\nexcept ImportError:\n    ujson = None\n"
              b"def f():\n    import psycopg\n")

    # THEN only the one that runs unconditionally counts
    assert runtime_imports(source, "m.py") == {"typing", "psycopg"}


# --- release identity -------------------------------------------------------------------
def test_release_names_are_deterministic_and_valid_execution_names() -> None:
    # GIVEN an odd function name and a long alias
    key = release_key("my.func:with/odd chars", "PROD" * 30, SHA, migrations_digest({}))

    # WHEN attempts are named
    first = release_name("my.func:with/odd chars", "PROD" * 30, key)
    third = release_name("my.func:with/odd chars", "PROD" * 30, key, attempt=3)

    # THEN they fit Step Functions' rules and differ only by the attempt suffix
    for name in (first, third):
        assert len(name) <= NAME_MAX
        assert all(c.isalnum() or c in "-_" for c in name)
    assert first.startswith("my-func-with-odd-chars-PROD")
    assert first.endswith(key)
    assert third.endswith(f"{key}-r3")
    assert release_key("my.func:with/odd chars", "PROD" * 30, SHA, migrations_digest({})) == key


def test_a_new_artifact_or_migration_makes_a_new_release() -> None:
    base = release_key("StackFlowAPI", "PROD", SHA, migrations_digest({"0001_a.up.sql": b"x"}))
    assert release_key("StackFlowAPI", "PROD", "A" + SHA[1:],
                       migrations_digest({"0001_a.up.sql": b"x"})) != base
    assert release_key("StackFlowAPI", "PROD", SHA,
                       migrations_digest({"0001_a.up.sql": b"y"})) != base
    assert release_key("StackFlowAPI", "BETA", SHA,
                       migrations_digest({"0001_a.up.sql": b"x"})) != base


def test_artifacts_are_stored_under_their_content_hash() -> None:
    # GIVEN the base64 SHA-256 Lambda reports / THEN the key holds the same digest in hex
    assert artifact_key("StackFlowAPI", SHA) == f"StackFlowAPI/{base64.b64decode(SHA).hex()}.zip"


def test_execution_arn_is_derived_from_the_state_machine() -> None:
    machine = "arn:aws:states:eu-west-1:123456789012:stateMachine:stackflow-dev"
    assert execution_arn(machine, "run-1") == (
        "arn:aws:states:eu-west-1:123456789012:execution:stackflow-dev:run-1")


# --- the execution input ----------------------------------------------------------------
def test_the_execution_input_keeps_the_base_and_fills_in_the_release() -> None:
    # GIVEN a base input and a GitHub Actions environment
    base = {"function_name": "Old", "smoke": {"dir": "events/smoke"},
            "migrations": {"enabled": True, "target": 3}, "ci": {"commit": "old"}}
    environ = {"GITHUB_SHA": "abc123", "GITHUB_SERVER_URL": "https://github.com",
               "GITHUB_REPOSITORY": "org/repo", "GITHUB_RUN_ID": "42"}

    # WHEN the release's input is built
    document = execution_input(
        base, function_name="StackFlowAPI", alias="PROD",
        artifact=Artifact("bucket", "StackFlowAPI/x.zip", "v1", SHA), migrations=False,
        strategy="AllAtOnce", environ=environ)

    # THEN what this release decides replaces the base, the rest is kept
    assert document["function_name"] == "StackFlowAPI"
    assert document["artifact"] == {"bucket": "bucket", "key": "StackFlowAPI/x.zip",
                                    "version_id": "v1", "sha256": SHA}
    assert document["migrations"] == {"enabled": False, "target": 3}
    assert document["strategy"] == {"preset": "AllAtOnce"}
    assert document["smoke"] == {"dir": "events/smoke"}
    assert document["ci"] == {"commit": "abc123",
                              "run_url": "https://github.com/org/repo/actions/runs/42"}


def test_outside_ci_there_is_no_ci_context() -> None:
    assert ci_context({}) == {}


# --- following an execution on the terminal -----------------------------------------------
def test_a_shift_is_shown_as_its_plan_step_never_as_the_traffic() -> None:
    # GIVEN Shift results / THEN each reads as the step of the plan it reached; the last
    # one does not claim 100 % (Promote moves the alias; only the alias tells routing)
    assert plan_step(0.1, 0, 2, False) == "plan step 1/2: 10% to the new version"
    assert plan_step(1 / 3, 0, None, False) == "plan step 1: 33.33% to the new version"
    assert plan_step(1.0, 1, 2, True) == "plan step 2/2: done, Promote moves the alias next"


def test_a_lambda_failure_cause_is_shown_as_its_message() -> None:
    cause = '{"errorType": "SmokeTestFailed", "errorMessage": "health: 500", "stackTrace": []}'
    assert cause_message(cause) == "health: 500"
    assert cause_message("plain text") == "plain text"
    failed = Execution("arn", "n", "FAILED", T0, error="SmokeTestFailed", cause=cause)
    assert failure_text(failed) == "SmokeTestFailed: health: 500"


def test_events_become_lines_with_the_elapsed_time() -> None:
    # GIVEN a Shift that finished 75 s into the execution
    event = HistoryEvent(7, "TaskStateExited", T0 + timedelta(seconds=75), state="Shift",
                         output='{"shift": {"weight": 0.25, "index": 0, "steps_total": 4}}')

    # THEN its line shows the elapsed time, the state and the plan step it reached
    assert describe_event(event, T0) == ("[  1:15] Shift done -- plan step 1/4: 25% to the "
                                         "new version")
    # AND events nobody follows a release by are not shown
    assert describe_event(HistoryEvent(8, "TaskScheduled", T0), T0) is None


def test_the_current_state_is_the_last_entered_and_not_exited() -> None:
    events = [HistoryEvent(1, "PassStateEntered", T0, state="Start"),
              HistoryEvent(2, "PassStateExited", T0, state="Start"),
              HistoryEvent(3, "WaitStateEntered", T0, state="Bake")]
    assert current_state(events) == "Bake"
    assert current_state(events[:2]) is None

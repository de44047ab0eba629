"""``stackflow report`` of real releases: local mode runs a promoted and a rolled-back one.

One local environment for the module (a release is seconds, a start is most of the
cost): release 1.1.0 (``good``) is promoted, 1.2.0 (``orders-regression``) errors under
its canary and rolls back. Their reports are read through the adapters as against AWS,
rendered, summarized for GitHub Actions, and the HTML is opened in a real Chromium.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import pytest
from stackflow.adapters import default_client
from stackflow_tools.cli import main as cli_main
from stackflow_tools.local.reports import local_report, write_report
from stackflow_tools.local.runner import LocalMode, ReleaseResult
from stackflow_tools.report.model import PROMOTED, ROLLED_BACK

from tests.e2e.local_support import module_session
from tests.support.chromium import BROWSER_VARIABLE, find_browser, open_page


@dataclass(frozen=True)
class Released:
    mode: LocalMode
    promoted: ReleaseResult
    rolled_back: ReleaseResult
    reports: Path


@pytest.fixture(scope="module")
def released(cdk_out: Path, pg_admin_uri: str,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[Released]:
    workdir = tmp_path_factory.mktemp("report")
    with module_session(cdk_out, pg_admin_uri, workdir,
                        check_interval_seconds=None) as mode:
        yield Released(mode, mode.release("good", "1.1.0"),
                       mode.release("orders-regression", "1.2.0"), workdir / "reports")


def test_the_promoted_release_reports_its_canary_traffic_and_migrations(
        released: Released) -> None:
    # GIVEN release 1.1.0, promoted from version 1 to 2 with a 10% canary
    assert released.promoted.status == "SUCCEEDED", released.promoted.cause
    # WHEN its report is read from the local AWS (history, table, CloudWatch)
    report = local_report(released.mode, released.promoted.execution_arn)
    # THEN it is promoted from 1 to 2, through 10%, with every migration applied
    assert report.verdict.outcome == PROMOTED
    assert (report.previous_version, report.new_version) == ("1", "2")
    assert [(s.label, s.weight) for s in report.traffic] == [("shift 1 of 2", 0.1),
                                                            ("promote", 1.0)]
    assert [m.version for m in report.migrations.applied] == [1, 2, 3, 4]
    assert [(c.name, c.passed) for c in report.smoke] == [("health", True)]
    # AND the canary's requests through the alias are there per version, error-free
    assert report.metrics_note is None
    new = report.versions[1]
    assert new.invocations > 0
    assert new.errors == 0
    assert [run.name for run in report.states][-1] == "Deployed"


def test_the_rolled_back_release_reports_the_errors_of_the_new_version(
        released: Released) -> None:
    # GIVEN release 1.2.0, whose GET /orders fails under the canary
    assert released.rolled_back.error == "CanaryUnhealthy"
    # WHEN its report is read
    report = local_report(released.mode, released.rolled_back.execution_arn)
    # THEN it is a rollback to version 2, for the error the health check raised
    assert report.verdict.outcome == ROLLED_BACK
    assert report.verdict.error == "CanaryUnhealthy"
    assert (report.previous_version, report.new_version) == ("2", "3")
    assert [(s.label, s.weight) for s in report.traffic] == [("shift 1 of 2", 0.1),
                                                            ("rollback", 0.0)]
    assert any(run.name == "HealthCheck" and run.failed for run in report.states)
    # AND CloudWatch shows the errors on version 3, none on version 2
    previous, new = report.versions
    assert new.errors > 0
    assert previous.errors == 0
    assert previous.invocations > new.invocations
    # AND the deployment record (read from the deploy table) says no schema to undo
    assert report.migrations.rollback == {"needed": False, "applied": []}


def test_pipeline_status_appends_both_summaries_to_the_github_job_summary(
        released: Released, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN GitHub's job summary file
    summary = tmp_path / "step_summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    default_client.cache_clear()  # the CLI's clients, for this local AWS
    # WHEN `pipeline status` shows each release
    for result in (released.promoted, released.rolled_back):
        with redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()) as err:
            code = cli_main.main(["pipeline", "status", result.execution_arn])
        assert code == 0, err.getvalue()
    default_client.cache_clear()
    # THEN the summary holds both verdicts, their timelines and traffic steps
    text = summary.read_text()
    assert "### ✅ StackFlowAPI:PROD promoted to version 2 (was 1)" in text
    assert "### ↩️ StackFlowAPI:PROD rolled back to version 2: version 3 failed" in text
    assert "**CanaryUnhealthy**: StackFlowAPI:PROD canary unhealthy" in text
    assert "| HealthCheck |" in text
    assert text.count("| shift 1 of 2 | 90% | 10% |") == 2


def test_pipeline_start_wait_appends_the_summary_of_a_release_its_smoke_test_stopped(
        released: Released, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN CI's job summary file and a build whose GET /health fails
    summary = tmp_path / "step_summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    mode = released.mode
    artifact = tmp_path / "stackflow-api.zip"
    artifact.write_bytes(mode.build("health-regression", "1.3.0"))
    base = tmp_path / "execution-input.json"
    base.write_text(json.dumps(mode.base_input()))
    # WHEN CI releases it with `pipeline start --wait`
    default_client.cache_clear()
    with redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()) as err:
        code = cli_main.main([
            "pipeline", "start", "--artifact", str(artifact), "--input", str(base),
            "--bucket", mode.artifacts_bucket, "--migrations",
            str(mode.options.migrations_dir), "--state-machine-arn",
            mode.state_machine_arn, "--poll-seconds", "0.05", "--wait"])
    default_client.cache_clear()
    # THEN the release failed, and the summary says so with the failed smoke case
    assert code == 1, err.getvalue()
    text = summary.read_text()
    assert text.startswith("### ❌ StackFlowAPI:PROD stays on version 2: the release "
                           "failed with SmokeTestFailed")
    assert "**Smoke**: 0 of 1 passed: health **failed**" in text
    assert "**Traffic**: the alias never moved." in text


def test_the_html_report_renders_in_chromium_without_errors_or_requests(
        released: Released, tmp_path: Path) -> None:
    # GIVEN the rolled-back release's HTML report, as `make demo` writes it
    page = write_report(released.mode, released.rolled_back.execution_arn,
                        released.reports / "release-1.2.0.html")
    browser = find_browser()
    if browser is None:
        pytest.skip(f"no Chromium to open the report in: install Debian's `chromium` "
                    f"package, or set {BROWSER_VARIABLE} to a Chrome or Chromium binary")
    checks = {
        "weights": "[...document.querySelectorAll('svg.traffic polyline.weight')]"
                   ".map(p => [p.dataset.version, p.getBBox().width])",
        "verdict": "document.querySelector('header.verdict').innerText",
        "background": "getComputedStyle(document.body).backgroundColor",
    }
    # WHEN a real headless Chromium opens it, in light, dark and print
    light = open_page(browser, page.as_uri(), expressions=checks)
    dark = open_page(browser, page.as_uri(), expressions=checks, dark=True)
    printed = open_page(browser, page.as_uri(), expressions=checks, dark=True, media="print")
    (tmp_path / "report.png").write_bytes(light.screenshot)
    # THEN the page rendered: a drawn traffic line per version, the verdict, a screenshot
    assert [version for version, _ in light.values["weights"]] == ["2", "3"]
    assert all(width > 100 for _, width in light.values["weights"])
    assert "rolled back to version 2" in light.values["verdict"]
    assert "CanaryUnhealthy" in light.values["verdict"]
    assert light.screenshot.startswith(b"\x89PNG")
    assert len(light.screenshot) > 20_000
    # AND nothing went wrong and nothing was fetched: the page is its only request
    for load in (light, dark, printed):
        assert load.console_errors == []
        assert load.requests == [page.as_uri()]
    # AND dark mode darkens it; printed, it is black on white whatever the system says
    assert light.values["background"] == "rgb(255, 255, 255)"
    assert dark.values["background"] != light.values["background"]
    assert printed.values["background"] == "rgb(255, 255, 255)"

"""cfn-lint and cdk-nag over the synthesized templates of every stage."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aws_cdk import App, Stack, Validations
from aws_cdk import aws_s3 as s3
from cfnlint.api import ManualArgs, lint  # type: ignore[import-untyped]

from infra.nag import MIN_REASON_LENGTH, PLUGIN_PREFIX, apply_aws_solutions
from tests.infra.conftest import Synthesized

# CDK makes each function depend on its role and the role's policy explicitly; cfn-lint
# notes that the GetAtt on the role already implies the first. Harmless and not ours.
IGNORED_CHECKS = ["W3005"]
STACKS = [f"stackflow-{stage}{suffix}" for stage in ("dev", "staging", "prod")
          for suffix in ("", "-database")]


@pytest.mark.parametrize("stack", STACKS)
def test_template_is_cfn_lint_clean(synthesized: Synthesized, stack: str) -> None:
    # GIVEN a synthesized template
    body = (synthesized.outdir / f"{stack}.template.json").read_text()
    # WHEN cfn-lint checks it for errors and warnings
    matches = lint(body, config=ManualArgs(regions=["us-east-1", "eu-west-1"],
                                           ignore_checks=IGNORED_CHECKS))
    # THEN it reports nothing
    assert [f"{m.rule.id} {m.message}" for m in matches] == []


def test_cdk_nag_reports_no_unacknowledged_finding(synthesized: Synthesized) -> None:
    # GIVEN every stage synthesized with cdk-nag's AwsSolutions pack attached
    report = json.loads((synthesized.outdir / "validation-report.json").read_text())
    # THEN synthesis went through and the report holds no violation at all
    assert synthesized.error is None
    violations = [v["ruleName"] for p in report["pluginReports"] for v in p["violations"]]
    assert violations == []


def test_cdk_nag_stops_synthesis_on_an_unacknowledged_finding(tmp_path: Path) -> None:
    # GIVEN the same checks on an app with a bucket that breaks the AwsSolutions rules
    app = App(outdir=str(tmp_path))
    s3.Bucket(Stack(app, "probe"), "PlainBucket")
    apply_aws_solutions(app)
    # WHEN it synthesizes THEN validation fails and the report names the findings
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    report = json.loads((tmp_path / "validation-report.json").read_text())
    rules = {v["ruleName"] for p in report["pluginReports"] for v in p["violations"]}
    assert {"AwsSolutions-S1", "AwsSolutions-S10"} <= rules


def test_every_acknowledgement_carries_a_written_reason(synthesized: Synthesized) -> None:
    # GIVEN every cdk-nag acknowledgement recorded in the construct tree
    key = Validations.ACKNOWLEDGED_RULES_METADATA_KEY
    acknowledged = {
        (construct.node.path, rule.removeprefix(PLUGIN_PREFIX)): reason
        for construct in synthesized.app.node.find_all()
        for entry in construct.node.metadata if entry.type == key
        for rule, reason in entry.data.items() if rule.startswith(PLUGIN_PREFIX)
    }
    assert len(acknowledged) > 20
    for (path, rule), reason in acknowledged.items():
        # THEN each names one rule and explains itself in a sentence
        assert len(str(reason).strip()) >= MIN_REASON_LENGTH, (path, rule)
        if rule.startswith("AwsSolutions-IAM"):
            # AND IAM acknowledgements name the exact finding, never the whole rule
            assert rule.endswith("]"), (path, rule)
            assert "[" in rule, (path, rule)

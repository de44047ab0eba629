"""cfn-lint and cdk-nag over the synthesized templates of every stage."""

from __future__ import annotations

import json

import pytest
from aws_cdk import Validations
from cfnlint.api import ManualArgs, lint  # type: ignore[import-untyped]

from infra.nag import MIN_REASON_LENGTH
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
    # GIVEN the validation report cdk-nag's AwsSolutions pack wrote during synthesis
    report = json.loads((synthesized.outdir / "validation-report.json").read_text())
    (plugin,) = report["pluginReports"]
    # THEN the pack ran and found nothing left to fix or acknowledge
    assert plugin["pluginName"] == "AwsSolutions"
    assert [v["ruleName"] for v in plugin["violations"]] == []
    assert plugin["conclusion"] == "success"


def test_every_acknowledgement_carries_a_written_reason(synthesized: Synthesized) -> None:
    # GIVEN every cdk-nag acknowledgement recorded in the construct tree
    key = Validations.ACKNOWLEDGED_RULES_METADATA_KEY
    acknowledged = {
        (construct.node.path, rule): reason
        for construct in synthesized.app.node.find_all()
        for entry in construct.node.metadata if entry.type == key
        for rule, reason in entry.data.items() if rule.startswith("AwsSolutions")
    }
    assert acknowledged
    for (path, rule), reason in acknowledged.items():
        # THEN each names one rule and explains itself in a sentence
        assert len(str(reason).strip()) >= MIN_REASON_LENGTH, (path, rule)
        if rule.startswith("AwsSolutions-IAM5"):
            # AND wildcard acknowledgements name the exact finding, never the whole rule
            assert rule.startswith("AwsSolutions-IAM5["), (path, rule)

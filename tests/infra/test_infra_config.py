"""Stage settings and context values, read before any construct is built."""

from __future__ import annotations

from typing import Any

import pytest

from infra.components.ci_access import trust_conditions
from infra.config import STAGE_CONFIGS, settings_from_context


def context(values: dict[str, Any]) -> Any:
    return values.get


def test_defaults_trust_the_main_branch_of_the_configured_repository() -> None:
    # GIVEN only a repository in context
    settings = settings_from_context("dev", context({"github_repo": "acme/shop"}))
    # THEN CI may assume the role from main only, and a new database is created
    assert settings.oidc_subjects == ("repo:acme/shop:ref:refs/heads/main",)
    assert settings.database is None


def test_subjects_may_name_github_environments() -> None:
    # GIVEN the environment form of the sub claim, as a comma-separated -c value
    settings = settings_from_context("prod", context({
        "github_subjects": "repo:acme/shop:environment:prod, repo:acme/shop:ref:refs/heads/main"}))
    # THEN both subjects are trusted, matched exactly
    assert settings.oidc_subjects == ("repo:acme/shop:environment:prod",
                                      "repo:acme/shop:ref:refs/heads/main")
    conditions = trust_conditions(settings.oidc_subjects)
    assert conditions["StringEquals"]["token.actions.githubusercontent.com:sub"] == list(
        settings.oidc_subjects)
    assert conditions["StringEquals"]["token.actions.githubusercontent.com:aud"] == \
        "sts.amazonaws.com"


def test_a_pattern_subject_switches_to_string_like() -> None:
    # GIVEN a subject with a wildcard (any tag, say)
    conditions = trust_conditions(["repo:acme/shop:ref:refs/tags/v*"])
    # THEN the sub condition uses StringLike while aud stays an exact match
    assert conditions["StringLike"] == {
        "token.actions.githubusercontent.com:sub": ["repo:acme/shop:ref:refs/tags/v*"]}
    assert "token.actions.githubusercontent.com:sub" not in conditions["StringEquals"]


def test_unknown_stage_is_rejected_with_the_allowed_names() -> None:
    with pytest.raises(ValueError, match="dev, staging, prod"):
        settings_from_context("qa", context({}))


def test_imported_database_needs_every_value() -> None:
    # GIVEN a cluster id without its secret and network
    with pytest.raises(ValueError, match="db_secret_arn") as excinfo:
        settings_from_context("dev", context({"db_cluster_identifier": "shop"}))
    # THEN the error lists everything missing at once
    assert "db_subnet_ids" in str(excinfo.value)


def test_imported_database_from_context() -> None:
    settings = settings_from_context("staging", context({
        "db_cluster_identifier": "shop", "db_secret_arn": "arn:secret",
        "db_security_group_id": "sg-1", "db_vpc_id": "vpc-1",
        "db_subnet_ids": ["subnet-a", "subnet-b"],
        "db_availability_zones": "us-east-1a,us-east-1b"}))
    assert settings.database is not None
    assert settings.database.subnet_ids == ("subnet-a", "subnet-b")
    assert settings.database.availability_zones == ("us-east-1a", "us-east-1b")


def test_prod_is_the_strictest_stage() -> None:
    dev, staging, prod = (STAGE_CONFIGS[s] for s in ("dev", "staging", "prod"))
    assert (dev.approval_required, staging.approval_required, prod.approval_required) == (
        False, False, True)
    assert prod.api_error_threshold < staging.api_error_threshold < dev.api_error_threshold
    assert prod.drift_rate_hours < staging.drift_rate_hours < dev.drift_rate_hours
    assert prod.retain_data
    assert not dev.retain_data


def test_diff_role_trusts_pull_requests_of_the_repository_by_default() -> None:
    # GIVEN only a repository in context
    settings = settings_from_context("dev", context({"github_repo": "acme/shop"}))
    # THEN the read-only diff role trusts that repository's pull requests, and the
    # bootstrap qualifier is CDK's default
    assert settings.diff_subjects == ("repo:acme/shop:pull_request",)
    assert settings.bootstrap_qualifier == "hnb659fds"


def test_bootstrap_qualifier_is_read_from_cdk_context() -> None:
    # GIVEN the context key CDK's synthesizer reads for a custom bootstrap
    settings = settings_from_context("dev", context({
        "@aws-cdk/core:bootstrapQualifier": "acme42",
        "github_diff_subjects": "repo:acme/shop:pull_request,repo:acme/web:pull_request"}))
    # THEN the diff role follows it, and several repositories may be trusted
    assert settings.bootstrap_qualifier == "acme42"
    assert settings.diff_subjects == ("repo:acme/shop:pull_request",
                                      "repo:acme/web:pull_request")


@pytest.mark.parametrize("qualifier", ["has space", "much-too-long-1", "a*"])
def test_a_malformed_bootstrap_qualifier_is_refused(qualifier: str) -> None:
    # GIVEN a qualifier `cdk bootstrap` itself would refuse
    # WHEN the settings are read THEN synthesis stops, naming the context key
    with pytest.raises(ValueError, match="bootstrapQualifier"):
        settings_from_context("dev", context({"@aws-cdk/core:bootstrapQualifier": qualifier}))

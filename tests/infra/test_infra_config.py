"""Stage settings and context values, read before any construct is built."""

from __future__ import annotations

import re
from typing import Any

import pytest

from infra import preflight
from infra.components.ci_access import trust_conditions
from infra.config import (
    STAGE_CONFIGS,
    UNCONFIGURED_GITHUB_REPO,
    cdk_json_context,
    settings_from_context,
)


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


def test_a_pattern_subject_is_refused_and_trust_is_always_exact() -> None:
    # GIVEN a subject with a wildcard (any tag, say)
    # WHEN the settings are read THEN synthesis stops, naming the key and the subject
    with pytest.raises(ValueError, match=r"github_subjects: .*refs/tags/v\*.* wildcard"):
        settings_from_context("dev", context({
            "github_subjects": "repo:acme/shop:ref:refs/tags/v*"}))
    with pytest.raises(ValueError, match=r"github_diff_subjects: .* wildcard"):
        settings_from_context("dev", context({"github_diff_subjects": "repo:acme/shop:*"}))
    # AND the trust conditions never use StringLike, whatever they are given
    conditions = trust_conditions(["repo:acme/shop:ref:refs/heads/main"])
    assert set(conditions) == {"StringEquals"}


@pytest.mark.parametrize("subject", [
    "acme/shop:ref:refs/heads/main",           # no repo: prefix
    "repo:acme:ref:refs/heads/main",           # no owner/name
    "repo:acme/shop",                          # nothing after the repository
    "repo:ac me/shop:ref:refs/heads/main",     # not a repository name GitHub allows
])
def test_a_subject_must_start_with_a_repository(subject: str) -> None:
    with pytest.raises(ValueError, match="must start with repo:<owner>/<name>:"):
        settings_from_context("dev", context({"github_subjects": subject}))


def test_the_deploy_role_never_trusts_pull_requests_the_diff_role_may() -> None:
    # GIVEN the pull-request subject for each role
    # THEN the deploy role refuses it, naming why
    with pytest.raises(ValueError, match="pull request"):
        settings_from_context("dev", context({
            "github_subjects": "repo:acme/shop:ref:refs/heads/main,repo:acme/shop:pull_request"}))
    # AND the read-only diff role accepts it (pull requests are what it serves)
    settings = settings_from_context("dev", context({
        "github_diff_subjects": "repo:acme/shop:pull_request"}))
    assert settings.diff_subjects == ("repo:acme/shop:pull_request",)


def test_without_a_repository_the_roles_trust_one_no_github_account_can_own() -> None:
    # GIVEN no github_repo and no subjects (cdk.json as shipped)
    settings = settings_from_context("dev", context({}))
    # THEN the subjects name the placeholder, whose owner no GitHub account can have
    # (owners are letters, digits, '-' and, for managed users, '_': never a '.')
    (subject,) = settings.oidc_subjects
    owner = subject.removeprefix("repo:").split("/")[0]
    assert subject == f"repo:{UNCONFIGURED_GITHUB_REPO}:ref:refs/heads/main"
    assert not re.fullmatch(r"[A-Za-z0-9_-]+", owner)
    assert settings.diff_subjects == (f"repo:{UNCONFIGURED_GITHUB_REPO}:pull_request",)
    # AND the settings say the trust is not configured (make deploy refuses them)
    assert not settings.ci_trust_configured
    assert settings_from_context("dev", context({"github_repo": "acme/shop"})).ci_trust_configured
    assert settings_from_context("dev", context({
        "github_subjects": "repo:acme/shop:environment:prod"})).ci_trust_configured
    # AND cdk.json ships without a repository
    assert "github_repo" not in cdk_json_context()


@pytest.mark.parametrize("repo", ["ORG/REPO", "acme", "acme/shop/extra", "-acme/shop",
                                  "acme.io/shop"])
def test_a_placeholder_or_malformed_repository_is_refused(repo: str) -> None:
    with pytest.raises(ValueError, match="github_repo"):
        settings_from_context("dev", context({"github_repo": repo}))


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
    # AND without a reader's secret the read-only functions use the patcher's
    assert settings.database.reader_secret_arn is None


def test_an_imported_database_may_name_the_read_only_roles_secret() -> None:
    settings = settings_from_context("dev", context({
        "db_cluster_identifier": "shop", "db_secret_arn": "arn:migrator",
        "db_reader_secret_arn": "arn:reader", "db_security_group_id": "sg-1",
        "db_vpc_id": "vpc-1", "db_subnet_ids": "subnet-a",
        "db_availability_zones": "us-east-1a"}))
    assert settings.database is not None
    assert (settings.database.secret_arn, settings.database.reader_secret_arn) == (
        "arn:migrator", "arn:reader")


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
    # THEN the read-only diff role trusts that repository's pull requests
    assert settings.diff_subjects == ("repo:acme/shop:pull_request",)


def test_several_diff_subjects_may_be_trusted() -> None:
    settings = settings_from_context("dev", context({
        "github_diff_subjects": "repo:acme/shop:pull_request,repo:acme/web:pull_request"}))
    assert settings.diff_subjects == ("repo:acme/shop:pull_request",
                                      "repo:acme/web:pull_request")


# ------------------------------------------------------------- make deploy's preflight


def test_preflight_refuses_an_unconfigured_repository(
        capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN cdk.json as shipped and no -c github_repo
    # WHEN make deploy's first step runs
    code = preflight.main([])
    # THEN it exits 2 saying what to set, before any CDK command could run
    err = capsys.readouterr().err
    assert code == preflight.EXIT_NOT_CONFIGURED
    assert "refusing to deploy stage" in err
    assert "GITHUB_REPO=<owner>/<name>" in err


def test_preflight_passes_once_a_repository_is_named(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert preflight.main(["-c", "github_repo=acme/shop"]) == 0
    assert preflight.main(["--context", "github_subjects=repo:acme/shop:environment:prod"]) == 0
    assert capsys.readouterr().err == ""
    # AND a placeholder or a bad subject is refused with the settings' own message
    assert preflight.main(["-c", "github_repo=ORG/REPO"]) == preflight.EXIT_NOT_CONFIGURED
    assert "placeholder" in capsys.readouterr().err

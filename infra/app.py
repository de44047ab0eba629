"""The CDK app: ``python -m infra.app`` synthesizes one stage into ``cdk.out/``.

The stage comes from ``-c stage=...`` or ``STAGE`` (``dev`` by default). Stacks are
environment-agnostic unless ``-c account=... -c region=...`` are given, so synthesis
needs no AWS account or credentials. cdk-nag's AwsSolutions pack runs on every synth
and stops it on any unacknowledged finding.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from aws_cdk import App
from stackflow import env

from infra.assets import REPO_ROOT
from infra.config import cdk_json_context, settings_from_context
from infra.nag import apply_aws_solutions
from infra.stacks import build_stage

__all__ = ["build_app", "cdk_json_context", "main", "new_app", "selected_stage"]


def new_app(*, outdir: str | None = None, context: dict[str, Any] | None = None) -> App:
    """An empty app with cdk.json's context under ``context`` overrides."""
    return App(outdir=outdir, context={**cdk_json_context(), **(context or {})})


def build_app(app: App, *, stages: Sequence[str] | None = None) -> App:
    """Add the stacks of each stage (default: the selected one) and the AwsSolutions checks."""
    for stage_name in stages or (selected_stage(app),):
        build_stage(app, settings_from_context(stage_name, app.node.try_get_context))
    apply_aws_solutions(app)
    return app


def selected_stage(app: App) -> str:
    return str(app.node.try_get_context("stage") or os.environ.get(env.STAGE) or "dev")


def main() -> None:
    # The CDK CLI passes its output folder in CDK_OUTDIR; `make synth` runs without it.
    outdir = os.environ.get("CDK_OUTDIR") or str(REPO_ROOT / "cdk.out")
    build_app(new_app(outdir=outdir)).synth()


if __name__ == "__main__":
    main()

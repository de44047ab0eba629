"""``make deploy``'s first step: refuse to deploy roles that trust no real repository.

Synthesis works without a configured repository (``make synth``, ``make demo`` and the
tests run offline with the placeholder, which no GitHub repository can match), but a
deploy would create a CI role nobody can use and, worse, invite someone to "fix" it
with a guess. This check reads the same context the app reads (cdk.json, then the
``-c key=value`` arguments ``make deploy`` passes on) and exits 2 with what to set.

    python -m infra.preflight [-c github_repo=owner/name] [-c key=value ...]
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from itertools import pairwise
from typing import Any

from stackflow import env

from infra.config import Settings, cdk_json_context, settings_from_context

EXIT_NOT_CONFIGURED = 2


def context_arguments(argv: Sequence[str]) -> dict[str, str]:
    """``-c key=value`` / ``--context key=value`` pairs, as the CDK CLI reads them."""
    values: dict[str, str] = {}
    for flag, item in pairwise(argv):
        if flag in ("-c", "--context") and "=" in item:
            key, _, value = item.partition("=")
            values[key] = value
    return values


def problems(settings: Settings) -> list[str]:
    """Why these settings must not be deployed; empty when they may be."""
    if settings.ci_trust_configured:
        return []
    return ["no GitHub repository is configured, so StackFlowCICDRole and "
            "StackFlowDiffRole would trust a placeholder that no repository matches. "
            "Name yours: `make deploy GITHUB_REPO=<owner>/<name>` or \"github_repo\" in "
            "cdk.json's context (github_subjects to trust an environment or tag instead; "
            "docs/infra.md, \"GitHub OIDC trust\")."]


def main(argv: Sequence[str] | None = None) -> int:
    context: dict[str, Any] = {**cdk_json_context(),
                               **context_arguments(sys.argv[1:] if argv is None else argv)}
    stage = str(context.get("stage") or os.environ.get(env.STAGE) or "dev")
    try:
        found = problems(settings_from_context(stage, context.get))
    except ValueError as e:
        found = [str(e)]
    for problem in found:
        print(f"make deploy: refusing to deploy stage {stage}: {problem}", file=sys.stderr)
    return EXIT_NOT_CONFIGURED if found else 0


if __name__ == "__main__":
    sys.exit(main())

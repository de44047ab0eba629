"""How fast a bad canary goes back: first failing request to PROD at 100 % previous.

``python -m bench.canary_detection`` runs local mode on the synthesized definition
(synthesized into a temporary folder unless ``--cdk-out`` names one) and releases the
``orders-regression`` build, whose ``GET /orders`` fails every request, with each
strategy. It reports, in nominal seconds (AWS time: every Wait at its nominal length,
everything else as it ran, see ``stackflow_tools.local.timeline``), the time from the
first failing request through the alias on the new version to the ``UpdateAlias`` that
put PROD back at 100 % on the previous version.

Each strategy runs with the default health-check interval (30 s) and, as the baseline
measured in the same run, with one check at the end of the bake (the interval equal
to the bake): how StackFlow behaved before bakes were checked while they run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from stackflow_tools.local.runner import REPO_ROOT, LocalMode, LocalOptions

STRATEGIES = {"Canary10Percent5Minutes": 300, "Linear10PercentEvery10Minutes": 600}
DEFAULT_INTERVAL = 30
GOAL_SECONDS = 60.0
RUNS = 3
TIME_SCALE = 0.01
BUILD = "orders-regression"


@dataclass(frozen=True)
class Detection:
    strategy: str
    interval: int
    seconds: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    def line(self) -> str:
        label = "default checks" if self.interval == DEFAULT_INTERVAL else "one check at the end"
        return (f"{self.strategy:32s} {label:22s} every {self.interval:3d} s  "
                f"median {self.median:6.1f} s  max {max(self.seconds):6.1f} s  "
                f"(runs: {', '.join(f'{s:.1f}' for s in self.seconds)})")


def detect(local: LocalMode, strategy: str, interval: int, release: str) -> float:
    """Nominal seconds from the first failing canary request to PROD back on previous."""
    aws = local.local_aws
    previous, _ = local.alias_state()
    document = local.deployment_input(local.upload(BUILD, release),
                                      strategy={"preset": strategy})
    document["health"]["check_interval_seconds"] = interval
    first_call, first_change = len(aws.invoker.history), len(aws.alias_changes)
    execution = local.wait(local.start(document))
    if execution.get("error") != "CanaryUnhealthy":
        raise SystemExit(f"{strategy}: expected CanaryUnhealthy, got {execution.get('error')}")
    failed = min(call.started_at for call in aws.invoker.history[first_call:]
                 if call.qualifier == local.alias and call.error_type
                 and call.executed_version != previous)
    back = next(change.at for change in aws.alias_changes[first_change:]
                if change.version == previous and not change.routing and change.at >= failed)
    return aws.nominal_seconds(failed, back)


def synthesize(into: Path) -> Path:
    out = into / "cdk.out"
    subprocess.run([sys.executable, "-m", "infra.app"], cwd=REPO_ROOT, check=True,
                   env={**os.environ, "CDK_OUTDIR": str(out)}, capture_output=True)
    return out


def run(cdk_out: Path, workdir: Path, runs: int) -> list[Detection]:
    options = LocalOptions(cdk_out=cdk_out, workdir=workdir, dbname="stackflow_bench",
                           fresh_database=True, time_scale=TIME_SCALE)
    results: list[Detection] = []
    with LocalMode(options) as local:
        n = 0
        for strategy, bake in STRATEGIES.items():
            for interval in (DEFAULT_INTERVAL, bake):
                seconds = []
                for _ in range(runs if interval == DEFAULT_INTERVAL else 1):
                    n += 1
                    seconds.append(detect(local, strategy, interval, f"9.{n}.0"))
                results.append(Detection(strategy, interval, seconds))
                print(results[-1].line(), flush=True)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cdk-out", type=Path, help="a synthesized cdk.out to use")
    parser.add_argument("--runs", type=int, default=RUNS, help="runs per strategy")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="stackflow-bench-") as tmp:
        cdk_out = args.cdk_out or synthesize(Path(tmp))
        print(f"local mode, time scale {TIME_SCALE}; nominal seconds from the first failing "
              f"canary request to PROD back at 100 % on the previous version (goal "
              f"<= {GOAL_SECONDS:g} s)", flush=True)
        results = run(cdk_out, Path(tmp) / "work", args.runs)
    checked = [r for r in results if r.interval == DEFAULT_INTERVAL]
    ok = all(max(r.seconds) <= GOAL_SECONDS for r in checked)
    print("goal met" if ok else "goal NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())

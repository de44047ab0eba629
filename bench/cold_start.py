"""Handler import time (a Lambda's init) vs ``import boto3, psycopg``.

``python -m bench.cold_start``: every ``functions/*/handler.py`` present is imported in
a fresh interpreter, several times, in rounds that interleave it with the baseline (so
the machine's load weighs on both alike); the median import time is compared with
importing boto3 and psycopg alone. Each handler is measured as Lambda would run it (the
``LAMBDA_TASK_ROOT`` variable set), once with Powertools tracing disabled and once with
it active, because the Tracer loads the X-Ray SDK, which costs about as much as the
baseline itself.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from pathlib import Path

RUNS = 9
ROOT = Path(__file__).resolve().parents[1]
FUNCTIONS = ROOT / "functions"
BASELINE = "boto3, psycopg"
PROBE = ("import time, importlib; t = time.perf_counter(); {imports}; "
         "print(time.perf_counter() - t)")
LAMBDA_ENV = {
    "LAMBDA_TASK_ROOT": str(FUNCTIONS),
    "AWS_LAMBDA_FUNCTION_NAME": "bench",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "POWERTOOLS_SERVICE_NAME": "bench",
}


def handler_modules() -> list[str]:
    return sorted(f"{p.parent.name}.handler" for p in FUNCTIONS.glob("*/handler.py"))


def import_seconds(imports: str, extra_env: dict[str, str]) -> float:
    """Seconds to run ``imports`` in a fresh interpreter."""
    env = {**os.environ, "PYTHONPATH": str(FUNCTIONS), **extra_env}
    out = subprocess.run([sys.executable, "-c", PROBE.format(imports=imports)], env=env,
                         check=True, capture_output=True, text=True).stdout
    return float(out.strip().splitlines()[-1])


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> int:
    # (label, imports, environment); rounds interleave them, so a change in the
    # machine's load during the run hits the baseline and the handlers alike.
    cases = [("baseline", f"import {BASELINE}", LAMBDA_ENV)]
    for module in handler_modules():
        cases.append((f"{module} off", f"import {module}",
                      {**LAMBDA_ENV, "POWERTOOLS_TRACE_DISABLED": "true"}))
        cases.append((f"{module} on", f"import {module}", LAMBDA_ENV))
    samples: dict[str, list[float]] = {label: [] for label, _, _ in cases}
    print(f"start: {load()}")
    for _ in range(RUNS):
        for label, imports, extra_env in cases:
            samples[label].append(import_seconds(imports, extra_env))
    print(f"end:   {load()}")
    median = {label: statistics.median(s) for label, s in samples.items()}
    baseline = median["baseline"]
    print(f"import {BASELINE}: {baseline * 1000:.0f} ms (median of {RUNS}, fresh process, "
          f"interleaved; min {min(samples['baseline']) * 1000:.0f} ms)")
    print(f"  {'handler module':<24} {'tracing off':>12} {'ratio':>6}   "
          f"{'tracing on':>11} {'ratio':>6}   (goal <= 1.5x)")
    for module in handler_modules():
        off, on = median[f"{module} off"], median[f"{module} on"]
        print(f"  {module:<24} {off * 1000:9.0f} ms {off / baseline:5.2f}x   "
              f"{on * 1000:8.0f} ms {on / baseline:5.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())

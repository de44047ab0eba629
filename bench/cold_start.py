"""Handler import time (a Lambda's init) vs ``import boto3, psycopg``.

``python -m bench.cold_start``: every ``functions/*/handler.py`` present is imported in
a fresh interpreter, several times; the median import time is compared with importing
boto3 and psycopg alone. Each handler is measured as Lambda would run it (the
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

RUNS = 7
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
    """Median seconds to run ``imports`` in a fresh interpreter."""
    env = {**os.environ, "PYTHONPATH": str(FUNCTIONS), **extra_env}
    samples = []
    for _ in range(RUNS):
        out = subprocess.run([sys.executable, "-c", PROBE.format(imports=imports)], env=env,
                             check=True, capture_output=True, text=True).stdout
        samples.append(float(out.strip().splitlines()[-1]))
    return statistics.median(samples)


def main() -> int:
    baseline = import_seconds(f"import {BASELINE}", LAMBDA_ENV)
    print(f"import {BASELINE}: {baseline * 1000:.0f} ms (median of {RUNS}, fresh process)")
    print(f"  {'handler module':<24} {'tracing off':>12} {'ratio':>6}   "
          f"{'tracing on':>11} {'ratio':>6}   (goal <= 1.5x)")
    for module in handler_modules():
        off = import_seconds(f"import {module}",
                             {**LAMBDA_ENV, "POWERTOOLS_TRACE_DISABLED": "true"})
        on = import_seconds(f"import {module}", LAMBDA_ENV)
        print(f"  {module:<24} {off * 1000:9.0f} ms {off / baseline:5.2f}x   "
              f"{on * 1000:8.0f} ms {on / baseline:5.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The release's Markdown summary on the GitHub Actions run page.

GitHub sets ``GITHUB_STEP_SUMMARY`` to a file in every step; Markdown appended to it
shows on the run's summary page. ``pipeline start --wait`` and ``pipeline status`` call
:func:`append_job_summary`: it reads the execution history only (what the release role
may read), never CloudWatch or the deploy table, and never fails the command that
calls it: a summary that cannot be written is a warning.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from stackflow import env
from stackflow.errors import StackFlowError
from stackflow.settings import env_str

from stackflow_tools.report.collect import ExecutionReader, Sources, collect
from stackflow_tools.report.markdown import render_markdown


def summary_file(environ: Mapping[str, str] | None = None) -> Path | None:
    """The job summary file of this GitHub Actions step, if there is one."""
    value = env_str(env.GITHUB_STEP_SUMMARY, environ)
    return Path(value) if value else None


def append_job_summary(sfn: ExecutionReader, execution_arn: str, *,
                       warn: Callable[[str], None],
                       environ: Mapping[str, str] | None = None) -> Path | None:
    """Append the summary of ``execution_arn``; return the file, None when not in CI."""
    path = summary_file(environ)
    if path is None:
        return None
    try:
        markdown = render_markdown(collect(execution_arn, Sources(sfn=sfn)))
        with path.open("a", encoding="utf-8") as summary:
            summary.write(markdown + "\n")
    except (StackFlowError, OSError) as e:
        warn(f"warning: the job summary was not written to ${env.GITHUB_STEP_SUMMARY}: {e}")
        return None
    return path

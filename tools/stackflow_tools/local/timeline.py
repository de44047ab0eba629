"""Nominal time: how long something locally scaled would have taken in AWS.

Local mode runs a ``Wait`` of N seconds in ``N * time_scale`` seconds and everything
else (Lambda invocations, API calls) in real time. To report a duration as AWS would
see it, each Wait counts at its nominal length and the rest as it ran. A moment inside
a Wait counts from that Wait's start: local traffic is sent as a Wait begins, where in
AWS it would be spread over the whole Wait, so this never makes a result look faster.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class WaitSpan:
    """One Wait state: when it ran (real, ``time.time()``) and its nominal seconds."""

    start: float
    end: float
    nominal: float


def nominal_between(waits: Sequence[WaitSpan], start: float, end: float) -> float:
    """Seconds from ``start`` to ``end`` (real moments) in AWS time."""
    start = next((w.start for w in waits if w.start <= start < w.end), start)
    total = end - start
    for wait in waits:
        overlap = min(wait.end, end) - max(wait.start, start)
        if overlap > 0 and wait.end > wait.start:
            total += overlap / (wait.end - wait.start) * wait.nominal - overlap
    return total

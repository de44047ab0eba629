"""The one backoff schedule for polling Lambda until an update or a version settles."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

POLL_DELAYS = (1.0, 1.0, 2.0, 2.0, 3.0, 5.0)  # seconds between polls, then every 5 s


def poll_times(sleep: Callable[[float], None], limit_seconds: float,
               spare: Callable[[], float] = lambda: math.inf) -> Iterator[float]:
    """Yield before each poll the seconds waited so far, sleeping between polls.

    Stops once ``limit_seconds`` have been waited and one last poll was made, or when
    the next sleep would eat into the step's deadline (``spare``: the seconds it may
    still spend), so the caller's loop ends in time and it can report what it saw last.
    """
    waited = 0.0
    for attempt in range(10_000):
        yield waited
        delay = POLL_DELAYS[min(attempt, len(POLL_DELAYS) - 1)]
        if waited >= limit_seconds or delay > spare():
            return
        sleep(delay)
        waited += delay

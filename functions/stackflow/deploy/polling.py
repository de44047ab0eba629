"""The one backoff schedule for polling Lambda until an update or a version settles."""

from __future__ import annotations

from collections.abc import Callable, Iterator

POLL_DELAYS = (1.0, 1.0, 2.0, 2.0, 3.0, 5.0)  # seconds between polls, then every 5 s


def poll_times(sleep: Callable[[float], None], limit_seconds: float) -> Iterator[float]:
    """Yield before each poll the seconds waited so far, sleeping between polls.

    Stops once ``limit_seconds`` have been waited and one last poll was made, so the
    caller's loop ends and it can report what it saw last.
    """
    waited = 0.0
    for attempt in range(10_000):
        yield waited
        if waited >= limit_seconds:
            return
        delay = POLL_DELAYS[min(attempt, len(POLL_DELAYS) - 1)]
        sleep(delay)
        waited += delay

"""Waiting for the migration advisory lock.

The lock is polled with ``pg_try_advisory_lock`` rather than waited for inside
``pg_advisory_lock``: a session blocked in that call keeps a snapshot open, and
``CREATE INDEX CONCURRENTLY`` in the lock holder waits for every such snapshot, so
waiters and holder would deadlock. Between polls the waiting session is idle.
"""

from __future__ import annotations

from collections.abc import Callable

from stackflow.errors import LockTimeout
from stackflow.migrations.ports import MigrationDatabase

FIRST_POLL_SECONDS = 0.05
MAX_POLL_SECONDS = 1.0


def acquire_lock(db: MigrationDatabase, *, wait_seconds: float,
                 clock: Callable[[], float], sleep: Callable[[float], None]) -> None:
    """Take the lock, polling with backoff for up to ``wait_seconds``; else ``LockTimeout``
    naming the holder."""
    give_up_at = clock() + wait_seconds
    delay = FIRST_POLL_SECONDS
    while not db.try_lock():
        left = give_up_at - clock()
        if left <= 0:
            raise _timeout(db, wait_seconds)
        sleep(min(delay, left))
        delay = min(delay * 2, MAX_POLL_SECONDS)


def _timeout(db: MigrationDatabase, wait_seconds: float) -> LockTimeout:
    holder = db.lock_holder()
    held_by = f"held by {holder}" if holder else "holder unknown (it may have just ended)"
    return LockTimeout(
        f"another migration run holds the migration lock ({held_by}); "
        f"gave up after {wait_seconds:g}s", holder=holder)

"""Waiting for something another process or thread does, without a timing assertion."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest


def wait_until(condition: Callable[[], object], what: str, seconds: float = 60.0) -> None:
    """Poll ``condition`` until it holds; ``seconds`` only bounds a hang."""
    give_up = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > give_up:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.05)

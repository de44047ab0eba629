"""A live view of one execution: the state it is in, the time, the traffic split.

Polled by the runner while it waits; prints one line per state entered (on a terminal
the current line also refreshes with the elapsed time), so the view works the same in
a terminal and in a CI log.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import IO, Any

SplitReader = Callable[[], tuple[str, Mapping[str, float]]]


def describe_split(version: str, weights: Mapping[str, float]) -> str:
    """``"v3 90% | v4 10%"`` for an alias on 3 sending 10% to 4."""
    extra = sum(weights.values())
    parts = [f"v{version} {round((1 - extra) * 100)}%"]
    parts += [f"v{v} {round(w * 100)}%" for v, w in sorted(weights.items())]
    return " | ".join(parts)


@dataclass
class ProgressView:
    """Prints state changes of one execution as they happen."""

    history: Callable[[], list[Mapping[str, Any]]]
    split: SplitReader
    out: IO[str]
    tty: bool = False
    clock: Callable[[], float] = time.monotonic
    started: float = field(default=0.0)
    _seen: int = 0
    _state: str = ""
    _line: str = ""

    def __post_init__(self) -> None:
        self.started = self.clock()

    def poll(self) -> None:
        events = self.history()
        entered = [str(e["stateEnteredEventDetails"].get("name", "?"))
                   for e in events[self._seen:] if e.get("stateEnteredEventDetails")]
        self._seen = len(events)
        for i, state in enumerate(entered):
            # States passed between two polls are listed; only the newest one is
            # shown with the split, which is the split now, not when they ran.
            self._enter(state, with_split=i == len(entered) - 1)
        if self.tty and self._state:
            self._draw()

    def finish(self, status: str) -> None:
        if self.tty and self._line:
            self.out.write("\n")
        self._line = ""
        self.out.write(f"  {self._elapsed():>6}  {status}\n")
        self.out.flush()

    def _enter(self, state: str, *, with_split: bool = True) -> None:
        if self.tty and self._line:
            self.out.write("\n")
        self._state = state
        self._line = self._text(with_split)
        self.out.write(self._line if self.tty else self._line + "\n")
        self.out.flush()

    def _draw(self) -> None:
        self._line = self._text()
        self.out.write("\r" + self._line + "\033[K")
        self.out.flush()

    def _text(self, with_split: bool = True) -> str:
        text = f"  {self._elapsed():>6}  {self._state:<20}"
        if with_split:
            version, weights = self.split()
            text += f" traffic {describe_split(version, weights)}"
        return text.rstrip()

    def _elapsed(self) -> str:
        return f"{self.clock() - self.started:.1f}s"

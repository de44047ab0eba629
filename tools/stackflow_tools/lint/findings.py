"""One lint finding, and the statements of a script with the line each starts on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from stackflow.migrations.markers import IGNORE
from stackflow.migrations.sqltext import split_statements

Severity = Literal["error", "warning", "info"]


@dataclass(frozen=True)
class Finding:
    """``rule`` found at ``file:line``; ``source`` is ``stackflow`` or ``squawk``."""

    rule: str
    severity: Severity
    file: str
    line: int
    message: str
    source: str = "stackflow"

    def to_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "severity": self.severity, "file": self.file,
                "line": self.line, "message": self.message, "source": self.source}


@dataclass(frozen=True)
class Statement:
    """A statement of a script: its number, the line its code starts on (1-based), the
    lines it spans, its text, and the rules its ``lint-ignore`` markers switch off."""

    number: int
    line: int
    last_line: int
    text: str
    ignored: frozenset[str]
    unexplained: tuple[str, ...] = ()


def statements(sql: str) -> list[Statement]:
    """The statements of ``sql`` with where they are (markers inside their comments)."""
    found, pos = [], 0
    for number, text in enumerate(split_statements(sql), start=1):
        start = sql.find(text, pos)
        pos = start + len(text)
        first = sql.count("\n", 0, start + _code_offset(text)) + 1
        ignored, unexplained = _ignores(text)
        found.append(Statement(number, first, sql.count("\n", 0, pos) + 1, text,
                               ignored, unexplained))
    return found


def _code_offset(text: str) -> int:
    """Where the statement's code starts, past its leading comment lines."""
    offset = 0
    for line in text.splitlines(keepends=True):
        if line.strip() and not line.strip().startswith("--"):
            return offset
        offset += len(line)
    return 0


def _ignores(text: str) -> tuple[frozenset[str], tuple[str, ...]]:
    rules, unexplained = set(), []
    for line in text.splitlines():
        m = IGNORE.match(line)
        if m:
            rules.add(m["rule"].lower())
            if not m["reason"]:
                unexplained.append(m["rule"].lower())
    return frozenset(rules), tuple(unexplained)

"""The table lock each statement takes, read from its keywords (PostgreSQL's "Explicit
Locking" table), pure and without a parser: the dry run shows it per statement and
``stackflow lint`` reports it. The tests check it against ``pg_locks`` on a real server.

Only the strongest lock on the statement's own table is named; a statement this module
does not know (``SELECT``, ``CREATE FUNCTION`` ...) takes no lock worth naming (None).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from stackflow.migrations.impact import fold
from stackflow.migrations.sqltext import LazyPattern, names_text, split_statements

ACCESS_EXCLUSIVE = "ACCESS EXCLUSIVE"
EXCLUSIVE = "EXCLUSIVE"
SHARE_ROW_EXCLUSIVE = "SHARE ROW EXCLUSIVE"
SHARE = "SHARE"
SHARE_UPDATE_EXCLUSIVE = "SHARE UPDATE EXCLUSIVE"
ROW_EXCLUSIVE = "ROW EXCLUSIVE"
# Weakest first: what "strongest" compares.
ORDER = (ROW_EXCLUSIVE, SHARE_UPDATE_EXCLUSIVE, SHARE, SHARE_ROW_EXCLUSIVE, EXCLUSIVE,
         ACCESS_EXCLUSIVE)
# Locks that block the application's reads (ACCESS EXCLUSIVE) or writes (the rest).
BLOCKS_WRITES = frozenset(ORDER[2:])

_NAME = r'(?:"(?:[^"]|"")+"|[A-Za-z_][\w$]*)(?:\.(?:"(?:[^"]|"")+"|[A-Za-z_][\w$]*))?'
_IF = r"(?:IF (?:NOT )?EXISTS )?"
# ALTER TABLE subcommands that take less than ACCESS EXCLUSIVE, strongest kept.
_ALTER_WEAKER = (
    (LazyPattern(r"\bVALIDATE CONSTRAINT\b|\bSET STATISTICS\b|\bCLUSTER ON\b|"
                r"\bSET WITHOUT CLUSTER\b|\bATTACH PARTITION\b|"
                r"\bDETACH PARTITION \S+ CONCURRENTLY\b", re.I), SHARE_UPDATE_EXCLUSIVE),
    (LazyPattern(r"\bFOREIGN KEY\b|\bREFERENCES\b|\b(?:ENABLE|DISABLE) TRIGGER\b", re.I),
     SHARE_ROW_EXCLUSIVE),
)
_RULES: tuple[tuple[LazyPattern, str], ...] = tuple(
    (LazyPattern(pattern, re.IGNORECASE), mode) for pattern, mode in (
        (rf"^CREATE (?:UNIQUE )?INDEX CONCURRENTLY {_IF}(?:{_NAME} )?ON (?:ONLY )?"
         rf"(?P<t>{_NAME})", SHARE_UPDATE_EXCLUSIVE),
        (rf"^CREATE (?:UNIQUE )?INDEX {_IF}(?:{_NAME} )?ON (?:ONLY )?(?P<t>{_NAME})", SHARE),
        (rf"^DROP INDEX CONCURRENTLY {_IF}(?P<t>{_NAME})", SHARE_UPDATE_EXCLUSIVE),
        (rf"^DROP INDEX {_IF}(?P<t>{_NAME})", ACCESS_EXCLUSIVE),
        (rf"^DROP TABLE {_IF}(?P<t>{_NAME})", ACCESS_EXCLUSIVE),
        (rf"^TRUNCATE (?:TABLE )?(?:ONLY )?(?P<t>{_NAME})", ACCESS_EXCLUSIVE),
        (rf"^CREATE (?:OR REPLACE )?(?:CONSTRAINT )?TRIGGER .*? ON (?P<t>{_NAME})",
         SHARE_ROW_EXCLUSIVE),
        (rf"^(?:INSERT INTO |DELETE FROM (?:ONLY )?|UPDATE (?:ONLY )?|MERGE INTO )"
         rf"(?P<t>{_NAME})", ROW_EXCLUSIVE),
        (r"^VACUUM\b.*\bFULL\b(?P<t>)", ACCESS_EXCLUSIVE),
        (rf"^(?:VACUUM|ANALYZE)\b(?: \([^)]*\))?(?: VERBOSE)?(?: (?P<t>{_NAME}))?",
         SHARE_UPDATE_EXCLUSIVE),
        (rf"^REINDEX (?:\([^)]*\) )?TABLE CONCURRENTLY (?P<t>{_NAME})", SHARE_UPDATE_EXCLUSIVE),
        (rf"^REINDEX (?:\([^)]*\) )?TABLE (?P<t>{_NAME})", SHARE),
        (rf"^CLUSTER (?:VERBOSE )?(?P<t>{_NAME})", ACCESS_EXCLUSIVE),
        (rf"^REFRESH MATERIALIZED VIEW CONCURRENTLY (?P<t>{_NAME})", EXCLUSIVE),
        (rf"^REFRESH MATERIALIZED VIEW (?P<t>{_NAME})", ACCESS_EXCLUSIVE),
        (rf"^COMMENT ON (?:TABLE|COLUMN) (?P<t>{_NAME})", SHARE_UPDATE_EXCLUSIVE),
    ))
_ALTER = LazyPattern(rf"^ALTER TABLE {_IF}(?:ONLY )?(?P<t>{_NAME}) (?P<rest>.*)$",
                    re.IGNORECASE)


@dataclass(frozen=True)
class StatementLock:
    """The lock a statement takes on ``table`` (as PostgreSQL folds the name)."""

    mode: str
    table: str

    @property
    def blocks_reads(self) -> bool:
        return self.mode == ACCESS_EXCLUSIVE

    def to_dict(self) -> dict[str, str]:
        return {"lock": self.mode, "table": self.table}


def statement_lock(statement: str) -> StatementLock | None:
    """The lock ``statement`` takes on its table, or None when it takes none we name."""
    text = names_text(statement)
    alter = _ALTER.match(text)
    if alter:
        return StatementLock(_alter_mode(alter["rest"]), fold(alter["t"]))
    for pattern, mode in _RULES:
        m = pattern.match(text)
        if m:
            return StatementLock(mode, fold(m["t"]) if m["t"] else "")
    return None


def _alter_mode(subcommands: str) -> str:
    """ACCESS EXCLUSIVE unless every subcommand is one that takes less."""
    modes = []
    for part in _top_level(subcommands):
        weaker = next((mode for pattern, mode in _ALTER_WEAKER if pattern.search(part)), None)
        modes.append(weaker or ACCESS_EXCLUSIVE)
    return strongest(modes) or ACCESS_EXCLUSIVE


def _top_level(text: str) -> list[str]:
    """``text`` split at the commas outside parentheses (the subcommands)."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += (ch == "(") - (ch == ")")
        if ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    return [*parts, text[start:]]


def statement_locks(sql: str) -> list[dict[str, Any]]:
    """``[{"statement", "lock", "table"}]`` for each statement of ``sql`` that takes a
    lock we name: what a dry run shows."""
    found = []
    for number, statement in enumerate(split_statements(sql), start=1):
        lock = statement_lock(statement)
        if lock is not None:
            found.append({"statement": number, **lock.to_dict()})
    return found


def strongest(modes: list[str]) -> str | None:
    return max(modes, key=ORDER.index, default=None)

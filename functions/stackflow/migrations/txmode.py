"""Which scripts run outside a transaction, and why: a marker, or the statements in it.

PostgreSQL refuses a few statements inside a transaction block (SQLSTATE 25001): the
``CONCURRENTLY`` index commands, ``VACUUM``, database and tablespace commands, ...
StackFlow runs a transactional script as one implicit transaction, so such a script
must run statement by statement instead. A script says so with a marker on its first
line (StackFlow's, morph's or dbmate's), or StackFlow finds the statements itself.

Detection reads each statement's leading keywords after ``sqltext.keyword_text`` has
removed comments and blanked every literal and quoted name, so nothing inside a string
or a function body counts. That is where PostgreSQL's grammar puts everything that
decides the question (the command, ``CONCURRENTLY``, the object kind); cases that
depend on the catalog (``REINDEX`` of a partitioned table, ``DROP SUBSCRIPTION`` of one
without a slot) are decided the safe way, outside a transaction. A script with no
trigger word anywhere is not examined statement by statement at all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from stackflow.errors import SourceError
from stackflow.migrations.sqltext import (
    is_transaction_control,
    keyword_text,
    split_statements,
    strip_comments,
)

# First-line markers, as written by each tool; matched case-insensitively, spaces
# around them ignored.
MARKERS: tuple[str, ...] = (
    "-- stackflow:no-transaction",
    "-- morph:nontransactional",
    "-- migrate:up transaction:false",
    "-- migrate:down transaction:false",
)
# PostgreSQL 12 allowed ALTER TYPE ... ADD VALUE inside a transaction block.
ADD_VALUE_IN_TRANSACTION_SINCE = 120000

_NAME = r'(?:""|[^ ]+)'
_OPTIONS = r"(?:\([^)]*\) ?)?"


@dataclass(frozen=True)
class _Rule:
    """A statement PostgreSQL refuses in a transaction block: ``kind`` names it (it may
    refer to the pattern's groups); ``before`` limits the rule to older servers.

    The pattern is compiled (and cached by ``re``) when a script first needs it, so a
    cold start that plans no such script does not pay for compiling every rule.
    """

    kind: str
    pattern: str
    before: int | None = None

    def match(self, words: str, server_version: int | None) -> str | None:
        if self.before is not None and (server_version is None
                                        or server_version >= self.before):
            return None
        found = re.match(self.pattern, words)
        return found.expand(self.kind) if found else None


def _rule(kind: str, pattern: str, before: int | None = None) -> _Rule:
    return _Rule(kind, pattern, before)


_RULES: tuple[_Rule, ...] = (
    _rule("CREATE INDEX CONCURRENTLY", r"CREATE (?:UNIQUE )?INDEX CONCURRENTLY\b"),
    _rule("DROP INDEX CONCURRENTLY", r"DROP INDEX CONCURRENTLY\b"),
    _rule(r"REINDEX \g<what> CONCURRENTLY",
          rf"REINDEX {_OPTIONS}(?P<what>INDEX|TABLE|SCHEMA|DATABASE|SYSTEM) CONCURRENTLY\b"),
    _rule(r"REINDEX \g<what>", rf"REINDEX {_OPTIONS}(?P<what>SCHEMA|DATABASE|SYSTEM)\b"),
    _rule("VACUUM", r"VACUUM\b"),
    _rule(r"\g<verb> DATABASE", r"(?P<verb>CREATE|DROP) DATABASE\b"),
    _rule("ALTER DATABASE ... SET TABLESPACE", rf"ALTER DATABASE {_NAME} SET TABLESPACE\b"),
    _rule(r"\g<verb> TABLESPACE", r"(?P<verb>CREATE|DROP) TABLESPACE\b"),
    _rule("ALTER SYSTEM", r"ALTER SYSTEM\b"),
    _rule("CLUSTER (every table)", r"CLUSTER(?: VERBOSE| \([^)]*\))?$"),
    _rule("DETACH PARTITION ... CONCURRENTLY",
          rf"ALTER TABLE (?:IF EXISTS )?(?:ONLY )?{_NAME} DETACH PARTITION {_NAME} "
          r"CONCURRENTLY$"),
    _rule("CREATE SUBSCRIPTION",
          r"CREATE SUBSCRIPTION\b(?!.*\b(?:CONNECT|CREATE_SLOT) ?= ?(?:FALSE|OFF|0)\b)"),
    _rule("DROP SUBSCRIPTION", r"DROP SUBSCRIPTION\b"),
    _rule(r"ALTER SUBSCRIPTION ... \g<what>",
          rf"ALTER SUBSCRIPTION {_NAME} (?P<what>REFRESH PUBLICATION|(?:SET|ADD|DROP) "
          r"PUBLICATION)\b(?!.*\bREFRESH ?= ?(?:FALSE|OFF|0)\b)"),
    _rule("DISCARD ALL", r"DISCARD ALL$"),
    _rule("ALTER TYPE ... ADD VALUE (before PostgreSQL 12)",
          rf"ALTER TYPE {_NAME} ADD VALUE\b", before=ADD_VALUE_IN_TRANSACTION_SINCE),
)
# A script without any of these words holds none of the statements above.
_TRIGGERS = re.compile(
    r"concurrently|vacuum|reindex|database|tablespace|system|cluster|subscription|"
    r"discard|add\s+value", re.IGNORECASE)
_LINE_END = re.compile(r"\r\n|\r|\n")
# Session settings change nothing a transaction would protect, so they may sit beside
# the statements above (SET statement_timeout = 0; CREATE INDEX CONCURRENTLY ...).
_SESSION_SETTING = re.compile(r"(?:SET|RESET)\b(?! (?:LOCAL|TRANSACTION|CONSTRAINTS)\b)")


@dataclass(frozen=True)
class TransactionMode:
    """How a script runs: in one transaction with its record (``outside`` false), or
    statement by statement; ``reason`` says why (a marker, or the statements found)."""

    outside: bool = False
    reason: str | None = None
    statements: int = 0

    @property
    def label(self) -> str:
        return f"outside: {self.reason}" if self.outside else "transaction"


@dataclass(frozen=True)
class ScriptAnalysis:
    """A script's statements (as keyword text), its marker, and the statements that
    cannot run in a transaction block, as ``(index, kind)``."""

    statements: tuple[str, ...]
    marker: str | None
    blockers: tuple[tuple[int, str], ...]

    @property
    def outside(self) -> bool:
        return self.marker is not None or bool(self.blockers)

    def others(self) -> list[int]:
        """Indexes of statements that belong in a transaction (not blockers, not SET)."""
        blocking = {index for index, _ in self.blockers}
        return [i for i, words in enumerate(self.statements)
                if i not in blocking and not _SESSION_SETTING.match(words)]

    def transaction_control(self) -> str | None:
        return next((w for w in self.statements if is_transaction_control(w)), None)


def marker_of(sql: str) -> str | None:
    """The no-transaction marker on the script's first line, if any (as listed)."""
    first = _LINE_END.split(sql.lstrip("\ufeff"), maxsplit=1)[0]
    words = " ".join(first.lower().split())
    return next((m for m in MARKERS if words == m), None)


def analyse(sql: str, *, server_version: int | None = None) -> ScriptAnalysis:
    """Split ``sql`` and find its statements that cannot run in a transaction block
    (``server_version`` as ``server_version_num``; ``None``: a current server)."""
    statements = tuple(keyword_text(s) for s in split_statements(sql))
    blockers: list[tuple[int, str]] = []
    if _TRIGGERS.search(sql):
        for index, words in enumerate(statements):
            kind = _blocker(words, server_version)
            if kind is not None:
                blockers.append((index, kind))
    return ScriptAnalysis(statements, marker_of(sql), tuple(blockers))


def _blocker(words: str, server_version: int | None) -> str | None:
    for rule in _RULES:
        kind = rule.match(words, server_version)
        if kind is not None:
            return kind
    return None


def script_mode(sql: str, file_name: str, *,
                server_version: int | None = None) -> TransactionMode:
    """How ``sql`` runs; ``SourceError`` naming ``file_name`` for a script that mixes
    statements that cannot run in a transaction with ones that must, or that holds
    transaction control (``COMMIT``) without being marked to run outside one."""
    found = analyse(sql, server_version=server_version)
    count = len(found.statements)
    if found.marker is not None:
        return TransactionMode(True, f"marker {found.marker}", count)
    if found.blockers:
        _refuse_mixed(found, sql, file_name)
        kinds = sorted({kind for _, kind in found.blockers})
        return TransactionMode(True, ", ".join(kinds), count)
    control = found.transaction_control()
    if control is not None:
        raise SourceError(
            f"{file_name}: contains {control!r}; StackFlow wraps each migration in its "
            f"own transaction (remove it, or start the file with '{MARKERS[0]}')",
            file=file_name)
    return TransactionMode(False, None, count)


def _refuse_mixed(found: ScriptAnalysis, sql: str, file_name: str) -> None:
    others = found.others()
    if not others:
        return
    written = [" ".join(strip_comments(s).split()) for s in split_statements(sql)]
    blocking = "; ".join(f"statement {i + 1}: {kind}" for i, kind in found.blockers)
    shown = "; ".join(f"statement {i + 1}: {_preview(written[i])}" for i in others[:3])
    more = f"; and {len(others) - 3} more" if len(others) > 3 else ""
    raise SourceError(
        f"{file_name}: mixes statements that cannot run inside a transaction "
        f"({blocking}) with statements that must run in one ({shown}{more}); split it "
        f"into two migrations, or start it with '{MARKERS[0]}' to run every statement "
        "on its own", file=file_name,
        blockers=[kind for _, kind in found.blockers],
        transactional=[written[i] for i in others])


def _preview(words: str, width: int = 60) -> str:
    return words if len(words) <= width else words[:width - 3] + "..."

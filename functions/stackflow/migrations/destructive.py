"""Which up-script statements are destructive: a drop, a truncate, a rename, or a type
change that may narrow. One classification for ``stackflow lint`` (such a statement
belongs to the contract phase) and for the patcher's status (a release whose pending
migrations hold one is worth a snapshot first)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from stackflow.migrations.impact import effects, statement_tables
from stackflow.migrations.markers import phase_of
from stackflow.migrations.model import Migration
from stackflow.migrations.sqltext import LazyPattern, names_text, split_statements

_RENAME = LazyPattern(r"^ALTER TABLE .*\bRENAME\b", re.IGNORECASE)
# A type change to text (or unbounded varchar) keeps every value: not narrowing.
_WIDENING = LazyPattern(r"\bTYPE (?:text|varchar|character varying)\s*(?:$|,|USING\b)",
                        re.IGNORECASE)


def destructive_kind(statement: str) -> str | None:
    """What makes a statement destructive, or None. Any type change other than to text
    counts: without the catalog a narrowing one cannot be told apart."""
    for effect in effects(statement):
        if effect.kind in ("drop_table", "drop_column", "truncate"):
            return f"{effect.kind.replace('_', ' ')} {effect.target}"
        if effect.kind == "alter_column_type" and not _WIDENING.search(names_text(statement)):
            return f"type change of {effect.target}"
    if _RENAME.match(names_text(statement)):
        return "rename"
    return None


def destructive_statements(migrations: Sequence[Migration]) -> list[dict[str, Any]]:
    """``[{"version", "file", "phase", "statement", "what", "tables"}]`` of the up
    scripts (``tables``: what a snapshot before them must hold, folded as PostgreSQL
    resolves the names)."""
    found = []
    for m in migrations:
        for number, statement in enumerate(split_statements(m.up.sql), start=1):
            what = destructive_kind(statement)
            if what is not None:
                found.append({"version": m.version, "file": m.up.file_name,
                              "phase": phase_of(m.up.sql), "statement": number,
                              "what": what, "tables": statement_tables(statement)})
    return found

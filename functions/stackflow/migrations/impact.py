"""The rollback impact report: what running down scripts now would destroy.

Pure. ``effects`` reads a down script's statements (``sqltext.names_text``, no parser:
the Lambda zip carries none) and finds the ones that destroy data: ``DROP TABLE``,
``ALTER TABLE ... DROP COLUMN``, ``ALTER TABLE ... ALTER COLUMN ... TYPE``, ``TRUNCATE``,
``DELETE``. ``assess`` turns those effects, the measurements taken now and the
baseline taken before the release (``TableStats`` per table, at SchemaBefore) into the
report: per down script, the objects it drops or alters and how much data was written
there since, and one verdict. Measuring is the caller's: a ``Meter`` (the database).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from stackflow.errors import InvalidRequest
from stackflow.migrations.model import Step
from stackflow.migrations.sqltext import LazyPattern, names_text, split_statements

EffectKind = Literal["drop_table", "drop_column", "alter_column_type", "truncate", "delete"]
SAFE = "safe to roll back the schema"

_IDENT = r'(?:"(?:[^"]|"")+"|[A-Za-z_][\w$]*)'
_QUALIFIED = rf"{_IDENT}(?:\.{_IDENT})?"
_DROP_TABLE = LazyPattern(rf"^DROP TABLE (?:IF EXISTS )?(?P<names>{_QUALIFIED}"
                         rf"(?: ?, ?{_QUALIFIED})*)", re.IGNORECASE)
_ALTER_TABLE = LazyPattern(rf"^ALTER TABLE (?:IF EXISTS )?(?:ONLY )?(?P<table>{_QUALIFIED})"
                          rf" (?P<actions>.*)$", re.IGNORECASE)
_DROP_COLUMN = LazyPattern(rf"(?:^|, ?)DROP (?:COLUMN )?(?:IF EXISTS )?(?P<column>{_IDENT})",
                          re.IGNORECASE)
_ALTER_TYPE = LazyPattern(rf"(?:^|, ?)ALTER (?:COLUMN )?(?P<column>{_IDENT}) "
                         rf"(?:SET DATA )?TYPE\b", re.IGNORECASE)
_TRUNCATE = LazyPattern(rf"^TRUNCATE (?:TABLE )?(?:ONLY )?(?P<names>{_QUALIFIED}"
                       rf"(?: ?, ?{_QUALIFIED})*)", re.IGNORECASE)
_DELETE = LazyPattern(rf"^DELETE FROM (?:ONLY )?(?P<table>{_QUALIFIED})", re.IGNORECASE)
# Words after DROP in ALTER TABLE that name something other than a column.
_NOT_COLUMNS = {"constraint", "default", "not", "expression", "identity", "owner"}


@dataclass(frozen=True)
class Effect:
    """One destructive change a down script makes: to a table, or one of its columns."""

    kind: EffectKind
    table: str
    column: str | None = None
    statement: int = 1  # 1-based, in the script

    @property
    def target(self) -> str:
        return self.table if self.column is None else f"{self.table}.{self.column}"


@dataclass(frozen=True)
class TableStats:
    """A table's size and ``pg_stat_user_tables`` write counters at one moment."""

    exists: bool
    rows: int = 0
    inserted: int = 0
    updated: int = 0
    deleted: int = 0
    columns: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"exists": self.exists, "rows": self.rows, "inserted": self.inserted,
                "updated": self.updated, "deleted": self.deleted,
                "columns": list(self.columns)}


class Meter(Protocol):
    """Measures the database now (``MigrationDatabase`` implements it)."""

    def table_stats(self, table: str) -> TableStats:
        """Row count, write counters and columns of ``table`` (``exists=False`` if none)."""
        ...

    def non_null_count(self, table: str, column: str) -> int:
        """How many rows of ``table`` hold a value in ``column``."""
        ...


@dataclass(frozen=True)
class Baseline:
    """The touched tables as SchemaBefore found them, and the version then (0: empty)."""

    version: int
    taken_at: str
    tables: Mapping[str, TableStats] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"version": self.version, "taken_at": self.taken_at,
                "tables": {name: s.to_dict() for name, s in self.tables.items()}}


def fold(name: str) -> str:
    """A name as PostgreSQL resolves it: unquoted parts fold to lower case."""
    parts = re.findall(_IDENT, name)
    return ".".join(p[1:-1].replace('""', '"') if p.startswith('"') else p.lower()
                    for p in parts)


def effects(sql: str) -> list[Effect]:
    """The destructive statements of a script, in order."""
    found: list[Effect] = []
    for number, statement in enumerate(split_statements(sql), start=1):
        found.extend(_statement_effects(names_text(statement), number))
    return found


def _statement_effects(text: str, number: int) -> list[Effect]:
    lists: tuple[tuple[LazyPattern, EffectKind], ...] = (
        (_DROP_TABLE, "drop_table"), (_TRUNCATE, "truncate"))
    for pattern, kind in lists:
        m = pattern.match(text)
        if m:
            return [Effect(kind, fold(n), statement=number)
                    for n in re.findall(_QUALIFIED, m["names"])]
    m = _DELETE.match(text)
    if m:
        return [Effect("delete", fold(m["table"]), statement=number)]
    m = _ALTER_TABLE.match(text)
    return _alter_effects(fold(m["table"]), m["actions"], number) if m else []


def _alter_effects(table: str, actions: str, number: int) -> list[Effect]:
    found = [Effect("drop_column", table, fold(m["column"]), number)
             for m in _DROP_COLUMN.finditer(actions)
             if m["column"].lower() not in _NOT_COLUMNS]
    found += [Effect("alter_column_type", table, fold(m["column"]), number)
              for m in _ALTER_TYPE.finditer(actions)]
    return found


def statement_tables(statement: str) -> list[str]:
    """The tables one statement drops, truncates, alters or deletes from, sorted."""
    text = names_text(statement)
    tables = {e.table for e in _statement_effects(text, 1)}
    altered = _ALTER_TABLE.match(text)
    if altered:  # a rename has no effect above but still changes its table
        tables.add(fold(altered["table"]))
    return sorted(tables)


def touched_tables(scripts: Sequence[str]) -> list[str]:
    """The tables the scripts' destructive statements touch, each once, sorted."""
    return sorted({e.table for sql in scripts for e in effects(sql)})


def take_baseline(tables: Sequence[str], meter: Meter, *, version: int,
                  taken_at: str) -> Baseline:
    return Baseline(version, taken_at, {t: meter.table_stats(t) for t in tables})


def assess(steps: Sequence[Step], meter: Meter, baseline: Baseline | None) -> dict[str, Any]:
    """The impact report of running ``steps`` (down steps, newest first) now."""
    scripts = [_script_report(step, meter, baseline) for step in steps]
    lost = sum(s["rows_lost"] for s in scripts)
    return {"baseline": baseline.taken_at if baseline else None, "scripts": scripts,
            "rows_lost": lost, "safe": lost == 0, "verdict": verdict(lost)}


def verdict(rows_lost: int) -> str:
    if rows_lost == 0:
        return SAFE
    return f"rolling back loses {rows_lost} row(s) written by the new version"


def _script_report(step: Step, meter: Meter, baseline: Baseline | None) -> dict[str, Any]:
    objects = [_effect_report(e, meter, baseline) for e in effects(step.sql)]
    return {"version": step.version, "file": step.file_name, "objects": objects,
            "rows_lost": sum(o["rows_lost"] for o in objects)}


def _effect_report(effect: Effect, meter: Meter,
                   baseline: Baseline | None) -> dict[str, Any]:
    now = meter.table_stats(effect.table)
    before = baseline.tables.get(effect.table) if baseline else None
    written = _written_since(now, before) if baseline else None
    report: dict[str, Any] = {"kind": effect.kind, "object": effect.target,
                              "statement": effect.statement, "exists": now.exists,
                              "rows": now.rows, "written_since": written}
    if effect.column is not None and now.exists and effect.column in now.columns:
        report["non_null_values"] = meter.non_null_count(effect.table, effect.column)
    report["rows_lost"] = _rows_lost(effect, report, before, written)
    return report


def _written_since(now: TableStats, before: TableStats | None) -> int:
    """Rows inserted or updated since the baseline (all rows, for a new table)."""
    if before is None or not before.exists:
        return now.inserted + now.updated
    return max(0, now.inserted - before.inserted) + max(0, now.updated - before.updated)


def _rows_lost(effect: Effect, report: Mapping[str, Any], before: TableStats | None,
               written: int | None) -> int:
    """The rows whose new data the effect destroys. Everything in an object the release
    created is new; in an older one, at most what was written since the baseline (all
    of it when there is no baseline to tell)."""
    if not report["exists"] or effect.kind == "alter_column_type":
        return 0
    destroyed = int(report.get("non_null_values", report["rows"]))
    if effect.kind == "drop_column" and "non_null_values" not in report:
        return 0
    if written is None or _created_by_release(effect, before):
        return destroyed
    return min(destroyed, written)


def _created_by_release(effect: Effect, before: TableStats | None) -> bool:
    if before is None or not before.exists:
        return True
    return effect.column is not None and effect.column not in before.columns


def parse_baseline(value: Any) -> Baseline:
    """A baseline from its JSON form (``Baseline.to_dict``); ``InvalidRequest`` naming
    the field otherwise."""
    if not isinstance(value, Mapping):
        raise InvalidRequest("baseline", "must be an object")
    version, taken_at, tables = value.get("version"), value.get("taken_at"), value.get("tables")
    if not isinstance(version, int) or isinstance(version, bool) or version < 0:
        raise InvalidRequest("baseline.version", "must be an integer >= 0")
    if not isinstance(taken_at, str):
        raise InvalidRequest("baseline.taken_at", "must be a string")
    if not isinstance(tables, Mapping):
        raise InvalidRequest("baseline.tables", "must be an object")
    return Baseline(version, taken_at,
                    {str(k): _parse_stats(v, f"baseline.tables.{k}") for k, v in tables.items()})


def _parse_stats(value: Any, field_name: str) -> TableStats:
    if not isinstance(value, Mapping):
        raise InvalidRequest(field_name, "must be an object")
    counts = {}
    for key in ("rows", "inserted", "updated", "deleted"):
        n = value.get(key, 0)
        if not isinstance(n, int) or isinstance(n, bool) or n < 0:
            raise InvalidRequest(f"{field_name}.{key}", "must be an integer >= 0")
        counts[key] = n
    columns = value.get("columns", [])
    if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
        raise InvalidRequest(f"{field_name}.columns", "must be an array of strings")
    return TableStats(exists=value.get("exists") is True, columns=tuple(columns), **counts)

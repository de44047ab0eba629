"""The ports the drift service reads and writes through; adapters implement them.

Every method raises only ``stackflow.errors`` classes; the service turns those into
``CheckError`` entries so one unreadable part never hides the rest of the report.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Protocol

from stackflow.drift.aliases import AliasHistory
from stackflow.drift.model import AliasState, StackCheck
from stackflow.drift.schema import SchemaBaseline
from stackflow.drift.state import DriftState
from stackflow.migrations.model import AppliedMigration, Migration

# Seconds this run may still spend before it must stop starting or waiting on work.
TimeLeft = Callable[[], float]


class StackChecker(Protocol):
    def check_stacks(self, stacks: Sequence[str], *, known_detections: Mapping[str, str],
                     time_left: TimeLeft) -> StackCheck: ...


class AliasReader(Protocol):
    def get_alias_state(self, function: str, alias: str) -> AliasState | None: ...


class HistoryReader(Protocol):
    def alias_history(self, function: str, alias: str) -> AliasHistory: ...


class SchemaInspector(Protocol):
    def applied(self) -> Sequence[AppliedMigration]:
        """The database's ``schema_migrations`` rows."""
        ...

    def migrations(self) -> Sequence[Migration]:
        """The migration source, loaded and validated by the patcher."""
        ...

    def modified_at(self) -> Mapping[int, datetime]:
        """Version -> timestamp of its up script's file or object in the source."""
        ...

    def schema_dump(self) -> str | None:
        """``pg_dump --schema-only`` text, or None when no pg_dump is available."""
        ...


class StateStore(Protocol):
    def load_state(self) -> DriftState | None: ...

    def save_state(self, state: DriftState) -> None: ...

    def load_baseline(self) -> SchemaBaseline | None: ...

    def save_baseline(self, baseline: SchemaBaseline) -> None: ...


class Notifier(Protocol):
    def publish(self, subject: str, message: str) -> None: ...

"""Schema drift's inputs, read through the patcher's own source and database ports.

The applied rows come from ``MigrationDatabase.applied`` on a read-only session and the
source from ``load_migrations``, exactly as ``patcher status`` reads them. A pending
migration's age is its up script's timestamp: the file's mtime for a directory source,
``LastModified`` for a source that reports timestamps (``TimestampedSource``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Protocol, runtime_checkable

from stackflow.errors import SourceError
from stackflow.migrations.model import AppliedMigration, Migration
from stackflow.migrations.service import Connect
from stackflow.migrations.source import DirectorySource, MigrationSource, load_migrations

APPLICATION_NAME = "stackflow-drift"


@runtime_checkable
class TimestampedSource(Protocol):
    def modified_times(self) -> Mapping[str, datetime]:
        """File name -> last-modified time (timezone-aware) of every file."""
        ...


class PatcherSchemaInspector:
    """Implements ``drift.ports.SchemaInspector``; caches the source for one run."""

    def __init__(self, source: MigrationSource, connect: Connect, *,
                 dump: Callable[[], str | None] = lambda: None) -> None:
        self.source = source
        self.connect = connect
        self.dump = dump
        self._migrations: list[Migration] | None = None

    def applied(self) -> Sequence[AppliedMigration]:
        db = self.connect(read_only=True, application_name=APPLICATION_NAME)
        try:
            return db.applied()
        finally:
            db.close()

    def migrations(self) -> Sequence[Migration]:
        if self._migrations is None:
            self._migrations = load_migrations(self.source)
        return self._migrations

    def modified_at(self) -> Mapping[int, datetime]:
        times = file_times(self.source)
        return {m.version: times[m.up.file_name] for m in self.migrations()
                if m.up.file_name in times}

    def schema_dump(self) -> str | None:
        return self.dump()


def file_times(source: MigrationSource) -> Mapping[str, datetime]:
    """File name -> modification time, for the sources that can tell."""
    if isinstance(source, TimestampedSource):
        return source.modified_times()
    if isinstance(source, DirectorySource):
        return _directory_times(source)
    return {}


def _directory_times(source: DirectorySource) -> dict[str, datetime]:
    times: dict[str, datetime] = {}
    for name in source.list_files():
        try:
            mtime = (source.directory / name).stat().st_mtime
        except OSError as e:
            raise SourceError(f"cannot stat migration {name}: {e}", file=name) from e
        times[name] = datetime.fromtimestamp(mtime, tz=UTC)
    return times

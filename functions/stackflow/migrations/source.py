"""Where migrations come from: one interface over a local folder or an S3 prefix.

A source only lists and reads files; ``load_migrations`` turns file names into
``Migration`` objects and rejects ambiguous sets (two files for one version, a down
script without its up) with ``SourceError`` naming the files.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Protocol

from stackflow.errors import SourceError
from stackflow.migrations.model import Migration, MigrationFile, Script, parse_file_name


class MigrationSource(Protocol):
    """A flat collection of ``*.sql`` files."""

    def describe(self) -> str:
        """Where the files are, for messages (``migrations/``, ``s3://bucket/prefix``)."""
        ...

    def list_files(self) -> list[str]:
        """File names (no folder part) of every file in the source."""
        ...

    def read_files(self, names: Sequence[str]) -> dict[str, str]:
        """The text of each named file."""
        ...


class DirectorySource:
    """Migrations in a local folder (``MIGRATIONS_DIR``); sub-folders are ignored."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)

    def describe(self) -> str:
        return str(self.directory)

    def list_files(self) -> list[str]:
        try:
            return sorted(p.name for p in self.directory.iterdir() if p.is_file())
        except OSError as e:
            raise SourceError(f"cannot list migrations in {self.directory}: {e.strerror or e}",
                              source=str(self.directory)) from e

    def read_files(self, names: Sequence[str]) -> dict[str, str]:
        return {name: self._read(name) for name in names}

    def _read(self, name: str) -> str:
        path = self.directory / name
        try:
            return path.read_bytes().decode("utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise SourceError(f"cannot read migration {path}: {e}", file=name) from e


def load_migrations(source: MigrationSource) -> list[Migration]:
    """Every migration in ``source``, ordered by version (numerically)."""
    parsed = [f for f in (parse_file_name(n) for n in source.list_files()) if f is not None]
    groups = _group_by_version(parsed)
    texts = source.read_files([f.file_name for f in parsed])
    return [_build(version, files, texts) for version, files in sorted(groups.items())]


def _group_by_version(files: Iterable[MigrationFile]) -> dict[int, list[MigrationFile]]:
    groups: dict[int, list[MigrationFile]] = defaultdict(list)
    for f in files:
        groups[f.version].append(f)
    for version, group in groups.items():
        _check_group(version, group)
    return groups


def _check_group(version: int, group: list[MigrationFile]) -> None:
    names = sorted(f.file_name for f in group)
    ups = [f for f in group if f.direction == "up"]
    downs = [f for f in group if f.direction == "down"]
    if len(ups) > 1 or len(downs) > 1 or len({f.name for f in group}) > 1:
        raise SourceError(f"version {version} is claimed by more than one migration: "
                          + ", ".join(names), version=version, files=names)
    if not ups:
        raise SourceError(f"down script without its up script: {downs[0].file_name}",
                          version=version, files=names)


def _build(version: int, files: list[MigrationFile], texts: dict[str, str]) -> Migration:
    up = next(f for f in files if f.direction == "up")
    down = next((f for f in files if f.direction == "down"), None)
    return Migration(
        version=version,
        name=up.name,
        up=Script(texts[up.file_name], up.file_name),
        down=Script(texts[down.file_name], down.file_name) if down else None,
    )

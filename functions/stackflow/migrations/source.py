"""Where migrations come from: one interface over a local folder or an S3 prefix.

A source only lists and reads files; ``load_source`` turns file names into
``Migration`` objects, sets aside files that are not SQL (a README), and rejects bad
names and ambiguous sets (two files for one version, a down script without its up) with
one ``SourceError`` naming every file at fault.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
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


@dataclass(frozen=True)
class SourceContents:
    """The migrations of a source, and the files in it that are not SQL (ignored)."""

    migrations: list[Migration]
    ignored: tuple[str, ...] = ()


def load_migrations(source: MigrationSource) -> list[Migration]:
    """Every migration in ``source``, ordered by version (numerically)."""
    return load_source(source).migrations


def load_source(source: MigrationSource) -> SourceContents:
    """Every migration in ``source`` and the names of the files that are not ``.sql``.

    Every problem (bad names, two files for a version, a down script without its up) is
    reported in one ``SourceError``, so a folder is fixed in one pass, not one per run.
    """
    names = source.list_files()
    parsed, problems = _parse_names(names)
    groups = _group_by_version(parsed)
    problems += [p for version, group in sorted(groups.items())
                 if (p := _group_problem(version, group)) is not None]
    if problems:
        raise SourceError(f"{source.describe()}: " + "; ".join(problems),
                          source=source.describe(), problems=problems)
    texts = source.read_files([f.file_name for f in parsed])
    migrations = [_build(version, files, texts) for version, files in sorted(groups.items())]
    ignored = tuple(n for n in names if not n.lower().endswith(".sql"))
    return SourceContents(migrations, ignored)


def _parse_names(names: Iterable[str]) -> tuple[list[MigrationFile], list[str]]:
    """The parsed migration files, and one problem per kind of bad name (naming all)."""
    parsed: list[MigrationFile] = []
    bad: dict[str, list[str]] = defaultdict(list)
    for name in names:
        try:
            migration_file = parse_file_name(name)
        except SourceError as e:
            bad[str(e.details.get("reason", "bad name"))].append(repr(name))
            continue
        if migration_file is not None:
            parsed.append(migration_file)
    problems = [f"{len(files)} bad migration file name{'s' if len(files) > 1 else ''} "
                f"({reason}): {', '.join(files)}" for reason, files in bad.items()]
    return parsed, problems


def _group_by_version(files: Iterable[MigrationFile]) -> dict[int, list[MigrationFile]]:
    groups: dict[int, list[MigrationFile]] = defaultdict(list)
    for f in files:
        groups[f.version].append(f)
    return groups


def _group_problem(version: int, group: list[MigrationFile]) -> str | None:
    names = sorted(f.file_name for f in group)
    ups = [f for f in group if f.direction == "up"]
    downs = [f for f in group if f.direction == "down"]
    if len(ups) > 1 or len(downs) > 1 or len({f.name for f in group}) > 1:
        return f"version {version} is claimed by more than one migration: " + ", ".join(names)
    if not ups:
        return f"down script without its up script: {downs[0].file_name}"
    return None


def _build(version: int, files: list[MigrationFile], texts: dict[str, str]) -> Migration:
    up = next(f for f in files if f.direction == "up")
    down = next((f for f in files if f.direction == "down"), None)
    return Migration(
        version=version,
        name=up.name,
        up=Script(texts[up.file_name], up.file_name),
        down=Script(texts[down.file_name], down.file_name) if down else None,
    )

"""File names, checksums, the no-transaction marker and loading a folder of migrations."""

from __future__ import annotations

from pathlib import Path

import pytest
from stackflow.errors import SourceError
from stackflow.migrations.model import checksum, is_no_transaction, parse_file_name
from stackflow.migrations.source import DirectorySource, load_migrations


def test_file_name_gives_numeric_version_name_and_direction() -> None:
    # GIVEN names with different version widths
    # WHEN they are parsed
    up = parse_file_name("0003_add_orders_status.up.sql")
    down = parse_file_name("12_drop_x.down.sql")
    # THEN the version is the integer, whatever its width
    assert up is not None
    assert (up.version, up.name, up.direction) == (3, "add_orders_status",
                                                                       "up")
    assert down is not None
    assert (down.version, down.direction) == (12, "down")


def test_non_sql_files_are_ignored_but_badly_named_sql_is_an_error() -> None:
    # GIVEN a README and a misspelt migration
    # THEN the README is skipped and the typo is refused, naming the file
    assert parse_file_name("README.md") is None
    with pytest.raises(SourceError, match=r"0004_add_index\.sql"):
        parse_file_name("0004_add_index.sql")


def test_version_beyond_bigint_is_refused_naming_the_file() -> None:
    # GIVEN a version schema_migrations (bigint) could not store
    name = f"{2**63}_too_big.up.sql"
    # THEN it is refused up front, not found out mid-run
    largest = parse_file_name(f"000{2**63 - 1}_largest.up.sql")
    assert largest is not None
    assert largest.version == 2**63 - 1
    with pytest.raises(SourceError, match=f"{name}.*above the largest allowed"):
        parse_file_name(name)
    # AND a name of thousands of digits is the same error, not a ValueError from int()
    with pytest.raises(SourceError, match="above the largest allowed"):
        parse_file_name("9" * 5000 + "_huge.up.sql")


def test_checksum_ignores_line_endings_but_not_content() -> None:
    # GIVEN the same script checked out with LF and with CRLF
    lf = "CREATE TABLE a (id int);\nCREATE TABLE b (id int);\n"
    crlf = lf.replace("\n", "\r\n")
    # THEN both hash alike, and a real edit does not
    assert checksum(lf) == checksum(crlf)
    assert checksum(lf) != checksum(lf.replace("b", "c"))


def test_no_transaction_marker_must_be_the_first_line() -> None:
    assert is_no_transaction("-- stackflow:no-transaction\r\nCREATE INDEX CONCURRENTLY i ON t (x);")
    assert not is_no_transaction("-- a comment\n-- stackflow:no-transaction\nSELECT 1;")


def write(folder: Path, *names: str) -> None:
    for name in names:
        (folder / name).write_text(f"-- {name}\nSELECT 1;\n")


def test_folder_loads_in_numeric_order_with_optional_down_scripts(tmp_path: Path) -> None:
    # GIVEN versions 2, 10 and 9 (10 sorts before 9 as text), only 9 with a down script
    write(tmp_path, "10_ten.up.sql", "9_nine.up.sql", "9_nine.down.sql", "2_two.up.sql",
          "notes.txt")
    # WHEN the folder is loaded
    migrations = load_migrations(DirectorySource(tmp_path))
    # THEN they are ordered by number and the down script belongs to 9
    assert [m.version for m in migrations] == [2, 9, 10]
    assert [m.down is not None for m in migrations] == [False, True, False]


def test_two_files_for_one_version_is_an_error_naming_both(tmp_path: Path) -> None:
    # GIVEN two different migrations numbered 3
    write(tmp_path, "0003_add_status.up.sql", "0003_add_index.up.sql")
    # THEN loading fails and names both files
    with pytest.raises(SourceError, match=r"0003_add_index\.up\.sql, 0003_add_status\.up\.sql"):
        load_migrations(DirectorySource(tmp_path))


def test_down_script_without_its_up_is_an_error_naming_it(tmp_path: Path) -> None:
    # GIVEN a down script whose up script is missing
    write(tmp_path, "0001_a.up.sql", "0002_b.down.sql")
    # THEN loading fails and names the orphan
    with pytest.raises(SourceError, match=r"0002_b\.down\.sql"):
        load_migrations(DirectorySource(tmp_path))


def test_missing_folder_is_a_source_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="cannot list migrations"):
        load_migrations(DirectorySource(tmp_path / "nope"))


def test_non_utf8_file_is_a_source_error_naming_it(tmp_path: Path) -> None:
    # GIVEN a migration saved in Latin-1
    (tmp_path / "0001_cafe.up.sql").write_bytes("SELECT 'café';".encode("latin-1"))
    # THEN it is refused by name rather than half-read
    with pytest.raises(SourceError, match=r"0001_cafe\.up\.sql"):
        load_migrations(DirectorySource(tmp_path))


def test_the_project_sample_migrations_load_and_each_has_a_down_script() -> None:
    migrations = load_migrations(DirectorySource(Path(__file__).parents[2] / "migrations"))
    assert [m.version for m in migrations] == [1, 2, 3, 4]
    assert all(m.down is not None for m in migrations)
    assert migrations[3].up.no_transaction

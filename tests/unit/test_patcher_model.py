"""File names, checksums, the no-transaction marker and loading a folder of migrations."""

from __future__ import annotations

from pathlib import Path

import pytest
from stackflow.errors import SourceError
from stackflow.migrations.model import checksum, is_no_transaction, parse_file_name
from stackflow.migrations.source import DirectorySource, load_migrations, load_source


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


@pytest.mark.parametrize(("file_name", "version", "name"), [
    ("000056_upgrade_channels_v6.0.down.sql", 56, "upgrade_channels_v6.0"),
    ("1481574547_Create Users Table.up.sql", 1481574547, "Create Users Table"),
    ("000003_größe_ändern.up.sql", 3, "größe_ändern"),
    ("7_a.up.down.sql", 7, "a.up"),
    ("0008_-leading-dash.up.sql", 8, "-leading-dash"),
])
def test_descriptions_may_hold_any_printable_character_but_a_slash(
        file_name: str, version: int, name: str) -> None:
    # GIVEN names as teams write them (golang-migrate's dots, timestamps, unicode)
    parsed = parse_file_name(file_name)
    # THEN version and description are read from them
    assert parsed is not None
    assert (parsed.version, parsed.name) == (version, name)


@pytest.mark.parametrize("file_name", [
    "0004_add_index.sql", "0004_.up.sql", "v4_add_index.up.sql", "0004_add_index.UP.SQL",
    "0004_new\nline.up.sql", "0004_tab\there.up.sql", "0004_add_index.up.SQL"])
def test_sql_files_off_the_pattern_are_errors_not_skipped(file_name: str) -> None:
    # GIVEN a .sql file (in any case) that does not follow the pattern, or whose
    # description is not printable
    # THEN it is refused by name: a typo must not drop a migration silently
    with pytest.raises(SourceError, match="bad migration file name"):
        parse_file_name(file_name)


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
    assert is_no_transaction("-- morph:nontransactional\nCREATE INDEX CONCURRENTLY i ON t (x);")
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


def test_every_bad_name_and_group_is_reported_in_one_error(tmp_path: Path) -> None:
    # GIVEN three misnamed .sql files, a duplicate version and an orphan down script
    write(tmp_path, "0001_a.up.sql", "0001_b.up.sql", "0002_c.down.sql", "03.sql",
          "4_d.up.sq.sql", "notes.sql", "0005_fine.v1.2.up.sql")
    # WHEN the folder is loaded
    with pytest.raises(SourceError) as caught:
        load_migrations(DirectorySource(tmp_path))
    # THEN one error names every file at fault, the bad names together
    message = caught.value.message
    assert message.startswith(f"{tmp_path}: 3 bad migration file names (expected "
                              "NNNN_description.up.sql or NNNN_description.down.sql): "
                              "'03.sql', '4_d.up.sq.sql', 'notes.sql'")
    assert "version 1 is claimed by more than one migration: 0001_a.up.sql, 0001_b.up.sql" in (
        message)
    assert "down script without its up script: 0002_c.down.sql" in message
    assert "0005_fine" not in message
    assert len(caught.value.details["problems"]) == 3


def test_files_that_are_not_sql_are_ignored_and_listed(tmp_path: Path) -> None:
    # GIVEN a README, a .gitkeep and a golang-migrate style migration
    write(tmp_path, "000001_init.up.sql", "000001_init.down.sql")
    (tmp_path / "README.md").write_text("# migrations\n")
    (tmp_path / ".gitkeep").write_text("")
    # WHEN the folder is loaded THEN the migration is read and the others set aside
    contents = load_source(DirectorySource(tmp_path))
    assert [m.version for m in contents.migrations] == [1]
    assert contents.ignored == (".gitkeep", "README.md")


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

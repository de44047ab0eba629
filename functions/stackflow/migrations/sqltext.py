"""Just enough SQL lexing for the patcher, pure and without a database.

A no-transaction migration must be sent one statement at a time: PostgreSQL runs a
multi-statement query string as one implicit transaction, and ``CREATE INDEX
CONCURRENTLY`` refuses to run inside one. Splitting respects quotes, dollar quotes and
comments, which is all that can hide a ``;`` in PostgreSQL syntax.
"""

from __future__ import annotations

import re

_DOLLAR_TAG = re.compile(r"\$(?:[A-Za-z_][A-Za-z0-9_]*)?\$")
# A run of characters that can neither end a statement nor start a quote or comment:
# skipped in one step, so a script is not walked a Python call per character.
_PLAIN = re.compile(r"[^;'\"$/-]+")
_COMMENT_MARK = re.compile(r"/\*|\*/")
_TRANSACTION_CONTROL = re.compile(
    r"^(begin|commit|end|abort|start\s+transaction|prepare\s+transaction|"
    r"rollback(?!\s+(?:(?:work|transaction)\s+)?to\b))\b",
    re.IGNORECASE)
_CONCURRENT_INDEX = re.compile(
    r"create\s+(?:unique\s+)?index\s+concurrently\s+(?:if\s+not\s+exists\s+)?"
    r"(?P<name>(?:\"[^\"]+\"|[A-Za-z_][\w$]*)(?:\.(?:\"[^\"]+\"|[A-Za-z_][\w$]*))?)\s+on\b",
    re.IGNORECASE)


def split_statements(sql: str) -> list[str]:
    """The statements of ``sql`` without their terminating ``;`` (comments kept)."""
    statements: list[str] = []
    start = i = 0
    while i < len(sql):
        if sql[i] == ";":
            statements.append(sql[start:i])
            start = i + 1
            i += 1
        else:
            i = _skip_token(sql, i)
    statements.append(sql[start:])
    return [s.strip() for s in statements if strip_comments(s).strip()]


def _skip_token(sql: str, i: int) -> int:
    """Index just past the quoted string, comment or run of plain text at ``i``."""
    ch, pair = sql[i], sql[i:i + 2]
    if pair == "--":
        end = sql.find("\n", i)
        return len(sql) if end < 0 else end + 1
    if pair == "/*":
        return _skip_block_comment(sql, i)
    if ch in ("'", '"'):
        return _skip_quoted(sql, i, ch)
    if ch == "$" and (i == 0 or not (sql[i - 1].isalnum() or sql[i - 1] == "_")):
        tag = _DOLLAR_TAG.match(sql, i)
        if tag:
            end = sql.find(tag.group(), tag.end())
            return len(sql) if end < 0 else end + len(tag.group())
    plain = _PLAIN.match(sql, i)
    return plain.end() if plain else i + 1


def _skip_quoted(sql: str, i: int, quote: str) -> int:
    j = i + 1
    while True:
        end = sql.find(quote, j)
        if end < 0:
            return len(sql)
        if sql[end + 1:end + 2] != quote:
            return end + 1
        j = end + 2  # a doubled quote is an escaped quote


def _skip_block_comment(sql: str, i: int) -> int:
    depth = 0
    for mark in _COMMENT_MARK.finditer(sql, i):
        depth += 1 if mark.group() == "/*" else -1
        if depth == 0:
            return mark.end()
    return len(sql)


def strip_comments(statement: str) -> str:
    """``statement`` without ``--`` and ``/* */`` comments (quotes respected)."""
    out: list[str] = []
    i = 0
    while i < len(statement):
        nxt = _skip_token(statement, i)
        if statement[i:i + 2] not in ("--", "/*"):
            out.append(statement[i:nxt])
        else:
            out.append(" ")
        i = nxt
    return "".join(out)


def transaction_control(sql: str) -> str | None:
    """The first statement that ends or starts a transaction (``COMMIT``...), if any.

    Inside a transactional migration such a statement would commit part of it on its
    own, outside the transaction that records the version.
    """
    for statement in split_statements(sql):
        text = " ".join(strip_comments(statement).split())
        if _TRANSACTION_CONTROL.match(text):
            return text
    return None


def concurrent_index_names(sql: str) -> list[str]:
    """Names given to ``CREATE INDEX CONCURRENTLY`` in ``sql``, as written."""
    return [m["name"] for m in _CONCURRENT_INDEX.finditer(strip_comments(sql))]

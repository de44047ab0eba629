"""Just enough SQL lexing for the patcher, pure and without a database.

A no-transaction migration must be sent one statement at a time: PostgreSQL runs a
multi-statement query string as one implicit transaction, and ``CREATE INDEX
CONCURRENTLY`` refuses to run inside one. Splitting respects quotes, dollar quotes and
comments, which is all that can hide a ``;`` in PostgreSQL syntax.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

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
    if ch == "'" and _escape_string_prefix(sql, i):
        return _skip_escape_string(sql, i)
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


def _escape_string_prefix(sql: str, i: int) -> bool:
    """True when the quote at ``i`` opens an ``E'...'`` string (backslash escapes)."""
    if i == 0 or sql[i - 1] not in "eE":
        return False
    return i == 1 or not (sql[i - 2].isalnum() or sql[i - 2] in "_$")


def _skip_escape_string(sql: str, i: int) -> int:
    # In E'...' a backslash escapes the next character, so E'it\'s' is one string.
    j = i + 1
    while j < len(sql):
        ch = sql[j]
        if ch == "\\" or (ch == "'" and sql[j + 1:j + 2] == "'"):
            j += 2
        elif ch == "'":
            return j + 1
        else:
            j += 1
    return len(sql)


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
        if is_transaction_control(text):
            return text
    return None


def is_transaction_control(text: str) -> bool:
    """Whether a statement (comments removed) starts or ends a transaction."""
    return _TRANSACTION_CONTROL.match(text) is not None


def concurrent_index_names(sql: str) -> list[str]:
    """Names given to ``CREATE INDEX CONCURRENTLY`` in ``sql``, as written."""
    return [m["name"] for m in _CONCURRENT_INDEX.finditer(strip_comments(sql))]


def keyword_text(statement: str) -> str:
    """``statement`` as upper-case words for keyword matching: comments removed, every
    string, dollar-quoted body and quoted identifier blanked (``''``, ``""``), so no
    literal can look like a keyword, and whitespace collapsed to single spaces."""
    out: list[str] = []
    i = 0
    while i < len(statement):
        nxt = _skip_token(statement, i)
        out.append(_blank(statement, i, nxt))
        i = nxt
    return " ".join("".join(out).split()).upper()


def _blank(statement: str, start: int, end: int) -> str:
    token = statement[start:end]
    if token.startswith(("--", "/*")):
        return " "
    if token[0] == '"':
        return '""'
    if token[0] == "'" or (token[0] == "$" and end - start > 1 and _DOLLAR_TAG.match(token)):
        return "''"
    return token


def first_line(sql: str, width: int = 60) -> str:
    """The first line of the first statement, comments removed, at most ``width``
    characters: what a plan shows to say what a script does."""
    statements = split_statements(sql)
    if not statements:
        return ""
    line = next((ln.strip() for ln in strip_comments(statements[0]).splitlines()
                 if ln.strip()), "")
    return line if len(line) <= width else line[:width - 3] + "..."


def names_text(statement: str) -> str:
    """``statement`` for reading object names: comments removed, every string and
    dollar-quoted body blanked (``''``), quoted identifiers kept as written, whitespace
    collapsed to single spaces; case is kept (an unquoted name folds later)."""
    out: list[str] = []
    i = 0
    while i < len(statement):
        nxt = _skip_token(statement, i)
        token = statement[i:nxt]
        out.append(token if token[:1] == '"' else _blank(statement, i, nxt))
        i = nxt
    return " ".join("".join(out).split())


class LazyPattern:
    """A regular expression compiled when first used (``re`` keeps it cached), so a cold
    start that never needs it does not pay for compiling it."""

    def __init__(self, pattern: str, flags: int = 0) -> None:
        self.pattern, self.flags = pattern, flags

    def _compiled(self) -> re.Pattern[str]:
        return re.compile(self.pattern, self.flags)

    def match(self, text: str) -> re.Match[str] | None:
        return self._compiled().match(text)

    def search(self, text: str) -> re.Match[str] | None:
        return self._compiled().search(text)

    def finditer(self, text: str) -> Iterator[re.Match[str]]:
        return self._compiled().finditer(text)

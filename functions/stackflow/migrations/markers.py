"""The comment markers a migration's up script may carry, besides the transaction ones.

- ``-- stackflow:phase contract``: the migration belongs to the contract phase (it may
  drop or rename what the previous version still reads); ``expand`` is the default.
- ``-- stackflow:irreversible``: the migration has no down script on purpose.
- ``-- stackflow:lint-ignore RULE reason``: ``stackflow lint`` skips RULE for the next
  statement (a reason is required).

Markers are comments, so they change nothing PostgreSQL runs.
"""

from __future__ import annotations

import re
from typing import Literal

Phase = Literal["expand", "contract"]
PHASES: tuple[Phase, ...] = ("expand", "contract")
# What a migrate run applies: one phase, or everything pending.
RunPhase = Literal["expand", "contract", "all"]
RUN_PHASES: tuple[RunPhase, ...] = ("expand", "contract", "all")
_PHASE = re.compile(r"^\s*--\s*stackflow:phase\s+(\w+)\s*$", re.IGNORECASE | re.MULTILINE)
_IRREVERSIBLE = re.compile(r"^\s*--\s*stackflow:irreversible\b", re.IGNORECASE | re.MULTILINE)
IGNORE = re.compile(r"^\s*--\s*stackflow:lint-ignore\s+(?P<rule>[\w-]+)(?:\s+(?P<reason>\S.*))?$",
                    re.IGNORECASE)


def phase_of(sql: str) -> Phase:
    """``contract`` when marked so, else ``expand``; an unknown phase counts as expand
    (``stackflow lint`` reports it)."""
    m = _PHASE.search(sql)
    return "contract" if m and m.group(1).lower() == "contract" else "expand"


def declared_phase(sql: str) -> str | None:
    """The phase as written, if any (for the lint's unknown-phase check)."""
    m = _PHASE.search(sql)
    return m.group(1).lower() if m else None


def irreversible(sql: str) -> bool:
    return _IRREVERSIBLE.search(sql) is not None

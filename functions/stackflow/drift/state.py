"""What one drift run leaves for the next: the drift set and in-flight detections.

Stored as one item (``DRIFT#STATE``, see docs/architecture.md). The next run compares
its drift set with ``drift_keys`` to decide whether to notify, reuses ``detections``
that are still running, and checks ``carried_over`` stacks first.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from stackflow.drift.model import fingerprint_of


@dataclass(frozen=True)
class DriftState:
    drift_keys: tuple[str, ...] = ()
    detections: Mapping[str, str] = field(default_factory=dict)  # stack -> detection id
    carried_over: tuple[str, ...] = ()
    updated_at: str = ""
    notified_at: str | None = None

    @property
    def fingerprint(self) -> str:
        return fingerprint_of(self.drift_keys)


def order_stacks(stacks: Sequence[str], previous: DriftState | None) -> list[str]:
    """Stacks carried over last time go first, so a long list never starves its tail."""
    first = [s for s in (previous.carried_over if previous else ()) if s in stacks]
    return first + [s for s in stacks if s not in first]


def merge_keys(fresh: Iterable[str], previous: DriftState | None,
               unchecked_prefixes: Iterable[str]) -> tuple[str, ...]:
    """This run's drift set; parts not checked this run keep their previous findings,
    so a carried-over stack or a failed read neither clears nor re-raises an alert."""
    keys = set(fresh)
    if previous is not None:
        prefixes = tuple(unchecked_prefixes)
        if prefixes:
            keys.update(k for k in previous.drift_keys if k.startswith(prefixes))
    return tuple(sorted(keys))


def has_changed(previous: DriftState | None, keys: Sequence[str]) -> bool:
    """True when the drift set differs from the stored one. With no stored state, only
    a non-empty set is news (a clean first run stays quiet)."""
    if previous is None:
        return bool(keys)
    return previous.fingerprint != fingerprint_of(keys)

"""In-memory implementations of the drift ports, shared by unit and integration tests."""

from __future__ import annotations

from dataclasses import dataclass

from stackflow.drift.ports import StateStore
from stackflow.drift.schema import SchemaBaseline
from stackflow.drift.state import DriftState


@dataclass
class MemoryStateStore:
    """``drift.ports.StateStore`` in memory (the DynamoDB one is tested against moto)."""

    state: DriftState | None = None
    baseline: SchemaBaseline | None = None

    def load_state(self) -> DriftState | None:
        return self.state

    def save_state(self, state: DriftState) -> None:
        self.state = state

    def load_baseline(self) -> SchemaBaseline | None:
        return self.baseline

    def save_baseline(self, baseline: SchemaBaseline) -> None:
        self.baseline = baseline


# Type-checked against the port, so the fake cannot drift from it.
_: type[StateStore] = MemoryStateStore

"""Load the sample events in ``events/`` (the same files the README tells users to send)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

EVENTS_DIR = Path(__file__).resolve().parents[2] / "events"


def load_event(name: str) -> Any:
    """Return the parsed JSON of ``events/<name>`` (``.json`` optional)."""
    path = EVENTS_DIR / (name if name.endswith(".json") else f"{name}.json")
    return json.loads(path.read_text())

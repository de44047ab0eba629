"""Nominal time: local Waits count at their nominal length, everything else as it ran."""

from __future__ import annotations

import pytest
from stackflow_tools.local.timeline import WaitSpan, nominal_between

# Two 30 s Waits run at time scale 0.01 (0.3 s each), 1 s of Lambda work between them.
WAITS = [WaitSpan(10.0, 10.3, 30.0), WaitSpan(11.3, 11.6, 30.0)]


@pytest.mark.parametrize(("start", "end", "nominal"), [
    (9.0, 9.5, 0.5),  # no wait in between: as it ran
    (9.0, 11.8, 60 + 1 + 1.0 + 0.2),  # two waits at 30 s, the rest as it ran
    (10.1, 10.8, 30 + 0.5),  # from inside a wait: counted from that wait's start
    (10.0, 10.15, 15.0),  # half of a wait is half of its nominal length
])
def test_nominal_seconds(start: float, end: float, nominal: float) -> None:
    assert nominal_between(WAITS, start, end) == pytest.approx(nominal)


def test_without_waits_nominal_is_real() -> None:
    assert nominal_between([], 3.0, 5.5) == pytest.approx(2.5)

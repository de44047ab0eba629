"""The shared polling schedule of Upload and Publish."""

from __future__ import annotations

from stackflow.deploy.polling import poll_times


def test_polls_back_off_then_stop_after_the_limit_with_one_last_poll() -> None:
    # GIVEN a recorded sleep and a 12-second limit
    sleeps: list[float] = []
    # WHEN the caller polls every time it is told to, never seeing success
    waited = list(poll_times(sleeps.append, 12.0))
    # THEN it slept on the backoff schedule, polled once more at the limit, and stopped
    assert sleeps == [1.0, 1.0, 2.0, 2.0, 3.0, 5.0]
    assert waited == [0.0, 1.0, 2.0, 4.0, 6.0, 9.0, 14.0]


def test_after_the_schedule_every_poll_is_five_seconds_apart() -> None:
    sleeps: list[float] = []
    list(poll_times(sleeps.append, 30.0))
    assert sleeps[6:] == [5.0] * (len(sleeps) - 6)
    assert sum(sleeps) >= 30.0 > sum(sleeps[:-1])


def test_a_caller_that_stops_early_sleeps_no_more() -> None:
    # GIVEN a poll that succeeds the second time
    sleeps: list[float] = []
    for i, _ in enumerate(poll_times(sleeps.append, 600.0)):
        if i == 1:
            break
    # THEN it slept once, between the two polls
    assert sleeps == [1.0]

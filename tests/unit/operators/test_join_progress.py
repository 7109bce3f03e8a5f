"""JoinProgress: a start line, a progress line every few seconds, a summary; nothing per channel at INFO."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator

import pytest

from airflow_provider_truto.operators.join_progress import (
    MAX_INTERVAL_SECONDS,
    MIN_INTERVAL_SECONDS,
    JoinProgress,
    duration,
    least_seconds,
    speed,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Lines(list[str]):
    """What the batch logged at INFO, in order (filled as it logs)."""


@pytest.fixture
def lines() -> Iterator[Lines]:
    collected = Lines()

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.levelno >= logging.INFO:
                collected.append(record.getMessage())

    log = logging.getLogger("test.progress")
    handler = Collect()
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)
    yield collected
    log.removeHandler(handler)


def test_a_batch_logs_a_start_progress_every_interval_and_a_summary(lines: list[str]) -> None:
    clock = Clock()
    log = logging.getLogger("test.progress")
    progress = JoinProgress(5000, log=log, least_seconds=1053.0, clock=clock)
    assert progress.interval == pytest.approx(1053.0 / 40)
    progress.start(1, "50/10 per account")
    assert lines == [
        "Joining 5,000 channels; at the connection's pacing (50/10 per account) that takes at least 18 min"
    ]
    for index in range(5000):
        clock.now += 0.25  # 4 a second
        if index == 17:
            progress.record("skipped", "is_archived")
        elif index in (18, 19):
            progress.record("skipped", "channel_not_found")
        elif index == 20:
            progress.record("failed", "Truto: ...")
        else:
            progress.record("joined")
    progress.summary()
    progress_lines = lines[1:-1]
    # One line per interval of the 1,250 s the batch took, never one per channel, none after the last.
    assert 40 <= len(progress_lines) <= 48
    assert progress_lines[0] == "102 of 5,000 joined, 3 skipped, 1 failed, 4.0/s, about 20 min left"
    assert lines[-1] == (
        "Joined 4,996 of 5,000 channels in 21 min (4.0/s): 3 skipped "
        "(channel_not_found: 2, is_archived: 1), 1 failed"
    )


def test_a_short_batch_logs_every_few_seconds_and_an_unpaced_one_gives_no_estimate(lines: list[str]) -> None:
    clock = Clock()
    progress = JoinProgress(300, log=logging.getLogger("test.progress"), least_seconds=None, clock=clock)
    assert progress.interval == MIN_INTERVAL_SECONDS
    progress.start(3, "off")
    for _ in range(300):
        clock.now += 0.1
        progress.record("joined")
    progress.summary()
    assert lines[0] == "Joining 300 channels of 3 accounts; pacing is off, so no estimate"
    assert len(lines) == 1 + 5 + 1  # 30 s: a line at 5, 10, 15, 20 and 25 s; none at the very end
    assert lines[1].startswith("50 of 300 joined, 0 skipped, 0 failed, 10/s, about 25 s left")
    assert lines[-1] == "Joined 300 of 300 channels in 30 s (10/s): 0 skipped, 0 failed"
    assert JoinProgress(9, log=logging.getLogger("t"), least_seconds=10**6).interval == MAX_INTERVAL_SECONDS


def test_outcomes_from_many_threads_are_all_counted() -> None:
    progress = JoinProgress(8000, log=logging.getLogger("test.progress"), least_seconds=None)

    def work() -> None:
        for _ in range(1000):
            progress.record("joined")

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert progress.counts["joined"] == 8000 == progress.done


def test_the_least_time_follows_the_tightest_budget() -> None:
    one = {"A": 500}
    assert least_seconds(one, account_interval=0.2, environment_interval=0.02, accounts_at_once=4) == 100.0
    many = {f"A{i}": 100 for i in range(20)}  # 2,000 joins, 4 accounts at a time, token at 1 per 0.02 s
    assert least_seconds(many, account_interval=0.2, environment_interval=0.02, accounts_at_once=4) == 100.0
    assert least_seconds(many, account_interval=0.2, environment_interval=0.1, accounts_at_once=20) == 200.0
    assert least_seconds(one, account_interval=None, environment_interval=None, accounts_at_once=1) is None


def test_speeds_and_durations_read_well() -> None:
    assert [speed(48.2), speed(4.84), speed(0.7)] == ["48/s", "4.8/s", "42/min"]
    assert [duration(80.4), duration(779), duration(3900)] == ["80 s", "13 min", "1 h 05 min"]

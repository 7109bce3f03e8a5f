"""How a batch of joins is going, told in a few log lines: a start, progress every few seconds, a summary.

A batch of thousands of channels takes minutes (Truto's and Slack's rate limits pace it), so one line per
channel says too much and none says too little. :class:`JoinProgress` counts outcomes as the batch's
threads report them and logs, on the task's logger:

- at the start, what is joined and how long it takes at least at the connection's pacing;
- every few seconds, ``1,200 of 5,000 joined, 3 skipped, 0 failed, 4.8/s, about 13 min left``;
- at the end, what was joined, skipped (by reason) and failed, and how long it took.

Each channel's own line goes to DEBUG. No Airflow here: the operator hands in its logger and its budget.
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any, Protocol

# Progress lines come at most this often, and at least every MAX seconds; in between, the interval is a
# fortieth of the expected duration, so a long batch logs about forty lines, a short one a line every 5 s.
MIN_INTERVAL_SECONDS = 5.0
MAX_INTERVAL_SECONDS = 30.0
LINES_PER_BATCH = 40


class InfoLog(Protocol):
    """What the progress needs of a logger (a task's ``self.log``, a ``logging.Logger``)."""

    def info(self, msg: Any, /, *args: Any) -> Any: ...


class JoinProgress:
    """Counts a batch's outcomes (thread-safe) and logs its start, its progress and its summary.

    :param total: how many channels the batch holds.
    :param log: the task's logger.
    :param least_seconds: how long the batch takes at least at the pacing budget; ``None``: unpaced.
    :param clock: ``time.monotonic``; tests pass their own.
    """

    def __init__(
        self,
        total: int,
        *,
        log: InfoLog,
        least_seconds: float | None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total = total
        self.log = log
        self.least_seconds = least_seconds
        self.clock = clock
        self.counts: Counter[str] = Counter()
        self.skipped_reasons: Counter[str] = Counter()
        expected = least_seconds or 0.0
        self.interval = min(MAX_INTERVAL_SECONDS, max(MIN_INTERVAL_SECONDS, expected / LINES_PER_BATCH))
        self._lock = threading.Lock()
        self._started = clock()
        self._next_line = self._started + self.interval

    @property
    def done(self) -> int:
        return sum(self.counts.values())

    @property
    def quiet(self) -> bool:
        """A batch of one channel says it all in that channel's own line: no start, no summary."""
        return self.total <= 1

    def start(self, accounts: int, pacing: str) -> None:
        """The start line: what, how many, and how long at least at ``pacing`` (how the budget reads)."""
        if self.quiet:
            return
        what = f"Joining {count(self.total, 'channel')}" + (
            f" of {count(accounts, 'account')}" if accounts > 1 else ""
        )
        if self.least_seconds is None:
            self.log.info("%s; pacing is off, so no estimate", what)
        else:
            self.log.info(
                "%s; at the connection's pacing (%s) that takes at least %s",
                what,
                pacing,
                duration(self.least_seconds),
            )

    def record(self, outcome: str, reason: str | None = None) -> None:
        """One channel's outcome (``joined``, ``skipped`` or ``failed``); logs progress when it is time."""
        with self._lock:
            self.counts[outcome] += 1
            if outcome == "skipped":
                self.skipped_reasons[reason or "unknown"] += 1
            now = self.clock()
            due = now >= self._next_line and self.done < self.total
            if due:
                self._next_line = now + self.interval
                line = self.progress_line(now)
        if due:
            self.log.info("%s", line)

    def progress_line(self, now: float) -> str:
        elapsed = max(now - self._started, 1e-9)
        rate = self.done / elapsed
        left = (self.total - self.done) / rate if rate > 0 else math.inf
        return (
            f"{self.counts['joined']:,} of {self.total:,} joined, {self.counts['skipped']:,} skipped, "
            f"{self.counts['failed']:,} failed, {speed(rate)}, "
            + (f"about {duration(left)} left" if math.isfinite(left) else "time left unknown")
        )

    def summary(self) -> None:
        """The last line: what was joined, skipped (by reason) and failed, in how long."""
        if self.quiet:
            return
        elapsed = self.clock() - self._started
        self.log.info(
            "Joined %s of %s in %s (%s): %s skipped%s, %s failed",
            f"{self.counts['joined']:,}",
            count(self.total, "channel"),
            duration(elapsed),
            speed(self.done / elapsed if elapsed > 0 else 0.0),
            f"{self.counts['skipped']:,}",
            f" ({reasons(self.skipped_reasons)})" if self.skipped_reasons else "",
            f"{self.counts['failed']:,}",
        )


def least_seconds(
    channels_per_account: Mapping[str, int],
    *,
    account_interval: float | None,
    environment_interval: float | None,
    accounts_at_once: int,
) -> float | None:
    """The shortest time a batch can take at the pacing budget, or ``None`` when nothing paces it.

    Each account's joins are sent one after another, one per ``account_interval``; ``accounts_at_once``
    accounts are worked at a time; every join also takes a slot of the token's budget.
    """
    if account_interval is None and environment_interval is None:
        return None
    total = sum(channels_per_account.values())
    bounds = [total * (environment_interval or 0.0)]
    if account_interval is not None:
        largest = max(channels_per_account.values(), default=0)
        bounds += [largest * account_interval, total * account_interval / max(1, accounts_at_once)]
    return max(bounds)


def count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def speed(per_second: float) -> str:
    """``48/s``, ``4.8/s``, or ``42/min`` below one a second."""
    if round(per_second, 1) >= 10:
        return f"{per_second:.0f}/s"
    if round(per_second, 1) >= 1:
        return f"{per_second:.1f}/s"
    return f"{per_second * 60:.0f}/min"


def duration(seconds: float) -> str:
    """``80 s``, ``13 min``, ``1 h 05 min``."""
    seconds = max(0.0, seconds)
    if seconds < 120:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"


def reasons(counter: Counter[str]) -> str:
    return ", ".join(f"{reason}: {n:,}" for reason, n in counter.most_common())

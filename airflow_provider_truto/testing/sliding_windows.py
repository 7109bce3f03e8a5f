"""Sliding-window rate limits, as Truto applies them per API token and per integrated account."""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

__all__ = ["RateLimiter", "SlidingWindow"]


class SlidingWindow:
    """At most ``limit`` requests per key in any ``seconds``-long window.

    Not locked on its own: :class:`RateLimiter` checks several windows and records in all of them under one
    lock, so a request rejected by one window is counted by none.

    :param limit: requests allowed in the window (>= 1).
    :param seconds: the window length (> 0).
    """

    def __init__(self, limit: int, seconds: float) -> None:
        if limit < 1 or seconds <= 0:
            raise ValueError(f"a rate limit needs limit >= 1 and seconds > 0, not ({limit}, {seconds})")
        self.limit = limit
        self.seconds = seconds
        self._hits: dict[str, deque[float]] = {}

    def wait(self, key: str, now: float) -> float:
        """Seconds until ``key`` may send again; 0.0 when there is room now."""
        hits = self._hits.get(key)
        if hits is None:
            return 0.0
        # A hit counts while t > now - seconds.
        while hits and hits[0] <= now - self.seconds:
            hits.popleft()
        if len(hits) < self.limit:
            return 0.0
        # Room opens when the hit that puts us at the limit leaves the window.
        return hits[len(hits) - self.limit] + self.seconds - now

    def record(self, key: str, now: float) -> None:
        self._hits.setdefault(key, deque()).append(now)


class RateLimiter:
    """Checks a request against several windows at once and records it only if all of them have room.

    :param clock: the time source; injectable so tests of the limiter need not sleep.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()

    def acquire(self, checks: Sequence[tuple[SlidingWindow, str]]) -> int | None:
        """Record the request and return None, or record nothing and return ``Retry-After`` seconds (>= 1)."""
        with self._lock:
            now = self._clock()
            wait = max((window.wait(key, now) for window, key in checks), default=0.0)
            if wait > 0:
                return max(1, math.ceil(wait))
            for window, key in checks:
                window.record(key, now)
            return None

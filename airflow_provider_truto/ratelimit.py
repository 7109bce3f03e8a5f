"""Client-side pacing that keeps a token and its accounts under Truto's rate limits.

Truto limits a token to 500 requests / 10 s and each integrated account to 50 / 10 s. Tasks that share a
token run in separate worker processes, so the budget lives in small lock files on the host, not in memory:
each limiter is a GCRA ("virtual scheduling") whose only state is the theoretical arrival time of the next
request. Reserving a slot is one ``flock``, one read and one write; callers then sleep outside the lock.
Requests are spaced evenly, with no burst, so no window of the limit's length ever holds more than its
budget. Across hosts (Celery, Kubernetes) the files are not shared; Truto's 429 and ``Retry-After`` remain
the backstop there.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import struct
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

PACING_HEADROOM = 0.95  # pace at 95% of the budget; see RateLimit.interval
_STATE = struct.Struct("<d")  # the theoretical arrival time of the next request, epoch seconds
_SPEC = re.compile(r"^\s*(\d+)\s*/\s*(\d+(?:\.\d+)?)\s*$")


@dataclass(frozen=True)
class RateLimit:
    """At most ``requests`` requests in any ``seconds``-long window."""

    requests: int
    seconds: float

    def __post_init__(self) -> None:
        if self.requests < 1 or self.seconds <= 0:
            raise ValueError(f"a rate limit needs requests >= 1 and seconds > 0, got {self}")

    @property
    def interval(self) -> float:
        """The spacing between paced requests, with headroom below the budget.

        Scheduling and network jitter move a request's arrival by milliseconds; paced at exactly the
        budget, some windows on the server would see one request too many and answer 429 (costing a
        whole ``Retry-After``). A few percent below the budget, none do.
        """
        return self.seconds / (self.requests * PACING_HEADROOM)

    @classmethod
    def parse(cls, spec: str | RateLimit | None) -> RateLimit | None:
        """Read ``"50/10"`` (50 requests per 10 s); ``None``, ``""`` and ``"off"`` switch pacing off."""
        if spec is None or isinstance(spec, RateLimit):
            return spec
        if spec.strip().lower() in ("", "off", "none"):
            return None
        match = _SPEC.match(spec)
        if not match:
            raise ValueError(f"expected REQUESTS/SECONDS such as '50/10' or 'off', got {spec!r}")
        return cls(int(match.group(1)), float(match.group(2)))

    def __str__(self) -> str:
        return f"{self.requests}/{self.seconds:g}"


def default_state_dir() -> Path:
    return Path(
        os.environ.get("TRUTO_RATE_LIMIT_DIR") or Path(tempfile.gettempdir()) / "airflow-provider-truto"
    )


class SharedRateLimiter:
    """One budget (a token's or an account's), shared by every thread and process on this host.

    The state is one 8-byte float in the file. ``flock`` excludes other processes; a thread lock excludes
    this process's threads, which share the open file and so its ``flock``.
    """

    def __init__(self, path: Path, limit: RateLimit, *, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self.limit = limit
        self._clock = clock
        self._thread_lock = threading.Lock()
        self._fd: int | None = None
        self._fd_pid = 0
        self._max_queue = max(10 * limit.seconds, 60.0)

    def reserve(self) -> float:
        """Take the next free slot; return the seconds to wait before using it."""
        with self._thread_lock:
            fd = self._open()
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                raw = os.pread(fd, _STATE.size, 0)
                now = self._clock()
                next_free = _STATE.unpack(raw)[0] if len(raw) == _STATE.size else now
                # Many waiters legitimately queue windows ahead; a wall clock that jumped back must not
                # stall every process for as long as it jumped, so the queue is capped.
                start = min(max(next_free, now), now + self._max_queue)
                os.pwrite(fd, _STATE.pack(start + self.limit.interval), 0)
                return start - now
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)

    def _open(self) -> int:
        # A forked child must not share its parent's open file: their flocks would not exclude each other.
        if self._fd is None or self._fd_pid != os.getpid():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            self._fd_pid = os.getpid()
        return self._fd

    def close(self) -> None:
        with self._thread_lock:
            if self._fd is not None and self._fd_pid == os.getpid():
                os.close(self._fd)
            self._fd = None


class RateLimiters:
    """The budgets one request spends: its token's and, for unified calls, its account's."""

    def __init__(
        self,
        scope: str,
        *,
        token_limit: RateLimit | None,
        account_limit: RateLimit | None,
        state_dir: Path | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        # The scope (token + base URL) is hashed: the token itself must never reach the file system.
        self._prefix = hashlib.sha256(scope.encode()).hexdigest()[:20]
        self._dir = state_dir or default_state_dir()
        self._token_limit = token_limit
        self._account_limit = account_limit
        self._sleep = sleep
        self._limiters: dict[str, SharedRateLimiter] = {}

    def close(self) -> None:
        for limiter in self._limiters.values():
            limiter.close()

    @property
    def enabled(self) -> bool:
        return self._token_limit is not None or self._account_limit is not None

    def wait_for_slot(self, integrated_account_id: str | None) -> float:
        """Reserve a slot in every budget the request spends, sleep until all are free; return the wait."""
        delays = [limiter.reserve() for limiter in self._limiters_for(integrated_account_id)]
        delay = max(delays, default=0.0)
        if delay > 0:
            self._sleep(delay)
        return delay

    def _limiters_for(self, integrated_account_id: str | None) -> Sequence[SharedRateLimiter]:
        limiters = []
        if self._token_limit is not None:
            limiters.append(self._limiter("token", self._token_limit))
        if self._account_limit is not None and integrated_account_id:
            limiters.append(self._limiter(integrated_account_id, self._account_limit))
        return limiters

    def _limiter(self, key: str, limit: RateLimit) -> SharedRateLimiter:
        limiter = self._limiters.get(key)
        if limiter is None:
            name = "token" if key == "token" else "account-" + hashlib.sha256(key.encode()).hexdigest()[:20]
            limiter = self._limiters.setdefault(
                key, SharedRateLimiter(self._dir / f"{self._prefix}-{name}.gcra", limit)
            )
        return limiter

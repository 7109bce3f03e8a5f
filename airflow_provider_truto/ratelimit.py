"""Client-side pacing that keeps a token and its accounts under Truto's rate limits.

Truto limits a token to 500 requests / 10 s and each integrated account to 50 / 10 s. Tasks that share a
token run in separate worker processes, so each budget lives outside memory: by default in a small lock file
on the host, or, with the connection extra ``rate_limit_redis_conn_id``, in one Redis key that every host
shares (:mod:`airflow_provider_truto.ratelimit_redis`). Either store keeps one GCRA ("virtual scheduling")
whose state is the theoretical arrival time of the next request (``tat``) and when it was written
(``stamp``), both in integer microseconds of the store's clock; :func:`gcra_reserve` and :func:`gcra_pause`
are that arithmetic, and the Redis script repeats it exactly. Reserving a slot is one short critical
section; callers then sleep outside it. Requests are spaced evenly, with no burst, so no window of the
limit's length ever holds more than its budget.

A 429 with ``Retry-After`` pauses the budget it belongs to (:meth:`RateLimiters.pause`): the other workers
sharing it wait instead of each finding the 429 for itself.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import math
import os
import re
import stat
import struct
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple, Protocol

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

log = logging.getLogger(__name__)

PACING_HEADROOM = 0.95  # pace at 95% of the budget; see RateLimit.interval
STATE_DIR_ENV = "TRUTO_RATE_LIMIT_DIR"
# A lock file holds two doubles, epoch seconds: tat, then stamp. Files of 0.x hold only tat (8 bytes).
_STATE = struct.Struct("<dd")
_LEGACY_STATE = struct.Struct("<d")
# Microsecond counts above this are no honest clock reading (the year 2255); they are read as absent.
# It also keeps every value exact in the doubles of the Redis script's Lua.
MAX_STATE_MICROS = 2**53
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
        """Read ``"50/10"`` (50 requests per 10 s); ``"off"`` (any case) switches pacing off.

        Only ``"off"`` does: an empty text, ``"none"`` or anything else unreadable is a ``ValueError``, so
        a typo or a cleared field never silently removes the pacing. ``None`` (the Python value) and a
        ``RateLimit`` are returned as they are.
        """
        if spec is None or isinstance(spec, RateLimit):
            return spec
        if spec.strip().lower() == "off":
            return None
        match = _SPEC.match(spec)
        if not match:
            raise ValueError(
                f"expected REQUESTS/SECONDS such as '50/10', or 'off' to switch pacing off, got {spec!r}"
            )
        return cls(int(match.group(1)), float(match.group(2)))

    def __str__(self) -> str:
        return f"{self.requests}/{self.seconds:g}"


# -- the GCRA arithmetic, shared by the lock files and (as Lua) by Redis ----------------------------------


class BudgetState(NamedTuple):
    """A budget's state, integer microseconds: the next free slot, and when the state was written."""

    tat: int
    stamp: int


def interval_micros(limit: RateLimit) -> int:
    return round(limit.interval * 1_000_000)


def horizon_micros(limit: RateLimit) -> int:
    """How far ahead of now a budget may be booked: the longest honest queue of waiters, and of a pause.

    Anything read beyond it is clamped to it, so no state, however odd, stalls a caller for longer.
    """
    return round(max(10 * limit.seconds, 60.0) * 1_000_000)


def _booked_until(state: BudgetState | None, now: int, horizon: int) -> int:
    if state is None:
        return now
    tat = state.tat
    if state.stamp > now:
        # Written "in the future": the clock went back since (or the state came from a clock ahead of
        # ours). The queue it holds is still real; the absolute times are not, so rebase them on now.
        tat = tat - state.stamp + now
    return min(tat, now + horizon)


def gcra_reserve(state: BudgetState | None, now: int, interval: int, horizon: int) -> tuple[int, BudgetState]:
    """Take the next free slot: ``(microseconds to wait for it, the new state)``."""
    start = max(_booked_until(state, now, horizon), now)
    return start - now, BudgetState(start + interval, now)


def gcra_pause(state: BudgetState | None, now: int, pause: int, horizon: int) -> BudgetState:
    """No slot starts before ``now + pause`` (a 429's ``Retry-After``, capped at the horizon)."""
    return BudgetState(max(_booked_until(state, now, horizon), now + min(pause, horizon)), now)


def _micros(seconds: float) -> int | None:
    """Epoch seconds read from a store as microseconds, or None when no honest clock wrote them."""
    if not math.isfinite(seconds):
        return None
    micros = round(seconds * 1_000_000)
    return micros if 0 <= micros < MAX_STATE_MICROS else None


def decode_file_state(raw: bytes, interval: int) -> BudgetState | None:
    """A lock file's state; unreadable or non-finite state is absent (it must never switch pacing off)."""
    if len(raw) >= _STATE.size:
        tat_seconds, stamp_seconds = _STATE.unpack(raw[: _STATE.size])
    elif len(raw) == _LEGACY_STATE.size:
        tat_seconds, stamp_seconds = _LEGACY_STATE.unpack(raw)[0], math.nan
    else:
        return None
    tat = _micros(tat_seconds)
    if tat is None:
        return None
    # A state without a readable stamp (a 0.x file) was written when its tat was at most one interval
    # ahead, as far as we can know: a tat far in the future then reads as a clock that went back.
    stamp = _micros(stamp_seconds)
    return BudgetState(tat, tat - interval if stamp is None else stamp)


def encode_file_state(state: BudgetState) -> bytes:
    return _STATE.pack(state.tat / 1_000_000, state.stamp / 1_000_000)


# -- where the lock files live -----------------------------------------------------------------------------


def per_user_state_dir() -> Path:
    """This OS user's own directory in the temp directory: users on one host never share it."""
    return Path(tempfile.gettempdir()) / f"airflow-provider-truto-{os.getuid()}"


def default_state_dir() -> Path:
    """``TRUTO_RATE_LIMIT_DIR`` if set (shared by whoever can write it), else :func:`per_user_state_dir`."""
    configured = os.environ.get(STATE_DIR_ENV, "").strip()
    return Path(configured) if configured else per_user_state_dir()


class StateDirError(OSError):
    """A directory that cannot hold this user's pacing state."""


def _prepare_private_dir(path: Path) -> None:
    """Create the per-user directory (0700), or check that the one found is ours and closed to others.

    In a shared temp directory another user could create it first; state or links planted there must not
    steer our pacing or our writes.
    """
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode):
        raise StateDirError(f"{path} is not a directory")
    if info.st_uid != os.getuid():
        raise StateDirError(f"{path} belongs to another user (uid {info.st_uid})")
    if info.st_mode & 0o077:
        os.chmod(path, 0o700)


def _open_state_file(path: Path, *, private: bool) -> int:
    if private:
        _prepare_private_dir(path.parent)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
    shared = not private and bool(os.stat(path.parent).st_mode & stat.S_IWGRP)
    # O_NOFOLLOW: a link planted in a shared directory must not make us write into another file.
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o660 if shared else 0o600)
    if shared:
        # A directory made group-writable on purpose is shared by a group: its members must be able to
        # lock and write the files any of them created, whatever the creator's umask.
        info = os.fstat(fd)
        if info.st_uid == os.getuid() and info.st_mode & 0o660 != 0o660:
            os.fchmod(fd, 0o660)
    return fd


_warned_dirs: set[Path] = set()


class SharedRateLimiter:
    """One budget (a token's or an account's), shared by every thread and process on this host.

    The state is two 8-byte floats in the file. ``flock`` excludes other processes; a thread lock excludes
    this process's threads, which share the open file and so its ``flock``.

    :param fallback_dir: where to keep the state if ``path``'s directory cannot be used (None: nowhere, the
        directory is already this user's own); it is used with one warning.
    """

    def __init__(
        self,
        path: Path,
        limit: RateLimit,
        *,
        clock: Callable[[], float] = time.time,
        fallback_dir: Path | None = None,
    ) -> None:
        self.path = path
        self.limit = limit
        self._clock = clock
        self._fallback_dir = fallback_dir
        self._thread_lock = threading.Lock()
        self._fd: int | None = None
        self._fd_pid = 0
        self._interval = interval_micros(limit)
        self._horizon = horizon_micros(limit)

    def reserve(self) -> float:
        """Take the next free slot; return the seconds to wait before using it."""
        wait, _ = self._update(lambda state, now: gcra_reserve(state, now, self._interval, self._horizon))
        return wait / 1_000_000

    def pause(self, seconds: float) -> None:
        """Start no slot sooner than ``seconds`` from now (Truto answered 429 with that ``Retry-After``)."""
        pause = round(seconds * 1_000_000)
        self._update(lambda state, now: (0, gcra_pause(state, now, pause, self._horizon)))

    def _update(
        self, step: Callable[[BudgetState | None, int], tuple[int, BudgetState]]
    ) -> tuple[int, BudgetState]:
        with self._thread_lock:
            fd = self._open()
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                state = decode_file_state(os.pread(fd, _STATE.size, 0), self._interval)
                result = step(state, round(self._clock() * 1_000_000))
                os.pwrite(fd, encode_file_state(result[1]), 0)
                return result
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)

    def _open(self) -> int:
        # A forked child must not share its parent's open file: their flocks would not exclude each other.
        if self._fd is None or self._fd_pid != os.getpid():
            self._fd = self._open_with_fallback()
            self._fd_pid = os.getpid()
        return self._fd

    def _open_with_fallback(self) -> int:
        private = self.path.parent == per_user_state_dir()
        try:
            return _open_state_file(self.path, private=private)
        except OSError as error:
            if self._fallback_dir is None or private:
                raise _unusable(self.path.parent, error) from None
            first_error = error
        fallback = self._fallback_dir / self.path.name
        try:
            fd = _open_state_file(fallback, private=True)
        except OSError as error:
            raise _unusable(self.path.parent, first_error, also=(fallback.parent, error)) from None
        if self.path.parent not in _warned_dirs:
            _warned_dirs.add(self.path.parent)
            log.warning(
                "Cannot keep rate-limit state in %s (%s): pacing through %s instead, which processes of "
                "other OS users do not share. Set %s to a directory every task's OS user can write "
                "(group-writable), or use rate_limit_redis_conn_id.",
                self.path.parent,
                _reason(first_error),
                fallback.parent,
                STATE_DIR_ENV,
            )
        self.path = fallback
        return fd

    def close(self) -> None:
        with self._thread_lock:
            if self._fd is not None and self._fd_pid == os.getpid():
                os.close(self._fd)
            self._fd = None


def _reason(error: OSError) -> str:
    return str(error) if isinstance(error, StateDirError) else f"{error.strerror or error}"


def _unusable(directory: Path, error: OSError, *, also: tuple[Path, OSError] | None = None) -> Exception:
    from airflow_provider_truto.exceptions import TrutoInputError

    problem = f"cannot keep rate-limit state in {directory}: {_reason(error)}"
    if also is not None:
        problem += f"; nor in {also[0]}: {_reason(also[1])}"
    return TrutoInputError(
        STATE_DIR_ENV, f"{problem}. Set {STATE_DIR_ENV} to a directory this OS user can create files in"
    )


# -- the budgets of one client -----------------------------------------------------------------------------


class Budget(Protocol):
    """One budget in some store (a lock file on this host, or a Redis key shared by every host)."""

    def reserve(self) -> float:
        """Take the next free slot; return the seconds to wait before using it."""

    def pause(self, seconds: float) -> None:
        """Start no slot sooner than ``seconds`` from now."""

    def close(self) -> None: ...


class SharedBudgets(Protocol):
    """A store that keeps budgets for every host, such as Redis
    (:class:`~airflow_provider_truto.ratelimit_redis.RedisSettings`)."""

    def budget(self, key: str, limit: RateLimit, *, fallback: SharedRateLimiter) -> Budget:
        """The budget named ``key``; ``fallback`` (a lock file) stands in while the store is down."""


class RateLimiters:
    """The budgets one request spends: its token's and, for unified calls, its account's.

    :param redis: a Redis server shared by every host (``rate_limit_redis_conn_id``); None keeps the budgets
        in lock files under ``state_dir`` (default :func:`default_state_dir`), which also carry the pacing
        while Redis does not answer.
    """

    def __init__(
        self,
        scope: str,
        *,
        token_limit: RateLimit | None,
        account_limit: RateLimit | None,
        state_dir: Path | None = None,
        sleep: Callable[[float], None] = time.sleep,
        redis: SharedBudgets | None = None,
    ) -> None:
        # The scope (token + base URL) is hashed: the token itself must never reach a file or Redis.
        self._prefix = hashlib.sha256(scope.encode()).hexdigest()[:20]
        self._dir = state_dir or default_state_dir()
        # A directory chosen on purpose (TRUTO_RATE_LIMIT_DIR) may turn out unusable for this OS user;
        # this user's own directory then takes over, with a warning.
        self._fallback_dir = None if self._dir == per_user_state_dir() else per_user_state_dir()
        self._token_limit = token_limit
        self._account_limit = account_limit
        self._sleep = sleep
        self._redis = redis
        self._limiters: dict[str, Budget] = {}
        self._lock = threading.Lock()

    def close(self) -> None:
        for limiter in self._limiters.values():
            limiter.close()

    @property
    def enabled(self) -> bool:
        return self._token_limit is not None or self._account_limit is not None

    @property
    def over_network(self) -> bool:
        """Whether a reservation asks a server (Redis), which may take up to its timeout to answer."""
        return self._redis is not None

    def reserve(self, integrated_account_id: str | None) -> float:
        """Reserve a slot in every budget the request spends; return the seconds until all are free.

        Nothing sleeps here: the sync client sleeps the delay, the async one awaits it.
        """
        return max((limiter.reserve() for limiter in self._limiters_for(integrated_account_id)), default=0.0)

    def wait_for_slot(self, integrated_account_id: str | None) -> float:
        """:meth:`reserve`, then sleep until the slot (with ``sleep``); return the wait."""
        delay = self.reserve(integrated_account_id)
        if delay > 0:
            self._sleep(delay)
        return delay

    def pause(self, integrated_account_id: str | None, seconds: float | None) -> None:
        """Truto answered 429 with ``Retry-After: seconds``: pause the budget the 429 belongs to.

        A call for an account pauses the account's budget, whether Slack (``truto_is_remote_error``) or
        Truto answered: Slack limits per workspace, and Truto's 429 cannot say which of its two limits it
        hit, so the narrower guess is taken. Pausing the token for an account's 429 would stall every
        account on every host; pausing only the account when the token's limit was hit costs each other
        account one 429 of its own, as without a pause. A call for no account (the admin API) pauses the
        token's budget. A budget whose pacing is off is not paused.
        """
        if seconds is None or not math.isfinite(seconds) or seconds <= 0:
            return
        if integrated_account_id:
            key, limit = integrated_account_id, self._account_limit
        else:
            key, limit = "token", self._token_limit
        if limit is not None:
            self._limiter(key, limit).pause(seconds)

    def _limiters_for(self, integrated_account_id: str | None) -> Sequence[Budget]:
        limiters = []
        if self._token_limit is not None:
            limiters.append(self._limiter("token", self._token_limit))
        if self._account_limit is not None and integrated_account_id:
            limiters.append(self._limiter(integrated_account_id, self._account_limit))
        return limiters

    def _limiter(self, key: str, limit: RateLimit) -> Budget:
        limiter = self._limiters.get(key)
        if limiter is None:
            with self._lock:
                limiter = self._limiters.get(key) or self._new_limiter(key, limit)
                self._limiters[key] = limiter
        return limiter

    def _new_limiter(self, key: str, limit: RateLimit) -> Budget:
        name = "token" if key == "token" else "account-" + hashlib.sha256(key.encode()).hexdigest()[:20]
        local = SharedRateLimiter(
            self._dir / f"{self._prefix}-{name}.gcra", limit, fallback_dir=self._fallback_dir
        )
        if self._redis is None:
            return local
        return self._redis.budget(f"truto:pacing:{self._prefix}:{name}", limit, fallback=local)

"""The budgets one client spends, and where each is kept: a lock file on this host, or Redis for every host.

:class:`RateLimiters` holds a client's two limits (its token's, and each integrated account's) and makes one
:class:`Budget` per key on first use: a :class:`~airflow_provider_truto.pacing.lock_files.SharedRateLimiter`
by default, or, with a :class:`SharedBudgets` store (Redis, connection extra ``rate_limit_redis_conn_id``),
a budget every host shares, the lock file standing in while the store does not answer.

A 429 with ``Retry-After`` pauses the budget it belongs to (:meth:`RateLimiters.pause`): the other workers
sharing it wait instead of each finding the 429 for itself.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from airflow_provider_truto.pacing.lock_files import SharedRateLimiter, default_state_dir, per_user_state_dir

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from airflow_provider_truto.pacing.limits import RateLimit


class Budget(Protocol):
    """One budget in some store (a lock file on this host, or a Redis key shared by every host)."""

    def reserve(self) -> float:
        """Take the next free slot; return the seconds to wait before using it."""

    def pause(self, seconds: float) -> None:
        """Start no slot sooner than ``seconds`` from now."""

    def close(self) -> None: ...


class SharedBudgets(Protocol):
    """A store that keeps budgets for every host, such as Redis
    (:class:`~airflow_provider_truto.pacing.redis_store.RedisSettings`)."""

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

"""Budgets kept in Redis, shared by every worker on every host (``airflow-provider-truto[redis]``).

Each budget is one key holding ``"<tat> <stamp>"`` (integer microseconds of Redis's clock), updated by one
Lua script per reservation: the GCRA of :mod:`airflow_provider_truto.pacing.limits`, with Redis's ``TIME`` as
the clock so hosts with skewed clocks agree. A key expires on its own a window after its state stops
mattering. Keys name hashes, never a token or an account id.

Redis is a helper, never a dependency of a join: every command waits a fraction of a second at most; when
Redis does not answer (down, slow, a failover) the budgets fall back to the host's lock files with one
warning, and Redis is tried again every few seconds, not on every call. A restarted Redis that lost its keys
simply starts the budgets afresh.

``redis`` is imported when a budget is first used, never when this module is.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from airflow_provider_truto.pacing.limits import RateLimit, horizon_micros, interval_micros

if TYPE_CHECKING:
    from collections.abc import Callable

    import redis

    from airflow_provider_truto.pacing.lock_files import SharedRateLimiter

log = logging.getLogger(__name__)

# A Redis on the same network answers in a millisecond; past these, pacing goes on without it.
REDIS_CONNECT_TIMEOUT_SECONDS = 0.25
REDIS_TIMEOUT_SECONDS = 0.25
REPROBE_SECONDS = 5.0
_SSL_EXTRAS = ("ssl", "ssl_cert_reqs", "ssl_ca_certs", "ssl_keyfile", "ssl_certfile", "ssl_check_hostname")

# The GCRA of limits.gcra_reserve / gcra_pause, line for line, on Redis's clock. Integer microseconds
# below 2^53 are exact in Lua's doubles; numbers are stored with %.0f, since Lua's default format keeps
# only 14 digits. ARGV: "reserve" or "pause", the interval or the pause (us), the horizon (us), the time
# the key outlives its state (ms). Returns {microseconds to wait, Redis's now}.
GCRA_SCRIPT = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local amount = tonumber(ARGV[2])
local horizon = tonumber(ARGV[3])
local tat = now
local raw = redis.call('GET', KEYS[1])
if raw then
  local a, b = string.match(raw, '^(%d+) (%d+)$')
  a = tonumber(a)
  b = tonumber(b)
  if a and b and a < 9007199254740992 and b < 9007199254740992 then
    tat = a
    if b > now then
      tat = a - b + now
    end
    if tat > now + horizon then
      tat = now + horizon
    end
  end
end
local wait = 0
if ARGV[1] == 'reserve' then
  if tat < now then
    tat = now
  end
  wait = tat - now
  tat = tat + amount
else
  if amount > horizon then
    amount = horizon
  end
  if tat < now + amount then
    tat = now + amount
  end
end
local ttl = math.floor((tat - now) / 1000) + tonumber(ARGV[4])
redis.call('SET', KEYS[1], string.format('%.0f %.0f', tat, now), 'PX', ttl)
return {wait, now}
"""
GCRA_SCRIPT_SHA = hashlib.sha1(GCRA_SCRIPT.encode()).hexdigest()


@dataclass(frozen=True)
class RedisSettings:
    """Where the shared budgets live: an Airflow connection of type ``redis``, read as Airflow's Redis
    provider reads it (host, port, login, password; ``db`` from the extra, else the schema; the ``ssl*``
    extras), without depending on that provider. ``repr`` never shows the password."""

    host: str = "localhost"
    port: int = 6379
    db: int = 0
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ssl_options: tuple[tuple[str, Any], ...] = ()

    @classmethod
    def from_connection(cls, conn: Any) -> RedisSettings:
        """Read a connection's fields; a bad port or db raises ``ValueError`` naming it."""
        extra = conn.extra_dejson or {}
        password = conn.password
        if str(password).strip().lower() in ("", "none", "false"):  # as Airflow's RedisHook reads it
            password = None
        db = extra.get("db")
        if db is None or db == "":
            db = conn.schema or 0
        return cls(
            host=conn.host or "localhost",
            port=_whole_number("port", conn.port or 6379),
            db=_whole_number("db", db),
            username=conn.login or None,
            password=password,
            ssl_options=tuple(sorted((k, v) for k, v in extra.items() if k in _SSL_EXTRAS)),
        )

    def describe(self) -> str:
        return f"redis://{self.host}:{self.port}/{self.db}"

    def budget(self, key: str, limit: RateLimit, *, fallback: SharedRateLimiter) -> RedisBudget:
        """The budget kept in ``key`` (see :class:`~airflow_provider_truto.pacing.budgets.SharedBudgets`)."""
        return RedisBudget(self, key, limit, fallback=fallback)


def _whole_number(name: str, value: Any) -> int:
    try:
        number = int(str(value).strip())
    except ValueError:
        raise ValueError(f"the Redis connection's {name} must be a whole number, got {value!r}") from None
    if number < 0:
        raise ValueError(f"the Redis connection's {name} must be 0 or more, got {value!r}")
    return number


class RedisStore:
    """One Redis server's budgets for this process, and whether it is answering."""

    def __init__(self, settings: RedisSettings, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self._clock = clock
        self._lock = threading.Lock()
        self._client: redis.Redis | None = None
        self._down_until: float | None = None

    def run(self, key: str, operation: str, amount: int, horizon: int, ttl_ms: int) -> int | None:
        """The script's wait in microseconds, or None while Redis is not answering (pace locally then)."""
        with self._lock:
            if self._down_until is not None and self._clock() < self._down_until:
                return None
        try:
            wait, _now = self.evaluate(key, operation, amount, horizon, ttl_ms)
        except Exception as error:
            if not _is_store_fault(error):
                raise
            self._mark_down(error)
            return None
        with self._lock:
            recovered, self._down_until = self._down_until is not None, None
        if recovered:
            log.info("Redis %s answers again: rate-limit pacing is shared across hosts again.", self.name)
        return wait

    def evaluate(self, key: str, operation: str, amount: int, horizon: int, ttl_ms: int) -> tuple[int, int]:
        """One round trip: EVALSHA, or EVAL when Redis does not know the script (new, or restarted)."""
        import redis.exceptions

        client = self._connect()
        # Strings, as Redis receives them anyway: redis-py up to 6.4 (Celery's cap) types the args as str.
        args = (operation, str(amount), str(horizon), str(ttl_ms))
        reply: Any  # a list from a sync client; redis-py's types also allow an async one's awaitable
        try:
            reply = client.evalsha(GCRA_SCRIPT_SHA, 1, key, *args)
        except redis.exceptions.NoScriptError:
            reply = client.eval(GCRA_SCRIPT, 1, key, *args)
        return int(reply[0]), int(reply[1])

    @property
    def name(self) -> str:
        return self.settings.describe()

    def _connect(self) -> redis.Redis:
        if self._client is None:
            import redis
            from redis.backoff import NoBackoff
            from redis.retry import Retry

            settings = self.settings
            self._client = redis.Redis(
                host=settings.host,
                port=settings.port,
                db=settings.db,
                username=settings.username,
                password=settings.password,
                socket_connect_timeout=REDIS_CONNECT_TIMEOUT_SECONDS,
                socket_timeout=REDIS_TIMEOUT_SECONDS,
                # redis-py retries with backoff by default: seconds, where pacing has a fraction of one.
                retry=Retry(NoBackoff(), 0),
                **dict(settings.ssl_options),
            )
        return self._client

    def _mark_down(self, error: BaseException) -> None:
        with self._lock:
            first = self._down_until is None
            self._down_until = self._clock() + REPROBE_SECONDS
        if first:
            log.warning(
                "Redis %s does not answer (%s: %s): rate-limit pacing on this host only (lock files) "
                "until it answers again; retrying every %gs.",
                self.name,
                type(error).__name__,
                error,
                REPROBE_SECONDS,
            )


def _is_store_fault(error: BaseException) -> bool:
    """Whatever keeps Redis from answering: refused, reset, timed out, read-only, auth, a script error."""
    import redis.exceptions

    return isinstance(error, (redis.exceptions.RedisError, OSError))


_stores: dict[RedisSettings, RedisStore] = {}
_stores_lock = threading.Lock()


def store_for(settings: RedisSettings) -> RedisStore:
    """One store per Redis per process: one connection pool, and one warning per outage."""
    with _stores_lock:
        store = _stores.get(settings)
        if store is None:
            store = _stores[settings] = RedisStore(settings)
        return store


class RedisBudget:
    """One budget as a Redis key, with the host's lock file standing in while Redis does not answer."""

    def __init__(
        self, settings: RedisSettings, key: str, limit: RateLimit, *, fallback: SharedRateLimiter
    ) -> None:
        self.key = key
        self.limit = limit
        self.fallback = fallback
        self._store = store_for(settings)
        self._interval = interval_micros(limit)
        self._horizon = horizon_micros(limit)
        self._ttl_ms = round(limit.seconds * 1000) + 1000

    def reserve(self) -> float:
        wait = self._store.run(self.key, "reserve", self._interval, self._horizon, self._ttl_ms)
        return self.fallback.reserve() if wait is None else wait / 1_000_000

    def pause(self, seconds: float) -> None:
        pause = round(seconds * 1_000_000)
        if self._store.run(self.key, "pause", pause, self._horizon, self._ttl_ms) is None:
            self.fallback.pause(seconds)

    def close(self) -> None:
        self.fallback.close()

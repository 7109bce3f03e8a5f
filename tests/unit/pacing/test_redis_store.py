"""Budgets in Redis (airflow_provider_truto/pacing/redis_store.py), shared across hosts, on a real Redis:
one budget for processes with separate lock files, the script's arithmetic equal to the lock files', a
429 pausing every sharer, hashed expiring keys, and a Redis that dies, hangs or restarts never failing or
stalling a call."""

from __future__ import annotations

import asyncio
import json
import logging
import multiprocessing
import re
import socket
import subprocess
import sys
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_truto.client.async_client import AsyncTrutoClient
from airflow_provider_truto.client.sync_client import TrutoClient, TrutoConfig
from airflow_provider_truto.exceptions import TrutoInputError, TrutoRateLimitError
from airflow_provider_truto.hooks.truto import TrutoHook
from airflow_provider_truto.pacing import redis_store
from airflow_provider_truto.pacing.budgets import RateLimiters
from airflow_provider_truto.pacing.limits import (
    BudgetState,
    RateLimit,
    gcra_pause,
    gcra_reserve,
    horizon_micros,
    interval_micros,
)
from airflow_provider_truto.pacing.lock_files import (
    STATE_DIR_ENV,
    SharedRateLimiter,
    decode_file_state,
    encode_file_state,
)
from airflow_provider_truto.pacing.redis_store import RedisSettings, RedisStore
from airflow_provider_truto.testing import Fault, TrutoSandbox
from airflow_provider_truto.triggers.truto import TrutoNewChannelsTrigger
from tests.support.helpers import ACCOUNT, CHANNELS, JOIN, TOKEN

if TYPE_CHECKING:
    from tests.support.redis_server import RedisServer

KEY_PATTERN = re.compile(r"^truto:pacing:[0-9a-f]{20}:(token|account-[0-9a-f]{20})$")


def redis_state(raw: bytes | None) -> BudgetState | None:
    """A Redis budget's value as the script reads it: "<tat> <stamp>" in whole microseconds, else absent."""
    match = re.fullmatch(rb"(\d+) (\d+)", raw or b"")
    if not match:
        return None
    tat, stamp = int(match[1]), int(match[2])
    return BudgetState(tat, stamp) if tat < 2**53 and stamp < 2**53 else None


# -- the script is the lock files' arithmetic -------------------------------------------------------------


def test_the_script_reserves_and_pauses_exactly_as_the_lock_files_do(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    """Both stores take one sequence of operations and odd states; every wait and state is equal, to the
    microsecond, and equal to :func:`gcra_reserve` / :func:`gcra_pause` at the script's own clock."""
    limit = RateLimit(50, 10.0)
    interval, horizon = interval_micros(limit), horizon_micros(limit)
    store, redis = RedisStore(redis_server.settings), redis_server.client()
    key = "truto:pacing:arithmetic"
    clock = [0.0]
    lock_file = SharedRateLimiter(tmp_path / "budget.gcra", limit, clock=lambda: clock[0])

    def now_micros() -> int:
        seconds, micros = redis.time()
        return int(seconds) * 1_000_000 + int(micros)

    def file_state() -> BudgetState | None:
        path = lock_file.path
        return decode_file_state(path.read_bytes(), interval) if path.exists() else None

    def plant(redis_value: bytes, file_value: bytes) -> None:
        redis.set(key, redis_value)
        lock_file.path.write_bytes(file_value)

    def planted(state: BudgetState) -> None:
        plant(f"{state.tat} {state.stamp}".encode(), encode_file_state(state))

    reserve, pause = ("reserve", interval), ("pause", 2_500_000)
    steps: list[tuple[Any, tuple[str, int]]] = [
        *[(None, reserve)] * 6,  # a queue builds up
        (None, pause),
        (None, reserve),
        (None, ("pause", 10**12)),  # a pause past the horizon is capped at it
        (None, reserve),
        (lambda: planted(BudgetState(now_micros() + 10**10, now_micros() + 10**10 - 3 * interval)), reserve),
        (lambda: planted(BudgetState(now_micros() + 10**12, now_micros())), reserve),  # clamped
        (lambda: planted(BudgetState(10**20, 5)), reserve),  # no honest clock: absent
        (lambda: plant(b"nan 5", b"\x00" * 3), reserve),  # unreadable: absent
        (lambda: plant(b"1 2 3", encode_file_state(BudgetState(1, 2))[:3]), pause),
        (lambda: planted(BudgetState(now_micros() - 10**7, now_micros() - 10**7)), reserve),  # long past
        (None, reserve),
    ]
    for prepare, (operation, amount) in steps:
        if prepare is not None:
            prepare()
        before = redis_state(redis.get(key))
        assert before == file_state()
        wait, now = store.evaluate(key, operation, amount, horizon, 11_000)
        after = redis_state(redis.get(key))
        clock[0] = now / 1_000_000
        if operation == "reserve":
            assert (wait, after) == gcra_reserve(before, now, interval, horizon)
            assert round(lock_file.reserve() * 1_000_000) == wait
        else:
            assert (wait, after) == (0, gcra_pause(before, now, amount, horizon))
            lock_file.pause(amount / 1_000_000)
        assert file_state() == after
    lock_file.close()


# -- one budget for several processes ---------------------------------------------------------------------


def _take_slots(settings: RedisSettings | None, state_dir: str, count: int, out: Any) -> None:
    """Reserve ``count`` slots; report the time each was granted for (not when a busy machine woke up)."""
    slots: list[float] = []

    def sleep(seconds: float) -> None:
        slots.append(time.time() + seconds)
        time.sleep(seconds)

    limit = RateLimit(20, 1.0)
    limiters = RateLimiters(
        "https://api.example|tok",
        token_limit=None,
        account_limit=limit,
        state_dir=Path(state_dir),
        redis=settings,
        sleep=sleep,
    )
    for _ in range(count):
        if limiters.wait_for_slot("acct-1") == 0:
            slots.append(time.time())
    out.put(slots)


def _run_processes(settings: RedisSettings | None, tmp_path: Path, processes: int, each: int) -> list[float]:
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    workers = [
        context.Process(target=_take_slots, args=(settings, str(tmp_path / f"host-{n}"), each, queue))
        for n in range(processes)
    ]
    for worker in workers:
        worker.start()
    stamps = sorted(stamp for _ in workers for stamp in queue.get(timeout=60))
    for worker in workers:
        worker.join(10)
    return stamps


def _fullest_window(stamps: list[float], seconds: float) -> int:
    return max(sum(1 for t in stamps if start <= t < start + seconds) for start in stamps)


def test_processes_with_separate_lock_files_share_one_budget_through_redis(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    # Three "hosts" (separate lock-file directories), 10 requests each, on a budget of 20 per second.
    shared = _run_processes(redis_server.settings, tmp_path / "redis", 3, 10)
    assert _fullest_window(shared, 1.0) <= 20
    assert shared[-1] - shared[0] >= 29 * RateLimit(20, 1.0).interval - 0.05
    # The same three without Redis each spend the whole budget: the check above would catch it.
    alone = _run_processes(None, tmp_path / "alone", 3, 10)
    assert _fullest_window(alone, 1.0) > 20


# -- a 429 pauses the budget for every sharer -------------------------------------------------------------


@pytest.mark.parametrize("shared", [True, False], ids=["through-redis", "separate-lock-files"])
def test_a_429_pauses_the_account_for_a_client_on_another_host(
    redis_server: RedisServer,
    sandbox: TrutoSandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    shared: bool,
) -> None:
    def client(host: str, **config: Any) -> TrutoClient:
        monkeypatch.setenv(STATE_DIR_ENV, str(tmp_path / host))
        settings = redis_server.settings if shared else None
        return TrutoClient(
            TrutoConfig(
                token=TOKEN,
                base_url=sandbox.url,
                integrated_account_id=ACCOUNT,
                rate_limit_redis=settings,
                **config,
            )
        )

    first, second = client("host-a", max_retries=0), client("host-b")
    channel = sandbox.channels(ACCOUNT)[0]["id"]
    sandbox.inject("POST", JOIN, Fault.rate_limited("2"))  # Slack's own 429, passed on by Truto
    with pytest.raises(TrutoRateLimitError):
        first.unified("instant-messaging", "channels", "join", body={"channel": {"id": channel}})
    second.unified("instant-messaging", "channels", "join", body={"channel": {"id": channel}})
    limited, joined = [r.at for r in sandbox.requests if r.path == JOIN]
    if shared:
        assert joined - limited >= 1.9  # the other host waited out the Retry-After
    else:
        assert joined - limited < 1.0  # without Redis the pause stays on its host
    first.close()
    second.close()


# -- keys -------------------------------------------------------------------------------------------------


def test_keys_are_hashed_and_expire_on_their_own(redis_server: RedisServer, tmp_path: Path) -> None:
    token, account = "tok-very-secret-42", "T0ACCOUNT-visible"
    limiters = RateLimiters(
        f"https://api.example|{token}",
        token_limit=RateLimit(10, 0.2),
        account_limit=RateLimit(10, 0.2),
        state_dir=tmp_path,
        redis=redis_server.settings,
    )
    limiters.wait_for_slot(account)
    limiters.pause(account, 0.1)
    redis = redis_server.client()
    keys = sorted(key.decode() for key in redis.keys("*"))
    assert len(keys) == 2 and all(KEY_PATTERN.match(key) for key in keys), keys
    values = b" ".join(redis.get(key) or b"" for key in keys)
    assert token.encode() not in values and account.encode() not in values
    assert all(0 < redis.pttl(key) <= 1_400 for key in keys)  # a window and a second past its state
    time.sleep(1.5)
    assert redis.keys("*") == []
    assert not list(tmp_path.iterdir())  # Redis answered: the lock files were never needed


# -- faults of the store ----------------------------------------------------------------------------------


@pytest.fixture
def quick_reprobe(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(redis_store, "REPROBE_SECONDS", 0.3)


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == redis_store.__name__ and r.levelno == logging.WARNING
    ]


def test_a_killed_redis_falls_back_to_lock_files_with_one_warning_and_recovers(
    redis_server: RedisServer, tmp_path: Path, quick_reprobe: None, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=redis_store.__name__)
    limit = RateLimit(100, 1.0)
    limiters = RateLimiters(
        "scope",
        token_limit=limit,
        account_limit=None,
        state_dir=tmp_path,
        redis=redis_server.settings,
        sleep=lambda _seconds: None,  # the waits are read, not slept
    )
    limiters.wait_for_slot(None)
    assert len(redis_server.client().keys("*")) == 1 and not list(tmp_path.iterdir())

    redis_server.kill()
    started = time.monotonic()
    waits = [limiters.wait_for_slot(None) for _ in range(50)]
    assert time.monotonic() - started < 0.5  # no call hung on the dead Redis
    # Still paced, now by the lock file: the 49 after the first queue one interval apart.
    assert waits[1:] == pytest.approx([n * limit.interval for n in range(1, 50)], abs=0.1)
    assert [path.suffix for path in tmp_path.iterdir()] == [".gcra"]
    [down] = _warnings(caplog)
    assert "does not answer" in down and str(redis_server.port) in down

    redis_server.start()  # a restart: its keys are gone
    time.sleep(0.35)
    limiters.wait_for_slot(None)
    assert len(redis_server.client().keys("*")) == 1  # back on Redis, starting afresh
    assert len(_warnings(caplog)) == 1  # one warning for the whole outage, and one line when it ends
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.INFO][-1].endswith(
        "answers again: rate-limit pacing is shared across hosts again."
    )
    limiters.close()


def test_a_redis_that_never_answers_costs_a_fraction_of_a_second(
    tmp_path: Path, quick_reprobe: None, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=redis_store.__name__)
    # redis-py is imported when the store first connects, once per process: not a cost of a silent Redis
    # (0.2 s for redis 6.4; 0.5 s or more for redis 8, which imports OpenTelemetry when Airflow brings it).
    import redis.backoff
    import redis.retry  # noqa: F401

    with socket.socket() as silent:  # accepts connections (the kernel does) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        settings = RedisSettings(host="127.0.0.1", port=silent.getsockname()[1])
        limiters = RateLimiters(
            "s", token_limit=RateLimit(1000, 1.0), account_limit=None, state_dir=tmp_path, redis=settings
        )
        started = time.monotonic()
        for _ in range(20):
            limiters.wait_for_slot(None)
        first_pass = time.monotonic() - started
        time.sleep(0.35)  # Redis is asked again after the re-probe delay, and still does not answer
        limiters.wait_for_slot(None)
    assert first_pass < 0.25 + 0.25 + 0.3  # one bounded wait, then the lock file without asking again
    assert len(_warnings(caplog)) == 1
    limiters.close()


async def _longest_loop_stall(config: TrutoConfig, polls: int, between: float) -> float:
    """Poll the channel list with AsyncTrutoClient while another coroutine ticks every 10 ms; return the
    longest the loop kept that ticker waiting beyond its 10 ms."""
    stalls: list[float] = []
    polling = True

    async def another_trigger() -> None:
        last = time.monotonic()
        while polling:
            await asyncio.sleep(0.01)
            now = time.monotonic()
            stalls.append(now - last - 0.01)
            last = now

    ticker = asyncio.create_task(another_trigger())
    async with AsyncTrutoClient(config) as client:
        for _ in range(polls):
            await client.unified("instant-messaging", "channels", "list", query={"limit": 5})
            await asyncio.sleep(between)
    polling = False
    await ticker
    return max(stalls)


@pytest.fixture
def silent_redis() -> Iterator[RedisSettings]:
    """A Redis address that accepts connections (the kernel does) and never answers."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        yield RedisSettings(host="127.0.0.1", port=silent.getsockname()[1])


def test_a_silent_redis_never_holds_up_the_triggerers_event_loop(
    sandbox: TrutoSandbox, tmp_path: Path, quick_reprobe: None, monkeypatch: pytest.MonkeyPatch,
    silent_redis: RedisSettings,
) -> None:  # fmt: skip
    """The async client asks Redis from a worker thread: the loop keeps serving other triggers meanwhile."""
    monkeypatch.setenv(STATE_DIR_ENV, str(tmp_path))
    config = TrutoConfig(
        token=TOKEN, base_url=sandbox.url, integrated_account_id=ACCOUNT, rate_limit_redis=silent_redis
    )
    # Each poll after the re-probe delay: Redis is asked, and is silent, each time.
    stall = asyncio.run(_longest_loop_stall(config, polls=3, between=0.35))
    # Asked on the loop, each silent answer would stall it for the 0.25 s Redis timeout.
    assert stall < 0.15, f"the event loop stalled {stall:.3f} s"
    # Paced by the lock files meanwhile, every poll went through.
    assert [(r.path, r.status) for r in sandbox.requests] == [(CHANNELS, 200)] * 3


def test_a_429s_pause_is_written_to_a_silent_redis_off_the_event_loop(
    sandbox: TrutoSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, silent_redis: RedisSettings
) -> None:
    monkeypatch.setenv(STATE_DIR_ENV, str(tmp_path))
    monkeypatch.setattr(redis_store, "REPROBE_SECONDS", 0.0)  # Redis is asked at every reservation and pause
    sandbox.inject("GET", CHANNELS, Fault.rate_limited("1"))
    config = TrutoConfig(
        token=TOKEN, base_url=sandbox.url, integrated_account_id=ACCOUNT, rate_limit_redis=silent_redis
    )
    stall = asyncio.run(_longest_loop_stall(config, polls=1, between=0.0))
    assert stall < 0.15, f"the event loop stalled {stall:.3f} s"
    assert [r.status for r in sandbox.requests] == [429, 200]
    # The pause reached this host's lock file while Redis was away: the retry waited out Retry-After.
    assert sandbox.requests[1].at - sandbox.requests[0].at >= 1.0


# -- the connection extra, end to end ---------------------------------------------------------------------


def _redis_conn(server: RedisServer, **fields: Any) -> str:
    return json.dumps({"conn_type": "redis", "host": "127.0.0.1", "port": server.port, **fields})


def test_the_hook_and_the_trigger_pace_through_the_named_redis_connection(
    redis_server: RedisServer, sandbox: TrutoSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    extra = {"integrated_account_id": ACCOUNT, "rate_limit_redis_conn_id": "pacing_redis"}
    conn = {"conn_type": "truto", "host": sandbox.url, "password": TOKEN, "extra": extra}
    monkeypatch.setenv("AIRFLOW_CONN_TRUTO_DEFAULT", json.dumps(conn))
    monkeypatch.setenv("AIRFLOW_CONN_PACING_REDIS", _redis_conn(redis_server, extra={"db": 3}))
    monkeypatch.setenv(STATE_DIR_ENV, str(tmp_path))
    hook = TrutoHook()
    assert hook.config.rate_limit_redis == redis_server.settings
    hook.join_channel(sandbox.channels(ACCOUNT)[0]["id"])
    hook.close()
    redis = redis_server.client()
    assert sorted(key.decode().rsplit(":", 1)[1][:7] for key in redis.keys("*")) == ["account", "token"]

    redis.flushdb()

    async def one_poll() -> None:
        events = TrutoNewChannelsTrigger(poll_interval=0.05).run()
        await asyncio.wait_for(events.__anext__(), 10)
        await events.aclose()

    sandbox.add_channel(ACCOUNT, name="brand-new")
    asyncio.run(one_poll())
    assert len(redis.keys("*")) == 2  # the trigger's channel-list calls spent the shared budgets
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"schema": "5", "password": "pw"}, {"db": 5, "password": "pw"}),
        ({"schema": "5", "extra": {"db": 2}}, {"db": 2}),  # the extra wins, as in Airflow's RedisHook
        ({"password": "none", "login": "pacer"}, {"password": None, "username": "pacer"}),
        (
            {"extra": {"ssl": True, "ssl_cert_reqs": "none"}},
            {"ssl_options": (("ssl", True), ("ssl_cert_reqs", "none"))},
        ),
    ],
)
def test_the_redis_connection_is_read_as_airflows_redis_provider_reads_it(
    redis_server: RedisServer,
    monkeypatch: pytest.MonkeyPatch,
    fields: dict[str, Any],
    expected: dict[str, Any],
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_PACING_REDIS", _redis_conn(redis_server, **fields))
    monkeypatch.setenv(
        "AIRFLOW_CONN_TRUTO_DEFAULT",
        json.dumps(
            {"conn_type": "truto", "password": TOKEN, "extra": {"rate_limit_redis_conn_id": "pacing_redis"}}
        ),
    )
    settings = TrutoHook().config.rate_limit_redis
    assert settings is not None and settings.port == redis_server.port
    assert {name: getattr(settings, name) for name in expected} == expected
    assert "pw" not in repr(TrutoHook().config)


@pytest.mark.parametrize(
    ("redis_conn", "problem"),
    [
        (None, "cannot read the connection 'pacing_redis'"),
        ({"extra": {"db": "three"}}, "db must be a whole number"),
    ],
)
def test_a_bad_redis_connection_is_named_before_any_request(
    sandbox: TrutoSandbox, monkeypatch: pytest.MonkeyPatch, redis_conn: dict[str, Any] | None, problem: str
) -> None:
    if redis_conn is not None:
        monkeypatch.setenv("AIRFLOW_CONN_PACING_REDIS", json.dumps({"conn_type": "redis", **redis_conn}))
    extra = {"rate_limit_redis_conn_id": "pacing_redis"}
    monkeypatch.setenv(
        "AIRFLOW_CONN_TRUTO_DEFAULT",
        json.dumps({"conn_type": "truto", "host": sandbox.url, "password": TOKEN, "extra": extra}),
    )
    with pytest.raises(TrutoInputError, match="rate_limit_redis_conn_id") as caught:
        TrutoHook().join_channel("C1", ACCOUNT)
    assert problem in str(caught.value) and sandbox.requests == []


def test_redis_is_imported_only_when_a_budget_uses_it() -> None:
    code = (
        "import sys\n"
        "import airflow_provider_truto.hooks.truto, airflow_provider_truto.operators.instant_messaging\n"
        "import airflow_provider_truto.triggers.truto, airflow_provider_truto.sensors.truto\n"
        "from airflow_provider_truto.pacing.budgets import RateLimiters\n"
        "from airflow_provider_truto.pacing.limits import RateLimit\n"
        "from airflow_provider_truto.pacing.redis_store import RedisSettings\n"
        "RateLimiters('s', token_limit=RateLimit(5, 1.0), account_limit=None, redis=RedisSettings())\n"
        "print('redis' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "False", done.stderr


def test_without_the_redis_package_the_extra_names_the_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "redis" else real_find_spec(name, *a)
    )
    extra = {"rate_limit_redis_conn_id": "pacing_redis"}
    monkeypatch.setenv(
        "AIRFLOW_CONN_TRUTO_DEFAULT", json.dumps({"conn_type": "truto", "password": TOKEN, "extra": extra})
    )
    with pytest.raises(TrutoInputError, match=r"rate_limit_redis_conn_id.*airflow-provider-truto\[redis\]"):
        TrutoHook().config  # noqa: B018


def test_a_bad_redis_connection_shows_its_password_nowhere(
    sandbox: TrutoSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    password = "redis-pa55-do-not-show"
    redis_conn = {"conn_type": "redis", "password": password, "extra": {"db": "three"}}
    monkeypatch.setenv("AIRFLOW_CONN_PACING_REDIS", json.dumps(redis_conn))
    extra = {"rate_limit_redis_conn_id": "pacing_redis"}
    monkeypatch.setenv(
        "AIRFLOW_CONN_TRUTO_DEFAULT",
        json.dumps({"conn_type": "truto", "host": sandbox.url, "password": TOKEN, "extra": extra}),
    )
    with pytest.raises(TrutoInputError) as caught:
        TrutoHook().join_channel("C1", ACCOUNT)
    # Airflow 3.0's console prints the local variables of every frame of a task's traceback.
    for frame, _ in traceback.walk_tb(caught.value.__traceback__):
        if "airflow_provider_truto" in frame.f_code.co_filename:
            for name, value in frame.f_locals.items():
                assert password not in repr(value), f"{frame.f_code.co_name}: local {name!r} shows it"
    assert password not in "".join(traceback.format_exception(caught.value))

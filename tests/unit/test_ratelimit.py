"""The shared client-side pacing: GCRA in a lock file, across threads and processes."""

from __future__ import annotations

import itertools
import multiprocessing
import struct
import threading
import time
from pathlib import Path

import pytest

from airflow_provider_truto.ratelimit import PACING_HEADROOM, RateLimit, RateLimiters, SharedRateLimiter


def test_parse() -> None:
    assert RateLimit.parse("50/10") == RateLimit(50, 10.0)
    assert RateLimit.parse(" 5 / 0.5 ") == RateLimit(5, 0.5)
    assert RateLimit.parse("off") is None and RateLimit.parse(None) is None
    for bad in ("fast", "0/1", "5/0", "-1/2"):
        with pytest.raises(ValueError):
            RateLimit.parse(bad)


def test_reservations_are_spaced_evenly(tmp_path: Path) -> None:
    now = [1000.0]
    limiter = SharedRateLimiter(tmp_path / "a.gcra", RateLimit(10, 1.0), clock=lambda: now[0])
    step = 0.1 / PACING_HEADROOM
    assert limiter.reserve() == 0.0
    # The state is kept in whole microseconds (exact in the Redis script's Lua as well).
    assert [limiter.reserve() for _ in range(3)] == pytest.approx([step, 2 * step, 3 * step], abs=1e-6)
    now[0] += 5  # idle time does not bank a burst
    assert [limiter.reserve() for _ in range(2)] == pytest.approx([0.0, step], abs=1e-6)


def test_a_clock_jump_never_stalls_for_long(tmp_path: Path) -> None:
    path = tmp_path / "b.gcra"
    path.write_bytes(struct.pack("<d", time.time() + 10_000))
    assert SharedRateLimiter(path, RateLimit(5, 2.0)).reserve() <= 60.0


def _take(directory: str, count: int, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    limiters = RateLimiters(
        "scope", token_limit=RateLimit(100, 1.0), account_limit=None, state_dir=Path(directory)
    )
    stamps = []
    for _ in range(count):
        limiters.wait_for_slot("acct")
        stamps.append(time.time())
    out.put(stamps)


def test_processes_share_one_budget(tmp_path: Path) -> None:
    queue: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
    workers = [multiprocessing.Process(target=_take, args=(str(tmp_path), 20, queue)) for _ in range(3)]
    for worker in workers:
        worker.start()
    stamps = sorted(t for _ in workers for t in queue.get(timeout=30))
    for worker in workers:
        worker.join(timeout=30)
    # 60 requests at 100/s across three processes: about 0.6 s, and no 1 s window holds more than 100.
    assert stamps[-1] - stamps[0] >= 0.55
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    assert sum(gaps) / len(gaps) >= 0.009


def test_account_and_token_budgets_combine(tmp_path: Path) -> None:
    slept: list[float] = []
    limiters = RateLimiters(
        "s",
        token_limit=RateLimit(100, 1.0),
        account_limit=RateLimit(2, 1.0),
        state_dir=tmp_path,
        sleep=slept.append,
    )
    for _ in range(3):
        limiters.wait_for_slot("acct-a")
    limiters.wait_for_slot("acct-b")  # another account only waits for the token budget
    step = 0.5 / PACING_HEADROOM
    assert slept[0] == pytest.approx(step, abs=0.05) and slept[1] == pytest.approx(2 * step, abs=0.05)
    assert len(slept) == 3 and slept[2] < 0.05
    assert not any(p.name == "s" for p in tmp_path.iterdir())  # files are named by hashes, not by the scope


def test_threads_of_one_process_share_one_budget(tmp_path: Path) -> None:
    limiters = RateLimiters("t", token_limit=RateLimit(200, 1.0), account_limit=None, state_dir=tmp_path)
    stamps: list[float] = []

    def take() -> None:
        for _ in range(20):
            limiters.wait_for_slot(None)
            stamps.append(time.time())

    threads = [threading.Thread(target=take) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    limiters.close()
    assert len(stamps) == 80 and max(stamps) - min(stamps) >= 0.37  # 80 slots at 200/s

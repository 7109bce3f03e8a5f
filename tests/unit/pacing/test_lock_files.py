"""Budgets in lock files (airflow_provider_truto/pacing/lock_files.py), shared by threads, processes and OS
users of a host: state that is odd or planted never switching pacing off or stalling it, directories that
are this user's own (or a group's, on purpose)."""

from __future__ import annotations

import hashlib
import itertools
import logging
import math
import multiprocessing
import os
import stat
import struct
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_truto.exceptions import TrutoInputError
from airflow_provider_truto.pacing.budgets import RateLimiters
from airflow_provider_truto.pacing.limits import PACING_HEADROOM, RateLimit
from airflow_provider_truto.pacing.lock_files import (
    STATE_DIR_ENV,
    SharedRateLimiter,
    default_state_dir,
    per_user_state_dir,
)

if TYPE_CHECKING:
    from collections.abc import Callable


LIMIT = RateLimit(50, 10.0)  # Truto's per-account limit: one slot every 0.21 s


STEP = LIMIT.interval


SCOPE = "https://api.example|tok-0123456789"


def _token_file(directory: Path) -> Path:
    return directory / f"{hashlib.sha256(SCOPE.encode()).hexdigest()[:20]}-token.gcra"


def _limiters(directory: Path | None, slept: list[float]) -> RateLimiters:
    return RateLimiters(SCOPE, token_limit=LIMIT, account_limit=None, state_dir=directory, sleep=slept.append)


@pytest.fixture
def own_temp_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temp directory of our own standing in for /tmp (world-writable and sticky, as /tmp is)."""
    temp = Path(tempfile.mkdtemp(prefix="truto-tmp-", dir="/tmp"))
    temp.chmod(0o1777)
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    monkeypatch.delenv(STATE_DIR_ENV, raising=False)
    yield temp
    for path in sorted(temp.rglob("*"), reverse=True):
        path.unlink() if not path.is_dir() or path.is_symlink() else path.rmdir()
    temp.rmdir()


@pytest.mark.parametrize(
    "content",
    [
        struct.pack("<dd", math.nan, time.time()),
        struct.pack("<dd", math.inf, time.time()),
        struct.pack("<dd", -math.inf, time.time()),
        struct.pack("<d", time.time() + 10_000),  # cut short: half a state
        b"\x01\x02\x03",
    ],
    ids=["nan-tat", "inf-tat", "minus-inf-tat", "half", "short"],
)
def test_unreadable_state_is_absent_and_pacing_stays_on(tmp_path: Path, content: bytes) -> None:
    _token_file(tmp_path).write_bytes(content)
    slept: list[float] = []
    limiters = _limiters(tmp_path, slept)
    waits = [limiters.wait_for_slot(None) for _ in range(3)]
    # The odd state counts as no state: a free first slot, then the usual spacing (NaN used to skip every
    # wait, for good, since NaN compares false and was written back).
    assert waits[0] == 0.0
    assert waits[1:] == pytest.approx([STEP, 2 * STEP], abs=0.05)
    assert slept == waits[1:]


def test_a_state_file_from_the_far_future_does_not_stall(tmp_path: Path) -> None:
    # Written by a clock 3 hours ahead, or before the clock was set back: one slot booked, "then".
    then = time.time() + 10_000
    _token_file(tmp_path).write_bytes(struct.pack("<dd", then + STEP, then))
    slept: list[float] = []
    limiters = _limiters(tmp_path, slept)
    assert limiters.wait_for_slot(None) <= STEP + 0.01  # not 100 s, the horizon


def test_a_clock_that_went_back_keeps_the_queue_it_had(tmp_path: Path) -> None:
    now = [2_000_000_000.0]
    limiter = SharedRateLimiter(tmp_path / "a.gcra", LIMIT, clock=lambda: now[0])
    for _ in range(5):  # four waiters queued behind the first: the next slot is 5 steps ahead
        limiter.reserve()
    now[0] -= 3600  # the clock is set back an hour
    assert limiter.reserve() == pytest.approx(5 * STEP, abs=1e-5)


def test_an_odd_state_read_is_clamped_to_the_horizon(tmp_path: Path) -> None:
    # A state whose stamp looks honest but whose next slot is a day away: no caller waits past the horizon
    # (10 windows, at least 60 s), the longest queue honest waiters and a 429's pause can build.
    now = time.time()
    path = tmp_path / "b.gcra"
    path.write_bytes(struct.pack("<dd", now + 86_400, now))
    assert SharedRateLimiter(path, LIMIT).reserve() == pytest.approx(100.0, abs=0.5)


def test_the_default_directory_is_this_users_own(own_temp_dir: Path) -> None:
    assert default_state_dir() == own_temp_dir / f"airflow-provider-truto-{os.getuid()}"
    slept: list[float] = []
    _limiters(None, slept).wait_for_slot(None)
    info = per_user_state_dir().stat()
    assert info.st_uid == os.getuid() and stat.S_IMODE(info.st_mode) == 0o700


def _as_user(uid: int, gid: int, action: Callable[[], Any], *, umask: int = 0o022) -> Any:
    """Run ``action`` in a forked child that has become ``uid:gid``; return its result or raise its error."""
    context = multiprocessing.get_context("fork")
    queue = context.SimpleQueue()

    def child() -> None:
        try:
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
            os.umask(umask)
            queue.put(("ok", action()))
        except BaseException as error:
            queue.put(("error", f"{type(error).__name__}: {error}"))

    process = context.Process(target=child)
    process.start()
    process.join(30)
    outcome, value = queue.get()
    if outcome == "error":
        raise AssertionError(f"uid {uid}: {value}")
    return value


needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="switching OS users needs root (CI runs as root)")


@needs_root
def test_two_os_users_each_pace_in_their_own_default_directory(own_temp_dir: Path) -> None:
    def take_two() -> list[float]:
        slept: list[float] = []
        limiters = _limiters(None, slept)
        return [limiters.wait_for_slot(None), limiters.wait_for_slot(None)]

    first = _as_user(41001, 41001, take_two)
    second = _as_user(41002, 41002, take_two)  # used to fail: PermissionError on the first user's files
    assert first[0] == 0.0 and second[0] == 0.0 and first[1] > 0 and second[1] > 0
    for uid in (41001, 41002):
        info = (own_temp_dir / f"airflow-provider-truto-{uid}").stat()
        assert info.st_uid == uid and stat.S_IMODE(info.st_mode) == 0o700


@needs_root
def test_a_group_writable_directory_is_shared_by_the_group_on_purpose(
    own_temp_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = own_temp_dir / "shared"
    shared.mkdir()
    os.chown(shared, 0, 41500)
    shared.chmod(0o2770)  # install -d -m 2770 -g airflow ...
    monkeypatch.setenv(STATE_DIR_ENV, str(shared))
    slow = RateLimit(1, 10.0)

    def reserve() -> float:
        limiters = RateLimiters(SCOPE, token_limit=slow, account_limit=None, sleep=lambda _s: None)
        return limiters.wait_for_slot(None)

    # A strict umask must not keep the group out of the files its members create.
    assert _as_user(41001, 41500, reserve, umask=0o077) == 0.0
    assert _as_user(41002, 41500, reserve, umask=0o077) > slow.interval - 5  # the first user's budget
    info = _token_file(shared).stat()
    assert stat.S_IMODE(info.st_mode) == 0o660 and info.st_gid == 41500


@needs_root
def test_a_default_directory_squatted_by_another_user_is_refused(own_temp_dir: Path) -> None:
    squatted = per_user_state_dir()
    squatted.mkdir(mode=0o777)
    os.chown(squatted, 41003, 41003)
    with pytest.raises(TrutoInputError, match=STATE_DIR_ENV) as caught:
        _limiters(None, []).wait_for_slot(None)
    assert "another user" in str(caught.value) and not any(squatted.iterdir())


def test_a_linked_default_directory_is_refused(own_temp_dir: Path, tmp_path: Path) -> None:
    per_user_state_dir().symlink_to(tmp_path, target_is_directory=True)
    with pytest.raises(TrutoInputError, match=STATE_DIR_ENV):
        _limiters(None, []).wait_for_slot(None)
    assert not any(tmp_path.iterdir())


def test_an_unusable_configured_directory_falls_back_with_one_warning(
    own_temp_dir: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    not_a_dir = own_temp_dir / "a-file"
    not_a_dir.write_text("")
    monkeypatch.setenv(STATE_DIR_ENV, str(not_a_dir))
    caplog.set_level(logging.WARNING, logger="airflow_provider_truto.pacing.lock_files")
    slots: list[tuple[float, float]] = []  # each granted slot, as (earliest, latest) epoch seconds
    for _ in range(2):  # two clients of one process: one warning
        slept: list[float] = []
        limiters = _limiters(None, slept)
        for _ in range(2):
            before = time.time()
            wait = limiters.wait_for_slot(None)
            slots.append((before + wait, time.time() + wait))
        limiters.close()
    # Pacing goes on, in this user's own directory: the second client queues behind the first, so the
    # slots are one STEP apart however slowly a busy machine ran this loop.
    first_earliest, first_latest = slots[0]
    for k, (earliest, latest) in enumerate(slots[1:], start=1):
        assert first_earliest + k * STEP - 1e-3 <= latest and earliest <= first_latest + k * STEP + 1e-3
    assert _token_file(per_user_state_dir()).exists()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and STATE_DIR_ENV in warnings[0] and str(not_a_dir) in warnings[0]


def test_no_usable_directory_is_a_clear_error_before_any_request(
    own_temp_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    not_a_dir = own_temp_dir / "a-file"
    not_a_dir.write_text("")
    per_user_state_dir().write_text("")  # nor can the fallback be made
    monkeypatch.setenv(STATE_DIR_ENV, str(not_a_dir))
    with pytest.raises(TrutoInputError, match=STATE_DIR_ENV) as caught:
        _limiters(None, []).wait_for_slot(None)
    assert str(not_a_dir) in str(caught.value) and str(per_user_state_dir()) in str(caught.value)


def test_a_link_planted_in_a_shared_directory_is_not_followed(
    own_temp_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = own_temp_dir / "shared"
    shared.mkdir(mode=0o777)
    victim = own_temp_dir / "victim.txt"
    victim.write_text("keep me")
    _token_file(shared).symlink_to(victim)
    monkeypatch.setenv(STATE_DIR_ENV, str(shared))
    _limiters(None, []).wait_for_slot(None)
    assert victim.read_text() == "keep me"
    assert _token_file(per_user_state_dir()).exists()  # paced in this user's own directory instead


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
    path.write_bytes(struct.pack("<dd", time.time() + 10_000, time.time()))
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

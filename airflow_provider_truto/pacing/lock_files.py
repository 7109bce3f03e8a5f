"""Budgets kept in small lock files on this host, shared by every thread and process of one OS user.

Tasks that share a token run in separate worker processes, so a budget lives outside memory: here, in one
file per budget holding two 8-byte floats (``tat`` and ``stamp``, epoch seconds), updated under ``flock``
with the GCRA of :mod:`~airflow_provider_truto.pacing.limits`. Reserving a slot is one short critical
section; callers then sleep outside it. The files live in :func:`default_state_dir`: ``TRUTO_RATE_LIMIT_DIR``
if set, else a directory of this OS user's own in the temp directory.
"""

from __future__ import annotations

import fcntl
import logging
import math
import os
import stat
import struct
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from airflow_provider_truto.pacing.limits import (
    MAX_STATE_MICROS,
    BudgetState,
    RateLimit,
    gcra_pause,
    gcra_reserve,
    horizon_micros,
    interval_micros,
)

if TYPE_CHECKING:
    from collections.abc import Callable

log = logging.getLogger(__name__)

STATE_DIR_ENV = "TRUTO_RATE_LIMIT_DIR"
# A lock file holds two doubles, epoch seconds: tat, then stamp.
_STATE = struct.Struct("<dd")


def _micros(seconds: float) -> int | None:
    """Epoch seconds read from a file as microseconds, or None when no honest clock wrote them."""
    if not math.isfinite(seconds):
        return None
    micros = round(seconds * 1_000_000)
    return micros if 0 <= micros < MAX_STATE_MICROS else None


def decode_file_state(raw: bytes, interval: int) -> BudgetState | None:
    """A lock file's state; unreadable or non-finite state is absent (it must never switch pacing off)."""
    if len(raw) < _STATE.size:
        return None
    tat_seconds, stamp_seconds = _STATE.unpack(raw[: _STATE.size])
    tat = _micros(tat_seconds)
    if tat is None:
        return None
    # A state without a readable stamp was written when its tat was at most one interval ahead, as far as
    # we can know: a tat far in the future then reads as a clock that went back.
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

"""A total deadline for one blocking HTTP attempt over requests: the bound requests and urllib3 lack.

``requests``' timeout bounds the connect and each socket read, not the whole answer: a server trickling a
byte at a time holds a call open indefinitely. Here the connections of a :class:`DeadlineAdapter` hand
their socket, once the request is sent, to the current thread's :class:`Deadline`; one watchdog thread
shuts that socket down when the deadline passes, which ends the blocked read at once, whether it waits
for the status line, the headers or the body. The caller then sees a read error and reports the timeout.

Connections through a SOCKS proxy, or TLS inside TLS, are not watched; the checks between the body's
chunks still stop them within one read timeout of the deadline.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import os
import socket
import threading
import time
from typing import Any

import requests.adapters
import urllib3
import urllib3.connection

_current = threading.local()


class Deadline:
    """The end of one attempt; a context manager that makes it the current thread's deadline."""

    def __init__(self, at: float) -> None:
        self.at = at  # on time.monotonic()'s clock
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._done = False
        self.cut = False

    def remaining(self) -> float:
        return self.at - time.monotonic()

    def expired(self) -> bool:
        return self.cut or self.remaining() <= 0

    def __enter__(self) -> Deadline:
        _current.deadline = self
        return self

    def __exit__(self, *exc_info: object) -> None:
        _current.deadline = None
        with self._lock:
            self._done, self._sock = True, None

    def watch(self, sock: Any) -> None:
        """Shut ``sock`` down at the deadline (at once if it has passed), unless the attempt ends first."""
        raw = getattr(sock, "socket", sock)  # urllib3's TLS-in-TLS wrapper keeps its socket here
        if not isinstance(raw, socket.socket):
            return
        with self._lock:
            if self._done:
                return
            self._sock = raw
        _WATCHDOG.arm(self)

    def expire(self) -> None:
        with self._lock:
            sock, self._sock = self._sock, None
            if self._done or sock is None:
                return
            self.cut = True
        # The plain socket's shutdown, also for an SSLSocket: its own would unwrap TLS under a reader.
        # An OSError means it is closed already, and nothing is blocked on it.
        with contextlib.suppress(OSError):
            socket.socket.shutdown(sock, socket.SHUT_RDWR)


class _Watchdog:
    """One daemon thread per process that expires deadlines in order; arming one costs a heap push."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._heap: list[tuple[float, int, Deadline]] = []
        self._order = itertools.count()
        self._pid = 0

    def arm(self, deadline: Deadline) -> None:
        with self._condition:
            if self._pid != os.getpid():  # first use, or a forked child: its parent's thread is not here
                self._pid = os.getpid()
                self._heap.clear()
                threading.Thread(target=self._run, name="truto-deadline", daemon=True).start()
            heapq.heappush(self._heap, (deadline.at, next(self._order), deadline))
            self._condition.notify()

    def _run(self) -> None:
        while True:
            with self._condition:
                while not self._heap or self._heap[0][0] > time.monotonic():
                    self._condition.wait(self._heap[0][0] - time.monotonic() if self._heap else None)
                _, _, deadline = heapq.heappop(self._heap)
            deadline.expire()


_WATCHDOG = _Watchdog()


class _Watched:
    """Mixed into urllib3's connections: the socket of a sent request is handed to the current deadline."""

    sock: Any

    def getresponse(self, *args: Any, **kwargs: Any) -> Any:
        deadline: Deadline | None = getattr(_current, "deadline", None)
        if deadline is not None and self.sock is not None:
            deadline.watch(self.sock)
        return super().getresponse(*args, **kwargs)  # type: ignore[misc]


class _WatchedHTTPConnection(_Watched, urllib3.connection.HTTPConnection):
    pass


class _WatchedHTTPSConnection(_Watched, urllib3.connection.HTTPSConnection):
    pass


class _WatchedHTTPPool(urllib3.HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


_WATCHED_POOLS = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}


class DeadlineAdapter(requests.adapters.HTTPAdapter):
    """An ``HTTPAdapter`` whose connections obey the current thread's :class:`Deadline`."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _WATCHED_POOLS

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if not proxy.lower().startswith("socks"):
            manager.pool_classes_by_scheme = _WATCHED_POOLS
        return manager

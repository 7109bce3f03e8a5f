"""Fault scripts: what the sandbox does instead of (or around) answering a matching request.

A script is bound to a method and a path (exact, or a prefix when it ends with ``*``). Fixed scripts hand out
their items in order, one per matching request, then let requests pass (or start over with ``repeat``). Random
scripts draw from a seeded RNG, so a "flaky" run is the same flaky run every time.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

__all__ = ["Fault", "FaultBook", "FaultItem", "to_fault"]

FaultKind = Literal["status", "rate_limited", "reset", "reset_after", "delay", "bad_json", "passthrough"]


@dataclass(frozen=True)
class Fault:
    """One scripted misbehaviour.

    Build it with the class methods, or pass a plain ``int`` status to ``inject``.
    """

    kind: FaultKind
    status: int = 0
    retry_after: str = "1"
    seconds: float = 0.0

    @classmethod
    def error(cls, status: int) -> Fault:
        """Answer ``status`` with Truto's error body (what a bare ``int`` item means)."""
        if not 400 <= status <= 599:
            raise ValueError(f"a fault status must be 4xx or 5xx, not {status}")
        return cls("status", status=status)

    @classmethod
    def rate_limited(cls, retry_after: str | int = "1") -> Fault:
        """429 with ``Retry-After`` exactly as given (delta seconds or an HTTP-date)."""
        return cls("rate_limited", status=429, retry_after=str(retry_after))

    @classmethod
    def reset(cls) -> Fault:
        """Drop the connection with a TCP RST before anything is done."""
        return cls("reset")

    @classmethod
    def reset_after(cls) -> Fault:
        """Handle the request (state changes happen), then drop the connection instead of answering."""
        return cls("reset_after")

    @classmethod
    def delay(cls, seconds: float) -> Fault:
        """Sleep, then handle the request normally (to trip client timeouts)."""
        if seconds < 0:
            raise ValueError("delay must be >= 0")
        return cls("delay", seconds=seconds)

    @classmethod
    def bad_json(cls) -> Fault:
        """200 with an HTML body, as a misbehaving proxy might send."""
        return cls("bad_json", status=200)

    @classmethod
    def passthrough(cls) -> Fault:
        """Handle the request normally (a gap in a script)."""
        return cls("passthrough")


FaultItem = int | Fault


def to_fault(item: FaultItem) -> Fault:
    # bool is an int subclass and would otherwise become status 0/1.
    if isinstance(item, Fault):
        return item
    if isinstance(item, int) and not isinstance(item, bool):
        return Fault.error(item)
    raise TypeError(f"a fault item is an int status or a Fault, not {item!r}")


def _matches(method: str, pattern: str, wanted_method: str, path: str) -> bool:
    if method not in ("*", wanted_method):
        return False
    if pattern.endswith("*"):
        return path.startswith(pattern[:-1])
    return path == pattern


class _Script:
    def __init__(self, method: str, pattern: str, items: Sequence[Fault], repeat: bool) -> None:
        self.method = method.upper()
        self.pattern = pattern
        self.items = list(items)
        self.repeat = repeat
        self.used = 0

    def draw(self) -> Fault | None:
        if not self.items or (self.used >= len(self.items) and not self.repeat):
            return None
        item = self.items[self.used % len(self.items)]
        self.used += 1
        return item


class _RandomScript:
    def __init__(
        self, method: str, pattern: str, items: Sequence[Fault], probability: float, seed: int
    ) -> None:
        self.method = method.upper()
        self.pattern = pattern
        self.items = list(items)
        self.probability = probability
        self.rng = random.Random(seed)

    def draw(self) -> Fault | None:
        # Two draws every time, hit or miss, so the sequence depends only on the number of matching requests.
        roll = self.rng.random()
        choice = self.rng.choice(self.items)
        return choice if roll < self.probability else None


class FaultBook:
    """All active scripts; the first one (in injection order) with an item for a request decides its fault."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._scripts: list[_Script | _RandomScript] = []

    def add(self, method: str, pattern: str, items: Iterable[FaultItem], *, repeat: bool = False) -> None:
        faults = [to_fault(item) for item in items]
        with self._lock:
            self._scripts.append(_Script(method, pattern, faults, repeat))

    def add_random(
        self, method: str, pattern: str, items: Iterable[FaultItem], *, probability: float, seed: int
    ) -> None:
        faults = [to_fault(item) for item in items]
        if not faults:
            raise ValueError("inject_random needs at least one item")
        if not 0.0 <= probability <= 1.0:
            raise ValueError("probability must be within [0, 1]")
        with self._lock:
            self._scripts.append(_RandomScript(method, pattern, faults, probability, seed))

    def clear(self) -> None:
        with self._lock:
            self._scripts.clear()

    def next_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for script in self._scripts:
                if _matches(script.method, script.pattern, method.upper(), path):
                    fault = script.draw()
                    if fault is not None:
                        return fault
            return None

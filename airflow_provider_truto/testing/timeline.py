"""A plan of what happens to the sandbox's world while it serves: channels created and workspaces
connected at chosen moments, for tests and benchmarks of watchers.

>>> timeline = sandbox.play([NewAccount(at=60, account_id="late", channels=2000),   # doctest: +SKIP
...                          NewChannel(at=75.5, account_id="late", name="launch")])
>>> timeline.wait(timeout=120)                                                       # doctest: +SKIP

Each step happens on a thread of its own at ``at`` seconds after :meth:`Timeline.start`; a channel is
stamped with the moment it was really created (its ``created_at``), a workspace with the moment it was
connected. :func:`load_plan` reads the same plan from JSON (the CLI's ``--plan``).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

__all__ = ["Happened", "NewAccount", "NewChannel", "Planned", "Timeline", "load_plan"]


@dataclass(frozen=True)
class NewChannel:
    """A public, active channel the bot is not in, created ``at`` seconds into the timeline.

    :param id: the channel id (default: a fresh one).
    :param name: its name (default: derived from the id).
    :param sharing: ``none`` | ``org`` | ``external`` | ``pending``, as for ``add_channel``.
    """

    at: float
    account_id: str
    id: str | None = None
    name: str | None = None
    sharing: str = "none"


@dataclass(frozen=True)
class NewAccount:
    """A Slack workspace connected ``at`` seconds into the timeline, with ``channels`` older channels.

    The channels are seeded as ``seed_channels`` does (``mixed``: every type and state), created over
    the two years before the moment it is connected.
    """

    at: float
    account_id: str
    channels: int = 0
    seed: int = 0
    mixed: bool = True


Planned = NewChannel | NewAccount


@dataclass(frozen=True)
class Happened:
    """One step done: what was planned, when it really happened, and its error (``None`` if it worked)."""

    step: Planned
    when: datetime
    error: str | None = None


class Timeline:
    """Runs a plan on a daemon thread; ``apply`` performs one step (the sandbox's own method).

    :param apply: makes one planned step happen; an exception it raises is recorded, not fatal.
    :param plan: the steps, in any order; each is taken at its ``at``.
    """

    def __init__(self, apply: Callable[[Planned], None], plan: Sequence[Planned]) -> None:
        for index, step in enumerate(plan):
            if not isinstance(step, (NewChannel, NewAccount)):
                raise TypeError(f"plan step {index} is not a NewChannel or NewAccount: {step!r}")
            if isinstance(step.at, bool) or not isinstance(step.at, (int, float)):
                raise ValueError(f"plan step {index}: 'at' must be a number of seconds, got {step.at!r}")
            if not 0 <= step.at < math.inf:
                raise ValueError(f"plan step {index}: 'at' must be finite and >= 0, got {step.at!r}")
        self._apply = apply
        self._plan = sorted(plan, key=lambda step: step.at)
        self._stop = threading.Event()
        self._finished = threading.Event()
        self._lock = threading.Lock()
        self._happened: list[Happened] = []
        self._thread: threading.Thread | None = None

    def start(self) -> Timeline:
        if self._thread is not None:
            raise RuntimeError("the timeline has already started")
        self._thread = threading.Thread(target=self._run, name="truto-sandbox-timeline", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Skip the steps not yet taken."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until every step was taken (or the timeline stopped); whether it finished."""
        return self._finished.wait(timeout)

    @property
    def happened(self) -> list[Happened]:
        with self._lock:
            return list(self._happened)

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._plan) - len(self._happened)

    def _run(self) -> None:
        started = time.monotonic()
        try:
            for step in self._plan:
                if self._stop.wait(max(0.0, started + step.at - time.monotonic())):
                    return
                error: str | None = None
                try:
                    self._apply(step)
                except Exception as failure:  # a bad step is recorded; the plan goes on
                    error = f"{type(failure).__name__}: {failure}"
                with self._lock:
                    self._happened.append(Happened(step, datetime.now(timezone.utc), error))
        finally:
            self._finished.set()


def load_plan(data: Any) -> list[Planned]:
    """A plan from JSON: ``{"accounts": [{"at", "id", "channels", "seed", "mixed"}, ...],
    "channels": [{"at", "account", "id", "name", "sharing"}, ...]}`` (both lists optional).

    Raises ``ValueError`` naming the entry that is wrong.
    """
    if not isinstance(data, Mapping) or set(data) - {"accounts", "channels"}:
        raise ValueError('a plan is an object with the lists "accounts" and "channels"')
    plan: list[Planned] = []
    for index, entry in enumerate(_entries(data, "accounts")):
        where = f"accounts[{index}]"
        plan.append(
            NewAccount(
                at=_seconds(entry, where),
                account_id=_text(entry, "id", where),
                channels=_count(entry.get("channels", 0), f"{where}.channels"),
                seed=_count(entry.get("seed", 0), f"{where}.seed"),
                mixed=_flag(entry.get("mixed", True), f"{where}.mixed"),
            )
        )
    for index, entry in enumerate(_entries(data, "channels")):
        where = f"channels[{index}]"
        plan.append(
            NewChannel(
                at=_seconds(entry, where),
                account_id=_text(entry, "account", where),
                id=_text(entry, "id", where) if "id" in entry else None,
                name=_text(entry, "name", where) if "name" in entry else None,
                sharing=_text(entry, "sharing", where) if "sharing" in entry else "none",
            )
        )
    return plan


def _entries(data: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    entries = data.get(key, [])
    if not isinstance(entries, list) or not all(isinstance(entry, Mapping) for entry in entries):
        raise ValueError(f"{key} must be a list of objects")
    return entries


def _seconds(entry: Mapping[str, Any], where: str) -> float:
    value = entry.get("at")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < math.inf:
        raise ValueError(f"{where}.at must be a finite number of seconds >= 0, got {value!r}")
    return float(value)


def _text(entry: Mapping[str, Any], key: str, where: str) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{where}.{key} must be a non-empty string, got {value!r}")
    return value


def _count(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{where} must be a whole number >= 0, got {value!r}")
    return value


def _flag(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{where} must be true or false, got {value!r}")
    return value

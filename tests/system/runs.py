"""One auto-join DAG run against one sandbox account, and what the sandbox saw of it."""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow_provider_truto.auto_join.selection import is_auto_joinable
from airflow_provider_truto.testing import RecordedRequest, TrutoSandbox
from tests.system.airflow_services import wait_for

AUTO_JOIN_DAG = "example_truto_auto_join_channels"
EVENT_DAG = "example_truto_join_on_new_channel_event"
WEBHOOK_AUTO_JOIN_DAG = "example_truto_webhook_auto_join"
WEBHOOK_CHANNEL_DAG = "example_truto_webhook_join_channel"
JOIN_TASK = "join_channels"
JOIN_PATH = "/unified/instant-messaging/channels/join"
NOW = datetime.now(timezone.utc).replace(microsecond=0)


@dataclass
class Workspace:
    """A sandbox account of its own for one test: old channels, new ones, and the set to be joined."""

    sandbox: TrutoSandbox
    account: str
    created_after: datetime
    expected: set[str] = field(default_factory=set)

    @classmethod
    def create(
        cls, sandbox: TrutoSandbox, name: str, *, old: int, new: int, new_mixed: bool, seed: int
    ) -> Workspace:
        account = sandbox.add_account(f"{name}-{uuid.uuid4().hex[:8]}").id
        cutoff = NOW - timedelta(days=1)
        sandbox.seed_channels(account, old, seed=seed, start=NOW - timedelta(days=700), end=cutoff)
        sandbox.seed_channels(
            account, new, seed=seed + 1, mixed=new_mixed, start=cutoff + timedelta(seconds=1), end=NOW
        )
        expected = {c["id"] for c in sandbox.channels(account) if is_auto_joinable(c, cutoff)}
        older = {c["id"] for c in sandbox.channels(account) if is_auto_joinable(c, None)} - expected
        assert expected and older, "the workspace needs new joinable channels and older ones to leave alone"
        return cls(sandbox, account, cutoff, expected)

    def joins(self) -> dict[str, int]:
        """Channel id -> joins the sandbox applied (replays of an idempotency key are not joins)."""
        return self.sandbox.join_counts(self.account)

    def joined(self) -> int:
        return sum(self.joins().values())

    def outcome(self) -> str:
        """For a figure: how many of the expected channels are joined, and whether each once."""
        return joins_outcome(self.joins(), self.expected)

    def join_requests(self) -> list[RecordedRequest]:
        return [
            r
            for r in self.sandbox.requests
            if r.path == JOIN_PATH and r.query.get("integrated_account_id") == [self.account]
        ]

    def requests(self) -> list[RecordedRequest]:
        return [r for r in self.sandbox.requests if r.query.get("integrated_account_id") == [self.account]]


def joins_outcome(joins: dict[str, int], expected: set[str]) -> str:
    twice = sum(1 for n in joins.values() if n > 1)
    done = sum(1 for channel in expected if joins.get(channel))
    return f"{done}/{len(expected)} joined, " + (f"{twice} more than once" if twice else "each once")


def channel_of(request: RecordedRequest) -> str:
    return str(request.body["channel"]["id"])


def keys_by_channel(requests: list[RecordedRequest]) -> dict[str, set[str]]:
    keys: dict[str, set[str]] = defaultdict(set)
    for request in requests:
        keys[channel_of(request)].add(request.headers.get("idempotency-key", ""))
    return dict(keys)


def resent_after_answer(requests: list[RecordedRequest]) -> int:
    """Join requests sent for a channel after Truto had answered one of its joins with success.

    Work done again: each costs a slot of the account's rate budget. (A retry after an error or a lost
    answer is not counted: the client could not know the join went through.)
    """
    answered: set[str] = set()
    count = 0
    for request in sorted(requests, key=lambda r: r.at):
        channel = channel_of(request)
        if channel in answered:
            count += 1
        elif request.status == 200:
            answered.add(channel)
    return count


@contextlib.contextmanager
def latency(sandbox: TrutoSandbox, milliseconds: float) -> Iterator[None]:
    """Every sandbox answer this much later, so a run lasts long enough for a fault to land mid-batch."""
    before = sandbox.latency_ms
    sandbox.latency_ms = milliseconds
    try:
        yield
    finally:
        sandbox.latency_ms = before


class AutoJoinRun:
    """A triggered run of the auto-join DAG for one workspace (``integrated_account_id``), or for several
    (``integrated_account_ids``, the first one's cutoff); wait() until it ends."""

    def __init__(self, stack: Any, db: Any, workspace: Workspace | Sequence[Workspace], name: str) -> None:
        self.stack = stack
        self.db = db
        self.workspaces = [workspace] if isinstance(workspace, Workspace) else list(workspace)
        self.workspace = self.workspaces[0]
        self.run_id = f"{name}__{uuid.uuid4().hex[:8]}"
        self.started = time.monotonic()
        accounts: dict[str, Any] = (
            {"integrated_account_id": self.workspace.account}
            if isinstance(workspace, Workspace)
            else {"integrated_account_ids": [w.account for w in self.workspaces]}
        )
        conf = {**accounts, "created_after": self.workspace.created_after.isoformat()}
        stack.api.trigger(AUTO_JOIN_DAG, self.run_id, conf)

    def state(self) -> str | None:
        return self.db.value(
            "SELECT state FROM dag_run WHERE dag_id = %s AND run_id = %s", AUTO_JOIN_DAG, self.run_id
        )

    def finished(self) -> str | None:
        self.stack.check_alive()
        state = self.state()
        return state if state in ("success", "failed") else None

    def wait(self, timeout: float = 300) -> str:
        """The run's final state; a run still going after ``timeout`` is failed so the next one can start."""
        try:
            return wait_for(f"run {self.run_id}", self.finished, timeout=timeout)
        except TimeoutError:
            self.stack.api.fail_run(AUTO_JOIN_DAG, self.run_id)
            raise

    def seconds(self) -> float:
        return float(
            self.db.value(
                "SELECT extract(epoch FROM end_date - start_date) FROM dag_run"
                " WHERE dag_id = %s AND run_id = %s",
                AUTO_JOIN_DAG,
                self.run_id,
            )
        )

    def join_tasks(self) -> list[dict[str, Any]]:
        rows = self.db.rows(
            "SELECT id, map_index, state, pool, try_number, extract(epoch FROM start_date),"
            " extract(epoch FROM end_date), hostname FROM task_instance"
            " WHERE dag_id = %s AND run_id = %s AND task_id = %s ORDER BY map_index",
            AUTO_JOIN_DAG,
            self.run_id,
            JOIN_TASK,
        )
        names = ("id", "map_index", "state", "pool", "try_number", "start", "end", "hostname")
        return [dict(zip(names, row, strict=True)) for row in rows]

    def running_join_tasks(self) -> dict[int, str]:
        """Map index -> task instance id of the join tasks running now (a retry gets a new id)."""
        return {
            task["map_index"]: str(task["id"]) for task in self.join_tasks() if task["state"] == "running"
        }

    def xcom(self, task_id: str, key: str) -> Any:
        value = self.db.value(
            "SELECT value FROM xcom WHERE dag_id = %s AND run_id = %s AND task_id = %s AND key = %s"
            " AND map_index = -1",
            AUTO_JOIN_DAG,
            self.run_id,
            task_id,
            key,
        )
        # Some releases store the serialised JSON as a JSON string.
        return json.loads(value) if isinstance(value, str) else value

    def report(self) -> dict[str, Any]:
        return dict(self.xcom("report", "report") or {})


def max_overlap(intervals: list[tuple[float, float]]) -> int:
    """The most intervals open at one instant; one ending as another starts do not overlap."""
    events = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    running = peak = 0
    for _, step in events:  # at equal times -1 sorts before +1
        running += step
        peak = max(peak, running)
    return peak

"""Every running join task SIGKILLed a third of the way through a first run's batches (an OOM kill, a lost
node): Airflow's retry finishes the job, no channel is joined twice, and the retry re-sends next to nothing.

The workspace has 300 new channels, so the DAG joins them in two batches of 150; the sandbox answers each
request 40 ms late, so a batch takes seconds and the kill lands mid-batch. One join request is held in the
sandbox across the kill and lands after the retry re-sent it (a request stuck in a slow network when its
worker died): only the idempotency key, the same for every try of the run, keeps it from joining twice.
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass
from typing import Any

import pytest

from airflow_provider_truto.testing import Fault, RecordedRequest, TrutoSandbox
from tests.system.airflow_services import wait_for
from tests.system.processes import title
from tests.system.runs import JOIN_PATH, AutoJoinRun, Workspace, channel_of, keys_by_channel, latency

pytestmark = pytest.mark.system
LATENCY_MS = 40
LATE_JOIN_SECONDS = 30


@dataclass
class KilledRun:
    workspace: Workspace
    run: AutoJoinRun
    state: str
    killed_tasks: dict[int, str]
    killed_pids: list[int]
    killed_after: float
    joined_at_kill: int
    before_kill: list[RecordedRequest]
    after_kill: list[RecordedRequest]
    late: list[RecordedRequest]


@pytest.fixture(scope="module")
def killed(stack: Any, db: Any, truto: TrutoSandbox) -> KilledRun:
    workspace = Workspace.create(truto, "killed-task", old=400, new=300, new_mixed=False, seed=21)
    total = len(workspace.expected)
    with latency(truto, LATENCY_MS):
        run = AutoJoinRun(stack, db, workspace, "killed-task")

        def a_third_joined() -> bool:
            assert run.finished() is None, "the run ended before the kill"
            return workspace.joined() >= total // 3

        wait_for("a third of the joins", a_third_joined, timeout=240, interval=0.1)
        # The next join request is held for LATE_JOIN_SECONDS before the sandbox handles it.
        truto.inject("POST", JOIN_PATH, Fault.delay(LATE_JOIN_SECONDS))
        held_at = time.monotonic()
        mark = workspace.joined()
        wait_for(
            "joins after the held one", lambda: workspace.joined() >= mark + 2, timeout=30, interval=0.02
        )

        tasks = run.running_join_tasks()
        pids = stack.task_runner_pids(tasks.values())
        assert pids, f"no task runner for {tasks} among {[title(p) for p in stack.processes()]}"
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        killed_at = time.monotonic()
        time.sleep(1)  # the requests in flight at the kill are handled (the sandbox does not see the kill)
        joined_at_kill = workspace.joined()
        settled = len(workspace.join_requests())
        state = run.wait(timeout=300)
    # The held request lands LATE_JOIN_SECONDS after it was sent, possibly after the run ended.
    time.sleep(max(0.0, held_at + LATE_JOIN_SECONDS + 2 - time.monotonic()))
    requests = workspace.join_requests()
    return KilledRun(
        workspace=workspace,
        run=run,
        state=state,
        killed_tasks=tasks,
        killed_pids=pids,
        killed_after=killed_at - run.started,
        joined_at_kill=joined_at_kill,
        before_kill=[r for r in requests if r.at < killed_at],
        after_kill=[r for r in requests if r.at >= killed_at],
        late=[r for r in requests[settled:] if r.at < killed_at],
    )


def resent_by_retry(killed: KilledRun) -> list[str]:
    """Channels the retry sent a join for that the killed try had sent already."""
    before = {channel_of(r) for r in killed.before_kill}
    return sorted({channel_of(r) for r in killed.after_kill} & before)


def test_the_kill_landed_mid_batch_on_every_running_join_task(killed: KilledRun, figure: Any) -> None:
    total = len(killed.workspace.expected)
    resent = resent_by_retry(killed)
    held = [killed.workspace.joins().get(channel_of(r), 0) for r in killed.late]
    landed = "answered from its key" if held == [1] else f"joins of the held channel: {held}"
    figure(
        f"join tasks SIGKILLed: {len(killed.killed_pids)} task runners killed {killed.killed_after:.0f}s"
        f" into the run at {killed.joined_at_kill}/{total} joins; after: {killed.workspace.outcome()};"
        f" the retry re-sent {len(resent)} joins ({len(killed.late)} held across the"
        f" kill, landing {LATE_JOIN_SECONDS}s late, {landed})"
    )
    assert len(killed.killed_tasks) == 2 and len(killed.killed_pids) == 2  # both batches were running
    assert total // 3 <= killed.joined_at_kill < total * 2 // 3


def test_the_retry_finishes_the_job_and_the_run_succeeds(killed: KilledRun) -> None:
    assert killed.state == "success"
    tasks = {t["map_index"]: t for t in killed.run.join_tasks()}
    for map_index in killed.killed_tasks:
        assert tasks[map_index]["state"] == "success" and tasks[map_index]["try_number"] == 2


def test_every_channel_is_joined_exactly_once(killed: KilledRun) -> None:
    assert killed.workspace.joins() == dict.fromkeys(killed.workspace.expected, 1)


def test_no_channel_is_joined_under_two_idempotency_keys(killed: KilledRun) -> None:
    keys = keys_by_channel(killed.before_kill + killed.after_kill)
    assert keys.keys() == killed.workspace.expected
    assert {channel: k for channel, k in keys.items() if len(k) != 1} == {}


def test_a_join_landing_after_the_retry_resent_it_is_answered_from_its_key(killed: KilledRun) -> None:
    # The scenario the keys are for: the held join was sent before the kill, the retry sent it again,
    # and only then did the held one land. The sandbox must have answered it without joining again.
    assert len(killed.late) == 1
    held = channel_of(killed.late[0])
    resent = [r for r in killed.after_kill if channel_of(r) == held]
    assert resent and resent[0].at < killed.late[0].at + LATE_JOIN_SECONDS
    assert killed.workspace.joins()[held] == 1


def test_the_report_counts_each_channel_once(killed: KilledRun) -> None:
    report = killed.run.report()
    total = len(killed.workspace.expected)
    assert (report["joined"], report["skipped"], report["failed"]) == (total, 0, 0)
    assert report["accounts"] == {killed.workspace.account: {"joined": total}}


def test_the_retry_resends_at_most_a_tenth_of_the_joins_that_went_through(killed: KilledRun) -> None:
    assert len(resent_by_retry(killed)) <= killed.joined_at_kill // 10

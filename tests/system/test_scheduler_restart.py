"""The scheduler SIGKILLed mid-run and started again (a deploy, a lost node).

With the LocalExecutor the running tasks are the scheduler's children, so they die with it. The new
scheduler resets what the dead one had queued or running and the run completes with the exact set.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import pytest

from airflow_provider_truto.testing import TrutoSandbox
from tests.system.airflow_services import wait_for
from tests.system.runs import AutoJoinRun, Workspace, keys_by_channel, latency, resent_after_answer

pytestmark = pytest.mark.system
# A join takes a second, so the kill finds join tasks in the middle of theirs.
LATENCY_MS = 1000


@dataclass
class Restarted:
    workspace: Workspace
    run: AutoJoinRun
    state: str
    killed_after: float
    killed_processes: int
    running_tasks: int
    joined_at_kill: int
    after_restart: float


@pytest.fixture(scope="module")
def restarted(stack: Any, db: Any, truto: TrutoSandbox) -> Restarted:
    # An everyday run's shape: one mapped task per new channel.
    workspace = Workspace.create(truto, "scheduler", old=300, new=60, new_mixed=True, seed=41)
    total = len(workspace.expected)
    with latency(truto, LATENCY_MS):
        run = AutoJoinRun(stack, db, workspace, "scheduler-restart")

        def a_third_joined_and_a_join_running() -> dict[int, str]:
            assert run.finished() is None, "the run ended before the kill"
            return run.running_join_tasks() if workspace.joined() >= total // 3 else {}

        running = wait_for(
            "a third of the joins", a_third_joined_and_a_join_running, timeout=240, interval=0.1
        )
        killed = stack.kill("scheduler")
        killed_at = time.monotonic()
        joined_at_kill = workspace.joined()
        stack.start("scheduler")
        state = run.wait(timeout=400)
    return Restarted(
        workspace=workspace,
        run=run,
        state=state,
        killed_after=killed_at - run.started,
        killed_processes=len(killed),
        running_tasks=len(running),
        joined_at_kill=joined_at_kill,
        after_restart=time.monotonic() - killed_at,
    )


def test_the_run_completes_after_the_restart(restarted: Restarted, figure: Any) -> None:
    total = len(restarted.workspace.expected)
    figure(
        f"scheduler SIGKILLed {restarted.killed_after:.0f}s into the run at"
        f" {restarted.joined_at_kill}/{total} joins ({restarted.killed_processes} processes,"
        f" {restarted.running_tasks} running join tasks), started again at once; after:"
        f" {restarted.workspace.outcome()};"
        f" {resent_after_answer(restarted.workspace.join_requests())} answered joins re-sent; run ended"
        f" {restarted.after_restart:.0f}s after the kill"
    )
    assert restarted.state == "success"
    assert total // 3 <= restarted.joined_at_kill < total and restarted.running_tasks > 0


def test_the_run_joins_exactly_the_new_channels_once_each(restarted: Restarted) -> None:
    assert restarted.workspace.joins() == dict.fromkeys(restarted.workspace.expected, 1)
    keys = keys_by_channel(restarted.workspace.join_requests())
    assert {channel: k for channel, k in keys.items() if len(k) != 1} == {}


def test_the_report_counts_each_channel_once(restarted: Restarted) -> None:
    report = restarted.run.report()
    total = len(restarted.workspace.expected)
    assert (report["joined"], report["skipped"], report["failed"]) == (total, 0, 0)

"""An everyday auto-join run on the production-shaped stack: a few dozen new channels in a big workspace."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_truto.testing import TrutoSandbox
from tests.system.runs import AutoJoinRun, Workspace, max_overlap
from tests.system.stack import POOL, POOL_SLOTS

pytestmark = pytest.mark.system


@pytest.fixture(scope="module")
def everyday(stack: Any, db: Any, truto: TrutoSandbox) -> tuple[Workspace, AutoJoinRun, str]:
    # 400 channels of every kind; of the 80 created since the cutoff, the public active ones the bot is
    # not in are new (one mapped task each).
    workspace = Workspace.create(truto, "everyday", old=320, new=80, new_mixed=True, seed=7)
    assert 2 <= len(workspace.expected) <= 64
    run = AutoJoinRun(stack, db, workspace, "everyday")
    return workspace, run, run.wait()


def test_the_run_succeeds(everyday: tuple[Workspace, AutoJoinRun, str], figure: Any) -> None:
    workspace, run, state = everyday
    channels = len(workspace.sandbox.channels(workspace.account))
    figure(
        f"everyday run: {len(workspace.expected)} new channels of {channels} joined by"
        f" {len(run.join_tasks())} mapped tasks in {run.seconds():.1f}s ({state})"
    )
    assert state == "success"


def test_joins_exactly_the_new_joinable_channels_once_each(
    everyday: tuple[Workspace, AutoJoinRun, str],
) -> None:
    workspace, _, _ = everyday
    assert workspace.joins() == dict.fromkeys(workspace.expected, 1)
    # No join was even asked for outside the set (older joinable channels are left alone).
    assert {r.body["channel"]["id"] for r in workspace.join_requests()} == workspace.expected


def test_one_mapped_join_task_per_planned_batch_all_in_the_truto_pool(
    everyday: tuple[Workspace, AutoJoinRun, str],
) -> None:
    _, run, _ = everyday
    planned = run.xcom("plan_joins", "return_value")
    tasks = run.join_tasks()
    assert isinstance(planned, list) and len(tasks) == len(planned) == len(everyday[0].expected)
    assert {task["pool"] for task in tasks} == {POOL}
    assert {task["state"] for task in tasks} == {"success"}


def test_join_tasks_run_in_parallel_within_the_pool_slots(
    everyday: tuple[Workspace, AutoJoinRun, str],
) -> None:
    _, run, _ = everyday
    intervals = [(float(t["start"]), float(t["end"])) for t in run.join_tasks()]
    assert 1 < max_overlap(intervals) <= POOL_SLOTS


def test_the_report_counts_each_new_channel_once(everyday: tuple[Workspace, AutoJoinRun, str]) -> None:
    workspace, run, _ = everyday
    report = run.report()
    assert report["joined"] == len(workspace.expected)
    assert report["failed"] == 0 and report["skipped"] == 0
    assert report["accounts"] == {workspace.account: {"joined": len(workspace.expected)}}

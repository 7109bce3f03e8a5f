"""Truto down in the middle of a first run's batches, then back: the run ends with the exact set joined.

For OUTAGE_SECONDS every call answers 502 or has its connection dropped (the first join in it is handled
and then dropped, so its answer is lost). That is longer than the hook's own retries ride out (5 retries,
about 8 to 16 s of backoff), so joins fail for good, the batch gives up, and Airflow's retry of the task
finishes the job once Truto is back.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import pytest

from airflow_provider_truto.testing import Fault, TrutoSandbox
from tests.system.airflow_services import wait_for
from tests.system.runs import JOIN_PATH, AutoJoinRun, Workspace, keys_by_channel, latency, resent_after_answer

pytestmark = pytest.mark.system
LATENCY_MS = 30
OUTAGE_SECONDS = 30


@dataclass
class Outage:
    workspace: Workspace
    run: AutoJoinRun
    state: str
    down_after: float
    joined_before: int
    failed_joins: int
    failed_lists: int
    after_outage: float


@pytest.fixture(scope="module")
def outage(stack: Any, db: Any, truto: TrutoSandbox) -> Outage:
    workspace = Workspace.create(truto, "outage", old=400, new=300, new_mixed=False, seed=31)
    total = len(workspace.expected)
    with latency(truto, LATENCY_MS):
        run = AutoJoinRun(stack, db, workspace, "outage")

        def a_third_joined() -> bool:
            assert run.finished() is None, "the run ended before the outage"
            return workspace.joined() >= total // 3

        wait_for("a third of the joins", a_third_joined, timeout=240, interval=0.1)
        joined_before = workspace.joined()
        down_at = time.monotonic()
        truto.inject("POST", JOIN_PATH, Fault.reset_after())
        truto.inject("*", "/unified/*", 502, Fault.reset(), repeat=True)
        try:
            time.sleep(OUTAGE_SECONDS)
        finally:
            truto.clear_faults()
        up_at = time.monotonic()
        state = run.wait(timeout=300)
    failed = [r for r in workspace.requests() if down_at <= r.at < up_at and r.status in (0, 502)]
    return Outage(
        workspace=workspace,
        run=run,
        state=state,
        down_after=down_at - run.started,
        joined_before=joined_before,
        failed_joins=sum(1 for r in failed if r.path == JOIN_PATH),
        failed_lists=sum(1 for r in failed if r.path != JOIN_PATH),
        after_outage=time.monotonic() - up_at,
    )


def test_the_run_succeeds_after_the_outage(outage: Outage, figure: Any) -> None:
    total = len(outage.workspace.expected)
    tries = [t["try_number"] for t in outage.run.join_tasks()]
    figure(
        f"Truto down {OUTAGE_SECONDS}s (502 and dropped connections) from {outage.down_after:.0f}s into the"
        f" run at {outage.joined_before}/{total} joins: {outage.failed_joins} join and"
        f" {outage.failed_lists} list calls failed, {sum(1 for t in tries if t > 1)} of {len(tries)} join"
        f" tasks retried by Airflow; after: {outage.workspace.outcome()};"
        f" {resent_after_answer(outage.workspace.join_requests())} answered joins re-sent; run ended"
        f" {outage.after_outage:.0f}s after Truto was back"
    )
    assert outage.failed_joins > 0
    assert outage.state == "success"


def test_every_channel_is_joined_exactly_once(outage: Outage) -> None:
    assert outage.workspace.joins() == dict.fromkeys(outage.workspace.expected, 1)


def test_each_channel_kept_one_idempotency_key_through_the_outage(outage: Outage) -> None:
    keys = keys_by_channel(outage.workspace.join_requests())
    assert keys.keys() == outage.workspace.expected
    assert {channel: k for channel, k in keys.items() if len(k) != 1} == {}


def test_the_report_counts_each_channel_once(outage: Outage) -> None:
    report = outage.run.report()
    total = len(outage.workspace.expected)
    assert (report["joined"], report["skipped"], report["failed"]) == (total, 0, 0)

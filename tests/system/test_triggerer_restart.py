"""The triggerer SIGKILLed and started again while the event-driven DAG's AssetWatcher watches a fleet of
workspaces with one trigger.

Channels created in every workspace before, during and after the restart are each reported once: the
watcher saves each workspace's watermark in the asset's state store one poll interval after its event, and
the new triggerer resumes every workspace from it. The trigger's docstring allows a repeat only for a
channel reported within that poll interval before the crash (and not joined yet); the kill here comes
later than that, so no repeat is allowed at all.

To make a lost watermark visible, the channels reported before the kill must not be joined yet when the
new triggerer polls (a joined channel is never reported again, whatever the watermark): the event DAG's
tasks are held in ``default_pool`` with no slots until every channel has been reported. Then the DAG
joins them in batches per workspace: no workspace's channels split over two join tasks of one run.
"""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest

from airflow_provider_truto.testing import TrutoSandbox
from tests.system.airflow_services import wait_for
from tests.system.runs import EVENT_DAG, joins_outcome
from tests.system.stack import WATCH_POLL_SECONDS

pytestmark = pytest.mark.system
WATCHED_ASSET = "truto_new_slack_channels"
JOIN_TASK = "join_new_channels"
PER_WORKSPACE = 2  # channels per workspace and phase


@dataclass
class Report:
    at: datetime
    account: str | None
    channels: list[str]


@dataclass
class Restart:
    accounts: list[str]
    phases: dict[str, list[str]]
    reports: list[Report]
    killed_at: datetime
    saved_for: float
    down_for: float
    joins: dict[str, int]
    batches: list[tuple[str, list[str]]]  # (run id, the workspaces of one join task's outcomes)


def reports(db: Any) -> list[Report]:
    """Every asset event of the watched asset, oldest first, with the workspace and channels it reported."""
    rows = db.rows(
        "SELECT e.timestamp, e.extra FROM asset_event e JOIN asset a ON a.id = e.asset_id"
        " WHERE a.name = %s ORDER BY e.id",
        WATCHED_ASSET,
    )
    found = []
    for at, extra in rows:
        payload = (extra or {}).get("payload") or {}
        channels = [str(c["id"]) for c in payload.get("channels") or []]
        found.append(Report(at, payload.get("integrated_account_id"), channels))
    return found


def reported(db: Any) -> set[str]:
    return {channel for report in reports(db) for channel in report.channels}


def join_batches(db: Any) -> list[tuple[str, list[str]]]:
    """Each join task's outcomes, as the workspaces they name: (run id, accounts, one per channel)."""
    rows = db.rows(
        "SELECT run_id, value FROM xcom WHERE dag_id = %s AND task_id = %s AND key = 'return_value'",
        EVENT_DAG,
        JOIN_TASK,
    )
    batches = []
    for run_id, value in rows:
        outcomes = json.loads(value) if isinstance(value, str) else value
        batches.append((str(run_id), [str(o["integrated_account_id"]) for o in outcomes or []]))
    return batches


@pytest.fixture(scope="module")
def restart(stack: Any, db: Any, truto: TrutoSandbox, watch_accounts: list[str]) -> Restart:
    def add(phase: str) -> list[str]:
        tag = uuid.uuid4().hex[:6]
        return [
            truto.add_channel(account, name=f"{phase}-{tag}-{n}")["id"]
            for account in watch_accounts
            for n in range(PER_WORKSPACE)
        ]

    def watching() -> bool:
        rows = db.rows("SELECT triggerer_id FROM trigger WHERE classpath LIKE %s", "%TrutoNewChannelsTrigger")
        return any(row[0] is not None for row in rows)

    wait_for("the AssetWatcher's trigger to run", watching, timeout=120)
    phases: dict[str, list[str]] = {}
    stack.api.set_pool_slots("default_pool", 0)
    try:
        phases["before"] = add("before")
        wait_for("the channels created before", lambda: set(phases["before"]) <= reported(db), timeout=120)
        last = max(r.at for r in reports(db) if set(r.channels) & set(phases["before"]))
        # Past the window of every workspace: its watermark is saved one poll interval after its event.
        time.sleep(WATCH_POLL_SECONDS + 1.5)
        stack.kill("triggerer")
        killed_at = db.value("SELECT now()")
        killed = time.monotonic()
        phases["during"] = add("during")
        stack.start("triggerer")
        wait_for("the channels created during", lambda: set(phases["during"]) <= reported(db), timeout=180)
        down_for = time.monotonic() - killed
        phases["after"] = add("after")
        wait_for("the channels created after", lambda: set(phases["after"]) <= reported(db), timeout=120)
        # Give a lost watermark a few more polls (every workspace's) to show itself before anything is joined.
        time.sleep(4 * WATCH_POLL_SECONDS + 6)
        joined = {c for account in watch_accounts for c in truto.join_counts(account)}
        assert not joined & set(phases["before"])
    finally:
        stack.api.set_pool_slots("default_pool", 128)
    # Airflow up to 3.3.2 (apache/airflow#56050): a run consumes a watched asset's events up to the one
    # that queued it; the others of a burst (the workspaces' events of one pass, fired within a second)
    # wait for the asset's next event. One channel in one workspace makes that event, alone.
    phases["last"] = [truto.add_channel(watch_accounts[0], name=f"last-{uuid.uuid4().hex[:6]}")["id"]]
    everything = {channel for ids in phases.values() for channel in ids}

    def all_joined() -> bool:
        running = db.value("SELECT count(*) FROM dag_run WHERE dag_id = %s AND state != 'success'", EVENT_DAG)
        joined = {c for account in watch_accounts for c in truto.join_counts(account)}
        return everything <= joined and running == 0

    wait_for("the event DAG's runs to join every channel", all_joined, timeout=300)
    joins: dict[str, int] = {}
    for account in watch_accounts:
        joins.update({c: n for c, n in truto.join_counts(account).items() if c in everything})
    return Restart(
        accounts=watch_accounts,
        phases=phases,
        reports=reports(db),
        killed_at=killed_at,
        saved_for=(killed_at - last).total_seconds(),
        down_for=down_for,
        joins=joins,
        batches=join_batches(db),
    )


def test_every_channel_of_every_workspace_is_reported_none_lost(restart: Restart, figure: Any) -> None:
    counts = Counter(channel for report in restart.reports for channel in report.channels)
    phases = ", ".join(
        f"{phase} {sum(1 for c in ids if counts[c])}/{len(ids)}" for phase, ids in restart.phases.items()
    )
    repeats = sum(n - 1 for n in counts.values() if n > 1)
    everything = {channel for ids in restart.phases.values() for channel in ids}
    tasks = len(restart.batches)
    workspaces = len(restart.accounts)
    figure(
        f"triggerer SIGKILLed {restart.saved_for:.1f}s after the fleet watcher's last event"
        f" ({workspaces} workspaces, one trigger, poll every {WATCH_POLL_SECONDS:g}s),"
        f" reporting again {restart.down_for:.0f}s later; channels reported: {phases}; repeats {repeats};"
        f" {joins_outcome(restart.joins, everything)} in {tasks} join tasks"
    )
    for phase, ids in restart.phases.items():
        assert all(counts[channel] >= 1 for channel in ids), phase
    # Each event is one workspace's, as one trigger per workspace would have reported it.
    assert {r.account for r in restart.reports if r.channels} == set(restart.accounts)
    assert all(set(r.channels) <= everything for r in restart.reports)  # nothing older


def test_no_channel_is_reported_twice_outside_the_documented_window(restart: Restart) -> None:
    counts = Counter(channel for report in restart.reports for channel in report.channels)
    window_start = restart.killed_at - timedelta(seconds=WATCH_POLL_SECONDS + 1)
    in_window = {c for r in restart.reports if window_start <= r.at <= restart.killed_at for c in r.channels}
    repeated = {channel for channel, n in counts.items() if n > 1}
    assert repeated <= in_window
    assert not in_window  # the kill came after the window, so nothing may repeat at all
    assert repeated == set()


def test_every_channel_is_joined_exactly_once_in_batches_per_workspace(restart: Restart) -> None:
    everything = {channel for ids in restart.phases.values() for channel in ids}
    assert restart.joins == dict.fromkeys(everything, 1)
    # Fewer join tasks than channels, and no workspace's channels split over two tasks of one run.
    assert 0 < len(restart.batches) < len(everything)
    for run_id in {run for run, _ in restart.batches}:
        per_task = [set(accounts) for run, accounts in restart.batches if run == run_id]
        for account in restart.accounts:
            assert sum(1 for accounts in per_task if account in accounts) <= 1, (run_id, account)

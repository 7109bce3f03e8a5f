"""The new-channel examples inside a real Airflow: the deferrable sensor DAG under ``airflow dags test``
(which runs the trigger in-process), and the event-driven DAG's watcher and asset-event handling."""

from __future__ import annotations

import asyncio
import importlib.util
import shutil
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest

from airflow_provider_truto.auto_join.events import batches_by_account, read_events
from airflow_provider_truto.exceptions import TrutoAuthError
from airflow_provider_truto.testing import TrutoSandbox
from airflow_provider_truto.triggers.truto import TrutoNewChannelsTrigger
from tests.support.helpers import (
    ACCOUNT,
    CHANNELS,
    REPO,
    TOKEN,
    connection_json,
    run_dag_test,
    token_leaks,
)

pytestmark = pytest.mark.integration
EXAMPLES = REPO / "example_dags"


def dags_folder(tmp_path: Path, *names: str) -> Path:
    """A folder with only the examples under test: faster to parse, immune to other DAG files."""
    folder = tmp_path / "dags"
    folder.mkdir()
    for name in names:
        shutil.copy(EXAMPLES / name, folder / name)
    return folder


def load_example(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name.removesuffix(".py"), EXAMPLES / name)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_deferrable_sensor_dag_joins_exactly_the_channels_created_while_it_waits(
    sandbox: TrutoSandbox, airflow_home: Path, tmp_path: Path
) -> None:
    backlog = {c["id"] for c in sandbox.channels(ACCOUNT) if c["type"] == "channel" and not c["is_member"]}
    assert backlog  # old joinable channels exist: the cutoff must keep them out
    created: list[str] = []
    failure: list[str] = []

    def create_channels_while_the_sensor_waits() -> None:
        # The worker's first check and the trigger's first poll have both seen nothing new: now add them.
        deadline = time.monotonic() + 120
        while len([r for r in sandbox.requests if r.path == CHANNELS]) < 2:
            if time.monotonic() > deadline:
                failure.append("the sensor never polled twice")
                return
            time.sleep(0.1)
        time.sleep(1)
        created.extend(str(sandbox.add_channel(ACCOUNT, name=f"brand-new-{i}")["id"]) for i in range(3))
        sandbox.add_channel(ACCOUNT, name="new-private", type="private_channel")
        sandbox.add_channel(ACCOUNT, name="new-archived", status="archived")

    helper = threading.Thread(target=create_channels_while_the_sensor_waits, daemon=True)
    helper.start()
    done = run_dag_test(
        airflow_home,
        "example_truto_new_channels_sensor",
        conn=connection_json(sandbox),
        dags_folder=dags_folder(tmp_path, "example_truto_new_channels_sensor.py"),
        timeout=180,
        TRUTO_SENSOR_POKE_SECONDS="1",
    )
    helper.join(timeout=5)
    output = done.stdout + done.stderr
    assert not failure, output[-3000:]
    assert done.returncode == 0, output[-4000:]
    assert "running trigger in line" in output  # it really deferred, and the trigger ran
    # Exactly the three new public channels were joined, once each; not the backlog, not the others.
    assert sandbox.join_counts(ACCOUNT) == dict.fromkeys(created, 1) and len(created) == 3
    polls = [r for r in sandbox.requests if r.path == CHANNELS]
    assert len(polls) >= 3 and all(r.status == 200 for r in polls)
    assert token_leaks(output) == []


def test_a_backlog_over_max_channels_is_joined_over_two_runs_none_twice(
    truto_sandbox_factory: Any, airflow_home: Path, tmp_path: Path
) -> None:
    """60 new channels, 50 a run (the example's cap of 500 scaled down tenfold, as a run of 500 mapped
    joins takes minutes): the first run joins the oldest 50 and keeps, as the next run's cutoff, the
    newest of them less an hour; the second joins the other 10 (and one created since). Before, the second
    run's cutoff (the first run's start) hid the 10 for good, and its sensor waited for nothing. A third
    run reads the latest cutoff kept, not every earlier run's."""
    now = datetime.now(timezone.utc).replace(microsecond=0)
    sandbox = truto_sandbox_factory(token=TOKEN)
    sandbox.add_account(ACCOUNT)
    backlog = sandbox.seed_channels(ACCOUNT, 60, seed=6, mixed=False, start=now - timedelta(days=1), end=now)
    new = [c["id"] for c in backlog]
    folder = dags_folder(tmp_path, "example_truto_new_channels_sensor.py")
    joined, outputs = [], []
    for conf in ({"created_after": (now - timedelta(days=2)).isoformat()}, None, None):
        if conf is None:  # a channel created since the last run
            new.append(str(sandbox.add_channel(ACCOUNT, name=f"since-{len(joined)}")["id"]))
        done = run_dag_test(
            airflow_home,
            "example_truto_new_channels_sensor",
            conn=connection_json(sandbox),
            conf=conf,
            dags_folder=folder,
            timeout=600,
            TRUTO_SENSOR_POKE_SECONDS="1",
            TRUTO_SENSOR_MAX_CHANNELS="50",
        )
        outputs.append(done.stdout + done.stderr)
        assert done.returncode == 0, outputs[-1][-4000:]
        joined.append(sum(sandbox.join_counts(ACCOUNT).values()))
    assert joined == [50, 61, 62]
    assert sandbox.join_counts(ACCOUNT) == dict.fromkeys(new, 1)
    assert "Handing on the oldest 50 new channels (max_channels)" in outputs[0]


def test_event_dag_parses_with_its_watcher_and_joins_nothing_without_events(
    sandbox: TrutoSandbox, airflow_home: Path, tmp_path: Path
) -> None:
    done = run_dag_test(
        airflow_home,
        "example_truto_join_on_new_channel_event",
        conn=connection_json(sandbox),
        dags_folder=dags_folder(tmp_path, "example_truto_join_on_new_channel_event.py"),
        timeout=120,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    assert "0 new channels in 0 workspaces, 0 join batches: none" in output
    assert "No workspace was set aside" in output
    assert sandbox.join_counts(ACCOUNT) == {} and sandbox.requests == []


def test_event_dag_joins_in_batches_per_workspace_after_which_it_reports_workspaces_set_aside() -> None:
    example = load_example("example_truto_join_on_new_channel_event.py")
    dag = example.example_truto_join_on_new_channel_event()  # the DAG, as its file builds it
    [watcher] = example.new_slack_channels.watchers
    assert watcher.trigger.serialize()[1]["integrated_account_ids"] == "all"  # every workspace, by default
    join = dag.get_task("join_new_channels")
    assert (
        type(join).__name__ == "MappedOperator"
        and join.partial_kwargs["max_concurrency"] == example.WORKSPACES_PER_BATCH
    )
    assert set(join.expand_input.value) == {"channel_ids"}  # batches, not one task per channel
    report = dag.get_task("workspaces_set_aside")
    assert report.trigger_rule == "all_done" and join.task_id in report.upstream_task_ids


def test_event_dag_reads_the_channels_its_watcher_reports(
    sandbox: TrutoSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The watcher's trigger, as Airflow would re-create it, against the sandbox; its event, shaped as
    Airflow records it on the asset, through the DAG's own event handling."""
    monkeypatch.setenv("AIRFLOW_CONN_TRUTO_DEFAULT", connection_json(sandbox))
    monkeypatch.setenv("TRUTO_WATCH_POLL_SECONDS", "0.05")
    sandbox.add_account("acct-2")  # "all": every Slack workspace of the token, this one too
    sandbox.seed_channels("acct-2", 30, seed=8)
    example = load_example("example_truto_join_on_new_channel_event.py")
    [watcher] = example.new_slack_channels.watchers
    classpath, kwargs = watcher.trigger.serialize()
    assert classpath.endswith("TrutoNewChannelsTrigger") and kwargs["poll_interval"] == 0.05

    async def three_events() -> list[dict[str, Any]]:
        events = TrutoNewChannelsTrigger(**kwargs).run()
        try:
            backlogs = [(await anext(events)).payload, (await anext(events)).payload]  # one per workspace
            sandbox.add_channel(ACCOUNT, id="CNEWEST0001", name="newest")
            return [
                *sorted(backlogs, key=lambda p: p["integrated_account_id"]),
                (await anext(events)).payload,
            ]
        finally:
            await events.aclose()

    payloads = asyncio.run(three_events())
    assert [p["integrated_account_id"] for p in payloads] == [ACCOUNT, "acct-2", ACCOUNT]
    backlog = [c["id"] for c in payloads[0]["channels"]]
    other = [c["id"] for c in payloads[1]["channels"]]
    assert backlog and other and [c["id"] for c in payloads[2]["channels"]] == ["CNEWEST0001"]

    asset_events = [SimpleNamespace(extra={"from_trigger": True, "payload": p}) for p in payloads]
    asset_events.append(SimpleNamespace(extra={"from_trigger": True, "payload": payloads[1]}))  # a repeat
    asset_events.append(SimpleNamespace(extra={"note": "recorded by someone else"}))
    read = read_events(asset_events)
    assert [c["id"] for c in read.channels] == [*backlog, *other, "CNEWEST0001"] and read.problems == []
    batches = batches_by_account(read.channels, accounts_per_batch=example.WORKSPACES_PER_BATCH)
    assert len(batches) == 1 and {c["integrated_account_id"] for c in batches[0]} == {ACCOUNT, "acct-2"}

    error = {
        "status": "error",
        "message": "Invalid API token",
        "error_type": "TrutoAuthError",
        "status_code": 401,
    }
    with pytest.raises(TrutoAuthError):
        read_events([SimpleNamespace(extra={"payload": error})]).raise_problems()

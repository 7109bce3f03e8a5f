"""The receiver's Airflow side against a real metadata database (SQLite): the connection's secret, and
asset events recorded once per event id, by threads racing as api-server requests do.

PostgreSQL, several api-server workers and a restart are in ``tests/system/test_webhooks.py``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.airflow_home import airflow_env
from tests.support.helpers import EXAMPLE_DAGS

pytestmark = pytest.mark.integration

STEPS = r"""
import collections, json, threading
from datetime import timedelta
from airflow.models.asset import AssetEvent, AssetModel
from airflow.utils.session import create_session
from airflow_provider_truto.plugins.webhooks import AssetEventStore, ConnectionSecrets
from airflow_provider_truto.webhooks.events import Action, WORKSPACE_CONNECTED_ASSET

with create_session() as session:
    if not session.query(AssetModel).filter(AssetModel.name == WORKSPACE_CONNECTED_ASSET).count():
        session.add(AssetModel(name=WORKSPACE_CONNECTED_ASSET, uri=WORKSPACE_CONNECTED_ASSET))

store, outcomes, start = AssetEventStore(), collections.Counter(), threading.Barrier(8)
def deliver(event_id):
    start.wait()
    extra = {"truto_event_id": event_id, "truto_conn_id": "c", "integrated_account_id": "a"}
    action = Action(WORKSPACE_CONNECTED_ASSET, extra)
    outcomes[store.record_once(action, event_id=event_id, seen_for=timedelta(minutes=20))] += 1
threads = [threading.Thread(target=deliver, args=("evt-race",)) for _ in range(8)]
[t.start() for t in threads]; [t.join() for t in threads]
def once(asset, event_id):
    action = Action(asset, {"truto_event_id": event_id})
    return store.record_once(action, event_id=event_id, seen_for=timedelta(minutes=20))
later, other = once(WORKSPACE_CONNECTED_ASSET, "evt-race"), once(WORKSPACE_CONNECTED_ASSET, "evt-2")
unknown = once("no_dag_uses_this_asset", "evt-3")
with create_session() as session:
    extras = [e.extra for e in session.query(AssetEvent).order_by(AssetEvent.id)]
secrets = ConnectionSecrets()
print("RESULTS " + json.dumps({
    "race": dict(outcomes), "later": later, "other": other, "unknown": unknown, "extras": extras,
    "secret": secrets("truto_wh_store"), "no_secret": secrets("truto_no_secret"),
    "wrong_type": secrets("http_conn"), "missing": secrets("no_such_connection"),
}))
"""


@pytest.fixture(scope="module")
def results(airflow_home: Path) -> dict[str, Any]:
    def conn(conn_type: str, **extra: str) -> str:
        return json.dumps({"conn_type": conn_type, "password": "tok", "extra": extra})

    env = airflow_env(
        airflow_home,
        dags_folder=EXAMPLE_DAGS,
        AIRFLOW_CONN_TRUTO_WH_STORE=conn("truto", webhook_secret="s3cret-for-the-store"),
        AIRFLOW_CONN_TRUTO_NO_SECRET=conn("truto", webhook_secret="  "),
        AIRFLOW_CONN_HTTP_CONN=conn("http", webhook_secret="s3cret-of-another-type"),
    )
    done = subprocess.run([sys.executable, "-c", STEPS], env=env, capture_output=True, text=True, timeout=300)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULTS ")]
    assert done.returncode == 0 and lines, done.stdout[-3000:] + done.stderr[-3000:]
    found: dict[str, Any] = json.loads(lines[-1].removeprefix("RESULTS "))
    found["log"] = done.stdout + done.stderr
    return found


def test_racing_deliveries_of_one_event_record_one_asset_event(results: dict[str, Any]) -> None:
    assert results["race"] == {"recorded": 1, "duplicate": 7}
    assert results["later"] == "duplicate"
    assert [e["truto_event_id"] for e in results["extras"]] == ["evt-race", "evt-2"]


def test_another_event_is_recorded_and_an_unused_asset_records_nothing(results: dict[str, Any]) -> None:
    assert results["other"] == "recorded"
    assert results["unknown"] == "no consumer"
    assert "no DAG is scheduled on the asset 'no_dag_uses_this_asset'" in results["log"]


def test_the_secret_comes_only_from_a_truto_connection_that_has_one(results: dict[str, Any]) -> None:
    assert results["secret"] == "s3cret-for-the-store"
    assert results["no_secret"] is None and results["wrong_type"] is None and results["missing"] is None
    for problem in ("has no 'webhook_secret' extra", "not 'truto'", "no such connection"):
        assert problem in results["log"], problem

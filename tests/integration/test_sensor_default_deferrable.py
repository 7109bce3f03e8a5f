"""``TrutoNewChannelsSensor(deferrable=...)`` defaults to Airflow's ``[operators] default_deferrable``, as
Airflow's own deferrable operators do: the same DAG, run by ``airflow dags test`` with the setting on
and off, waits on the triggerer in one case and pokes in the worker in the other."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from airflow_provider_truto.testing import TrutoSandbox
from tests.conftest import ACCOUNT, REPO, connection_json, run_dag_test

pytestmark = pytest.mark.integration
CHANNELS = "/unified/instant-messaging/channels"
DEFERRED = "running trigger in line"  # what `airflow dags test` logs when it runs a task's trigger


def add_a_channel_after_two_polls(sandbox: TrutoSandbox, added: list[str]) -> None:
    deadline = time.monotonic() + 120
    while len([r for r in sandbox.requests if r.path == CHANNELS]) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    added.append(str(sandbox.add_channel(ACCOUNT, name="brand-new")["id"]))


@pytest.mark.parametrize("setting", ["True", "False"])
def test_sensor_defers_as_operators_default_deferrable_says(
    sandbox: TrutoSandbox, airflow_home: Path, setting: str
) -> None:
    added: list[str] = []
    helper = threading.Thread(target=add_a_channel_after_two_polls, args=(sandbox, added), daemon=True)
    helper.start()
    done = run_dag_test(
        airflow_home,
        "truto_sensor_default_deferrable",
        conn=connection_json(sandbox),
        conf={"created_after": datetime.now(timezone.utc).isoformat()},
        dags_folder=REPO / "tests" / "dags",
        timeout=180,
        AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE=setting,
    )
    helper.join(timeout=5)
    output = done.stdout + done.stderr
    assert done.returncode == 0 and added, output[-4000:]
    assert (DEFERRED in output) is (setting == "True"), output[-4000:]
    assert len([r for r in sandbox.requests if r.path == CHANNELS]) >= 3  # waited, then found it

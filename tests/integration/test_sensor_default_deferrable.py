"""``TrutoNewChannelsSensor(deferrable=...)`` defaults to Airflow's ``[operators] default_deferrable``, as
Airflow's own deferrable operators do: a DAG whose sensor names no ``deferrable``, run by ``airflow dags
test`` with the setting on, waits on the triggerer; an explicit argument still wins."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from airflow_provider_truto.sensors.truto import TrutoNewChannelsSensor
from airflow_provider_truto.testing import TrutoSandbox
from tests.support.helpers import ACCOUNT, CHANNELS, REPO, connection_json, run_dag_test

pytestmark = pytest.mark.integration
DEFERRED = "running trigger in line"  # what `airflow dags test` logs when it runs a task's trigger


def add_a_channel_after_two_polls(sandbox: TrutoSandbox, added: list[str]) -> None:
    deadline = time.monotonic() + 120
    while len([r for r in sandbox.requests if r.path == CHANNELS]) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    added.append(str(sandbox.add_channel(ACCOUNT, name="brand-new")["id"]))


def test_sensor_defers_when_operators_default_deferrable_is_on(
    sandbox: TrutoSandbox, airflow_home: Path
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
        AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE="True",
    )
    helper.join(timeout=5)
    output = done.stdout + done.stderr
    assert done.returncode == 0 and added, output[-4000:]
    assert DEFERRED in output, output[-4000:]
    assert len([r for r in sandbox.requests if r.path == CHANNELS]) >= 3  # waited, then found it


@pytest.mark.parametrize(
    ("setting", "argument", "deferrable"),
    [
        (None, None, False),
        ("False", None, False),
        ("True", None, True),
        ("True", False, False),
        (None, True, True),
    ],
)
def test_the_argument_wins_over_the_setting_which_wins_over_false(
    monkeypatch: pytest.MonkeyPatch, setting: str | None, argument: bool | None, deferrable: bool
) -> None:
    if setting is None:
        monkeypatch.delenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", raising=False)
    else:
        monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", setting)
    kwargs = {} if argument is None else {"deferrable": argument}
    assert TrutoNewChannelsSensor(task_id="wait", **kwargs).deferrable is deferrable

"""A batch told to stop mid-run (SIGTERM to ``airflow dags test``, which calls the task's ``on_kill``):
no join is sent after it, the one in flight finishes, and the task fails saying what was joined."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.airflow_home import AIRFLOW, airflow_env
from tests.support.helpers import ACCOUNT, JOIN, TEST_DAGS, TOKEN, connection_json

pytestmark = pytest.mark.integration
DAG_ID = "truto_join_stop_test"
CHANNELS = 40
STOP_AFTER = 5


def test_sigterm_mid_batch_stops_sending_joins(truto_sandbox_factory: Any, airflow_home: Path) -> None:
    sandbox = truto_sandbox_factory(token=TOKEN, latency_ms=150)  # 40 joins: about 6 s
    sandbox.add_account(ACCOUNT)
    channels = [c["id"] for c in sandbox.seed_channels(ACCOUNT, CHANNELS, seed=8, mixed=False)]
    run = subprocess.Popen(
        [str(AIRFLOW), "dags", "test", DAG_ID, "--conf", json.dumps({"batch": channels})],
        env=airflow_env(
            airflow_home, dags_folder=TEST_DAGS, AIRFLOW_CONN_TRUTO_DEFAULT=connection_json(sandbox)
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while sum(sandbox.join_counts(ACCOUNT).values()) < STOP_AFTER:
            assert run.poll() is None and time.monotonic() < deadline, "the batch never got going"
            time.sleep(0.02)
        run.send_signal(signal.SIGTERM)
        joined_when_told = sum(sandbox.join_counts(ACCOUNT).values())
        output, _ = run.communicate(timeout=120)
    finally:
        if run.poll() is None:
            run.kill()
    sent = [r for r in sandbox.requests if r.path == JOIN]
    joined = sum(sandbox.join_counts(ACCOUNT).values())
    # At most the join in flight when the signal came went out after it (one account: one at a time).
    assert joined_when_told <= joined <= joined_when_told + 1, output[-4000:]
    assert len(sent) == joined < CHANNELS
    assert "Told to stop: no further join is sent" in output
    not_sent = CHANNELS - joined
    # Airflow 3.0 prints the task's error in a box 80 columns wide: the message is read with its line
    # breaks undone.
    said = " ".join(output.split())
    assert re.search(
        rf"{not_sent} of {CHANNELS} channels were not joined \({joined} joined, 0 skipped\)", said
    )
    assert "not sent: the task was told to stop" in said

"""Under ``airflow dags test``: Airflow's retry of a join batch re-sends only what its first try left."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_truto.testing import Fault
from tests.support.helpers import ACCOUNT, JOIN, TOKEN, connection_json, run_dag_test

pytestmark = pytest.mark.integration
DAG_ID = "example_truto_auto_join_channels"
NOW = datetime.now(timezone.utc).replace(microsecond=0)
CUTOFF = NOW - timedelta(days=1)
NEW = 80  # over the DAG's 64 mapped tasks, so one task joins them all as a batch
JOINED_BY_FIRST_TRY = 30


def test_the_retry_of_a_batch_skips_the_channels_its_first_try_joined(
    truto_sandbox_factory: Any, airflow_home: Path
) -> None:
    sandbox = truto_sandbox_factory(token=TOKEN)
    sandbox.add_account(ACCOUNT)
    sandbox.seed_channels(ACCOUNT, 40, seed=4, start=NOW - timedelta(days=300), end=CUTOFF)
    new = [c["id"] for c in sandbox.seed_channels(ACCOUNT, NEW, seed=5, mixed=False, start=CUTOFF, end=NOW)]
    # The first try joins 30 channels, then meets an account-wide error and stops; Airflow retries it.
    sandbox.inject("POST", JOIN, *[Fault.passthrough()] * JOINED_BY_FIRST_TRY, 400)

    result = run_dag_test(
        airflow_home,
        DAG_ID,
        conn=connection_json(sandbox),
        conf={"created_after": (CUTOFF - timedelta(seconds=1)).isoformat()},
        TRUTO_JOIN_RETRY_DELAY_SECONDS="1",
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]

    sent = [r.body["channel"]["id"] for r in sandbox.requests if r.path == JOIN]
    # The first try: 30 joins and the one that failed. The retry: that one and the never tried, none of
    # the 30 that went through.
    assert sent == new[: JOINED_BY_FIRST_TRY + 1] + new[JOINED_BY_FIRST_TRY:]
    assert sandbox.join_counts(ACCOUNT) == dict.fromkeys(new, 1)
    assert re.search(
        rf"{JOINED_BY_FIRST_TRY} of {NEW} channels of account {ACCOUNT} were joined by an earlier", output
    )
    assert f"Auto-join: joined {NEW}, skipped 0 (none), failed 0" in output

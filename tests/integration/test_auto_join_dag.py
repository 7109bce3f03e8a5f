"""The auto-join example DAG end to end under ``airflow dags test``, on a workspace-sized sandbox."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_truto.auto_join.selection import is_auto_joinable
from airflow_provider_truto.auto_join.timestamps import parse_timestamp
from airflow_provider_truto.testing import Fault, TrutoSandbox
from tests.support.helpers import ACCOUNT, CHANNELS, JOIN, TOKEN, connection_json, run_dag_test, token_leaks

pytestmark = pytest.mark.integration
DAG_ID = "example_truto_auto_join_channels"
NOW = datetime.now(timezone.utc).replace(microsecond=0)
CUTOFF = NOW - timedelta(days=3)


def eligible(sandbox: TrutoSandbox, account: str = ACCOUNT) -> set[str]:
    return {c["id"] for c in sandbox.channels(account) if is_auto_joinable(c, CUTOFF)}


def joined_ids(sandbox: TrutoSandbox) -> list[str]:
    return [r.body["channel"]["id"] for r in sandbox.requests if r.path == JOIN and r.status == 200]


def seed_workspace(sandbox: TrutoSandbox, old: int, new: int) -> None:
    sandbox.seed_channels(
        ACCOUNT, old, seed=11, start=NOW - timedelta(days=700), end=CUTOFF - timedelta(hours=1)
    )
    sandbox.seed_channels(ACCOUNT, new, seed=12, start=CUTOFF + timedelta(minutes=1), end=NOW)


def run(sandbox: TrutoSandbox, airflow_home: Path, **conn_extra: Any) -> Any:
    return run_dag_test(
        airflow_home,
        DAG_ID,
        conn=connection_json(sandbox, **conn_extra),
        conf={"created_after": CUTOFF.isoformat()},
        TRUTO_JOIN_RETRY_DELAY_SECONDS="1",
    )


def test_workspace_scale_with_transient_faults(truto_sandbox_factory: Any, airflow_home: Path) -> None:
    sandbox = truto_sandbox_factory(token=TOKEN)
    sandbox.add_account(ACCOUNT)
    seed_workspace(sandbox, old=1000, new=1500)
    expected = eligible(sandbox)
    old_joinable = {c["id"] for c in sandbox.channels(ACCOUNT) if is_auto_joinable(c, None)} - expected
    assert len(sandbox.channels(ACCOUNT)) == 2500 and len(expected) > 500 and old_joinable
    sandbox.inject_random("POST", JOIN, probability=0.03, items=[500, 502, Fault.rate_limited("0")], seed=5)
    sandbox.inject_random("GET", CHANNELS, probability=0.05, items=[500, Fault.rate_limited("0")], seed=6)

    first = run(sandbox, airflow_home)
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-4000:]
    # Exactly the eligible set, each joined once, no join sent outside it; faults were hit and retried.
    assert sandbox.join_counts(ACCOUNT) == dict.fromkeys(expected, 1)
    sent = {r.body["channel"]["id"] for r in sandbox.requests if r.path == JOIN}
    assert sent == expected
    assert sum(1 for r in sandbox.requests if r.status in (429, 500, 502)) > 10
    assert re.search(rf"Auto-join: joined {len(expected)}, skipped 0 \(none\), failed 0", first.stdout)
    assert token_leaks(first.stdout + first.stderr) == []

    # A rerun joins nothing: everything eligible is a member now.
    sandbox.clear_requests()
    sandbox.clear_faults()
    second = run(sandbox, airflow_home)
    assert second.returncode == 0, second.stderr[-3000:]
    assert not [r for r in sandbox.requests if r.path == JOIN]
    assert sandbox.join_counts(ACCOUNT) == dict.fromkeys(expected, 1)
    assert "Auto-join: joined 0, skipped 0 (none), failed 0" in second.stdout


def test_a_real_failure_fails_the_run_and_the_rerun_joins_what_is_missing(
    truto_sandbox_factory: Any, airflow_home: Path
) -> None:
    sandbox = truto_sandbox_factory(token=TOKEN)
    sandbox.add_account(ACCOUNT)
    seed_workspace(sandbox, old=10, new=24)
    expected = eligible(sandbox)
    sandbox.inject("POST", JOIN, 500, repeat=True)  # Truto is down for joins, past every retry

    failed = run(sandbox, airflow_home, max_retries=1)
    assert failed.returncode != 0
    assert re.search(rf"Auto-join: joined 0, skipped 0 \(none\), failed {len(expected)}", failed.stdout)
    assert sandbox.join_counts(ACCOUNT) == {}

    sandbox.clear_faults()
    sandbox.clear_requests()
    rerun = run(sandbox, airflow_home)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert sandbox.join_counts(ACCOUNT) == dict.fromkeys(expected, 1)


def test_parse_timestamp_used_for_cutoff() -> None:
    assert parse_timestamp(CUTOFF.isoformat()) == CUTOFF

"""Auto-join across every connected workspace, under ``airflow dags test`` on the sandbox."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_truto.auto_join.selection import is_auto_joinable
from tests.support.helpers import TOKEN, run_dag_test

pytestmark = pytest.mark.integration
NOW = datetime.now(timezone.utc).replace(microsecond=0)
CUTOFF = NOW - timedelta(days=1)


def test_every_workspace_joined_failing_accounts_reported(
    truto_sandbox_factory: Any, airflow_home: Path
) -> None:
    sandbox = truto_sandbox_factory(token=TOKEN)
    healthy = [sandbox.add_account(f"acct-{n}").id for n in range(6)]
    reauth = sandbox.add_account("acct-reauth", status="needs_reauth").id
    blocked = sandbox.add_account("acct-blocked", blocked=True).id
    read_only = sandbox.add_account("acct-sandbox", is_sandbox=True).id
    teams = sandbox.add_account("acct-teams", integration="msteams").id
    for seed, account in enumerate([*healthy, reauth, blocked, read_only, teams]):
        sandbox.seed_channels(account, 30, seed=100 + seed, start=NOW - timedelta(days=300), end=CUTOFF)
        sandbox.seed_channels(account, 30, seed=200 + seed, start=CUTOFF + timedelta(minutes=1), end=NOW)
    expected = {a: {c["id"] for c in sandbox.channels(a) if is_auto_joinable(c, CUTOFF)} for a in healthy}
    conn = sandbox.airflow_conn_env(healthy[0])

    done = run_dag_test(
        airflow_home,
        "example_truto_auto_join_channels",
        conn=conn,
        conf={"created_after": CUTOFF.isoformat(), "integrated_account_ids": "all"},
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    for account in healthy:
        assert sandbox.join_counts(account) == dict.fromkeys(expected[account], 1)
        counts = f"joined {len(expected[account])}, skipped 0, failed 0"
        assert f"account {account}: {counts}" in done.stdout
    for account in (reauth, blocked, read_only, teams):
        assert sandbox.join_counts(account) == {}
    assert re.search(rf"account {blocked}: .*503", done.stdout)
    assert f"account {reauth}: left out: status is needs_reauth" in done.stdout
    assert f"account {read_only}: left out: sandbox accounts are read-only" in done.stdout
    assert f"account {teams}: left out: integration msteams cannot join channels" in done.stdout
    total = sum(len(ids) for ids in expected.values())
    assert f"Auto-join: joined {total}, skipped 0 (none), failed 0" in done.stdout

    # Named explicitly, an account needing re-auth fails at listing: reported, the others unaffected.
    sandbox.clear_requests()
    again = run_dag_test(
        airflow_home,
        "example_truto_auto_join_channels",
        conn=conn,
        conf={"created_after": CUTOFF.isoformat(), "integrated_account_ids": [healthy[0], reauth]},
    )
    assert again.returncode == 0, again.stderr[-3000:]
    assert re.search(rf"account {reauth}: .*401", again.stdout)
    assert not [r for r in sandbox.requests if r.method == "POST"]  # everything eligible was joined already

"""The auto-join DAG's policy params under ``airflow dags test`` on the sandbox: a dry run sends no join,
a policy run joins exactly the allowed channels, ``include_shared`` adds the shared ones, bad input fails
the selection before any join."""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from datetime import datetime, timedelta, timezone
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_truto.auto_join.policy import AutoJoinPolicy
from airflow_provider_truto.auto_join.selection import exclusion_reason, is_auto_joinable
from airflow_provider_truto.testing import TrutoSandbox
from tests.support.helpers import ACCOUNT, CHANNELS, JOIN, TOKEN, connection_json, run_dag_test, token_leaks

pytestmark = pytest.mark.integration
DAG_ID = "example_truto_auto_join_channels"
NOW = datetime.now(timezone.utc).replace(microsecond=0)
CUTOFF = NOW - timedelta(days=3)
OTHER = "acct-2"
INCLUDE = ["eng-*", "ops-*", "data-*", "support-*", "incident-*", "alerts-*"]
EXCLUDE = ["*-nova-*", "*-orion-*"]
NAME_RULES = {"include": INCLUDE, "exclude": EXCLUDE}


@pytest.fixture
def sandbox(truto_sandbox_factory: Any) -> TrutoSandbox:
    """Two workspaces with old channels and new ones, a quarter of them shared beyond the workspace."""
    sb: TrutoSandbox = truto_sandbox_factory(token=TOKEN)
    for seed, account in enumerate((ACCOUNT, OTHER)):
        sb.add_account(account)
        sb.seed_channels(account, 40, seed=30 + seed, start=NOW - timedelta(days=300), end=CUTOFF)
        sb.seed_channels(
            account,
            160,
            seed=40 + seed,
            start=CUTOFF + timedelta(minutes=1),
            end=NOW,
            shared=0.2,
            org_shared=0.1,
        )
    return sb


def ext_shared(channel: dict[str, Any]) -> bool:
    remote = channel["remote_data"]
    return bool(remote["is_ext_shared"] or remote["is_pending_ext_shared"])


def name_allowed(channel: dict[str, Any]) -> bool:
    """The name rules written out plainly, apart from the package's own matching."""
    name = channel["name"]
    return any(fnmatchcase(name, p) for p in INCLUDE) and not any(fnmatchcase(name, p) for p in EXCLUDE)


def new_public(sandbox: TrutoSandbox, account: str) -> list[dict[str, Any]]:
    return [c for c in sandbox.channels(account) if is_auto_joinable(c, CUTOFF)]


def joins(sandbox: TrutoSandbox) -> list[Any]:
    return [r for r in sandbox.requests if r.path == JOIN]


def run(sandbox: TrutoSandbox, airflow_home: Path, **conf: Any) -> Any:
    done = run_dag_test(
        airflow_home,
        DAG_ID,
        conn=connection_json(sandbox),
        conf={"created_after": CUTOFF.isoformat(), **conf},
        TRUTO_JOIN_RETRY_DELAY_SECONDS="1",
    )
    assert token_leaks(done.stdout + done.stderr) == []
    return done


def report_xcom(airflow_home: Path) -> dict[str, Any]:
    """The report task's XCom of the newest run, read from the metadata database."""
    with sqlite3.connect(airflow_home / "airflow.db") as db:
        (run_id,) = db.execute(
            "select run_id from dag_run where dag_id = ? order by id desc limit 1", (DAG_ID,)
        ).fetchone()
        (value,) = db.execute(
            "select value from xcom where dag_id = ? and run_id = ? and task_id = ? and key = ?",
            (DAG_ID, run_id, "report", "report"),
        ).fetchone()
    decoded = json.loads(value)
    report: dict[str, Any] = json.loads(decoded) if isinstance(decoded, str) else decoded
    return report


def test_a_dry_run_over_two_accounts_reports_what_it_would_join_and_sends_no_join(
    sandbox: TrutoSandbox, airflow_home: Path
) -> None:
    policies = {
        ACCOUNT: AutoJoinPolicy.build(**NAME_RULES),
        OTHER: AutoJoinPolicy.build(**NAME_RULES, include_shared=True),
    }
    expected = {
        a: [c for c in new_public(sandbox, a) if name_allowed(c) and (a == OTHER or not ext_shared(c))]
        for a in policies
    }
    assert all(len(chosen) > 5 for chosen in expected.values())
    # Counted over what the list holds: Slack leaves private and archived channels out (the DAG asks it to).
    listed = {
        a: [c for c in sandbox.channels(a) if c["type"] == "channel" and c["status"] == "active"]
        for a in policies
    }
    left_out = {
        a: Counter(r for c in listed[a] if (r := exclusion_reason(c, CUTOFF, policies[a])) is not None)
        for a in policies
    }

    done = run(
        sandbox,
        airflow_home,
        integrated_account_ids=[ACCOUNT, OTHER],
        account_policies={OTHER: {"include_shared": True}},
        dry_run=True,
        **NAME_RULES,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert joins(sandbox) == [] and sandbox.join_counts() == {}
    total = sum(len(chosen) for chosen in expected.values())
    assert f"Auto-join (dry run): would join {total} channels; no join request was sent" in done.stdout
    first_ten = ", ".join(c["name"] for c in expected[ACCOUNT][:10])
    assert f"account {ACCOUNT}: would join {len(expected[ACCOUNT])}: {first_ten}" in done.stdout

    report = report_xcom(airflow_home)
    assert report["dry_run"] is True and report["joined"] == 0 and report["selected"] == total
    for account, chosen in expected.items():
        facts = report["selection"][account]
        assert facts["selected"] == len(chosen)
        assert facts["first"] == [c["name"] for c in chosen[:10]]
        assert facts["left_out"] == dict(left_out[account])
    # What each rule left out, beside the selection's own reasons; sharing only where it applies.
    assert {"excluded by name", "not included by name", "shared with other organisations"} <= set(
        report["selection"][ACCOUNT]["left_out"]
    )
    assert "shared with other organisations" not in report["selection"][OTHER]["left_out"]
    assert "created before the cutoff" in report["left_out"]
    # remote_data is dropped only for the account whose policy does not read it.
    lists = [r for r in sandbox.requests if r.path == CHANNELS]
    for request in lists:
        account = request.query["integrated_account_id"][0]
        assert request.query.get("truto_ignore_remote_data") == (["true"] if account == OTHER else None)


def test_a_policy_run_joins_exactly_the_allowed_set_and_include_shared_adds_the_shared(
    sandbox: TrutoSandbox, airflow_home: Path
) -> None:
    candidates = new_public(sandbox, ACCOUNT)
    allowed = {c["id"] for c in candidates if name_allowed(c) and not ext_shared(c)}
    shared = {c["id"] for c in candidates if name_allowed(c) and ext_shared(c)}
    assert len(allowed) > 5 and shared and len(allowed) < len(candidates)

    first = run(sandbox, airflow_home, **NAME_RULES)
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-4000:]
    assert sandbox.join_counts(ACCOUNT) == dict.fromkeys(allowed, 1)
    assert {r.body["channel"]["id"] for r in joins(sandbox)} == allowed  # no join sent outside the set
    assert f"Auto-join: joined {len(allowed)}, skipped 0 (none), failed 0" in first.stdout
    report = report_xcom(airflow_home)
    assert report["dry_run"] is False and report["joined"] == len(allowed)
    assert report["left_out"]["shared with other organisations"] == len(shared)
    assert f"{len(shared)} shared with other organisations" in first.stdout

    sandbox.clear_requests()
    second = run(sandbox, airflow_home, include_shared=True, **NAME_RULES)
    assert second.returncode == 0, second.stdout[-4000:] + second.stderr[-4000:]
    assert {r.body["channel"]["id"] for r in joins(sandbox)} == shared
    assert sandbox.join_counts(ACCOUNT) == dict.fromkeys(allowed | shared, 1)


@pytest.mark.parametrize(
    ("conf", "argument"),
    [
        ({"include": ["eng-*", 5]}, "include"),
        (
            {"integrated_account_ids": [ACCOUNT], "account_policies": {OTHER: {"include_shared": True}}},
            "account_policies",
        ),
    ],
    ids=["a pattern that is not a string", "a policy for an account not selected"],
)
def test_bad_input_fails_the_selection_before_any_join(
    sandbox: TrutoSandbox, airflow_home: Path, conf: dict[str, Any], argument: str
) -> None:
    done = run(sandbox, airflow_home, **conf)
    assert done.returncode != 0
    assert f"invalid argument '{argument}'" in done.stdout + done.stderr
    assert [r for r in sandbox.requests if r.path in (JOIN, CHANNELS)] == []
    assert sandbox.join_counts() == {}

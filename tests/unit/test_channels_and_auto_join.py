"""The auto-join selection, cutoff, batching and report: pure functions over channel dicts."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest

from airflow_provider_truto.auto_join import discover_joinable_accounts, summarise
from airflow_provider_truto.channels import (
    auto_join_cutoff,
    batch_label,
    exclusion_reason,
    parse_timestamp,
    plan_batches,
    select_auto_join,
    unjoinable_reason,
)
from airflow_provider_truto.exceptions import TrutoError, TrutoInputError, error_for_status

T0 = datetime(2026, 5, 1, tzinfo=timezone.utc)


def channel(cid: str, **kw: object) -> dict[str, object]:
    base: dict[str, object] = {"id": cid, "name": f"n-{cid}", "type": "channel", "status": "active"}
    return {**base, "is_member": False, "created_at": "2026-05-02T00:00:00Z", **kw}


def test_selection_rules_and_reasons() -> None:
    channels = [
        channel("a"),
        channel("b", type="private_channel"),
        channel("c", status="archived"),
        channel("d", is_member=True),
        channel("e", created_at="2026-04-01T00:00:00Z"),
        channel("f", created_at=None),
        channel("a"),  # listed twice across pages: joined once
        {"name": "no id"},
    ]
    left_out: Counter[str] = Counter()
    selected = select_auto_join(channels, T0, left_out)
    assert selected == [{"id": "a", "name": "n-a"}, {"id": "f", "name": "n-f"}]
    assert left_out == {
        "not public": 1,
        "archived": 1,
        "already a member": 1,
        "created before the cutoff": 1,
        "no id": 1,
    }
    assert exclusion_reason(channel("x", created_at=T0.isoformat()), T0) == "created before the cutoff"
    assert exclusion_reason(channel("x", created_at="2020-01-01T00:00:00Z"), None) is None


def test_cutoff_never_misses_a_channel_between_runs() -> None:
    last = T0 + timedelta(hours=5)
    assert auto_join_cutoff(None, None, timedelta(hours=1)) is None  # first run: everything is new
    assert auto_join_cutoff("", last, timedelta(hours=1)) == last - timedelta(hours=1)
    assert auto_join_cutoff("2026-01-01T00:00:00Z", last, timedelta(hours=1)) == datetime(
        2026, 1, 1, tzinfo=timezone.utc
    )
    with pytest.raises(TrutoInputError, match="created_after"):
        auto_join_cutoff("yesterday", None, timedelta(0))


def test_parse_timestamp_forms() -> None:
    assert parse_timestamp("2026-05-01T00:00:00Z") == T0
    assert parse_timestamp("2026-05-01T00:00:00") == T0
    assert parse_timestamp(T0.timestamp()) == T0
    assert parse_timestamp(datetime(2026, 5, 1)) == T0


def refs(n: int, account: str = "A") -> list[dict[str, str]]:
    return [
        {"id": f"{account}{i}", "name": f"{account}-{i}", "integrated_account_id": account} for i in range(n)
    ]


def test_everyday_runs_get_one_task_per_channel() -> None:
    assert plan_batches(refs(30), max_tasks=64) == [[r] for r in refs(30)]


def test_a_big_single_account_run_is_spread_evenly() -> None:
    batches = plan_batches(refs(5000), max_tasks=64)
    assert len(batches) == 20 and {len(b) for b in batches} == {250}
    assert [r for b in batches for r in b] == refs(5000)
    assert len(plan_batches(refs(100_000), max_tasks=64)) == 64  # never more tasks than allowed
    assert [len(b) for b in plan_batches(refs(300), max_tasks=64)] == [150, 150]


def test_many_accounts_are_grouped_whole_and_balanced() -> None:
    selection = [r for a in range(200) for r in refs(25, f"acct{a}-")]
    batches = plan_batches(selection, max_tasks=64, accounts_per_task=16)
    assert len(batches) == 13
    for batch in batches:
        assert len({r["integrated_account_id"] for r in batch}) * 25 == len(batch)
    assert sorted(r["id"] for b in batches for r in b) == sorted(r["id"] for r in selection)
    assert max(map(len, batches)) - min(map(len, batches)) <= 25


def test_batch_label() -> None:
    assert batch_label([{"id": "C1", "name": "general"}]) == "general"
    assert batch_label(refs(3)) == "A-0 +2 more"


def test_unjoinable_reasons() -> None:
    assert unjoinable_reason(error_for_status(422, "x", remote_error="is_archived")) == "is_archived"
    gone = error_for_status(404, "x", remote_error="channel_not_found", is_remote_error=True)
    assert unjoinable_reason(gone) == "channel_not_found"
    assert unjoinable_reason(error_for_status(404, "unknown account")) is None  # Truto's own 404
    assert unjoinable_reason(error_for_status(401, "x")) is None
    assert unjoinable_reason(TrutoError("x")) is None


def test_discovery_keeps_active_non_sandbox_slack_accounts() -> None:
    accounts = [
        {"id": "1", "status": "active", "is_sandbox": False, "integration": {"name": "slack"}},
        {"id": "2", "status": "needs_reauth", "integration": {"name": "slack"}},
        {"id": "3", "status": "active", "is_sandbox": True, "integration": {"name": "slack"}},
        {"id": "4", "status": "active", "integration": {"name": "msteams"}},
    ]
    chosen, left_out = discover_joinable_accounts(accounts)
    assert chosen == ["1"]
    assert left_out["2"]["error"] == "left out: status is needs_reauth"
    assert "read-only" in left_out["3"]["error"] and "msteams" in left_out["4"]["error"]


def test_summary_counts_and_failures() -> None:
    batches = [refs(3, "A"), refs(2, "B")]
    outcomes = [
        [
            {**batches[0][0], "outcome": "joined", "reason": None},
            {**batches[0][1], "outcome": "skipped", "reason": "is_archived"},
            {**batches[0][2], "outcome": "joined", "reason": None},
        ],
        None,  # the second mapped task failed and left no outcome
    ]
    accounts = {"A": {"selected": 3, "error": None}, "C": {"error": "needs re-auth"}}
    summary = summarise(batches, outcomes, accounts)
    report = summary.as_dict()
    assert (report["joined"], report["skipped"], report["failed"]) == (2, 1, 2)
    assert report["skipped_reasons"] == {"is_archived": 1}
    assert report["accounts"]["B"] == {"failed": 2} and report["account_errors"] == {"C": "needs re-auth"}
    assert any("account C: needs re-auth" in line for line in summary.lines())
    with pytest.raises(TrutoError, match="2 channels were not joined"):
        summary.raise_if_failed()
    with pytest.raises(TrutoError, match="selection did not finish"):
        summarise(None, None, {})

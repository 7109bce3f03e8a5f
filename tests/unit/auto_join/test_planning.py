"""The auto-join job's plan (airflow_provider_truto/auto_join/planning.py): which accounts, which channels
under which policy, what Truto is asked for, the cutoff between runs and the batches of mapped tasks."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

import pytest

from airflow_provider_truto.auto_join.planning import (
    auto_join_cutoff,
    batch_label,
    discover_joinable_accounts,
    plan_auto_join,
    plan_batches,
)
from airflow_provider_truto.auto_join.policy import (
    EXCLUDED_BY_NAME,
    AutoJoinPolicy,
)
from airflow_provider_truto.exceptions import (
    TrutoInputError,
)
from airflow_provider_truto.hooks.truto import TrutoHook
from tests.support.helpers import ACCOUNT, channel_refs, public_channel
from tests.support.hostile_servers import UNREADABLE_CREATED_AT, ChannelList


def test_the_dag_lists_as_the_watch_does_and_drops_remote_data_only_if_the_policy_may(
    channel_list: ChannelList,
) -> None:
    channel_list.channels = [{**public_channel("eng-a"), "id": "C1"}]
    plan_auto_join(TrutoHook())
    plan_auto_join(TrutoHook(), policy=AutoJoinPolicy.build(include_shared=True))
    default_query, shared_query = channel_list.queries
    assert "truto_ignore_remote_data" not in default_query
    assert shared_query["truto_ignore_remote_data"] == ["true"]
    # The cheaper listing the watch asks for too: Slack's largest pages, Slack filtering what is never
    # joined, the fields no decision reads left out.
    for query in (default_query, shared_query):
        assert query["limit"] == ["1000"]
        assert query["remote_query[types]"] == ["public_channel"]
        assert query["remote_query[exclude_archived]"] == ["true"]
        assert "description" in query["truto_exclude_fields[]"]


def test_the_dag_refuses_a_policy_for_an_account_it_does_not_select(channel_list: ChannelList) -> None:
    channel_list.channels = [{**public_channel("eng-a"), "id": "C1"}]
    with pytest.raises(TrutoInputError) as caught:
        plan_auto_join(TrutoHook(), account_policies={"not-selected": {"include_shared": True}})
    assert caught.value.argument == "account_policies" and "not-selected" in str(caught.value)
    with pytest.raises(TrutoInputError) as caught:
        plan_auto_join(TrutoHook(), account_policies={ACCOUNT: {"inclde": ["x"]}})
    assert caught.value.argument == "account_policies"
    with pytest.raises(TrutoInputError) as caught:
        plan_auto_join(TrutoHook(), dry_run="yes")  # type: ignore[arg-type]
    assert caught.value.argument == "dry_run"
    assert channel_list.queries == []  # refused before the channel list was asked for

    plan = plan_auto_join(TrutoHook(), account_policies={ACCOUNT: {"exclude": ["eng-*"]}}, dry_run=True)
    assert plan.batches == [] and plan.dry_run
    assert plan.accounts[ACCOUNT] == {
        "selected": 0,
        "first": [],
        "left_out": {EXCLUDED_BY_NAME: 1},
        "error": None,
    }


def test_unreadable_creation_times_are_left_out_counted_and_named(
    channel_list: ChannelList, caplog: pytest.LogCaptureFixture
) -> None:
    """One odd created_at no longer fails the selection of every account: it is that channel's reason."""
    channel_list.channels = [
        *(
            {**public_channel(f"odd-{name}"), "id": f"ODD-{name}", "created_at": value}
            for name, value in UNREADABLE_CREATED_AT.items()
        ),
        {**public_channel("undated", created_at=None), "id": "UNDATED"},
        {**public_channel("good", created_at="2026-05-02T00:00:00Z"), "id": "GOOD"},
        {**public_channel("old", created_at="2026-04-01T00:00:00Z"), "id": "OLD"},
    ]
    with caplog.at_level(logging.WARNING):
        plan = plan_auto_join(TrutoHook(), created_after="2026-05-01T00:00:00Z")
    assert plan.batches == [[{"id": "GOOD", "name": "good", "integrated_account_id": ACCOUNT}]]
    assert plan.accounts[ACCOUNT]["left_out"] == {
        "created before the cutoff": 1,
        "no created_at": 1,
        "unreadable created_at": len(UNREADABLE_CREATED_AT),
    }
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == len(UNREADABLE_CREATED_AT) + 1
    assert all(any(f"(ODD-{name})" in w for w in warned) for name in UNREADABLE_CREATED_AT)
    # A first run (no cutoff) takes the undated channel; an unreadable one never.
    first = plan_auto_join(TrutoHook())
    assert sorted(c["id"] for batch in first.batches for c in batch) == ["GOOD", "OLD", "UNDATED"]


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


T0 = datetime(2026, 5, 1, tzinfo=timezone.utc)


def test_cutoff_never_misses_a_channel_between_runs() -> None:
    last = T0 + timedelta(hours=5)
    assert auto_join_cutoff(None, None, timedelta(hours=1)) is None  # first run: everything is new
    assert auto_join_cutoff("", last, timedelta(hours=1)) == last - timedelta(hours=1)
    assert auto_join_cutoff("2026-01-01T00:00:00Z", last, timedelta(hours=1)) == datetime(
        2026, 1, 1, tzinfo=timezone.utc
    )
    with pytest.raises(TrutoInputError, match="created_after"):
        auto_join_cutoff("yesterday", None, timedelta(0))


def test_everyday_runs_get_one_task_per_channel() -> None:
    assert plan_batches(channel_refs(30), max_tasks=64) == [[r] for r in channel_refs(30)]


def test_a_big_single_account_run_is_spread_evenly() -> None:
    batches = plan_batches(channel_refs(5000), max_tasks=64)
    assert len(batches) == 20 and {len(b) for b in batches} == {250}
    assert [r for b in batches for r in b] == channel_refs(5000)
    assert len(plan_batches(channel_refs(100_000), max_tasks=64)) == 64  # never more tasks than allowed
    assert [len(b) for b in plan_batches(channel_refs(300), max_tasks=64)] == [150, 150]


def test_many_accounts_are_grouped_whole_and_balanced() -> None:
    selection = [r for a in range(200) for r in channel_refs(25, f"acct{a}-")]
    batches = plan_batches(selection, max_tasks=64, accounts_per_task=16)
    assert len(batches) == 13
    for batch in batches:
        assert len({r["integrated_account_id"] for r in batch}) * 25 == len(batch)
    assert sorted(r["id"] for b in batches for r in b) == sorted(r["id"] for r in selection)
    assert max(map(len, batches)) - min(map(len, batches)) <= 25


def test_batch_label() -> None:
    assert batch_label([{"id": "C1", "name": "general"}]) == "general"
    assert batch_label(channel_refs(3)) == "A-0 +2 more"

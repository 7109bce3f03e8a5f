"""What a new channel is (airflow_provider_truto/channels.py): the auto-join selection and its reasons,
the cutoff between runs, a watch's new channels past its watermark, batches for mapped tasks, and the
join errors that end a channel's chances for good. Pure functions over channel dicts."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from airflow_provider_truto.auto_join.outcomes import unjoinable_reason
from airflow_provider_truto.auto_join.planning import auto_join_cutoff, batch_label, plan_batches
from airflow_provider_truto.auto_join.selection import exclusion_reason, select_auto_join
from airflow_provider_truto.auto_join.timestamps import parse_timestamp
from airflow_provider_truto.auto_join.watermark import select_new_channels
from airflow_provider_truto.exceptions import (
    TrutoError,
    TrutoInputError,
    error_for_status,
)
from tests.support.helpers import channel_refs

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


def test_unjoinable_reasons() -> None:
    assert unjoinable_reason(error_for_status(422, "x", remote_error="is_archived")) == "is_archived"
    gone = error_for_status(404, "x", remote_error="channel_not_found", is_remote_error=True)
    assert unjoinable_reason(gone) == "channel_not_found"
    assert unjoinable_reason(error_for_status(404, "unknown account")) is None  # Truto's own 404
    assert unjoinable_reason(error_for_status(401, "x")) is None
    assert unjoinable_reason(TrutoError("x")) is None


def test_selection_keeps_same_second_and_late_channels_and_never_repeats() -> None:
    base = datetime(2026, 5, 1, 12, 0, tzinfo=timezone.utc)

    def channel(channel_id: str, seconds: float | None, **extra: Any) -> dict[str, Any]:
        created = None if seconds is None else (base + timedelta(seconds=seconds)).isoformat()
        return {
            "id": channel_id,
            "type": "channel",
            "status": "active",
            "is_member": False,
            "created_at": created,
            **extra,
        }

    first = [channel("A", 0), channel("B", 10), channel("U", None)]
    chosen, watermark, seen = select_new_channels(
        first,
        created_after=None,
        watermark=None,
        seen_ids=(),
        lookback=timedelta(seconds=60),
        max_channels=10,
    )
    assert [c["id"] for c in chosen] == ["U", "A", "B"]  # undated first, then oldest first
    assert watermark == base + timedelta(seconds=10) and seen == ["A", "B", "U"]

    # Next poll: C shares B's second, D was listed late (5 s below the watermark), E is older than the
    # lookback, F is new; A, B and U are not reported again, and the joined B would not be either way.
    second = [
        *first[:1],
        channel("B", 10, is_member=True),
        first[2],
        channel("C", 10),
        channel("D", 5),
        channel("E", -120),
        channel("F", 20),
    ]
    chosen, watermark, seen = select_new_channels(
        second,
        created_after=None,
        watermark=watermark,
        seen_ids=seen,
        lookback=timedelta(seconds=60),
        max_channels=10,
    )
    assert [c["id"] for c in chosen] == ["D", "C", "F"]
    assert watermark == base + timedelta(seconds=20)
    # A (at 0 s) fell below the new floor (20 - 60 s)? No: -40 s < 0 s, so A is still remembered.
    assert seen == ["A", "B", "C", "D", "F", "U"]
    chosen, _, _ = select_new_channels(
        second,
        created_after=None,
        watermark=watermark,
        seen_ids=seen,
        lookback=timedelta(seconds=60),
        max_channels=10,
    )
    assert chosen == []

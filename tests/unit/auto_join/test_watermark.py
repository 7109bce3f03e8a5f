"""A watch's new channels across polls (airflow_provider_truto/auto_join/watermark.py): past the watermark,
the same second and late listings kept, nothing reported twice."""

from __future__ import annotations

import logging
import random
import tracemalloc
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from airflow_provider_truto.auto_join.policy import AutoJoinPolicy
from airflow_provider_truto.auto_join.selection import is_auto_joinable
from airflow_provider_truto.auto_join.timestamps import created_at
from airflow_provider_truto.auto_join.watermark import NewChannels, next_created_after, select_new_channels


def channel(cid: str, **kw: object) -> dict[str, object]:
    base: dict[str, object] = {"id": cid, "name": f"n-{cid}", "type": "channel", "status": "active"}
    return {**base, "is_member": False, "created_at": "2026-05-02T00:00:00Z", **kw}


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


def test_a_channel_stamped_in_the_future_moves_the_watermark_to_now_at_most(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = datetime(2026, 5, 1, 12, 0, tzinfo=timezone.utc)
    skewed = channel("SKEW", name="skewed", created_at=(now + timedelta(days=1)).isoformat())
    first = [channel("A", created_at=(now - timedelta(seconds=30)).isoformat()), skewed]
    window = {"created_after": None, "lookback": timedelta(seconds=60), "max_channels": 10}
    with caplog.at_level(logging.WARNING):
        chosen, watermark, seen = select_new_channels(first, watermark=None, seen_ids=(), now=now, **window)
    assert [c["id"] for c in chosen] == ["A", "SKEW"] and watermark == now and seen == ["A", "SKEW"]
    [warning] = [r.getMessage() for r in caplog.records]
    assert "skewed (SKEW)" in warning and "2026-05-02T12:00:00+00:00" in warning

    # A channel created after the poll, in real time, is reported; the skewed one is not again.
    later = channel("B", created_at=(now + timedelta(seconds=5)).isoformat())
    chosen, watermark, seen = select_new_channels(
        [*first, later], watermark=watermark, seen_ids=seen, now=now + timedelta(seconds=10), **window
    )
    assert [c["id"] for c in chosen] == ["B"] and watermark == now + timedelta(seconds=5)
    assert "SKEW" in seen

    # A watermark given in the future (a clock corrected since) is read as now.
    chosen, watermark, _ = select_new_channels(
        [later], watermark=now + timedelta(days=1), seen_ids=(), now=now + timedelta(seconds=10), **window
    )
    assert [c["id"] for c in chosen] == ["B"] and watermark == now + timedelta(seconds=10)


def test_unreadable_and_missing_creation_times_are_left_out_and_counted() -> None:
    cutoff = datetime(2026, 5, 1, tzinfo=timezone.utc)
    channels = [
        channel("GOOD"),
        channel("MS", created_at=1_784_524_800_000),
        channel("NAN", created_at=float("nan")),
        channel("UNDATED", created_at=None),
    ]
    left_out: Counter[str] = Counter()
    window = {"watermark": None, "seen_ids": (), "lookback": timedelta(0), "max_channels": 10}
    chosen, _, _ = select_new_channels(channels, created_after=cutoff, left_out=left_out, **window)
    assert [c["id"] for c in chosen] == ["GOOD"]
    assert left_out == {"unreadable created_at": 2, "no created_at": 1}
    # Without a cutoff an undated channel counts; an unreadable one never does.
    chosen, _, _ = select_new_channels(channels, created_after=None, **window)
    assert [c["id"] for c in chosen] == ["UNDATED", "GOOD"]


def test_the_next_runs_cutoff_is_the_newest_channel_handed_on_less_the_overlap() -> None:
    now = datetime(2026, 5, 1, 12, 0, tzinfo=timezone.utc)
    handed_on = [
        channel("A", created_at="2026-05-01T10:00:00Z"),
        channel("B", created_at="2026-05-01T11:00:00Z"),
    ]
    assert next_created_after(handed_on, overlap=timedelta(hours=1), now=now) == "2026-05-01T10:00:00+00:00"
    # A channel stamped in the future moves it to now at most; no readable time, no cutoff.
    skewed = [*handed_on, channel("S", created_at="2026-05-09T00:00:00Z")]
    assert next_created_after(skewed, overlap=timedelta(hours=1), now=now) == "2026-05-01T11:00:00+00:00"
    assert next_created_after([channel("U", created_at=None)], overlap=timedelta(hours=1), now=now) is None


# -- one channel at a time: the same answer, in bounded memory -----------------------------------------------


def reference_selection(
    channels: list[dict[str, Any]], **settings: Any
) -> tuple[list[str], datetime | None, list[str]]:
    """The selection spelled out over the whole list at once, as the watch first did it."""
    seen = set(settings["seen_ids"])
    now, lookback = settings["now"], settings["lookback"]
    watermark = min(settings["watermark"], now) if settings["watermark"] is not None else None
    floor = watermark - lookback if watermark is not None else None
    created = {c["id"]: created_at(c) for c in channels}
    candidates = [
        (created[c["id"]], c["id"])
        for c in channels
        if c["id"] not in seen
        and is_auto_joinable(c, settings["created_after"], settings["policy"])
        and (floor is None or created[c["id"]] is None or created[c["id"]] >= floor)
    ]
    candidates.sort(key=lambda item: (item[0] is not None, item[0] or EPOCH, item[1]))
    chosen = candidates[: settings["max_channels"]]
    if not chosen:
        return [], watermark, sorted(seen)
    dated = [when for when, _ in chosen if when is not None] + ([watermark] if watermark else [])
    new_watermark = min(max(dated), now) if dated else None  # never past the present
    new_floor = new_watermark - lookback if new_watermark is not None else None
    keep = seen | {cid for _, cid in chosen}
    new_seen = sorted(
        cid
        for cid in keep
        if cid in created and (created[cid] is None or new_floor is None or created[cid] >= new_floor)
    )
    return [cid for _, cid in chosen], new_watermark, new_seen


EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def test_reading_one_channel_at_a_time_selects_what_the_whole_list_would() -> None:
    rng = random.Random(22)
    base = datetime(2026, 1, 1, tzinfo=timezone.utc)
    names = [f"C{n:03d}" for n in range(120)]
    for _ in range(400):
        channels = []
        for channel_id in rng.sample(names, rng.randint(0, 80)):
            roll = rng.random()
            when = (
                None
                if roll < 0.05
                else "not a time"
                if roll < 0.08
                else base + timedelta(seconds=rng.randint(0, 900))
            )
            channels.append(
                {
                    "id": channel_id,
                    "name": rng.choice(["eng-x", "general", "ops"]),
                    "type": rng.choice(["channel", "channel", "channel", "dm"]),
                    "status": rng.choice(["active"] * 6 + ["archived"]),
                    "is_member": rng.random() < 0.1,
                    "created_at": when.isoformat() if isinstance(when, datetime) else when,
                    "remote_data": {"is_ext_shared": rng.random() < 0.1},
                }
            )
        settings: dict[str, Any] = {
            "created_after": rng.choice([None, base + timedelta(seconds=rng.randint(0, 300))]),
            "watermark": rng.choice([None, base + timedelta(seconds=rng.randint(0, 900))]),
            "seen_ids": rng.sample(names, rng.randint(0, 10)),
            "lookback": timedelta(seconds=rng.choice([0, 30, 300])),
            "max_channels": rng.randint(1, 12),
            "policy": rng.choice([None, AutoJoinPolicy.build(exclude=["eng-*"])]),
            # The present, now and then among the channels' times: some stamped in the future.
            "now": base + timedelta(seconds=rng.choice([600, 900, 10_000])),
        }
        chosen, watermark, seen = select_new_channels(channels, **settings)
        assert ([c["id"] for c in chosen], watermark, seen) == reference_selection(channels, **settings)
        assert all(set(c) == {"id", "name", "created_at"} for c in chosen)  # a summary, not the channel


def test_a_huge_list_is_read_in_bounded_memory() -> None:
    base = datetime(2026, 1, 1, tzinfo=timezone.utc)

    def listing(count: int) -> Iterator[dict[str, Any]]:
        for n in range(count):  # about 2 KB each once decoded, as Slack's objects are
            yield {
                "id": f"C{n:07d}",
                "name": f"channel-{n}",
                "type": "channel",
                "status": "active",
                "is_member": False,
                "created_at": (base + timedelta(seconds=count - n)).isoformat(),  # newest first
                "remote_data": {"is_ext_shared": False, "purpose": {"value": "x" * 1500}},
            }

    selection = NewChannels(
        created_after=None, watermark=None, seen_ids=(), lookback=timedelta(0), max_channels=500
    )
    tracemalloc.start()
    try:
        for channel in listing(50_000):  # 100 MB as one list
            selection.feed(channel)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    chosen, watermark, _ = selection.result()
    assert selection.listed == 50_000 and len(chosen) == 500
    assert [c["id"] for c in chosen[:2]] == ["C0049999", "C0049998"]  # the oldest, listed last
    assert watermark is not None
    assert peak < 2_000_000

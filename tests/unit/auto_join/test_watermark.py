"""A watch's new channels across polls (airflow_provider_truto/auto_join/watermark.py): past the watermark,
the same second and late listings kept, nothing reported twice."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from airflow_provider_truto.auto_join.watermark import select_new_channels


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

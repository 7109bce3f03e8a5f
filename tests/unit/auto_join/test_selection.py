"""Which channels the bot joins (airflow_provider_truto/auto_join/selection.py): the rule and its reasons."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone

from airflow_provider_truto.auto_join.selection import exclusion_reason, select_auto_join

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
    assert selected == [{"id": "a", "name": "n-a"}]
    assert left_out == {
        "not public": 1,
        "archived": 1,
        "already a member": 1,
        "created before the cutoff": 1,
        "no created_at": 1,  # nothing shows it is newer than the cutoff
        "no id": 1,
    }
    # Without a cutoff every joinable channel counts, dated or not.
    assert select_auto_join(channels, None) == [
        {"id": "a", "name": "n-a"},
        {"id": "e", "name": "n-e"},
        {"id": "f", "name": "n-f"},
    ]
    assert exclusion_reason(channel("x", created_at=T0.isoformat()), T0) == "created before the cutoff"
    assert exclusion_reason(channel("x", created_at="2020-01-01T00:00:00Z"), None) is None

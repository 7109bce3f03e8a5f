"""A watch for new channels, the sensor's check and the trigger's polls: which channels of one poll to
report, and the watermark and seen ids that keep a later poll from reporting them again.

Pure, like the selection it narrows (:func:`~airflow_provider_truto.auto_join.selection.is_auto_joinable`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from airflow_provider_truto.auto_join.selection import is_auto_joinable
from airflow_provider_truto.auto_join.timestamps import created_at

if TYPE_CHECKING:
    from airflow_provider_truto.auto_join.policy import AutoJoinPolicy

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def select_new_channels(
    channels: Iterable[Mapping[str, Any]],
    *,
    created_after: datetime | None,
    watermark: datetime | None,
    seen_ids: Iterable[str],
    lookback: timedelta,
    max_channels: int,
    policy: AutoJoinPolicy | None = None,
) -> tuple[list[Mapping[str, Any]], datetime | None, list[str]]:
    """``(channels to report, new watermark, new seen ids)`` for one poll's channel list.

    A channel is reported if the auto-join selection takes it (``is_auto_joinable`` with
    ``created_after`` and ``policy``), it is not in ``seen_ids``, and it was created at or after
    ``watermark - lookback`` (or has no readable ``created_at``). At most ``max_channels`` are
    reported, undated ones first, then oldest first, so the watermark never passes a channel that is
    still to be reported.
    """
    seen = set(seen_ids)
    floor = watermark - lookback if watermark is not None else None
    created: dict[str, datetime | None] = {}
    candidates: list[tuple[datetime | None, str, Mapping[str, Any]]] = []
    for channel in channels:
        channel_id = channel.get("id")
        if not isinstance(channel_id, str) or not channel_id or channel_id in created:
            continue
        created[channel_id] = when = created_at(channel)
        if channel_id in seen or not is_auto_joinable(channel, created_after, policy):
            continue
        if floor is not None and when is not None and when < floor:
            continue
        candidates.append((when, channel_id, channel))
    candidates.sort(key=lambda item: (item[0] is not None, item[0] or _EPOCH, item[1]))
    chosen = candidates[:max_channels]
    if not chosen:
        return [], watermark, sorted(seen)
    dated = [when for when, _, _ in chosen if when is not None]
    new_watermark = max([*dated, *([watermark] if watermark is not None else [])], default=None)
    new_floor = new_watermark - lookback if new_watermark is not None else None
    # Keep only what the floor does not already exclude (and what still exists), so the set stays small.
    keep = seen | {channel_id for _, channel_id, _ in chosen}
    new_seen = sorted(
        channel_id
        for channel_id in keep
        if channel_id in created and _at_or_after(created[channel_id], new_floor)
    )
    return [channel for _, _, channel in chosen], new_watermark, new_seen


def channel_summary(channel: Mapping[str, Any], account: str) -> dict[str, Any]:
    """What an event or XCom carries per channel: enough for ``JoinChannelOperator(channel_id=...)``."""
    return {
        "id": channel["id"],
        "name": str(channel.get("name") or channel["id"]),
        "created_at": channel.get("created_at"),
        "integrated_account_id": account,
    }


def _at_or_after(when: datetime | None, floor: datetime | None) -> bool:
    return when is None or floor is None or when >= floor

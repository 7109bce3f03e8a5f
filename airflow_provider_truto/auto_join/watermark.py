"""A watch for new channels, the sensor's check and the trigger's polls: which channels of one poll to
report, and the watermark and seen ids that keep a later poll from reporting them again.

Pure, like the selection it narrows (:func:`~airflow_provider_truto.auto_join.selection.exclusion_reason`),
but for the clock it bounds the watermark by.

**The watermark never passes the present.** A channel stamped in the future (a skewed clock upstream) is
reported like any other, but the watermark moves at most to now: were it to move to the channel's time,
every channel created before that time would fall below the floor and never be reported. Each such
channel is named in a warning when it is reported. A watermark already in the future (given, or saved
before a clock was corrected) is read as now.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from airflow_provider_truto.auto_join.selection import CreationTimeWarnings, exclusion_reason
from airflow_provider_truto.auto_join.timestamps import created_at

if TYPE_CHECKING:
    from airflow_provider_truto.auto_join.policy import AutoJoinPolicy

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
log = logging.getLogger(__name__)


def select_new_channels(
    channels: Iterable[Mapping[str, Any]],
    *,
    created_after: datetime | None,
    watermark: datetime | None,
    seen_ids: Iterable[str],
    lookback: timedelta,
    max_channels: int,
    policy: AutoJoinPolicy | None = None,
    left_out: Counter[str] | None = None,
    now: datetime | None = None,
    warn_to: logging.Logger | Any = None,
) -> tuple[list[Mapping[str, Any]], datetime | None, list[str]]:
    """``(channels to report, new watermark, new seen ids)`` for one poll's channel list.

    A channel is reported if the auto-join selection takes it (``exclusion_reason`` with
    ``created_after`` and ``policy``), it is not in ``seen_ids``, and it was created at or after
    ``watermark - lookback`` (or has no ``created_at`` and no cutoff applies). At most ``max_channels``
    are reported, undated ones first, then oldest first, so the watermark never passes a channel that is
    still to be reported; nor does it pass ``now`` (default: the clock's). ``left_out`` counts the
    channels the selection leaves out, by reason; warnings (a channel's creation time unusable or in the
    future) go to ``warn_to`` (default: this module's logger).
    """
    now = now if now is not None else datetime.now(timezone.utc)
    warn_to = warn_to if warn_to is not None else log
    watermark = bounded_watermark(watermark, now)
    seen = set(seen_ids)
    floor = _floor(watermark, lookback)
    created: dict[str, datetime | None] = {}
    candidates: list[tuple[datetime | None, str, Mapping[str, Any]]] = []
    warnings = CreationTimeWarnings(warn_to, created_after)
    for channel in channels:
        channel_id = channel.get("id")
        if not isinstance(channel_id, str) or not channel_id or channel_id in created:
            continue
        created[channel_id] = when = created_at(channel)
        if channel_id in seen:
            continue
        reason = exclusion_reason(channel, created_after, policy)
        if reason is not None:
            warnings.note(channel, reason)
            if left_out is not None:
                left_out[reason] += 1
            continue
        if floor is not None and when is not None and when < floor:
            continue
        candidates.append((when, channel_id, channel))
    warnings.close()
    candidates.sort(key=lambda item: (item[0] is not None, item[0] or _EPOCH, item[1]))
    chosen = candidates[:max_channels]
    if not chosen:
        return [], watermark, sorted(seen)
    dated = [when for when, _, _ in chosen if when is not None]
    for when, channel_id, channel in chosen:
        if when is not None and when > now:
            warn_to.warning(
                "Channel %s (%s) is stamped %s, ahead of this host's clock (%s): reported, but the "
                "watermark stops at now, so channels created until then are not missed",
                channel.get("name"),
                channel_id,
                when.isoformat(),
                now.isoformat(),
            )
    new_watermark = max([*dated, *([watermark] if watermark is not None else [])], default=None)
    new_watermark = bounded_watermark(new_watermark, now)
    new_floor = _floor(new_watermark, lookback)
    # Keep only what the floor does not already exclude (and what still exists), so the set stays small.
    keep = seen | {channel_id for _, channel_id, _ in chosen}
    new_seen = sorted(
        channel_id
        for channel_id in keep
        if channel_id in created and _at_or_after(created[channel_id], new_floor)
    )
    return [channel for _, _, channel in chosen], new_watermark, new_seen


def next_created_after(
    handed_on: Iterable[Mapping[str, Any]], *, overlap: timedelta, now: datetime | None = None
) -> str | None:
    """The cutoff for a watch's next run, from the channels this run handed on (oldest first, at most
    ``max_channels``): the newest ``created_at`` among them, bounded by ``now``, less ``overlap``.

    A run capped at ``max_channels`` handed on its oldest channels; every channel it left behind is at
    least as new as the newest it handed on, so the next run, looking from there, finds them all. The
    overlap covers channels Truto lists late. ``None`` when no channel handed on has a readable time.
    """
    now = now if now is not None else datetime.now(timezone.utc)
    dated = [when for channel in handed_on if (when := created_at(channel)) is not None]
    if not dated:
        return None
    return (min(max(dated), now) - overlap).isoformat()


def channel_summary(channel: Mapping[str, Any], account: str) -> dict[str, Any]:
    """What an event or XCom carries per channel: enough for ``JoinChannelOperator(channel_id=...)``."""
    return {
        "id": channel["id"],
        "name": str(channel.get("name") or channel["id"]),
        "created_at": channel.get("created_at"),
        "integrated_account_id": account,
    }


def bounded_watermark(watermark: datetime | None, now: datetime) -> datetime | None:
    """The watermark, or ``now`` if it is later: a watermark in the future would hide every channel
    created before it."""
    return now if watermark is not None and watermark > now else watermark


def _floor(watermark: datetime | None, lookback: timedelta) -> datetime | None:
    """How far below the watermark channels are still looked at; none below the first datetime."""
    if watermark is None:
        return None
    try:
        return watermark - lookback
    except OverflowError:
        return None


def _at_or_after(when: datetime | None, floor: datetime | None) -> bool:
    return when is None or floor is None or when >= floor

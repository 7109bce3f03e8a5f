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
# How candidates are ordered: undated first (they cannot move the watermark), then by creation, then id.
_Order = tuple[bool, datetime, str]


class NewChannels:
    """The new channels of one poll, read one channel at a time, keeping only what deciding needs.

    Feed every channel of the list (:meth:`feed`) as pages arrive, then take :meth:`result`. A channel
    is reported if the auto-join selection takes it (``exclusion_reason`` with ``created_after`` and
    ``policy``), it is not in ``seen_ids``, and it was created at or after ``watermark - lookback`` (or
    has no ``created_at`` and no cutoff applies). At most ``max_channels`` are reported, undated ones
    first, then oldest first, so the watermark never passes a channel that is still to be reported; nor
    does it pass ``now`` (default: the clock's when the selection is made). ``left_out`` counts the
    channels the selection leaves out, by reason; warnings (a channel's creation time unusable or in the
    future) go to ``warn_to`` (default: this module's logger).

    What is kept while the list is read: the oldest ``max_channels`` candidates so far (at most twice
    that between two trims), each as its summary (id, name, ``created_at``), and the creation time of
    each id in ``seen_ids`` the list still holds. Never the list: a watch's memory does not grow with
    the workspace. A channel listed twice is judged on each copy and reported at most once.
    """

    def __init__(
        self,
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
    ) -> None:
        self.created_after = created_after
        self.now = now if now is not None else datetime.now(timezone.utc)
        self.watermark = bounded_watermark(watermark, self.now)
        self.lookback = lookback
        self.max_channels = max_channels
        self.policy = policy
        self.left_out = left_out
        self.listed = 0  # channels fed
        self._log = warn_to if warn_to is not None else log
        self._warnings = CreationTimeWarnings(self._log, created_after)
        self._seen = set(seen_ids)
        self._floor = _floor(self.watermark, lookback)
        self._seen_listed: dict[str, datetime | None] = {}
        self._candidates: dict[str, tuple[_Order, dict[str, Any]]] = {}

    def feed(self, channel: Mapping[str, Any]) -> None:
        """Take one channel of the list into account."""
        self.listed += 1
        channel_id = channel.get("id")
        if not isinstance(channel_id, str) or not channel_id:
            return
        if channel_id in self._seen:
            self._seen_listed.setdefault(channel_id, created_at(channel))
            return
        if channel_id in self._candidates:
            return
        reason = exclusion_reason(channel, self.created_after, self.policy)
        if reason is not None:
            self._warnings.note(channel, reason)
            if self.left_out is not None:
                self.left_out[reason] += 1
            return
        when = created_at(channel)
        if self._floor is not None and when is not None and when < self._floor:
            return
        summary = {
            "id": channel_id,
            "name": str(channel.get("name") or channel_id),
            "created_at": channel.get("created_at"),
        }
        self._candidates[channel_id] = ((when is not None, when or _EPOCH, channel_id), summary)
        if len(self._candidates) >= 2 * self.max_channels:
            self._trim()

    def result(self) -> tuple[list[dict[str, Any]], datetime | None, list[str]]:
        """``(channels to report, new watermark, new seen ids)``; the channels as summaries (``id``,
        ``name``, ``created_at``), oldest first. Nothing new leaves the state as it was (a watermark in
        the future read as now)."""
        self._warnings.close()
        self._trim()
        chosen = list(self._candidates.values())
        if not chosen:
            return [], self.watermark, sorted(self._seen)
        dated = [order[1] for order, _ in chosen if order[0]]
        for (_, when, channel_id), summary in chosen:
            if when > self.now:
                self._log.warning(
                    "Channel %s (%s) is stamped %s, ahead of this host's clock (%s): reported, but the "
                    "watermark stops at now, so channels created until then are not missed",
                    summary["name"],
                    channel_id,
                    when.isoformat(),
                    self.now.isoformat(),
                )
        new_watermark = max([*dated, *([self.watermark] if self.watermark is not None else [])], default=None)
        new_watermark = bounded_watermark(new_watermark, self.now)
        new_floor = _floor(new_watermark, self.lookback)
        # Kept: what the floor does not already exclude, and what the list still holds, so the set
        # stays small.
        created = {**self._seen_listed, **{s["id"]: (o[1] if o[0] else None) for o, s in chosen}}
        new_seen = sorted(channel_id for channel_id, when in created.items() if _at_or_after(when, new_floor))
        return [summary for _, summary in chosen], new_watermark, new_seen

    def _trim(self) -> None:
        ordered = sorted(self._candidates.items(), key=lambda item: item[1][0])
        self._candidates = dict(ordered[: self.max_channels])


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
) -> tuple[list[dict[str, Any]], datetime | None, list[str]]:
    """``(channels to report, new watermark, new seen ids)`` for one poll's channel list: every channel
    fed through :class:`NewChannels` (which says what is reported), lazily, so an iterator over pages is
    read with bounded memory."""
    selection = NewChannels(
        created_after=created_after,
        watermark=watermark,
        seen_ids=seen_ids,
        lookback=lookback,
        max_channels=max_channels,
        policy=policy,
        left_out=left_out,
        now=now,
        warn_to=warn_to,
    )
    for channel in channels:
        selection.feed(channel)
    return selection.result()


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

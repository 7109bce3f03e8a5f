"""Which channels the auto-join bot joins, which of them are new to a watch, and how a selection is cut
into mapped tasks.

Pure functions over unified channel dicts: the example DAGs, the sensor and the trigger all decide with
these, so "new public channel" means one thing everywhere. An auto-join policy
(:class:`~airflow_provider_truto.policy.AutoJoinPolicy`) narrows the selection by name and sharing;
``policy=None`` applies no such rule (the selection before policies existed). No Airflow or HTTP imports.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from airflow_provider_truto.exceptions import TrutoHTTPError, TrutoInputError, TrutoNotFoundError

if TYPE_CHECKING:  # the sensor imports this module when a DAG is parsed; a policy is only asked
    from airflow_provider_truto.policy import AutoJoinPolicy

# Slack refuses these joins for good: the channel is archived or gone, or an app must be invited to it.
UNJOINABLE_REMOTE_ERRORS = frozenset(
    {"is_archived", "channel_not_found", "method_not_supported_for_channel_type"}
)

ChannelRef = dict[str, str]  # {"id": ..., "name": ...}: what travels through XCom, not the whole channel

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def parse_timestamp(value: Any, argument: str = "created_after") -> datetime:
    """An aware UTC datetime from ISO-8601 text (``Z`` allowed), a datetime or epoch seconds."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, tz=timezone.utc)
    if isinstance(value, str) and value.strip():
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise TrutoInputError(argument, f"is not an ISO-8601 timestamp: {value!r}") from None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
    raise TrutoInputError(argument, f"expected an ISO-8601 timestamp, got {value!r}")


def exclusion_reason(
    channel: Mapping[str, Any], created_after: datetime | None, policy: AutoJoinPolicy | None = None
) -> str | None:
    """Why the bot leaves this channel alone, or ``None`` when it is a new public channel to join.

    The policy is asked last, about channels the bot would otherwise join, so its counts say what the
    policy itself left out (a private channel is "not public", whatever its name).
    """
    reason = _selection_reason(channel, created_after)
    if reason is None and policy is not None:
        return policy.exclusion_reason(channel)
    return reason


def _selection_reason(channel: Mapping[str, Any], created_after: datetime | None) -> str | None:
    if channel.get("type") != "channel":
        return "not public"
    if channel.get("status") != "active":
        return "archived"
    if channel.get("is_member"):
        return "already a member"
    created_at = channel.get("created_at")
    if created_after is None or not created_at:
        return None  # No creation time: joining is idempotent, so when unsure, include it.
    try:
        created = parse_timestamp(created_at, "created_at")
    except TrutoInputError:
        return None
    return None if created > created_after else "created before the cutoff"


def is_auto_joinable(
    channel: Mapping[str, Any], created_after: datetime | None, policy: AutoJoinPolicy | None = None
) -> bool:
    """A public, active channel the bot is not in, created after the cutoff (``None``: any time).

    With a policy, also one the policy allows.
    """
    return exclusion_reason(channel, created_after, policy) is None


def select_auto_join(
    channels: Iterable[Mapping[str, Any]],
    created_after: datetime | None,
    left_out: Counter[str] | None = None,
    policy: AutoJoinPolicy | None = None,
) -> list[ChannelRef]:
    """The channels to join, as compact ``{"id", "name"}`` refs, each id once, in list order.

    ``left_out``, when given, counts the other channels by reason (the policy's reasons included).
    """
    selected: dict[str, ChannelRef] = {}
    for channel in channels:
        channel_id = channel.get("id")
        reason = "no id" if not isinstance(channel_id, str) or not channel_id else None
        reason = reason or exclusion_reason(channel, created_after, policy)
        if reason is None:
            selected.setdefault(
                str(channel_id), {"id": str(channel_id), "name": str(channel.get("name") or channel_id)}
            )
        elif left_out is not None:
            left_out[reason] += 1
    return list(selected.values())


def plan_batches(
    channels: Sequence[ChannelRef], *, max_tasks: int, accounts_per_task: int = 16, batch_size: int = 250
) -> list[list[ChannelRef]]:
    """Cut a selection into at most ``max_tasks`` mapped tasks.

    Up to ``max_tasks`` channels get one task each (one line per channel in the grid). More channels of
    one account go in even batches of about ``batch_size`` (more when ``max_tasks`` would be exceeded):
    one account's joins are paced by its own rate limit, so running them in parallel gains nothing, and
    a first run over thousands of channels pays the per-task overhead a few times, not thousands, far
    below ``max_map_length``.
    Channels of many accounts are grouped by account, about ``accounts_per_task`` accounts to a task, so
    each task can work its accounts in parallel (each account is limited on its own, the token on top).
    """
    if max_tasks < 1:
        raise TrutoInputError("max_tasks", f"must be at least 1, got {max_tasks}")
    if accounts_per_task < 1:
        raise TrutoInputError("accounts_per_task", f"must be at least 1, got {accounts_per_task}")
    if len(channels) <= max_tasks:
        return [[channel] for channel in channels]
    by_account: dict[str | None, list[ChannelRef]] = {}
    for channel in channels:
        by_account.setdefault(channel.get("integrated_account_id"), []).append(channel)
    if len(by_account) == 1:
        size = math.ceil(len(channels) / min(max_tasks, math.ceil(len(channels) / batch_size)))
        return [list(channels[start : start + size]) for start in range(0, len(channels), size)]
    tasks: list[list[ChannelRef]] = [
        [] for _ in range(min(max_tasks, math.ceil(len(by_account) / accounts_per_task)))
    ]
    # Largest accounts first, each to the task with the fewest channels so far: tasks end close together.
    for account_channels in sorted(by_account.values(), key=len, reverse=True):
        min(tasks, key=len).extend(account_channels)
    return tasks


def batch_label(batch: Sequence[Mapping[str, Any]]) -> str:
    """A mapped task's label: the channel's name, or the first name and how many more."""
    if not batch:
        return "no channels"
    first = str(batch[0].get("name") or batch[0].get("id"))
    return first if len(batch) == 1 else f"{first} +{len(batch) - 1} more"


def unjoinable_reason(error: BaseException) -> str | None:
    """Why a join failed for good for this channel alone, or ``None`` when the error is about more.

    A 404 counts only when the provider said it (the channel is gone); Truto's own 404 (say, an unknown
    integrated account) would hit every channel alike and must fail the task instead.
    """
    if not isinstance(error, TrutoHTTPError):
        return None
    if error.remote_error in UNJOINABLE_REMOTE_ERRORS:
        return error.remote_error
    if isinstance(error, TrutoNotFoundError) and error.is_remote_error:
        return error.remote_error or "not_found"
    return None


def auto_join_cutoff(
    created_after: Any, last_success_start: datetime | None, overlap: timedelta
) -> datetime | None:
    """The creation time after which a channel counts as new.

    An explicit ``created_after`` wins. Otherwise: the start of the last successful run, less a generous
    overlap (clock skew, channels created while that run was listing). A data interval is no safe
    cutoff: in Airflow 3 an ``@hourly`` cron schedule has a zero-length one, and failed runs leave gaps.
    With no successful run yet, every channel is new (``None``).
    """
    if created_after not in (None, ""):
        return parse_timestamp(created_after)
    if last_success_start is None:
        return None
    return parse_timestamp(last_success_start, "last_success_start") - overlap


# -- a watch for new channels: the sensor's check and the trigger's polls ------------------------------------


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
        created[channel_id] = when = _created_at(channel)
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


def _created_at(channel: Mapping[str, Any]) -> datetime | None:
    value = channel.get("created_at")
    if not value:
        return None
    try:
        return parse_timestamp(value, "created_at")
    except TrutoInputError:
        return None

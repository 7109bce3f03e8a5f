"""Which channels the auto-join bot joins: one rule for the scheduled DAG, the sensor and the trigger.

Pure functions over unified channel dicts, so "new public channel" means one thing everywhere: public,
active, the bot not a member, created after a cutoff. An auto-join policy
(:class:`~airflow_provider_truto.auto_join.policy.AutoJoinPolicy`) narrows the selection by name and
sharing; ``policy=None`` applies no policy rule. No Airflow or HTTP imports.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from airflow_provider_truto.auto_join.timestamps import created_at

if TYPE_CHECKING:  # the sensor imports the selection when a DAG is parsed; a policy is only asked
    from airflow_provider_truto.auto_join.policy import AutoJoinPolicy

ChannelRef = dict[str, str]  # {"id": ..., "name": ...}: what travels through XCom, not the whole channel


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
    created = created_at(channel)
    if created_after is None or created is None:
        return None  # No readable creation time: joining is idempotent, so when unsure, include it.
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

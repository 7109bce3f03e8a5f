"""Which channels the auto-join bot joins: one rule for the scheduled DAG, the sensor and the trigger.

Pure functions over unified channel dicts, so "new public channel" means one thing everywhere: public,
active, the bot not a member, created after a cutoff. An auto-join policy
(:class:`~airflow_provider_truto.auto_join.policy.AutoJoinPolicy`) narrows the selection by name and
sharing; ``policy=None`` applies no policy rule. No Airflow or HTTP imports.

**Creation times that cannot be used.** A channel whose ``created_at`` cannot be read (an epoch in
milliseconds, NaN, a year before 1970, text that is no time) is left out, whatever the cutoff, counted as
:data:`~airflow_provider_truto.auto_join.timestamps.UNREADABLE_CREATED_AT`, with a warning: it is one
channel's problem, and taking it for new would join channels created long before the cutoff. A channel
with no ``created_at`` at all is left out only when a cutoff applies (counted as
:data:`~airflow_provider_truto.auto_join.timestamps.NO_CREATED_AT`, with a warning): nothing shows it is
newer than the cutoff. Without a cutoff every joinable channel counts, dated or not.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from airflow_provider_truto.auto_join.timestamps import (
    NO_CREATED_AT,
    UNREADABLE_CREATED_AT,
    read_created_at,
    shown_created_at,
)

if TYPE_CHECKING:  # the sensor imports the selection when a DAG is parsed; a policy is only asked
    from airflow_provider_truto.auto_join.policy import AutoJoinPolicy

ChannelRef = dict[str, str]  # {"id": ..., "name": ...}: what travels through XCom, not the whole channel

log = logging.getLogger(__name__)

# The reasons about a channel's creation time, each worth a warning that names the channel.
CREATED_AT_REASONS = frozenset({NO_CREATED_AT, UNREADABLE_CREATED_AT})
WARNINGS_PER_SELECTION = 10  # channels named one by one; the rest in one line


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
    created = read_created_at(channel)
    if created == UNREADABLE_CREATED_AT:
        return UNREADABLE_CREATED_AT
    if created_after is None:
        return None
    if not isinstance(created, datetime):
        return NO_CREATED_AT  # nothing shows it is newer than the cutoff
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
    *,
    warn_to: logging.Logger | Any = None,
) -> list[ChannelRef]:
    """The channels to join, as compact ``{"id", "name"}`` refs, each id once, in list order.

    ``left_out``, when given, counts the other channels by reason (the policy's reasons included).
    A channel left out for its creation time is also named in a warning on ``warn_to`` (default: this
    module's logger).
    """
    selected: dict[str, ChannelRef] = {}
    warnings = CreationTimeWarnings(warn_to, created_after)
    for channel in channels:
        channel_id = channel.get("id")
        reason = "no id" if not isinstance(channel_id, str) or not channel_id else None
        reason = reason or exclusion_reason(channel, created_after, policy)
        if reason is None:
            selected.setdefault(
                str(channel_id), {"id": str(channel_id), "name": str(channel.get("name") or channel_id)}
            )
            continue
        warnings.note(channel, reason)
        if left_out is not None:
            left_out[reason] += 1
    warnings.close()
    return list(selected.values())


class CreationTimeWarnings:
    """Warns about the channels one selection leaves out for their creation time, naming each (the
    first :data:`WARNINGS_PER_SELECTION`; the rest in one line), so a watch tells why a channel never
    comes instead of skipping it silently.

    :param warn_to: a logger (``None``: this module's).
    :param created_after: the selection's cutoff, which the warnings name.
    """

    def __init__(self, warn_to: logging.Logger | Any, created_after: datetime | None) -> None:
        self.log = warn_to if warn_to is not None else log
        self.created_after = created_after
        self.named: set[str] = set()
        self.more = 0

    def note(self, channel: Mapping[str, Any], reason: str | None) -> None:
        """Warn about ``channel`` if ``reason`` is about its creation time (once per channel)."""
        if reason not in CREATED_AT_REASONS:
            return
        channel_id = str(channel.get("id"))
        if channel_id in self.named:
            return
        if len(self.named) >= WARNINGS_PER_SELECTION:
            self.more += 1
            return
        self.named.add(channel_id)
        if reason == UNREADABLE_CREATED_AT:
            self.log.warning(
                "Channel %s (%s) left out: its created_at %s is no time this provider can read; it is "
                "taken up once Truto lists a readable one",
                channel.get("name"),
                channel_id,
                shown_created_at(channel),
            )
        else:
            self.log.warning(
                "Channel %s (%s) left out: it has no created_at, so nothing shows it was created after "
                "the cutoff %s",
                channel.get("name"),
                channel_id,
                self.created_after.isoformat() if self.created_after else None,
            )

    def close(self) -> None:
        """Warn once about the channels not named."""
        if self.more:
            self.log.warning("%d more channels left out for their created_at (see the counts)", self.more)
            self.more = 0

"""Asset events of the webhook receiver, read back in the DAGs they trigger.

``example_truto_webhook_auto_join`` (a workspace connected: auto-join its existing public channels) and
``example_truto_webhook_join_channel`` (a channel created: join it) run on the asset events the receiver
records (:mod:`airflow_provider_truto.webhooks.events`). A run may carry several events, of several
connections; each workspace and each channel is acted on once per run. Like the rest of the package, no
Airflow here: the DAG hands in how to make a connection's hook (``TrutoHook``).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from airflow_provider_truto.auto_join.planning import TrutoReader
from airflow_provider_truto.webhooks.events import ACCOUNT_ID, CHANNEL, CONN_ID, EVENT_ID

if TYPE_CHECKING:
    from airflow_provider_truto.auto_join.policy import AutoJoinPolicy

log = logging.getLogger(__name__)


class WorkspaceReader(TrutoReader, Protocol):
    """What planning a connected workspace's joins reads through (a ``TrutoHook``), closed after."""

    def close(self) -> None: ...


class ChannelReader(Protocol):
    """What selecting created channels asks of Truto (a ``TrutoHook``): one channel, and a close."""

    def get_channel(self, channel_id: str, integrated_account_id: str | None = None) -> dict[str, Any]: ...

    def close(self) -> None: ...


def webhook_extras(events: Iterable[Any]) -> list[Mapping[str, Any]]:
    """The extras of the events the receiver recorded (others on the same asset are passed over)."""
    extras = []
    for event in events:
        extra = getattr(event, "extra", None)
        if (
            isinstance(extra, Mapping)
            and extra.get(EVENT_ID)
            and extra.get(CONN_ID)
            and extra.get(ACCOUNT_ID)
        ):
            extras.append(extra)
    return extras


def connected_workspaces(events: Iterable[Any]) -> dict[str, list[str]]:
    """Connection id -> the workspaces (integrated account ids) connected, each once, in event order."""
    workspaces: dict[str, list[str]] = {}
    for extra in webhook_extras(events):
        accounts = workspaces.setdefault(str(extra[CONN_ID]), [])
        if str(extra[ACCOUNT_ID]) not in accounts:
            accounts.append(str(extra[ACCOUNT_ID]))
    return workspaces


@dataclass
class WorkspaceJoinPlan:
    """What the workspace DAG maps over: ``[{"truto_conn_id", "channel_ids": [...]}, ...]``, and per
    account what the selection found (as
    :class:`~airflow_provider_truto.auto_join.planning.AutoJoinPlan`'s)."""

    joins: list[dict[str, Any]] = field(default_factory=list)
    accounts: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def batches(self) -> list[list[dict[str, str]]]:
        return [list(item["channel_ids"]) for item in self.joins]


def plan_workspace_joins(
    events: Iterable[Any],
    *,
    hook_for: Callable[[str], WorkspaceReader],
    policy: AutoJoinPolicy | None = None,
    max_tasks: int = 16,
    accounts_at_once: int = 16,
) -> WorkspaceJoinPlan:
    """Plan the auto-join of every workspace the events connected: all their existing public channels the
    policy allows, in batches (the scheduled auto-join's selection, with no cutoff), per connection.

    ``hook_for`` makes the hook of a connection id (``TrutoHook``); each is closed when planned."""
    from airflow_provider_truto.auto_join.planning import plan_auto_join

    plan = WorkspaceJoinPlan()
    for conn_id, accounts in connected_workspaces(events).items():
        log.info(
            "Connection %s: auto-joining %d connected workspaces: %s",
            conn_id,
            len(accounts),
            ", ".join(accounts),
        )
        hook = hook_for(conn_id)
        try:
            planned = plan_auto_join(
                hook,
                integrated_account_ids=accounts,
                created_after=None,
                last_success_start=None,
                max_tasks=max_tasks,
                accounts_at_once=accounts_at_once,
                policy=policy,
            )
        finally:
            hook.close()
        plan.joins.extend({"truto_conn_id": conn_id, "channel_ids": batch} for batch in planned.batches)
        plan.accounts.update(planned.accounts)
    return plan


def created_channels(events: Iterable[Any]) -> list[dict[str, str]]:
    """The channels the events created, each once, in event order:
    ``[{"truto_conn_id", "integrated_account_id", "id", "name"}, ...]``."""
    channels: dict[tuple[str, str, str], dict[str, str]] = {}
    for extra in webhook_extras(events):
        channel = extra.get(CHANNEL)
        if not isinstance(channel, Mapping) or not channel.get("id"):
            continue
        key = (str(extra[CONN_ID]), str(extra[ACCOUNT_ID]), str(channel["id"]))
        channels.setdefault(
            key,
            {
                "truto_conn_id": key[0],
                "integrated_account_id": key[1],
                "id": key[2],
                "name": str(channel.get("name") or channel["id"]),
            },
        )
    return list(channels.values())


def select_created_channels(
    channels: Iterable[Mapping[str, str]],
    *,
    hook_for: Callable[[str], ChannelReader],
    policy: AutoJoinPolicy | None = None,
) -> tuple[list[dict[str, str]], Counter[str]]:
    """The created channels to join, as ``JoinChannelOperator`` kwargs (``truto_conn_id``,
    ``integrated_account_id``, ``channel_id``), and the others counted by reason.

    Each channel is read again from Truto first: the webhook's copy may be partial (its shape is
    unconfirmed), and the channel may have changed since (archived, joined, shared). Then the auto-join's
    own rule decides (public, active, not a member, allowed by the policy); a channel gone since is left out.
    """
    from airflow_provider_truto.auto_join.selection import exclusion_reason
    from airflow_provider_truto.exceptions import TrutoNotFoundError

    hooks: dict[str, ChannelReader] = {}
    selected: list[dict[str, str]] = []
    left_out: Counter[str] = Counter()
    for channel in channels:
        conn_id, account = channel["truto_conn_id"], channel["integrated_account_id"]
        hook = hooks.get(conn_id) or hooks.setdefault(conn_id, hook_for(conn_id))
        try:
            fresh = hook.get_channel(channel["id"], account)
        except TrutoNotFoundError:
            reason: str | None = "gone"
        else:
            reason = exclusion_reason(fresh, None, policy)
        if reason is not None:
            log.info(
                "Channel %s (%s) of %s is left alone: %s", channel["name"], channel["id"], account, reason
            )
            left_out[reason] += 1
            continue
        selected.append(
            {"truto_conn_id": conn_id, "integrated_account_id": account, "channel_id": channel["id"]}
        )
    for hook in hooks.values():
        hook.close()
    return selected, left_out

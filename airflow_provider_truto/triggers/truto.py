"""TrutoNewChannelsTrigger: watch one Slack workspace, or a fleet of them, for channels the bot should join.

Usable two ways:

- **Deferral** (``TrutoNewChannelsSensor(deferrable=True)``): the first event resumes the task.
- **Event-driven scheduling** (``Asset(watchers=[AssetWatcher(trigger=...)])``): the trigger keeps polling
  and fires once per batch of new channels of a workspace; each event becomes an asset event whose
  ``extra["payload"]`` is the event payload below.

**Which workspaces.** ``integrated_account_id`` (or the connection's account): one.
``integrated_account_ids``: a list, or ``"all"``: every active Slack account of the token's environment
(the admin account list, as the auto-join DAG's ``"all"`` reads it), read again every
``discovery_interval``, so a workspace connected while the trigger runs is watched without a restart,
and one disconnected is dropped.

**Which channels.** :class:`~airflow_provider_truto.auto_join.watermark.NewChannels`, the auto-join
selection of :func:`~airflow_provider_truto.auto_join.selection.is_auto_joinable` (public, active, the bot
not a member, created after ``created_after``) narrowed by the auto-join policy, per workspace
(``account_policies`` gives a workspace its own). The list is asked for as
:func:`~airflow_provider_truto.auto_join.listing.channel_list_query` says (pages of up to 1,000, Slack
filtering out private and archived channels) and read page by page: only the channels to report are kept.

**How often.** :class:`~airflow_provider_truto.auto_join.schedule.FleetSchedule`: each workspace at most
every ``poll_interval``, within a share (``budget_share``, one half) of the token's budget, of each
workspace's Truto budget and of Slack's list tier; the cycle over the fleet is as short as those allow.

Event payloads (one success event per workspace poll that found channels)::

    {"status": "success", "integrated_account_id": "...", "watermark": "2026-05-01T10:00:00Z",
     "channels": [{"id", "name", "created_at", "integrated_account_id"}, ...]}
    {"status": "error", "integrated_account_id": "...", "message": "...", "error_type": "TrutoAuthError",
     "status_code": 401, ..., "set_aside_until": "2026-05-01T10:10:00Z"}

**Not losing or repeating channels.** Per workspace, after each event the watch advances a *watermark*
(the newest ``created_at`` it reported) and remembers the ids it reported within ``lookback_seconds``
below it (``seen_ids``); a channel counts only if it was created at or after ``watermark -
lookback_seconds`` and is not in ``seen_ids``. Channels created in the same second as the watermark, or
listed late, are still reported, and none twice. One workspace's state also travels in :meth:`serialize`
(``watermark``, ``seen_ids``), so a one-workspace trigger re-created from ``serialize()`` carries on where
the old one stopped. The selection excludes channels the bot is already in, so a joined channel never
comes back, whatever state is lost.

The watermark never passes the present: a channel stamped in the future is reported with a warning, and
the watermark stops at now (a watermark given or restored in the future is read as now, also with a
warning), so no channel created later is hidden behind it. A channel whose ``created_at`` cannot be read
is left out with a warning on every poll, never taken for new.

What a triggerer restart does: Airflow re-creates a trigger from the kwargs stored when it was created
(for a deferral: when the task deferred; for an AssetWatcher: when the DAG was parsed). A deferral has
fired nothing yet, so nothing is lost or repeated. A watcher saves each workspace's watermark in the
asset's state store (Airflow >= 3.3) one ``poll_interval`` after handing its event over (the triggerer
writes events to the database within about a second, so a crash cannot save the watermark of an event
that was never written), and reads it back before the workspace's first poll. The key is per watch
(:func:`~airflow_provider_truto.auto_join.fleet.watch_state_key`): connection, account, ``created_after``
and the workspace's policy, the same whether one trigger watches the workspace or a fleet. Without a
state store, or if the crash falls in that window, channels already reported *and not yet joined* may be
reported again; nothing is ever dropped. A repeat lands in another DAG run, so its join goes out under
another key; it is harmless because Slack answers a join of a channel the bot is already in with success.

**Errors.** Each request is retried by :class:`~airflow_provider_truto.client.async_client.AsyncTrutoClient`
with the hook's own policy (429 waits for ``Retry-After``) and paced by the connection's budgets. A poll
that still fails with an error a retry could mend is logged, and the workspace is polled again at its
next turn. An error no retry mends (:func:`~airflow_provider_truto.auto_join.fleet.failure_of`):

- watching one workspace: an ``error`` event, and the trigger ends (the sensor fails with the typed error);
- watching a fleet: the workspace is set aside (re-auth needed, blocked, gone, a missing scope, answers
  that cannot be read), reported once in an ``error`` event carrying ``set_aside_until``, checked again
  every ``recheck_interval``, and the others go on. Only what no workspace could get past (Truto refusing
  the API token itself, a Base URL that redirects, a missing connection, a wrong setting) ends the trigger.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseEventTrigger, TriggerEvent

from airflow_provider_truto.auto_join.defaults import (
    ALL_ACCOUNTS,
    DEFAULT_BUDGET_SHARE,
    DEFAULT_CHANNELS_PER_PAGE,
    DEFAULT_MAX_CHANNELS,
    DEFAULT_WATCH_POLL_INTERVAL,
)
from airflow_provider_truto.auto_join.policy import AutoJoinPolicy, parse_account_policies
from airflow_provider_truto.auto_join.timestamps import parse_timestamp
from airflow_provider_truto.client.query import format_scalar
from airflow_provider_truto.client.validation import (
    given,
    optional_count,
    optional_id,
    require_count,
    require_id,
    require_non_negative,
    require_positive,
)
from airflow_provider_truto.exceptions import TrutoInputError
from airflow_provider_truto.hooks.connection_type import DEFAULT_CONN_ID
from airflow_provider_truto.pacing.limits import SLACK_LIST_RATE_LIMIT, RateLimit

if TYPE_CHECKING:
    from airflow_provider_truto.auto_join.schedule import FleetBudgets
    from airflow_provider_truto.client.config import TrutoConfig

DEFAULT_LOOKBACK_SECONDS = 300.0
# "all": the account list is read again this often, so a workspace connected meanwhile is watched
# within a minute or so; at most every 5 minutes. One read is a request per 200 accounts.
DEFAULT_DISCOVERY_INTERVAL = 60.0
MAX_DISCOVERY_INTERVAL = 300.0
DEFAULT_RECHECK_INTERVAL = 600.0  # a workspace set aside is tried again after this


class TrutoNewChannelsTrigger(BaseEventTrigger):
    """Fire when channels the auto-join bot should join appear in one Truto account, or in many.

    :param truto_conn_id: the Airflow connection of type ``truto`` (its token, base URL, timeouts, retries,
        rate limits).
    :param integrated_account_id: one account to watch; defaults to the connection's.
    :param integrated_account_ids: a fleet instead: a list of account ids, or ``"all"`` (every active Slack
        account of the token's environment, read again every ``discovery_interval``).
    :param created_after: ISO-8601; only channels created strictly after it count. ``None``: any time, so
        a workspace's first poll reports every joinable channel the bot is not in yet (its backlog).
    :param poll_interval: the shortest time, in seconds, between two polls of one workspace; with more
        workspaces than the budgets can poll that often, as often as they allow.
    :param limit: the page size asked for (Slack gives up to 1000); any page size that comes back is read.
    :param max_channels: at most this many channels per event, oldest first; the rest follow next poll.
    :param lookback_seconds: how far below the watermark late-listed channels are still looked for.
    :param watermark: one workspace's state: the newest ``created_at`` already reported (ISO-8601).
    :param seen_ids: one workspace's state: ids already reported at or above ``watermark - lookback``.
    :param include: globs on the channel name to report (a pattern or a list); none means every name.
    :param exclude: globs on the channel name never to report; they win over ``include``.
    :param include_shared: also report channels shared with other organisations (Slack Connect).
    :param account_policies: account id -> its own ``include`` / ``exclude`` / ``include_shared`` (keys it
        leaves out keep the trigger's), as the auto-join DAG's param.
    :param budget_share: the share, in (0, 1], of the token's budget, of each workspace's Truto budget and
        of Slack's list tier the watch may spend; the rest is left to the DAGs and their joins.
    :param discovery_interval: with ``"all"``, seconds between two reads of the account list (at most 300).
    :param recheck_interval: seconds before a workspace set aside by a lasting failure is tried again.
    :param slack_list_rate_limit: Slack's limit on listing one workspace's channels, ``CALLS/SECONDS``
        (Slack's Tier 2, ``20/60``), or ``off``.
    """

    def __init__(
        self,
        *,
        truto_conn_id: str = DEFAULT_CONN_ID,
        integrated_account_id: str | None = None,
        integrated_account_ids: str | Sequence[str] | None = None,
        created_after: str | datetime | None = None,
        poll_interval: float = DEFAULT_WATCH_POLL_INTERVAL,
        limit: int | None = DEFAULT_CHANNELS_PER_PAGE,
        max_channels: int = DEFAULT_MAX_CHANNELS,
        lookback_seconds: float = DEFAULT_LOOKBACK_SECONDS,
        watermark: str | datetime | None = None,
        seen_ids: Iterable[str] | None = None,
        include: str | Sequence[str] | None = None,
        exclude: str | Sequence[str] | None = None,
        include_shared: bool = False,
        account_policies: Mapping[str, Any] | None = None,
        budget_share: float = DEFAULT_BUDGET_SHARE,
        discovery_interval: float = DEFAULT_DISCOVERY_INTERVAL,
        recheck_interval: float = DEFAULT_RECHECK_INTERVAL,
        slack_list_rate_limit: str | None = str(SLACK_LIST_RATE_LIMIT),
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.truto_conn_id = require_id("truto_conn_id", truto_conn_id)
        self.integrated_account_id = optional_id("integrated_account_id", integrated_account_id)
        self.integrated_account_ids = _account_ids(integrated_account_ids)
        if self.integrated_account_id is not None and self.integrated_account_ids is not None:
            raise TrutoInputError(
                "integrated_account_ids",
                "give 'integrated_account_id' (one) or 'integrated_account_ids', not both",
            )
        self.created_after = _optional_time(created_after, "created_after")
        self.poll_interval = require_positive("poll_interval", poll_interval)
        self.limit = optional_count("limit", limit)
        self.max_channels = require_count("max_channels", max_channels)
        self.lookback_seconds = require_non_negative("lookback_seconds", lookback_seconds)
        self.watermark = _optional_time(watermark, "watermark")
        if seen_ids is not None and (isinstance(seen_ids, str) or not isinstance(seen_ids, Iterable)):
            raise TrutoInputError("seen_ids", "must be a list of channel ids")
        self.seen_ids: list[str] = sorted({require_id("seen_ids[]", i) for i in (seen_ids or ())})
        self.policy = AutoJoinPolicy.build(include, exclude, include_shared)
        self.account_policies = parse_account_policies(account_policies, self.policy)
        if isinstance(self.integrated_account_ids, list):
            strangers = sorted(set(self.account_policies) - set(self.integrated_account_ids))
            if strangers:
                raise TrutoInputError(
                    "account_policies",
                    f"has a policy for {', '.join(strangers)}, which this trigger does not watch",
                )
        self.budget_share = require_positive("budget_share", budget_share, "share")
        if self.budget_share > 1:
            raise TrutoInputError("budget_share", f"must be a share in (0, 1], got {budget_share!r}")
        self.discovery_interval = require_positive("discovery_interval", discovery_interval)
        if self.discovery_interval > MAX_DISCOVERY_INTERVAL:
            raise TrutoInputError(
                "discovery_interval",
                f"must be at most {MAX_DISCOVERY_INTERVAL:g} seconds, got {discovery_interval!r}",
            )
        self.recheck_interval = require_positive("recheck_interval", recheck_interval)
        try:
            self.slack_list_rate_limit = RateLimit.parse(slack_list_rate_limit)
        except (ValueError, AttributeError) as error:
            raise TrutoInputError("slack_list_rate_limit", str(error)) from None

    @property
    def watches_a_fleet(self) -> bool:
        """Whether a lasting failure of one workspace sets it aside rather than ending the trigger."""
        return self.integrated_account_ids is not None

    def policy_for(self, account: str) -> AutoJoinPolicy:
        """The auto-join policy of one workspace: its own (``account_policies``), else the trigger's."""
        return self.account_policies.get(account, self.policy)

    def budgets(self, config: TrutoConfig) -> FleetBudgets:
        """What the watch paces within: the connection's limits and Slack's, at ``budget_share``."""
        from airflow_provider_truto.auto_join.schedule import FleetBudgets

        return FleetBudgets(
            token=config.environment_rate_limit,
            account=config.account_rate_limit,
            slack_list=self.slack_list_rate_limit,
            share=self.budget_share,
            poll_interval=self.poll_interval,
        )

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """The class path and kwargs; a one-workspace watch's watermark and seen ids included."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "truto_conn_id": self.truto_conn_id,
                "integrated_account_id": self.integrated_account_id,
                "integrated_account_ids": self.integrated_account_ids,
                "created_after": _iso(self.created_after),
                "poll_interval": self.poll_interval,
                "limit": self.limit,
                "max_channels": self.max_channels,
                "lookback_seconds": self.lookback_seconds,
                "watermark": _iso(self.watermark),
                "seen_ids": list(self.seen_ids),
                **self.policy.to_kwargs(),
                "account_policies": {
                    account: policy.to_kwargs() for account, policy in sorted(self.account_policies.items())
                },
                "budget_share": self.budget_share,
                "discovery_interval": self.discovery_interval,
                "recheck_interval": self.recheck_interval,
                "slack_list_rate_limit": str(self.slack_list_rate_limit or "off"),
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from airflow_provider_truto.exceptions import error_payload
        from airflow_provider_truto.hooks.truto import TrutoHook
        from airflow_provider_truto.triggers.fleet_watch import FleetWatch

        try:
            # The hook reads the connection in a thread, off the event loop; the client is httpx's.
            client = await TrutoHook(self.truto_conn_id).get_async_conn(log=self.log)
        except Exception as error:  # a missing connection is no TrutoError, and no retry mends it either
            yield _event(error_payload(error, self.integrated_account_id))
            return
        async with client:
            watch = FleetWatch(self, client, store=getattr(self, "asset_state_store", None))
            async for payload in watch.events():
                yield _event(payload)


def _event(payload: dict[str, Any]) -> TriggerEvent:
    return TriggerEvent(payload)  # type: ignore[no-untyped-call]


def _account_ids(value: Any) -> str | list[str] | None:
    """``integrated_account_ids`` checked: ``None``, ``"all"`` or a list of ids (each once, in order)."""
    if given(value) is None:
        return None
    if isinstance(value, str):
        if value.strip().lower() != ALL_ACCOUNTS:
            raise TrutoInputError(
                "integrated_account_ids", f'must be a list of account ids or "all", got {value!r}'
            )
        return ALL_ACCOUNTS
    if not isinstance(value, Sequence) or not value:
        raise TrutoInputError(
            "integrated_account_ids", f'must be a list of account ids or "all", got {value!r}'
        )
    return list(dict.fromkeys(require_id("integrated_account_ids[]", account) for account in value))


def _optional_time(value: str | datetime | None, argument: str) -> datetime | None:
    if given(value) is None:
        return None
    return parse_timestamp(value, argument).astimezone(timezone.utc)


def _iso(value: datetime | None) -> str | None:
    return format_scalar(value) if value is not None else None

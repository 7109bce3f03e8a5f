"""TrutoNewChannelsTrigger: poll Truto's channel list asynchronously and fire when joinable channels appear.

Usable two ways:

- **Deferral** (``TrutoNewChannelsSensor(deferrable=True)``): the first event resumes the task.
- **Event-driven scheduling** (``Asset(watchers=[AssetWatcher(trigger=...)])``): the trigger keeps polling
  and fires once per batch of new channels; each event becomes an asset event whose ``extra["payload"]``
  is the event payload below.

Which channels: :func:`airflow_provider_truto.auto_join.watermark.select_new_channels`, the auto-join
selection of :func:`airflow_provider_truto.auto_join.selection.is_auto_joinable`
(public, active, the bot not a member, created after ``created_after``) narrowed by the auto-join policy
(:class:`airflow_provider_truto.auto_join.policy.AutoJoinPolicy`: ``include`` / ``exclude`` globs on the name,
``include_shared``), so "new channel" means the same thing here as in the sensor and the scheduled
auto-join DAG.

Event payloads::

    {"status": "success", "integrated_account_id": "...", "watermark": "2026-05-01T10:00:00Z",
     "channels": [{"id", "name", "created_at", "integrated_account_id"}, ...]}
    {"status": "error", "message": "...", "error_type": "TrutoAuthError", "status_code": 401, ...}

**Not losing or repeating channels.** After each event the trigger advances a *watermark* (the newest
``created_at`` it reported) and remembers the ids it reported within ``lookback_seconds`` below it
(``seen_ids``); a channel counts only if it was created at or after ``watermark - lookback_seconds`` and is
not in ``seen_ids``. Channels created in the same second as the watermark, or listed late, are therefore
still reported, and none twice. Both travel in :meth:`serialize`, so a trigger re-created from
``serialize()`` carries on exactly where the old one stopped. The selection itself excludes channels the
bot is already in, so a joined channel never comes back, whatever state is lost.

The watermark never passes the present: a channel stamped in the future is reported with a warning, and
the watermark stops at now (a watermark given or restored in the future is read as now, also with a
warning), so no channel created later is hidden behind it. A channel whose ``created_at`` cannot be read
is left out with a warning on every poll, never taken for new.

What a triggerer restart does: Airflow re-creates a trigger from the kwargs stored when it was created
(for a deferral: when the task deferred; for an AssetWatcher: when the DAG was parsed), not from the live
object. A deferral has fired nothing yet, so nothing is lost or repeated. A watcher would start again
from the DAG's ``created_after``; to avoid that it saves its watermark in the asset's state store (Airflow
>= 3.3), one poll interval after handing an event over (the triggerer writes events to the database
within about a second, so a crash cannot save the watermark of an event that was never written), and
restores it on start. The state is kept per watch: per connection, account, ``created_after`` and auto-join
policy, so a watcher whose policy changes starts afresh and reports the older channels the new policy
allows. Without a state store, or if the crash falls in that window, channels already reported *and not
yet joined* may be reported again; nothing is ever dropped. A repeat is harmless, though not thanks to
idempotency keys: it lands in another DAG run, so its join goes out under another key; Slack answers a
join of a channel the bot is already in with success.

**Errors.** Each poll reads the channel list through
:class:`~airflow_provider_truto.client.async_client.AsyncTrutoClient`, the sync client's async twin: each
request is retried with the hook's own policy (:func:`airflow_provider_truto.client.retry.retry_policy`, 429
waits for ``Retry-After``), paced by the same budgets, and checked the same way. If a poll still fails with
an error a retry could mend (429, 5xx other than 503, timeouts), the trigger logs it and polls again at the
next interval: a sensor keeps waiting until its own timeout, a watcher outlives a Truto outage. Errors no
retry can mend (bad token, unknown account, blocked account, a missing connection) fire an ``error`` event
and end the trigger.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections import Counter
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseEventTrigger, TriggerEvent

from airflow_provider_truto.auto_join.defaults import (
    DEFAULT_CHANNELS_PER_PAGE,
    DEFAULT_MAX_CHANNELS,
    DEFAULT_POLL_INTERVAL,
)
from airflow_provider_truto.auto_join.policy import AutoJoinPolicy
from airflow_provider_truto.auto_join.report import describe_left_out
from airflow_provider_truto.auto_join.timestamps import parse_timestamp
from airflow_provider_truto.auto_join.watermark import (
    bounded_watermark,
    channel_summary,
    select_new_channels,
)
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

if TYPE_CHECKING:
    from airflow_provider_truto.client.async_client import AsyncTrutoClient

DEFAULT_LOOKBACK_SECONDS = 300.0
STATE_KEY_PREFIX = "truto_new_channels"


class TrutoNewChannelsTrigger(BaseEventTrigger):
    """Fire when channels the auto-join bot should join appear in a Truto account.

    :param truto_conn_id: the Airflow connection of type ``truto`` (its token, base URL, timeouts, retries).
    :param integrated_account_id: the account to watch; defaults to the connection's.
    :param created_after: ISO-8601; only channels created strictly after it count. ``None``: any time, so
        the first poll reports every joinable channel the bot is not in yet (the backlog).
    :param poll_interval: seconds between two polls of the channel list.
    :param limit: page size of each channel-list request (every page is read).
    :param max_channels: at most this many channels per event, oldest first; the rest follow next poll.
    :param lookback_seconds: how far below the watermark late-listed channels are still looked for.
    :param watermark: state: the newest ``created_at`` already reported (ISO-8601), ``None`` at first.
    :param seen_ids: state: ids already reported at or above ``watermark - lookback_seconds``.
    :param include: globs on the channel name to report (a pattern or a list); none means every name.
    :param exclude: globs on the channel name never to report; they win over ``include``.
    :param include_shared: also report channels shared with other organisations (Slack Connect).
    """

    def __init__(
        self,
        *,
        truto_conn_id: str = DEFAULT_CONN_ID,
        integrated_account_id: str | None = None,
        created_after: str | datetime | None = None,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        limit: int | None = DEFAULT_CHANNELS_PER_PAGE,
        max_channels: int = DEFAULT_MAX_CHANNELS,
        lookback_seconds: float = DEFAULT_LOOKBACK_SECONDS,
        watermark: str | datetime | None = None,
        seen_ids: Iterable[str] | None = None,
        include: str | Sequence[str] | None = None,
        exclude: str | Sequence[str] | None = None,
        include_shared: bool = False,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.truto_conn_id = require_id("truto_conn_id", truto_conn_id)
        self.integrated_account_id = optional_id("integrated_account_id", integrated_account_id)
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
        self._state_unsaved = False

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """The class path and kwargs, the current watermark and seen ids included."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "truto_conn_id": self.truto_conn_id,
                "integrated_account_id": self.integrated_account_id,
                "created_after": _iso(self.created_after),
                "poll_interval": self.poll_interval,
                "limit": self.limit,
                "max_channels": self.max_channels,
                "lookback_seconds": self.lookback_seconds,
                "watermark": _iso(self.watermark),
                "seen_ids": list(self.seen_ids),
                **self.policy.to_kwargs(),
            },
        )

    # -- the poll loop -------------------------------------------------------------------------------

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from airflow_provider_truto.hooks.truto import TrutoHook

        try:
            # The hook reads the connection in a thread, off the event loop; the client is httpx's.
            client = await TrutoHook(self.truto_conn_id).get_async_conn(log=self.log)
        except Exception as error:  # a missing connection is no TrutoError, and no retry mends it either
            yield _event(_error_payload(error, self.integrated_account_id))
            return
        async with client:
            try:
                account = client.account_id(self.integrated_account_id)
            except TrutoInputError as error:
                yield _event(_error_payload(error, self.integrated_account_id))
                return
            await self._restore_state(account)
            self._bound_watermark()
            async for event in self._poll(client, account):
                yield event

    async def _poll(self, client: AsyncTrutoClient, account: str) -> AsyncIterator[TriggerEvent]:
        from airflow_provider_truto.client.retry import is_retryable
        from airflow_provider_truto.client.unified_api import CHANNELS, INSTANT_MESSAGING

        polls = 0
        while True:
            if self._state_unsaved:
                await self._save_state(account)
            polls += 1
            try:
                channels = client.list_unified(
                    INSTANT_MESSAGING, CHANNELS, integrated_account_id=account, limit=self.limit
                )
                payload = self.advance([channel async for channel in channels], account)
            except Exception as error:  # every failure of a poll: polled again, or an error event
                if not is_retryable(error):
                    yield _event(_error_payload(error, account, token=client.config.token))
                    return
                self.log.warning("Poll %d of %s failed, polling again later: %s", polls, account, error)
            else:
                if payload is not None:
                    self.log.info(
                        "%d new channels in %s; watermark now %s",
                        len(payload["channels"]),
                        account,
                        payload["watermark"],
                    )
                    yield _event(payload)
            await asyncio.sleep(self.poll_interval)

    def advance(self, channels: Iterable[Mapping[str, Any]], account: str) -> dict[str, Any] | None:
        """Select the new channels from one poll and move the state past them.

        Returns the success payload, or ``None`` (state unchanged) when nothing is new.
        """
        left_out: Counter[str] = Counter()
        selected, watermark, seen = select_new_channels(
            channels,
            created_after=self.created_after,
            watermark=self.watermark,
            seen_ids=self.seen_ids,
            lookback=timedelta(seconds=self.lookback_seconds),
            max_channels=self.max_channels,
            policy=self.policy,
            left_out=left_out,
            warn_to=self.log,
        )
        self.log.debug("Channels of %s left out: %s", account, describe_left_out(left_out))
        if not selected:
            return None
        # The state moves before the event is yielded: whoever holds the event also holds the new state.
        self.watermark, self.seen_ids = watermark, seen
        self._state_unsaved = True
        return {
            "status": "success",
            "integrated_account_id": account,
            "watermark": _iso(watermark),
            "channels": [channel_summary(channel, account) for channel in selected],
        }

    # -- the watermark across triggerer restarts (AssetWatcher mode) ---------------------------------

    def _state_key(self, account: str) -> str:
        # The state belongs to this watch: another account, cutoff or policy on the same asset starts
        # afresh (a watermark kept across a policy change would hide the older channels the new policy
        # allows).
        watch = [self.truto_conn_id, account, _iso(self.created_after), self.policy.to_kwargs()]
        scope = json.dumps(watch, sort_keys=True)
        return f"{STATE_KEY_PREFIX}:{hashlib.sha256(scope.encode()).hexdigest()[:16]}"

    async def _restore_state(self, account: str) -> None:
        store = getattr(self, "asset_state_store", None)
        if store is None:
            return
        try:
            saved = await store.aget(self._state_key(account))
        except Exception as error:  # several watched assets, no state store configured, an old Airflow
            self.log.warning("Cannot read the watermark from the asset state store: %s", error)
            return
        if not isinstance(saved, dict) or not saved.get("watermark"):
            return
        try:
            watermark = parse_timestamp(saved["watermark"], "watermark")
        except TrutoInputError:
            return
        if self.watermark is None or watermark > self.watermark:
            self.watermark = watermark
            self.seen_ids = sorted({str(i) for i in saved.get("seen_ids") or ()})
            self.log.info("Resuming after watermark %s from the asset state store", _iso(watermark))

    def _bound_watermark(self) -> None:
        """A watermark in the future (given, or saved before a clock was corrected) is read as now."""
        now = datetime.now(timezone.utc)
        bounded = bounded_watermark(self.watermark, now)
        if bounded != self.watermark:
            self.log.warning(
                "The watermark %s is ahead of this host's clock; watching from now (%s) instead",
                _iso(self.watermark),
                _iso(bounded),
            )
            self.watermark = bounded

    async def _save_state(self, account: str) -> None:
        self._state_unsaved = False
        store = getattr(self, "asset_state_store", None)
        if store is None:
            return
        try:
            await store.aset(
                self._state_key(account), {"watermark": _iso(self.watermark), "seen_ids": self.seen_ids}
            )
        except Exception as error:
            self.log.warning("Cannot save the watermark to the asset state store: %s", error)


def _error_payload(error: BaseException, account: str | None, *, token: str = "") -> dict[str, Any]:
    from airflow_provider_truto.exceptions import error_payload

    return error_payload(error, account, token=token)


def _event(payload: dict[str, Any]) -> TriggerEvent:
    return TriggerEvent(payload)  # type: ignore[no-untyped-call]


def _optional_time(value: str | datetime | None, argument: str) -> datetime | None:
    if given(value) is None:
        return None
    return parse_timestamp(value, argument).astimezone(timezone.utc)


def _iso(value: datetime | None) -> str | None:
    return format_scalar(value) if value is not None else None

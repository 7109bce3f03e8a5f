"""TrutoNewChannelsTrigger: poll Truto's channel list asynchronously and fire when joinable channels appear.

Usable two ways:

- **Deferral** (``TrutoNewChannelsSensor(deferrable=True)``): the first event resumes the task.
- **Event-driven scheduling** (``Asset(watchers=[AssetWatcher(trigger=...)])``): the trigger keeps polling
  and fires once per batch of new channels; each event becomes an asset event whose ``extra["payload"]``
  is the event payload below.

Which channels: the auto-join selection of :func:`airflow_provider_truto.channels.is_auto_joinable`
(public, active, the bot not a member, created after ``created_after``) narrowed by the auto-join policy
(:class:`airflow_provider_truto.policy.AutoJoinPolicy`: ``include`` / ``exclude`` globs on the name,
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

What a triggerer restart does: Airflow re-creates a trigger from the kwargs stored when it was created
(for a deferral: when the task deferred; for an AssetWatcher: when the DAG was parsed), not from the live
object. A deferral has fired nothing yet, so nothing is lost or repeated. A watcher would start again
from the DAG's ``created_after``; to avoid that it saves its watermark in the asset's state store (Airflow
>= 3.3), one poll interval after handing an event over (the triggerer writes events to the database
within about a second, so a crash cannot save the watermark of an event that was never written), and
restores it on start. Without a state store, or if the crash falls in that window, channels already
reported *and not yet joined* may be reported again (joins are idempotent); nothing is ever dropped.

**Errors.** Each request is retried with the hook's own policy
(:func:`airflow_provider_truto.retry.retry_policy`, 429 waits for ``Retry-After``). If a poll still fails
with an error a retry could mend (429, 5xx other than 503, timeouts), the trigger logs it and polls again
at the next interval: a sensor keeps waiting until its own timeout, a watcher outlives a Truto outage.
Errors no retry can mend (bad token, unknown account, blocked account, a missing connection) fire an
``error`` event and end the trigger.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import math
import sys
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseEventTrigger, TriggerEvent

from airflow_provider_truto.channels import is_auto_joinable, parse_timestamp
from airflow_provider_truto.exceptions import TrutoError, TrutoInputError
from airflow_provider_truto.policy import AutoJoinPolicy
from airflow_provider_truto.query import format_scalar
from airflow_provider_truto.validation import optional_count, require_count, require_id

if TYPE_CHECKING:
    import httpx

    from airflow_provider_truto.client import AnswerReader, TrutoConfig
    from airflow_provider_truto.ratelimit import RateLimiters

__all__ = ["TrutoNewChannelsTrigger", "channel_summary", "error_payload", "select_new_channels"]

CHANNELS_PATH = "/unified/instant-messaging/channels"
DEFAULT_POLL_INTERVAL = 60.0
DEFAULT_PAGE_SIZE = 100
# Well under Airflow's max_map_length (1024): an event maps to at most this many join tasks; a larger
# backlog arrives over several polls, oldest first.
DEFAULT_MAX_CHANNELS = 500
DEFAULT_LOOKBACK_SECONDS = 300.0
STATE_KEY_PREFIX = "truto_new_channels"
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


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
        truto_conn_id: str = "truto_default",
        integrated_account_id: str | None = None,
        created_after: str | datetime | None = None,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        limit: int | None = DEFAULT_PAGE_SIZE,
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
        self.integrated_account_id = (
            require_id("integrated_account_id", integrated_account_id) if integrated_account_id else None
        )
        self.created_after = _optional_time(created_after, "created_after")
        self.poll_interval = _positive_number(poll_interval, "poll_interval")
        self.limit = optional_count("limit", limit)
        self.max_channels = require_count("max_channels", max_channels)
        self.lookback_seconds = _non_negative_number(lookback_seconds, "lookback_seconds")
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
                # Only a policy that differs from the default is written, so a watcher defined before
                # policies existed keeps the kwargs, hence the identity, Airflow knows it by.
                **({} if self.policy.is_default else self.policy.to_kwargs()),
            },
        )

    # -- the poll loop -------------------------------------------------------------------------------

    async def run(self) -> AsyncIterator[TriggerEvent]:
        import httpx

        from airflow_provider_truto.client import default_headers

        try:
            config = await self._read_config()
            account = _account(self.integrated_account_id, config)
        except Exception as error:  # a missing connection is no TrutoError, and no retry mends it either
            yield _event(error_payload(error, self.integrated_account_id))
            return
        await self._restore_state(account)
        polls = 0
        async with httpx.AsyncClient(
            base_url=config.base_url,
            headers=default_headers(config.token),
            timeout=config.timeout,
            follow_redirects=False,
        ) as http:
            poller = _ChannelPoller(http, config, account, self.limit, self.log)
            while True:
                if self._state_unsaved:
                    await self._save_state(account)
                polls += 1
                try:
                    payload = self.advance(await poller.list_channels(), account)
                except Exception as error:  # every failure of a poll: polled again, or an error event
                    from airflow_provider_truto.retry import is_retryable

                    if not is_retryable(error):
                        yield _event(error_payload(error, account, token=config.token))
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
        selected, watermark, seen = select_new_channels(
            channels,
            created_after=self.created_after,
            watermark=self.watermark,
            seen_ids=self.seen_ids,
            lookback=timedelta(seconds=self.lookback_seconds),
            max_channels=self.max_channels,
            policy=self.policy,
        )
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

    async def _read_config(self) -> TrutoConfig:
        from asgiref.sync import sync_to_async

        from airflow_provider_truto.hooks.truto import TrutoHook

        # Reading a connection talks to the supervisor synchronously: off the event loop, in a thread.
        def read() -> TrutoConfig:
            return TrutoHook(self.truto_conn_id).config

        config: TrutoConfig = await sync_to_async(read)()
        return config

    # -- the watermark across triggerer restarts (AssetWatcher mode) ---------------------------------

    def _state_key(self, account: str) -> str:
        # The state belongs to this watch: another account or cutoff on the same asset starts afresh.
        scope = f"{self.truto_conn_id}|{account}|{_iso(self.created_after)}"
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


class _ChannelPoller:
    """Reads every page of one account's channel list over httpx, with the hook's retry policy."""

    def __init__(
        self, http: httpx.AsyncClient, config: TrutoConfig, account: str, limit: int | None, log: Any
    ) -> None:
        import tenacity

        from airflow_provider_truto.ratelimit import RateLimiters
        from airflow_provider_truto.retry import retry_policy

        self.http = http
        self.config = config
        self.account = account
        self.limit = limit
        self.log = log
        self.retrying = tenacity.AsyncRetrying(
            sleep=asyncio.sleep,
            **retry_policy(
                config.max_retries,
                max_wait=config.max_retry_wait,
                log=log,
            ),
        )
        # The same host-wide budgets as the sync client; reserving a slot must not block the event loop,
        # so the limiter only reserves and the wait is awaited here.
        self.limiters: RateLimiters = RateLimiters(
            f"{config.base_url}|{config.token}",
            token_limit=config.token_rate_limit,
            account_limit=config.account_rate_limit,
            sleep=lambda _seconds: None,
            redis=config.rate_limit_redis,
        )

    async def list_channels(self) -> list[dict[str, Any]]:
        from airflow_provider_truto.client import next_cursor, page_items

        channels: list[dict[str, Any]] = []
        cursor: str | None = None
        seen_cursors: set[str] = set()
        pages = 0
        while True:
            params = {"integrated_account_id": self.account, "limit": self.limit, "next_cursor": cursor}
            page: Any = await self.retrying(self._get, params)
            channels.extend(page_items(page, CHANNELS_PATH))
            pages += 1
            cursor = next_cursor(
                page, CHANNELS_PATH, pages=pages, page_cap=self.config.page_cap, seen=seen_cursors
            )
            if cursor is None:
                return channels

    async def _get(self, params: Mapping[str, Any]) -> Any:
        import httpx

        from airflow_provider_truto.client import AnswerReader
        from airflow_provider_truto.exceptions import TrutoConnectionError
        from airflow_provider_truto.redaction import redact

        if self.limiters.enabled:
            delay = self.limiters.wait_for_slot(self.account)
            if delay > 0:
                await asyncio.sleep(delay)
        call = f"GET {CHANNELS_PATH}"
        reader = AnswerReader(call, timeout=self.config.timeout, max_bytes=self.config.max_response_bytes)
        # Errors are built outside the ``except`` blocks: httpx's messages may quote URLs unredacted, and
        # a chained cause is printed with the error.
        failure: TrutoError
        try:
            # The deadline covers the whole answer, however slowly it trickles in.
            async with _deadline(reader.remaining()):
                return await self._attempt(params, reader)
        except TrutoError:
            raise
        except (asyncio.TimeoutError, httpx.TimeoutException):
            failure = reader.timed_out()
        except httpx.HTTPError as error:
            failure = TrutoConnectionError(
                f"{call} failed: {type(error).__name__}: {redact(str(error), self.config.token)}"
            )
        raise failure

    async def _attempt(self, params: Mapping[str, Any], reader: AnswerReader) -> Any:
        from airflow_provider_truto.client import (
            STREAM_CHUNK_BYTES,
            decode_answer,
            decode_text,
            parse_retry_after,
            redirect_error,
        )
        from airflow_provider_truto.query import encode_query

        token = self.config.token
        query = tuple(encode_query(params))
        async with self.http.stream("GET", CHANNELS_PATH, params=query, follow_redirects=False) as response:
            if response.status_code == 429:  # every worker sharing the budget waits, not just this one
                self.limiters.pause(self.account, parse_retry_after(response.headers.get("Retry-After")))
            redirect = redirect_error(
                response.status_code, response.headers.get("Location"), call=reader.call, token=token
            )
            if redirect is not None:
                raise redirect
            reader.expect(response.headers.get("Content-Length"))
            failure = await reader.aread(response.aiter_bytes(STREAM_CHUNK_BYTES))
            if failure is not None:
                raise failure
            return decode_answer(
                response.status_code,
                decode_text(reader.body, response.headers.get("Content-Type")),
                retry_after=response.headers.get("Retry-After"),
                reason=response.reason_phrase,
                call=reader.call,
                token=token,
            )


def _deadline(seconds: float) -> Any:
    """``asyncio.timeout`` (Python >= 3.11); ``wait_for``, which can swallow a cancellation that arrives
    as it times out, is not used for it. Python 3.10 has only the checks between chunks."""
    if sys.version_info >= (3, 11):
        return asyncio.timeout(max(seconds, 0.0))
    return contextlib.nullcontext()  # pragma: no cover


# -- pure helpers, shared with the sensor ------------------------------------------------------------


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


def error_payload(error: BaseException, account: str | None, *, token: str = "") -> dict[str, Any]:
    """An ``error`` event: the error's type and attributes, so the sensor can raise the same kind.

    Only a Truto error carries an HTTP status: Airflow's own errors may have one too (a missing
    connection is a "404"), which must not come back as Truto's 404. ``token`` is redacted from the text.
    """
    from airflow_provider_truto.redaction import redact

    truto = isinstance(error, TrutoError)
    payload: dict[str, Any] = {
        "status": "error",
        "integrated_account_id": account,
        "message": redact(str((getattr(error, "message", None) if truto else None) or error), token),
        "error_type": type(error).__name__,
        "status_code": getattr(error, "status_code", None) if truto else None,
        "remote_error": getattr(error, "remote_error", None),
        "is_remote_error": bool(getattr(error, "is_remote_error", False)),
    }
    if isinstance(error, TrutoInputError):
        payload["argument"] = error.argument
    return payload


def error_from_payload(payload: Mapping[str, Any]) -> TrutoError:
    """The typed error an ``error`` event describes (the inverse of :func:`error_payload`)."""
    from airflow_provider_truto import exceptions

    message = str(payload.get("message") or "the Truto trigger failed")
    status_code = payload.get("status_code")
    if isinstance(status_code, int):
        return exceptions.error_for_status(
            status_code,
            message,
            remote_error=payload.get("remote_error"),
            is_remote_error=bool(payload.get("is_remote_error")),
        )
    error_type = payload.get("error_type")
    if error_type == "TrutoInputError":
        return TrutoInputError(str(payload.get("argument") or "truto_conn_id"), message)
    if error_type == "AirflowNotFoundException":  # the connection is not defined where the trigger ran
        return TrutoInputError("truto_conn_id", f"the connection is missing: {message}")
    if error_type in ("TrutoConnectionError", "TrutoInvalidResponseError"):
        cls: type[TrutoError] = getattr(exceptions, error_type)
        return cls(message)
    return TrutoError(f"{error_type or 'error'}: {message}" if error_type else message)


def _event(payload: dict[str, Any]) -> TriggerEvent:
    return TriggerEvent(payload)  # type: ignore[no-untyped-call]


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


def _account(integrated_account_id: str | None, config: TrutoConfig) -> str:
    account = integrated_account_id or config.integrated_account_id
    if not account:
        raise TrutoInputError(
            "integrated_account_id",
            "no integrated account given and the connection has no 'integrated_account_id' extra",
        )
    return require_id("integrated_account_id", account)


def _optional_time(value: str | datetime | None, argument: str) -> datetime | None:
    if value is None or value == "":
        return None
    return parse_timestamp(value, argument).astimezone(timezone.utc)


def _iso(value: datetime | None) -> str | None:
    return format_scalar(value) if value is not None else None


def _positive_number(value: Any, argument: str) -> float:
    number = _non_negative_number(value, argument)
    if number <= 0:
        raise TrutoInputError(argument, f"must be a positive number of seconds, got {value!r}")
    return number


def _non_negative_number(value: Any, argument: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < math.inf:
        raise TrutoInputError(argument, f"must be a finite number >= 0, got {value!r}")
    return float(value)

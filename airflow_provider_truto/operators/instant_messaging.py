"""Operators for Truto's unified instant-messaging API."""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_truto.auto_join.outcomes import (
    FAILED,
    JOINED,
    SKIPPED,
    classify_join_error,
    join_outcome,
    unjoinable_reason,
)
from airflow_provider_truto.client.unified_api import check_response_format
from airflow_provider_truto.client.validation import given, require_channel_id, require_count, require_id
from airflow_provider_truto.exceptions import TrutoError, TrutoInputError
from airflow_provider_truto.hooks.connection_type import DEFAULT_CONN_ID
from airflow_provider_truto.operators.idempotency import task_idempotency_key
from airflow_provider_truto.operators.join_progress import JoinProgress, least_seconds
from airflow_provider_truto.operators.rendered import rendered_list

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_truto.auto_join.selection import ChannelRef
    from airflow_provider_truto.hooks.truto import TrutoHook

# A batch gives up on an account after this many of its channels in a row failed even after the hook's
# retries: Truto is down for it, and hammering on helps no one. Airflow's retry takes the batch up again.
MAX_CONSECUTIVE_FAILURES = 3
# A retried batch reads which of its channels the bot is already in before it re-sends anything, so the
# joins an earlier try got through cost no second slot of the account's rate budget. A list page costs one
# request, like one join: reading is worth it for batches of some size only (a one-channel task just re-sends
# its keyed join), and it stops after one page per CHANNELS_PER_MEMBERSHIP_PAGE channels, so it never costs
# more than a quarter of re-sending the whole batch.
MEMBERSHIP_CHECK_MIN_CHANNELS = 8
MEMBERSHIP_PAGE_SIZE = 200
CHANNELS_PER_MEMBERSHIP_PAGE = 4
# The outcome of a channel a batch did not send once the task was told to stop (on_kill).
NOT_SENT_WHEN_STOPPED = "not sent: the task was told to stop"


class JoinChannelOperator(BaseOperator):
    """Join one channel, or a batch of channels, through Truto (Slack's ``conversations.join``).

    Give ``channel_id`` to join one channel: the unified channel Truto answers with is returned, so it
    lands in XCom as ``return_value``. Give ``channel_ids`` to join a batch, as the auto-join DAG does for
    workspace-sized selections; a list of compact outcomes is returned, one
    ``{"id", "name", "integrated_account_id", "outcome": "joined" | "skipped", "reason"}`` per channel.
    A channel object (or batch item) may name its own ``integrated_account_id``, which wins. A batch's
    accounts are worked in parallel (up to ``max_concurrency``), each account's channels in order. A
    channel that can never be joined (archived, gone, private) is skipped with its reason. An account-wide
    failure (bad token, re-auth needed, blocked) stops that account's joins; a channel still failing after
    the hook's retries is tried no further. The other accounts finish, then the task fails if anything
    failed, so Airflow's retry can take it up.

    Every join carries an idempotency key derived from the DAG run, the task and its map index, the
    account and the channel, so an Airflow retry of the task repeats no join that already went through.
    A retried batch (try 2 and later) with at
    least ``MEMBERSHIP_CHECK_MIN_CHANNELS`` channels of an account first reads that account's channel list
    (at most one page per ``CHANNELS_PER_MEMBERSHIP_PAGE`` of its channels) and counts the channels the bot
    is already in as joined without sending their joins again.

    :param channel_id: the channel to join: an id, or a channel object with an ``id`` (templated).
    :param channel_ids: a batch instead: ids or channel objects (templated).
    :param integrated_account_id: the connected account; defaults to the connection's (templated).
    :param truto_conn_id: the Airflow connection of type ``truto``.
    :param remote_data: passed to the provider untouched (templated).
    :param response_format: ``unified`` (default), ``raw``, ``normalized`` or ``stream``.
    :param exclude_fields: unified fields to leave out of the answer (templated).
    :param ignore_remote_data: leave the provider's raw object out of the answer.
    :param remote_query: query parameters passed to the provider's API (templated).
    :param skip_unjoinable: with ``channel_id``, skip the task instead of failing it when the channel can
        never be joined.
    :param max_concurrency: with ``channel_ids``, how many accounts to work on at once.
    """

    template_fields: Sequence[str] = (
        "channel_id",
        "channel_ids",
        "integrated_account_id",
        "remote_data",
        "remote_query",
        "exclude_fields",
    )
    ui_color = "#e3f2fd"

    def __init__(
        self,
        *,
        channel_id: str | Mapping[str, Any] | None = None,
        channel_ids: Sequence[str | Mapping[str, Any]] | None = None,
        integrated_account_id: str | None = None,
        truto_conn_id: str = DEFAULT_CONN_ID,
        remote_data: Mapping[str, Any] | None = None,
        response_format: str = "unified",
        exclude_fields: Sequence[str] | None = None,
        ignore_remote_data: bool = False,
        remote_query: Mapping[str, Any] | None = None,
        skip_unjoinable: bool = False,
        max_concurrency: int = 1,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if (channel_id is None) == (channel_ids is None):
            raise TrutoInputError("channel_id", "give exactly one of 'channel_id' and 'channel_ids'")
        check_response_format(response_format)
        self.channel_id = channel_id
        self.channel_ids = channel_ids
        self.integrated_account_id = integrated_account_id
        self.truto_conn_id = truto_conn_id
        self.remote_data = remote_data
        self.response_format = response_format
        self.exclude_fields = exclude_fields
        self.ignore_remote_data = ignore_remote_data
        self.remote_query = remote_query
        self.skip_unjoinable = skip_unjoinable
        self.max_concurrency = require_count("max_concurrency", max_concurrency)

    @cached_property
    def hook(self) -> TrutoHook:
        from airflow_provider_truto.hooks.truto import TrutoHook

        return TrutoHook(self.truto_conn_id)

    def execute(self, context: Context) -> Any:
        try:
            return self._execute(context)
        except TrutoInputError as error:  # a bad argument: named with the connection the task would use
            if not error.argument.startswith("connection "):
                error.explained(label=self.hook.label)
            raise

    def _execute(self, context: Context) -> Any:
        # Everything is validated before the first request goes out. A list param rendered by a template
        # arrives as its text (unless the DAG renders native objects): it is read back into the list.
        self.exclude_fields = rendered_list(self.exclude_fields, "exclude_fields")
        if self.channel_ids is None:
            channel = channel_ref(self.channel_id, "channel_id")
            account = self._account(channel)
            set_label(context, unnamed_label(channel))
            return self._join_one(channel, account, context)
        channel_ids = rendered_list(self.channel_ids, "channel_ids")
        if isinstance(channel_ids, (str, Mapping)) or not isinstance(channel_ids, Sequence):
            raise TrutoInputError("channel_ids", f"must be a list, got {type(channel_ids).__name__}")
        from airflow_provider_truto.auto_join.planning import batch_label

        batch = [channel_ref(item, f"channel_ids[{index}]") for index, item in enumerate(channel_ids)]
        set_label(context, batch_label(batch))
        return self._join_batch(batch, context)

    def _account(self, channel: ChannelRef) -> str:
        """The channel's own account (the trigger's events name it, as a batch item may), else the task's,
        else the connection's; an unset templated field renders as ``""``, which means "not given"."""
        return self.hook.account_id(
            given(channel.get("integrated_account_id")) or given(self.integrated_account_id)
        )

    def _join_one(self, channel: ChannelRef, account: str, context: Context) -> dict[str, Any]:
        try:
            joined = self._join(channel, account, context)
        except TrutoError as error:
            reason = unjoinable_reason(error)
            self.hook.metrics.joined(SKIPPED if reason else FAILED)
            if reason and self.skip_unjoinable:
                from airflow_provider_truto.compat import AirflowSkipException

                raise AirflowSkipException(f"channel {channel['name']} cannot be joined: {reason}") from error
            raise
        self.hook.metrics.joined(JOINED)
        # The name Truto answered with: a task given only the id says which channel it joined.
        name = joined.get("name") if isinstance(joined.get("name"), str) and joined.get("name") else None
        if name:
            set_label(context, name)
            self.log.info("Joined channel %s (%s) in integrated account %s", name, channel["id"], account)
        else:
            self.log.info(
                "Joined channel %s in integrated account %s (the answer named no channel name)",
                channel["id"],
                account,
            )
        return joined

    def _join_batch(self, batch: list[ChannelRef], context: Context) -> list[dict[str, Any]]:
        self._stopping  # noqa: B018 - made on the main thread, before on_kill can ask for it
        by_account: dict[str, list[ChannelRef]] = {}
        for channel in batch:
            by_account.setdefault(self._account(channel), []).append(channel)
        workers = max(1, min(self.max_concurrency, len(by_account)))
        progress = self._progress(by_account, workers)
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="truto-join") as pool:
            results = list(
                pool.map(
                    lambda item: self._join_account(item[0], item[1], context, progress), by_account.items()
                )
            )
        progress.summary()
        outcomes = [outcome for account_outcomes in results for outcome in account_outcomes]
        failed = [outcome for outcome in outcomes if outcome["outcome"] == FAILED]
        if failed:
            done = Counter(outcome["outcome"] for outcome in outcomes)
            raise TrutoError(
                f"{len(failed)} of {len(batch)} channels were not joined ({done[JOINED]} joined, "
                f"{done[SKIPPED]} skipped); first: "
                f"{failed[0]['name']} ({failed[0]['id']}): {failed[0]['reason']}"
            ).explained(label=self.hook.config.label)
        return outcomes

    def on_kill(self) -> None:
        """Told to stop (SIGTERM: a user stopping the run, a worker shutting down): no further join is
        sent. The joins in flight finish and are recorded; the batch then fails, saying what was joined
        and that the rest was not sent."""
        self._stopping.set()
        self.log.warning("Told to stop: no further join is sent; the joins in flight finish")

    @cached_property
    def _stopping(self) -> threading.Event:
        # Made when first asked for (a task's copy is made before it runs; an Event cannot be copied).
        return threading.Event()

    def _progress(self, by_account: Mapping[str, list[ChannelRef]], accounts_at_once: int) -> JoinProgress:
        """The batch's progress reporter, its start line logged: how many, and the least time it takes."""
        config = self.hook.config
        account_limit, environment_limit = config.account_rate_limit, config.environment_rate_limit
        progress = JoinProgress(
            sum(len(channels) for channels in by_account.values()),
            log=self.log,
            least_seconds=least_seconds(
                {account: len(channels) for account, channels in by_account.items()},
                account_interval=account_limit.interval if account_limit else None,
                environment_interval=environment_limit.interval if environment_limit else None,
                accounts_at_once=accounts_at_once,
            ),
        )
        pacing = ", ".join(
            f"{limit} {scope}"
            for limit, scope in ((account_limit, "per account"), (environment_limit, "per API token"))
            if limit is not None
        )
        progress.start(len(by_account), pacing or "off")
        return progress

    def _join_account(
        self, account: str, channels: list[ChannelRef], context: Context, progress: JoinProgress
    ) -> list[dict[str, Any]]:
        """Join one account's channels in order (Truto's per-account limit makes parallelism pointless).

        Each channel's outcome goes to ``progress`` (and to the metrics); its own line only to DEBUG,
        but for a failure.
        """
        outcomes: list[dict[str, Any]] = []
        consecutive_failures = 0
        # A channel's own line: at DEBUG in a batch, whose progress lines tell the story; alone, at INFO.
        detail = logging.INFO if progress.quiet else logging.DEBUG
        joined_before = self._joined_by_earlier_try(account, channels, context)
        for position, channel in enumerate(channels):
            if self._stopping.is_set():
                rest = channels[position:]
                for unsent in rest:
                    outcomes.append(join_outcome(unsent, account, FAILED, NOT_SENT_WHEN_STOPPED))
                    progress.record(FAILED)
                    self.hook.metrics.joined(FAILED)
                self.log.warning(
                    "Account %s: %d joins not sent, the task was told to stop", account, len(rest)
                )
                break
            if channel["id"] in joined_before:
                outcomes.append(join_outcome(channel, account, JOINED, None))
                progress.record(JOINED)  # counted in the metrics by the try that joined it
                self.log.log(detail, "Joined %s (%s) by an earlier try", channel["name"], channel["id"])
                continue
            try:
                self._join(channel, account, context)
            except Exception as error:  # an unexpected one too: this channel's outcome, not the batch's
                if not isinstance(error, TrutoError):
                    self.log.exception(
                        "Joining %s (%s) raised an unexpected error", channel["name"], channel["id"]
                    )
                result, reason, account_failed = classify_join_error(error, token=self.hook.config.token)
                outcomes.append(join_outcome(channel, account, result, reason))
                progress.record(result, reason)
                self.hook.metrics.joined(result)
                self.log.log(
                    detail if result == SKIPPED else logging.WARNING,
                    "%s %s (%s): %s",
                    result.capitalize(),
                    channel["name"],
                    channel["id"],
                    reason,
                )
                consecutive_failures = consecutive_failures + 1 if result == FAILED else 0
                if account_failed or consecutive_failures >= MAX_CONSECUTIVE_FAILURES:
                    # The other channels of this account would fail alike: none is tried now, and
                    # Airflow's retry of the task takes them up again.
                    rest = channels[position + 1 :]
                    self.log.error(
                        "Giving up on account %s for now; %d channels not tried", account, len(rest)
                    )
                    for untried in rest:
                        outcomes.append(join_outcome(untried, account, FAILED, f"not tried: {reason}"))
                        progress.record(FAILED)
                        self.hook.metrics.joined(FAILED)
                    break
            else:
                consecutive_failures = 0
                outcomes.append(join_outcome(channel, account, JOINED, None))
                progress.record(JOINED)
                self.hook.metrics.joined(JOINED)
                self.log.log(
                    detail, "Joined %s (%s) in integrated account %s", channel["name"], channel["id"], account
                )
        return outcomes

    def _joined_by_earlier_try(self, account: str, channels: list[ChannelRef], context: Context) -> set[str]:
        """On a retry, the ids of ``channels`` the bot is already in, from one channel-list pass.

        Empty on a first try, for a small batch, or when the list cannot be read (every join is then
        re-sent, which its idempotency key makes safe). The pass stops once every channel was seen.
        """
        ti = context.get("ti")
        if getattr(ti, "try_number", 1) <= 1 or len(channels) < MEMBERSHIP_CHECK_MIN_CHANNELS:
            return set()
        from airflow_provider_truto.client.unified_api import CHANNELS, INSTANT_MESSAGING

        unseen = {channel["id"] for channel in channels}
        members: set[str] = set()
        try:
            listed = self.hook.list_unified(
                INSTANT_MESSAGING,
                CHANNELS,
                integrated_account_id=account,
                limit=MEMBERSHIP_PAGE_SIZE,
                max_pages=len(channels) // CHANNELS_PER_MEMBERSHIP_PAGE,
            )
            for listed_channel in listed:
                channel_id = listed_channel.get("id")
                if channel_id in unseen:
                    unseen.discard(channel_id)
                    if listed_channel.get("is_member") is True:
                        members.add(channel_id)
                    if not unseen:
                        break
        except TrutoError as error:
            self.log.warning(
                "Cannot read which channels of account %s the bot is in (%s); re-sending every join",
                account,
                error,
            )
            return set()
        self.log.info(
            "Try %s: %d of %d channels of account %s were joined by an earlier try; not sending them again",
            getattr(ti, "try_number", "?"),
            len(members),
            len(channels),
            account,
        )
        return members

    def _join(self, channel: ChannelRef, account: str, context: Context) -> dict[str, Any]:
        return self.hook.join_channel(
            channel["id"],
            account,
            remote_data=self.remote_data,
            response_format=self.response_format,
            exclude_fields=self.exclude_fields,
            ignore_remote_data=self.ignore_remote_data,
            remote_query=self.remote_query,
            idempotency_key=task_idempotency_key(context, account, "join", channel["id"]),
        )


def channel_ref(value: Any, argument: str) -> ChannelRef:
    """``{"id", "name"[, "integrated_account_id"]}`` from a channel id or object; anything else is refused.

    A channel known only by its id has the id as its name.
    """
    account = None
    if isinstance(value, Mapping):
        channel_id = value.get("id")
        name = value.get("name")
        account = value.get("integrated_account_id")
    else:
        channel_id, name = value, None
    if not isinstance(channel_id, str):
        raise TrutoInputError(argument, f"must be a channel id (a string), got {type(channel_id).__name__}")
    require_channel_id(argument, channel_id)
    ref = {"id": channel_id, "name": str(name) if name else channel_id}
    if account is not None:
        ref["integrated_account_id"] = require_id(f"{argument}.integrated_account_id", account)
    return ref


def set_label(context: Context, label: str) -> None:
    """What ``map_index_template="{{ truto_channel_label }}"`` shows for this task: Airflow renders the
    template again when the task ends, so a label set after the join (the channel's name) is the one kept."""
    context["truto_channel_label"] = label  # type: ignore[typeddict-unknown-key]


def unnamed_label(channel: ChannelRef) -> str:
    """A channel's label before its join answers: its name, or its id saying that the name is not known."""
    if channel["name"] != channel["id"]:
        return channel["name"]
    return f"{channel['id']} (name not known yet)"

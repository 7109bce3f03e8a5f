"""TrutoNewChannelsSensor: wait until channels the auto-join bot should join appear, then hand them on."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue

from airflow_provider_truto.auto_join.defaults import (
    DEFAULT_CHANNELS_PER_PAGE,
    DEFAULT_MAX_CHANNELS,
    DEFAULT_POKE_INTERVAL,
)
from airflow_provider_truto.client.validation import given, optional_count, optional_id, require_count
from airflow_provider_truto.hooks.connection_type import DEFAULT_CONN_ID

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_truto.auto_join.policy import AutoJoinPolicy
    from airflow_provider_truto.hooks.truto import TrutoHook


class TrutoNewChannelsSensor(BaseSensorOperator):
    """Wait for public, active channels the bot is not in, created after ``created_after``.

    Succeeds as soon as at least one such channel exists and returns them (at most ``max_channels``, the
    oldest: a run's next cutoff must then come from the newest one handed on, see
    :func:`airflow_provider_truto.auto_join.watermark.next_created_after`), oldest first, as a list of
    ``{"id", "name", "created_at", "integrated_account_id"}`` (XCom ``return_value``), ready for
    ``JoinChannelOperator.partial(...).expand(channel_id=sensor.output)``. The selection is the auto-join
    one (:func:`airflow_provider_truto.auto_join.selection.is_auto_joinable`) with the auto-join policy
    (:class:`airflow_provider_truto.auto_join.policy.AutoJoinPolicy`), the scheduled auto-join DAG's, so
    a channel the bot has joined since never counts again, and a channel the DAG would leave out never
    counts.

    With ``deferrable=True`` the sensor checks once, then hands the waiting to
    :class:`~airflow_provider_truto.triggers.truto.TrutoNewChannelsTrigger` on the triggerer and frees its
    worker slot. Errors a retry could mend (429, 5xx, timeouts, after the hook's own retries) mean
    "not yet" in both modes; errors no retry mends (bad token, unknown or blocked account) fail the task
    at once with the typed Truto error.

    :param integrated_account_id: the account to watch; defaults to the connection's (templated).
    :param created_after: ISO-8601; only channels created strictly after it count (templated). ``None``
        or empty: any time, i.e. the sensor succeeds at once while any joinable channel is left unjoined.
        ``"{{ data_interval_start }}"`` or a fixed time waits for channels newer than that.
    :param truto_conn_id: the Airflow connection of type ``truto``.
    :param limit: page size of each channel-list request (every page is read).
    :param max_channels: at most this many channels are returned (well under ``max_map_length``).
    :param deferrable: wait on the triggerer instead of in a worker slot. Default: Airflow's
        ``[operators] default_deferrable`` (False unless set), as Airflow's own deferrable operators.
    :param poke_interval: seconds between checks (also the trigger's poll interval when deferred).
    :param timeout: seconds before the sensor gives up (``AirflowSensorTimeout``); ``mode`` as usual.
    :param include: globs on the channel name to wait for (a pattern or a list, each templated); none
        means every name.
    :param exclude: globs on the channel name never to count (each templated); they win over ``include``.
    :param include_shared: also count channels shared with other organisations (Slack Connect).
    """

    template_fields: Sequence[str] = ("integrated_account_id", "created_after", "include", "exclude")
    ui_color = "#e3f2fd"

    def __init__(
        self,
        *,
        integrated_account_id: str | None = None,
        created_after: str | datetime | None = None,
        truto_conn_id: str = DEFAULT_CONN_ID,
        limit: int | None = DEFAULT_CHANNELS_PER_PAGE,
        max_channels: int = DEFAULT_MAX_CHANNELS,
        deferrable: bool | None = None,
        poke_interval: float = DEFAULT_POKE_INTERVAL,
        include: str | Sequence[str] | None = None,
        exclude: str | Sequence[str] | None = None,
        include_shared: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(poke_interval=poke_interval, **kwargs)
        self.integrated_account_id = integrated_account_id
        self.created_after = created_after
        self.truto_conn_id = truto_conn_id
        self.limit = optional_count("limit", limit)
        self.max_channels = require_count("max_channels", max_channels)
        if deferrable is None:
            from airflow_provider_truto.compat import default_deferrable

            deferrable = default_deferrable()
        self.deferrable = bool(deferrable)
        self.include = include
        self.exclude = exclude
        self.include_shared = include_shared
        self._policy()  # checked when the DAG is parsed; built again after templating

    @cached_property
    def hook(self) -> TrutoHook:
        from airflow_provider_truto.hooks.truto import TrutoHook

        return TrutoHook(self.truto_conn_id)

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        # One check in the worker first: when channels are already there, no deferral round trip.
        first = self.poke(context)
        if first.is_done:
            return first.xcom_value
        from airflow_provider_truto.triggers.truto import TrutoNewChannelsTrigger

        self.defer(
            trigger=TrutoNewChannelsTrigger(
                truto_conn_id=self.truto_conn_id,
                integrated_account_id=self._account(),
                created_after=self._cutoff(),
                poll_interval=float(self.poke_interval),
                limit=self.limit,
                max_channels=self.max_channels,
                **self._policy().to_kwargs(),
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=float(self.timeout)),
        )

    def poke(self, context: Context) -> PokeReturnValue:
        from collections import Counter

        from airflow_provider_truto.auto_join.listing import channel_list_query
        from airflow_provider_truto.auto_join.report import describe_left_out
        from airflow_provider_truto.auto_join.watermark import NewChannels, channel_summary
        from airflow_provider_truto.client.retry import is_retryable
        from airflow_provider_truto.exceptions import TrutoError

        policy = self._policy()
        account = self._account()
        left_out: Counter[str] = Counter()
        # Read page by page: only the channels to report are kept, never the list.
        selection = NewChannels(
            created_after=self._cutoff(),
            watermark=None,
            seen_ids=(),
            lookback=timedelta(0),
            max_channels=self.max_channels,
            policy=policy,
            left_out=left_out,
            warn_to=self.log,
        )
        try:
            for channel in self.hook.list_channels(account, limit=self.limit, **channel_list_query(policy)):
                selection.feed(channel)
        except TrutoError as error:
            if not is_retryable(error):
                raise
            self.log.warning("Listing channels failed even after retries; trying again later: %s", error)
            return PokeReturnValue(is_done=False)
        selected, _, _ = selection.result()
        resolved = self.hook.account_id(account)
        self.log.info(
            "%d of %d channels listed in %s are new and joinable; left out: %s",
            len(selected),
            selection.listed,
            resolved,
            describe_left_out(left_out),
        )
        if not selected:
            return PokeReturnValue(is_done=False)
        if len(selected) >= self.max_channels:
            self.log.warning(
                "Handing on the oldest %d new channels (max_channels); newer ones are left for the next "
                "run, whose cutoff must not pass them (the newest created_at handed on: %s)",
                len(selected),
                selected[-1].get("created_at"),
            )
        return PokeReturnValue(is_done=True, xcom_value=[channel_summary(c, resolved) for c in selected])

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Resume after the trigger fired: its channels, or the typed error it reported."""
        from airflow_provider_truto.exceptions import TrutoInvalidResponseError, error_from_payload

        if not isinstance(event, dict):
            raise TrutoInvalidResponseError(f"the trigger sent no event payload, got {event!r}")
        if event.get("status") != "success":
            raise error_from_payload(event)
        channels: list[dict[str, Any]] = list(event.get("channels") or [])
        self.log.info("%d new channels (watermark %s)", len(channels), event.get("watermark"))
        return channels

    def _policy(self) -> AutoJoinPolicy:
        from airflow_provider_truto.auto_join.policy import AutoJoinPolicy
        from airflow_provider_truto.operators.rendered import rendered_patterns

        # A list param given as "{{ params.include }}" renders to the list's text: read it back.
        return AutoJoinPolicy.build(
            rendered_patterns(self.include), rendered_patterns(self.exclude), self.include_shared
        )

    def _cutoff(self) -> datetime | None:
        from airflow_provider_truto.auto_join.timestamps import parse_timestamp

        created_after = given(self.created_after)
        return None if created_after is None else parse_timestamp(created_after, "created_after")

    def _account(self) -> str | None:
        return optional_id("integrated_account_id", self.integrated_account_id)

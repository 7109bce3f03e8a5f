"""TrutoHook: an Airflow connection of type ``truto`` turned into a Truto client, plus the domain calls."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow_provider_truto.client.config import TrutoConfig
from airflow_provider_truto.client.request import (
    UnifiedCall,
    UnifiedList,
    json_body,
    path_segment,
    response_options,
    takes_unified_call,
    takes_unified_list,
)
from airflow_provider_truto.client.sync_client import TrutoClient
from airflow_provider_truto.client.unified_api import CHANNELS, INSTANT_MESSAGING
from airflow_provider_truto.client.validation import require_channel_id, require_id
from airflow_provider_truto.compat import BaseHook
from airflow_provider_truto.exceptions import TrutoError, TrutoInputError, TrutoInvalidResponseError
from airflow_provider_truto.hooks.connection import read_config
from airflow_provider_truto.hooks.connection_type import CONN_TYPE, DEFAULT_CONN_ID
from airflow_provider_truto.hooks.metrics import AirflowMetrics

if TYPE_CHECKING:
    from airflow_provider_truto.client.async_client import AsyncTrutoClient


class TrutoHook(BaseHook):
    """Talks to Truto's unified API through an Airflow connection of type ``truto``.

    The connection: password = API token; host = base URL (empty: Truto's own API); the extras are the
    connection form's fields, each described in the form and in docs/connection.md, with its default.
    An argument given here wins over the connection's extra, which wins over the default
    (:mod:`~airflow_provider_truto.hooks.connection` reads the connection).

    :param truto_conn_id: the Airflow connection to use.
    :param integrated_account_id: the account to act on when a call names none.
    :param timeout: seconds one attempt may take, the whole answer included.
    :param max_retries: retries of a transient failure (:mod:`~airflow_provider_truto.client.retry`).
    """

    conn_name_attr = "truto_conn_id"
    default_conn_name = DEFAULT_CONN_ID
    conn_type = CONN_TYPE
    hook_name = "Truto"

    def __init__(
        self,
        truto_conn_id: str = default_conn_name,
        *,
        integrated_account_id: str | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
    ) -> None:
        super().__init__()
        self.truto_conn_id = truto_conn_id
        self._integrated_account_id = integrated_account_id
        self._timeout = timeout
        self._max_retries = max_retries

    # -- the connection form (Airflow 3.0 and 3.1; 3.2+ read get_provider_info) ----------------------

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Hidden, relabelled and placeholder-carrying standard fields of the connection form."""
        from airflow_provider_truto.hooks.form import ui_field_behaviour

        return ui_field_behaviour()

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """The connection form's extra fields (WTForms fields, imported only when called)."""
        from airflow_provider_truto.hooks.form import connection_form_widgets

        return connection_form_widgets()

    # -- connection -> config -> client --------------------------------------------------------------

    @cached_property
    def config(self) -> TrutoConfig:
        """The client configuration read from the connection, once per hook."""
        return read_config(
            self.get_connection(self.truto_conn_id),
            self.truto_conn_id,
            overrides={
                "integrated_account_id": self._integrated_account_id,
                "timeout": self._timeout,
                "max_retries": self._max_retries,
            },
            get_connection=self.get_connection,
            observer=self.metrics,
        )

    @cached_property
    def metrics(self) -> AirflowMetrics:
        """The provider's metrics, through Airflow's (:mod:`~airflow_provider_truto.hooks.metrics`)."""
        return AirflowMetrics()

    @property
    def label(self) -> str:
        """How messages name this hook's connection: ``connection 'truto_default'``."""
        return f"connection {self.truto_conn_id!r}"

    def account_id(self, integrated_account_id: str | None = None) -> str:
        """The account a call acts on (:meth:`TrutoConfig.account_id
        <airflow_provider_truto.client.config.TrutoConfig.account_id>` decides).

        Reads only the connection (no HTTP session is made): operators resolve their account with it
        before any request goes out, so a missing one is named first.
        """
        return self.config.account_id(integrated_account_id)

    @cached_property
    def client(self) -> TrutoClient:
        """One client, and so one pooled HTTP session, per hook."""
        return TrutoClient(self.config)

    def get_conn(self) -> TrutoClient:
        return self.client

    async def get_async_conn(self, *, log: Any = None) -> AsyncTrutoClient:
        """An async client (httpx) from the same config as :meth:`get_conn`'s, for triggers.

        The connection is read in a thread, off the event loop (reading it may talk to Airflow's API
        synchronously). The caller owns the client: ``async with await hook.get_async_conn() as client``.
        ``log`` is where its retries are logged: a trigger passes its own, so they show under its name;
        default: the hook's.
        """
        from asgiref.sync import sync_to_async

        from airflow_provider_truto.client.async_client import AsyncTrutoClient

        def read() -> TrutoConfig:
            return self.config

        config: TrutoConfig = await sync_to_async(read)()
        return AsyncTrutoClient(config, log=log or self.log)

    def close(self) -> None:
        if "client" in self.__dict__:
            self.client.close()
            del self.__dict__["client"]

    # -- the generic unified API ---------------------------------------------------------------------

    @takes_unified_call
    def unified(self, call: UnifiedCall) -> Any:
        """Call any unified model and return the decoded answer.

        Takes :class:`~airflow_provider_truto.client.request.UnifiedCall`'s arguments: ``model``,
        ``resource``, ``method`` (``list`` (one page), ``get``, ``create``, ``update``, ``delete`` or a
        custom method such as ``join``), then keyword-only ``resource_id``, ``integrated_account_id``,
        ``query``, ``body`` and ``idempotency_key``.
        """
        return self.client.call_unified(call)

    @takes_unified_list
    def list_unified(self, listing: UnifiedList) -> Iterator[dict[str, Any]]:
        """Every item of a unified list, fetched lazily page by page.

        Takes :class:`~airflow_provider_truto.client.request.UnifiedList`'s arguments: ``model``,
        ``resource``, then keyword-only ``integrated_account_id``, ``query``, ``limit`` (the page size) and
        ``max_pages``.
        """
        return self.client.walk_unified(listing)

    # -- instant-messaging channels ------------------------------------------------------------------

    def join_channel(
        self,
        channel_id: str,
        integrated_account_id: str | None = None,
        *,
        remote_data: Mapping[str, Any] | None = None,
        response_format: str = "unified",
        exclude_fields: Sequence[str] | None = None,
        ignore_remote_data: bool = False,
        remote_query: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """Join a channel (Slack's ``conversations.join``) and return the unified channel.

        Joining a channel the bot is already in succeeds. ``idempotency_key`` defaults to a new key per call;
        pass a stable one to make repeats of the same logical join (e.g. an Airflow retry) safe.

        The answer must be the channel joined: an empty answer (a 204, an empty 200: a middlebox, not
        Truto) is never a join, and in the unified format the answer must carry the channel's id. Anything
        else is a :class:`TrutoInvalidResponseError`, not retried by the hook (the same middlebox would
        answer the same); the join is not counted, so a task retry (the same idempotency key) or the next
        run takes it up.
        """
        channel_id = self._channel_id(channel_id)
        if remote_data is not None and not isinstance(remote_data, Mapping):
            raise TrutoInputError("remote_data", f"must be a mapping, got {type(remote_data).__name__}")
        json_body(remote_data, "remote_data")  # named before any request, not as the whole body
        body: dict[str, Any] = {"channel": {"id": channel_id}}
        if remote_data:
            body["remote_data"] = dict(remote_data)
        joined = self._channel_call(
            UnifiedCall(
                INSTANT_MESSAGING,
                CHANNELS,
                "join",
                body=body,
                integrated_account_id=integrated_account_id,
                query=response_options(response_format, exclude_fields, ignore_remote_data, remote_query),
                idempotency_key=idempotency_key,
            )
        )
        return _the_channel_joined(joined, channel_id, response_format)

    def get_channel(
        self,
        channel_id: str,
        integrated_account_id: str | None = None,
        *,
        response_format: str = "unified",
        exclude_fields: Sequence[str] | None = None,
        ignore_remote_data: bool = False,
        remote_query: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Fetch one channel."""
        self._channel_id(channel_id)
        path_segment("channel_id", channel_id)  # ".", ".." and blanks are named as what the caller passed
        return self._channel_call(
            UnifiedCall(
                INSTANT_MESSAGING,
                CHANNELS,
                "get",
                resource_id=channel_id,
                integrated_account_id=integrated_account_id,
                query=response_options(response_format, exclude_fields, ignore_remote_data, remote_query),
            )
        )

    def list_channels(
        self,
        integrated_account_id: str | None = None,
        *,
        limit: int | None = None,
        **filters: Any,
    ) -> Iterator[dict[str, Any]]:
        """Every channel of the account, lazily, page by page (``limit`` is the page size).

        ``filters`` are passed to Truto as query parameters; integrations may ignore them, so filter the
        results yourself when it matters.
        """
        return self.list_unified(
            INSTANT_MESSAGING,
            CHANNELS,
            integrated_account_id=integrated_account_id,
            query=filters,
            limit=limit,
        )

    # -- integrated accounts (admin API) -------------------------------------------------------------

    def get_integrated_account(self, integrated_account_id: str | None = None) -> dict[str, Any]:
        account = path_segment("integrated_account_id", self.account_id(integrated_account_id))
        answer: dict[str, Any] = self.client.request("GET", f"/integrated-account/{account}")
        return answer

    def list_integrated_accounts(
        self, *, limit: int | None = None, **filters: Any
    ) -> Iterator[dict[str, Any]]:
        """Every integrated account of the token's environment; filters such as ``status="active"``,
        ``is_sandbox=False`` or ``integration={"name": "slack"}`` are passed to Truto."""
        return self.client.paginate("/integrated-account", query=filters, limit=limit)

    # -- webhooks (admin API) ------------------------------------------------------------------------

    def register_webhook(
        self, target_url: str, event_types: Sequence[str] | None = None, *, is_active: bool = True
    ) -> dict[str, Any]:
        """Register a webhook with Truto (``POST /webhook``) and return it, its ``secret`` included.

        ``event_types`` defaults to every event the provider's receiver acts on
        (:data:`~airflow_provider_truto.webhooks.events.DEFAULT_EVENT_TYPES`). Keep the secret in the
        connection's ``webhook_secret`` extra: ``python -m airflow_provider_truto.webhooks register`` does
        both. The answer may come wrapped as ``{"result": {...}}``; it is unwrapped.
        """
        from airflow_provider_truto.webhooks.events import DEFAULT_EVENT_TYPES

        url = require_id("target_url", target_url)
        if not url.lower().startswith(("https://", "http://")):
            raise TrutoInputError("target_url", f"must be an http(s) URL, got {target_url!r}")
        events = list(DEFAULT_EVENT_TYPES if event_types is None else event_types)
        if (
            isinstance(event_types, str)
            or not events
            or not all(isinstance(e, str) and e.strip() for e in events)
        ):
            raise TrutoInputError(
                "event_types", f"must be a non-empty list of event names, got {event_types!r}"
            )
        body = {"target_url": url, "event_types": [e.strip() for e in events], "is_active": is_active}
        answer = self.client.request("POST", "/webhook", body=body)
        if isinstance(answer, dict) and isinstance(answer.get("result"), dict):
            answer = answer["result"]
        if not isinstance(answer, dict) or not isinstance(answer.get("secret"), str) or not answer["secret"]:
            raise TrutoInvalidResponseError("POST /webhook answered no webhook with a secret")
        return answer

    def list_webhooks(self, *, limit: int | None = None) -> Iterator[dict[str, Any]]:
        """The environment's webhooks (``GET /webhook``, every page)."""
        return self.client.paginate("/webhook", limit=limit)

    # -- Airflow's "Test connection" -----------------------------------------------------------------

    def test_connection(self) -> tuple[bool, str]:
        """Make one cheap authenticated call; never raises."""
        try:
            config = self.config
            if config.integrated_account_id:
                account = self.get_integrated_account()
                return True, (
                    f"Connected to Truto at {config.base_url}; integrated account {account.get('id')} "
                    f"is {account.get('status', 'unknown')}"
                )
            next(self.list_integrated_accounts(limit=1), None)
            return True, f"Connected to Truto at {config.base_url}"
        except TrutoError as error:
            return False, str(error)
        except Exception as error:
            return False, f"{type(error).__name__}: {error}"

    # -- helpers -------------------------------------------------------------------------------------

    def _channel_id(self, channel_id: Any) -> str:
        """A channel id, or the error naming the argument and this connection (a name such as ``#general``
        is refused here, before any request)."""
        try:
            return require_channel_id("channel_id", channel_id)
        except TrutoInputError as error:
            error.explained(label=self.label)
            raise

    def _channel_call(self, call: UnifiedCall) -> dict[str, Any]:
        """A channel call whose answer must be one object (a channel)."""
        answer = self.client.call_unified(call)
        if not isinstance(answer, dict):
            raise TrutoInvalidResponseError(
                f"channel {call.method} returned {type(answer).__name__}, not an object"
            )
        return answer


def _the_channel_joined(answer: dict[str, Any], channel_id: str, response_format: str) -> dict[str, Any]:
    """``answer`` if it is the channel joined, else the error saying what came back instead.

    Other response formats than ``unified`` (``raw``: Slack's own ``{"ok": true, "channel": {...}}``) are
    only required not to be empty: their shape is the provider's.
    """
    if not answer:
        problem = "an empty answer (HTTP 204 or an empty body: a proxy, not Truto), which is not a join"
    elif response_format == "unified" and answer.get("id") != channel_id:
        other = answer.get("id")
        shown = repr(other)[:60] if isinstance(other, (str, int)) else type(other).__name__
        problem = f"a channel whose id is {shown}" if "id" in answer else "an object without an id"
        problem += ", not the channel joined"
    else:
        return answer
    raise TrutoInvalidResponseError(
        f"joining channel {channel_id} answered {problem}; the join is not counted (a retry, with the same "
        "idempotency key, or the next run tries it again)"
    )

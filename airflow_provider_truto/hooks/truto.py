"""TrutoHook: an Airflow connection of type ``truto`` turned into a Truto client, plus the domain calls."""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Iterator, Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow_provider_truto.client import TrutoClient
from airflow_provider_truto.compat import BaseHook
from airflow_provider_truto.config import (
    DEFAULT_ACCOUNT_RATE_LIMIT,
    DEFAULT_MAX_RESPONSE_MB,
    DEFAULT_MAX_RETRIES,
    DEFAULT_PAGE_CAP,
    DEFAULT_TIMEOUT_SECONDS,
    DEFAULT_TOKEN_RATE_LIMIT,
    TrutoConfig,
    clean_token,
    normalise_base_url,
)
from airflow_provider_truto.exceptions import TrutoError, TrutoInputError, TrutoInvalidResponseError
from airflow_provider_truto.ratelimit import RateLimit
from airflow_provider_truto.ratelimit_redis import RedisSettings
from airflow_provider_truto.redaction import Secret

# Re-exported: these lived here before the unified API's facts got their own module.
from airflow_provider_truto.unified_api import (  # noqa: F401
    CHANNELS,
    INSTANT_MESSAGING,
    RESPONSE_FORMATS,
)
from airflow_provider_truto.validation import require_id
from airflow_provider_truto.wire import (
    UnifiedCall,
    UnifiedList,
    json_body,
    path_segment,
    response_options,
    takes_unified_call,
    takes_unified_list,
)

if TYPE_CHECKING:
    from airflow_provider_truto.async_client import AsyncTrutoClient

ENVIRONMENT_RATE_LIMIT = "environment_rate_limit"
DEPRECATED_TOKEN_RATE_LIMIT = "token_rate_limit"
# Every extra the hook reads: none may hold a word Airflow's secrets masker treats as sensitive.
CONNECTION_EXTRAS = (
    "integrated_account_id",
    "timeout",
    "max_retries",
    "rate_limit",
    ENVIRONMENT_RATE_LIMIT,
    "rate_limit_redis_conn_id",
    "page_cap",
    "max_response_mb",
)


class TrutoHook(BaseHook):
    """Talks to Truto's unified API through an Airflow connection of type ``truto``.

    The connection: password = API token (surrounding whitespace is ignored); host = base URL (a full URL
    is taken as is, a bare host gets ``https://``, empty means ``https://api.truto.one``); extras
    ``integrated_account_id`` (the default account), ``timeout`` (seconds, default 30), ``max_retries``
    (default 5), ``rate_limit`` (per account, default ``"50/10"``) and ``environment_rate_limit`` (per API
    token, default ``"500/10"``; the older name ``token_rate_limit`` still works, with a warning),
    ``page_cap`` (the most pages one list walk reads before it fails, default 10000) and
    ``max_response_mb`` (the largest answer accepted, default 50). An absent, null or empty extra means
    the default; only ``"off"`` switches pacing off.
    ``rate_limit_redis_conn_id`` names a ``redis`` connection that keeps those budgets for every host.
    An argument given here wins over the connection extra, which wins over the default.

    :param truto_conn_id: the Airflow connection to use.
    :param integrated_account_id: the account to act on when a call names none.
    :param timeout: seconds one attempt may take, the whole answer included.
    :param max_retries: retries of a transient failure (429, 408, 500, 502, 504, connection errors).
    """

    conn_name_attr = "truto_conn_id"
    default_conn_name = "truto_default"
    conn_type = "truto"
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
        host, password, extra = _connection_fields(self.get_connection(self.truto_conn_id))
        where = f"connection {self.truto_conn_id!r}"
        if not password:
            raise TrutoInputError(f"{where}: password", "the connection has no API token")
        account = _first(self._integrated_account_id, _extra(extra, "integrated_account_id"), None)
        return TrutoConfig(
            token=clean_token(password, f"{where}: password"),
            base_url=normalise_base_url(host, f"{where}: host"),
            integrated_account_id=account,
            timeout=_seconds(
                where, "timeout", _first(self._timeout, _extra(extra, "timeout"), DEFAULT_TIMEOUT_SECONDS)
            ),
            max_retries=_whole(
                where,
                "max_retries",
                _first(self._max_retries, _extra(extra, "max_retries"), DEFAULT_MAX_RETRIES),
            ),
            account_rate_limit=_rate_limit(
                where, "rate_limit", _extra(extra, "rate_limit"), DEFAULT_ACCOUNT_RATE_LIMIT
            ),
            token_rate_limit=self._environment_rate_limit(where, extra),
            rate_limit_redis=self._rate_limit_redis(where, _extra(extra, "rate_limit_redis_conn_id")),
            page_cap=_whole(
                where, "page_cap", _first(_extra(extra, "page_cap"), DEFAULT_PAGE_CAP), minimum=1
            ),
            max_response_bytes=int(
                _positive(
                    where,
                    "max_response_mb",
                    _first(_extra(extra, "max_response_mb"), DEFAULT_MAX_RESPONSE_MB),
                )
                * 1e6
            ),
        )

    def _environment_rate_limit(self, where: str, extra: Mapping[str, Any]) -> RateLimit | None:
        """``environment_rate_limit``, or the deprecated ``token_rate_limit`` of older connections.

        Airflow masks every extra whose name holds "token" as a secret (its form then saves ``***``), hence
        the rename. The old name still works, with one warning per hook; when both are set, the new wins.
        """
        new, old = _extra(extra, ENVIRONMENT_RATE_LIMIT), _extra(extra, DEPRECATED_TOKEN_RATE_LIMIT)
        name, value = ENVIRONMENT_RATE_LIMIT, new
        if old is not None and new is not None:
            self.log.warning(
                "%s sets both %r and the deprecated %r: %r is used; remove %r",
                where,
                ENVIRONMENT_RATE_LIMIT,
                DEPRECATED_TOKEN_RATE_LIMIT,
                ENVIRONMENT_RATE_LIMIT,
                DEPRECATED_TOKEN_RATE_LIMIT,
            )
        elif old is not None:
            self.log.warning(
                "%s: the extra %r is deprecated; rename it to %r (same value)",
                where,
                DEPRECATED_TOKEN_RATE_LIMIT,
                ENVIRONMENT_RATE_LIMIT,
            )
            name, value = DEPRECATED_TOKEN_RATE_LIMIT, old
        return _rate_limit(where, name, value, DEFAULT_TOKEN_RATE_LIMIT)

    def _rate_limit_redis(self, where: str, conn_id: Any) -> RedisSettings | None:
        """The Redis connection that keeps the budgets for every host; None: this host's lock files."""
        if conn_id is None or not str(conn_id).strip():
            return None
        name, conn_id = f"{where}: rate_limit_redis_conn_id", str(conn_id).strip()
        if importlib.util.find_spec("redis") is None:
            raise TrutoInputError(name, "needs redis: pip install 'airflow-provider-truto[redis]'")
        try:
            conn = self.get_connection(conn_id)
        except Exception as error:  # AirflowNotFoundException, whose module moved between releases
            raise TrutoInputError(name, f"cannot read the connection {conn_id!r}: {error}") from None
        try:
            return RedisSettings.from_connection(conn)
        except ValueError as error:
            problem = str(error)
        # Raised with the connection gone from this frame: Airflow 3.0 prints a traceback's locals, and
        # the connection's repr carries its password.
        del conn
        raise TrutoInputError(name, f"connection {conn_id!r}: {problem}")

    def account_id(self, integrated_account_id: str | None = None) -> str:
        """The account a call acts on: the argument, else the connection's ``integrated_account_id``.

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

        from airflow_provider_truto.async_client import AsyncTrutoClient

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

        Takes :class:`~airflow_provider_truto.wire.UnifiedCall`'s arguments: ``model``,
        ``resource``, ``method`` (``list`` (one page), ``get``, ``create``, ``update``, ``delete`` or a
        custom method such as ``join``), then keyword-only ``resource_id``, ``integrated_account_id``,
        ``query``, ``body`` and ``idempotency_key``.
        """
        return self.client.call_unified(call)

    @takes_unified_list
    def list_unified(self, listing: UnifiedList) -> Iterator[dict[str, Any]]:
        """Every item of a unified list, fetched lazily page by page.

        Takes :class:`~airflow_provider_truto.wire.UnifiedList`'s arguments: ``model``,
        ``resource``, then keyword-only ``integrated_account_id``, ``query``, ``limit`` (the page size) and
        ``max_pages``.
        """
        return self.client.list_unified(listing)

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
        """
        channel_id = require_id("channel_id", channel_id)
        if remote_data is not None and not isinstance(remote_data, Mapping):
            raise TrutoInputError("remote_data", f"must be a mapping, got {type(remote_data).__name__}")
        json_body(remote_data, "remote_data")  # named before any request, not as the whole body
        body: dict[str, Any] = {"channel": {"id": channel_id}}
        if remote_data:
            body["remote_data"] = dict(remote_data)
        return self._channel_call(
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

    def _channel_call(self, call: UnifiedCall) -> dict[str, Any]:
        """A channel call whose answer must be one object (a channel)."""
        answer = self.client.call_unified(call)
        if not isinstance(answer, dict):
            raise TrutoInvalidResponseError(
                f"channel {call.method} returned {type(answer).__name__}, not an object"
            )
        return answer


def _connection_fields(conn: Any) -> tuple[str, Secret | None, Mapping[str, Any]]:
    """``(host, token, extras)`` of a connection, the token wrapped so that no traceback shows it.

    Never raises: checks happen in frames that hold no ``Connection``, whose ``repr`` shows the password.
    """
    host = conn.host or ""
    if host and "://" not in host:  # a bare host: the port and scheme may sit in their own fields
        host = f"{host}:{conn.port}" if conn.port else host
        host = f"{conn.schema}://{host}" if conn.schema in ("http", "https") else host
    password = Secret(conn.password) if isinstance(conn.password, str) and conn.password else None
    return host, password, conn.extra_dejson or {}


def _first(*values: Any) -> Any:
    return next((value for value in values if value is not None and value != ""), None)


def _extra(extra: Mapping[str, Any], name: str) -> Any:
    """An extra's value; ``None`` when it is absent, null or blank, which all mean "the default"."""
    value = extra.get(name)
    if isinstance(value, str):
        value = value.strip()
    return None if value is None or value == "" else value


def _number(where: str, name: str, value: Any) -> float:
    number: float | None = None
    if not isinstance(value, bool):
        try:
            number = float(value)
        except (TypeError, ValueError, OverflowError):
            number = None
    if number is None or not math.isfinite(number):
        raise TrutoInputError(f"{where}: {name}", f"must be a finite number, got {value!r}")
    return number


def _seconds(where: str, name: str, value: Any) -> float:
    number = _number(where, name, value)
    if number <= 0:
        raise TrutoInputError(f"{where}: {name}", f"must be a positive number of seconds, got {value!r}")
    return number


def _positive(where: str, name: str, value: Any) -> float:
    number = _number(where, name, value)
    if number <= 0:
        raise TrutoInputError(f"{where}: {name}", f"must be a positive number, got {value!r}")
    return number


def _whole(where: str, name: str, value: Any, *, minimum: int = 0) -> int:
    number = _number(where, name, value)
    if number < minimum or not number.is_integer():
        raise TrutoInputError(f"{where}: {name}", f"must be a whole number >= {minimum}, got {value!r}")
    return int(number)


def _rate_limit(where: str, name: str, value: Any, default: RateLimit) -> RateLimit | None:
    """Empty means the default; only ``off`` switches pacing off; anything else unreadable is named."""
    if value is None:
        return default
    problem = None
    if isinstance(value, str):
        try:
            return RateLimit.parse(value)
        except ValueError as error:
            problem = str(error)
    raise TrutoInputError(
        f"{where}: {name}",
        problem or f"expected REQUESTS/SECONDS such as '50/10', or 'off' to switch pacing off, got {value!r}",
    )

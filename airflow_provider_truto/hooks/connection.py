"""An Airflow connection of type ``truto`` read into one
:class:`~airflow_provider_truto.client.config.TrutoConfig`.

The connection: password = API token (surrounding whitespace is ignored); host = base URL (a full URL is
taken as is, a bare host gets ``https://``, with the port and an ``http``/``https`` schema of their own
fields); the extras are the form's fields
(:data:`~airflow_provider_truto.hooks.connection_type.CONNECTION_EXTRAS`). An absent, null or empty extra
means the default (:mod:`~airflow_provider_truto.client.config` owns them); only ``"off"`` switches a
rate limit off. An argument given to the hook wins over the extra, which wins over the default.

Checks name the connection and the field, and run in frames that hold no ``Connection``: its ``repr``
shows the password, and Airflow 3.0 prints a traceback's local variables.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Mapping
from typing import Any

from airflow_provider_truto.client.config import (
    DEFAULT_ACCOUNT_RATE_LIMIT,
    DEFAULT_ENVIRONMENT_RATE_LIMIT,
    DEFAULT_MAX_RESPONSE_MB,
    DEFAULT_MAX_RETRIES,
    DEFAULT_PAGE_CAP,
    DEFAULT_TIMEOUT_SECONDS,
    TrutoConfig,
    clean_token,
    normalise_base_url,
)
from airflow_provider_truto.client.observer import ClientObserver
from airflow_provider_truto.client.redaction import Secret
from airflow_provider_truto.client.validation import given, read_number, read_whole, require_positive
from airflow_provider_truto.exceptions import TrutoInputError
from airflow_provider_truto.pacing.limits import RateLimit
from airflow_provider_truto.pacing.redis_store import RedisSettings


def read_config(
    conn: Any,
    conn_id: str,
    *,
    overrides: Mapping[str, Any],
    get_connection: Callable[[str], Any],
    observer: ClientObserver | None = None,
) -> TrutoConfig:
    """The config of connection ``conn`` (named ``conn_id`` in errors).

    :param overrides: the hook's own ``integrated_account_id``, ``timeout`` and ``max_retries``: each one
        given wins over the connection's extra.
    :param get_connection: reads the Redis connection that ``rate_limit_redis_conn_id`` names.
    :param observer: told of every answer and wait of the clients made from the config (metrics).
    """
    host, password, extra = _connection_fields(conn)
    del conn  # no frame below holds the connection
    where = f"connection {conn_id!r}"

    def setting(name: str, default: Any = None) -> Any:
        """The hook's argument, else the extra, else ``default``: the first one given."""
        return next((v for v in (given(overrides.get(name)), _extra(extra, name)) if v is not None), default)

    if not password:
        raise TrutoInputError(f"{where}: password", "the connection has no API token")
    timeout = read_number(f"{where}: timeout", setting("timeout", DEFAULT_TIMEOUT_SECONDS))
    max_response_mb = read_number(
        f"{where}: max_response_mb", setting("max_response_mb", DEFAULT_MAX_RESPONSE_MB)
    )
    return TrutoConfig(
        token=clean_token(password, f"{where}: password"),
        base_url=normalise_base_url(host, f"{where}: host"),
        integrated_account_id=setting("integrated_account_id"),
        timeout=require_positive(f"{where}: timeout", timeout),
        max_retries=read_whole(f"{where}: max_retries", setting("max_retries", DEFAULT_MAX_RETRIES)),
        account_rate_limit=_rate_limit(
            f"{where}: rate_limit", _extra(extra, "rate_limit"), DEFAULT_ACCOUNT_RATE_LIMIT
        ),
        environment_rate_limit=_rate_limit(
            f"{where}: environment_rate_limit",
            _extra(extra, "environment_rate_limit"),
            DEFAULT_ENVIRONMENT_RATE_LIMIT,
        ),
        rate_limit_redis=_rate_limit_redis(
            f"{where}: rate_limit_redis_conn_id", _extra(extra, "rate_limit_redis_conn_id"), get_connection
        ),
        page_cap=read_whole(f"{where}: page_cap", setting("page_cap", DEFAULT_PAGE_CAP), minimum=1),
        max_response_bytes=int(
            require_positive(f"{where}: max_response_mb", max_response_mb, "number") * 1e6
        ),
        label=where,
        observer=observer,
    )


def _connection_fields(conn: Any) -> tuple[str, Secret | None, Mapping[str, Any]]:
    """``(host, token, extras)`` of a connection, the token wrapped so that no traceback shows it.

    Never raises: checks happen in frames that hold no ``Connection``.
    """
    host = conn.host or ""
    if host and "://" not in host:  # a bare host: the port and scheme may sit in their own fields
        host = f"{host}:{conn.port}" if conn.port else host
        host = f"{conn.schema}://{host}" if conn.schema in ("http", "https") else host
    password = Secret(conn.password) if isinstance(conn.password, str) and conn.password else None
    return host, password, conn.extra_dejson or {}


def _extra(extra: Mapping[str, Any], name: str) -> Any:
    """An extra's value; ``None`` when it is absent, null or blank, which all mean "the default"."""
    value = extra.get(name)
    return given(value.strip() if isinstance(value, str) else value)


def _rate_limit(argument: str, value: Any, default: RateLimit) -> RateLimit | None:
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
        argument,
        problem or f"expected REQUESTS/SECONDS such as '50/10', or 'off' to switch pacing off, got {value!r}",
    )


def _rate_limit_redis(
    argument: str, conn_id: Any, get_connection: Callable[[str], Any]
) -> RedisSettings | None:
    """The Redis connection that keeps the budgets for every host; ``None``: this host's lock files."""
    if conn_id is None:
        return None
    conn_id = str(conn_id)
    if importlib.util.find_spec("redis") is None:
        raise TrutoInputError(argument, "needs redis: pip install 'airflow-provider-truto[redis]'")
    try:
        conn = get_connection(conn_id)
    except Exception as error:  # AirflowNotFoundException, whose module moved between releases
        raise TrutoInputError(argument, f"cannot read the connection {conn_id!r}: {error}") from None
    try:
        return RedisSettings.from_connection(conn)
    except ValueError as error:
        problem = str(error)
    # Raised with the connection gone from this frame: its repr carries its password.
    del conn
    raise TrutoInputError(argument, f"connection {conn_id!r}: {problem}")

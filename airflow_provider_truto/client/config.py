"""TrutoConfig: everything a Truto client needs, sync or async, read once from a connection by the hook.

Pure: no HTTP, no Airflow. The hook builds one config per connection and hands it to both clients, and
to anything that only needs a setting (which account a call acts on), without opening a session. The one
owner of the connection's defaults: the connection form's texts are tested against them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from airflow_provider_truto.client.redaction import Secret
from airflow_provider_truto.client.validation import (
    require_count,
    require_id,
    require_positive,
    require_whole,
)
from airflow_provider_truto.exceptions import TrutoInputError
from airflow_provider_truto.pacing.limits import RateLimit

if TYPE_CHECKING:
    from airflow_provider_truto.client.observer import ClientObserver
    from airflow_provider_truto.pacing.redis_store import RedisSettings

DEFAULT_BASE_URL = "https://api.truto.one"
DEFAULT_TIMEOUT_SECONDS = 30.0
DEFAULT_MAX_RETRIES = 5
DEFAULT_MAX_RETRY_WAIT_SECONDS = 60.0
# Generous bounds against a server that misbehaves: a list that never ends, an answer that never stops.
DEFAULT_PAGE_CAP = 10_000
DEFAULT_MAX_RESPONSE_MB = 50.0
# Truto's documented limits; "off" in a connection extra switches pacing off (the server still answers 429).
DEFAULT_ACCOUNT_RATE_LIMIT = RateLimit(50, 10.0)
DEFAULT_ENVIRONMENT_RATE_LIMIT = RateLimit(500, 10.0)  # per API token: a token belongs to one environment


@dataclass(frozen=True)
class TrutoConfig:
    """Everything a client needs. ``repr`` never shows the token."""

    token: str = field(repr=False)
    base_url: str = DEFAULT_BASE_URL
    integrated_account_id: str | None = None
    timeout: float = DEFAULT_TIMEOUT_SECONDS
    max_retries: int = DEFAULT_MAX_RETRIES
    max_retry_wait: float = DEFAULT_MAX_RETRY_WAIT_SECONDS
    account_rate_limit: RateLimit | None = DEFAULT_ACCOUNT_RATE_LIMIT
    environment_rate_limit: RateLimit | None = DEFAULT_ENVIRONMENT_RATE_LIMIT
    # The budgets in Redis, shared by every host (extra rate_limit_redis_conn_id); None: lock files.
    rate_limit_redis: RedisSettings | None = None
    page_cap: int = DEFAULT_PAGE_CAP
    max_response_bytes: int = int(DEFAULT_MAX_RESPONSE_MB * 1e6)
    # How errors name where the call went: the hook's "connection 'truto_default'". None: unnamed.
    label: str | None = None
    # Told of every answer and every wait (the hook's: Airflow's metrics); None: nobody.
    observer: ClientObserver | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        token = Secret(self.token) if isinstance(self.token, str) else self.token
        object.__setattr__(self, "token", clean_token(token, "token"))
        require_positive("timeout", self.timeout)
        require_positive("max_retry_wait", self.max_retry_wait)
        require_whole("max_retries", self.max_retries)
        require_count("page_cap", self.page_cap)
        require_count("max_response_bytes", self.max_response_bytes)
        object.__setattr__(self, "base_url", normalise_base_url(self.base_url))

    def account_id(self, integrated_account_id: str | None = None) -> str:
        """The account a call acts on: the argument, else the connection's default; named when missing or bad.

        ``None`` means "not given"; an empty text is a bad id (callers whose templated fields render
        unset values as ``""`` turn those into ``None`` first).
        """
        account = integrated_account_id if integrated_account_id is not None else self.integrated_account_id
        if account is None:
            raise TrutoInputError(
                "integrated_account_id",
                "no integrated account given and the connection has no 'integrated_account_id' extra",
            ).explained(label=self.label)
        return require_id("integrated_account_id", account)

    @property
    def pacing_scope(self) -> str:
        """What the rate-limit budgets are kept per: Truto limits per token, and the token per base URL."""
        return f"{self.base_url}|{self.token}"


def clean_token(value: Any, argument: str) -> str:
    """The API token as it is sent: surrounding whitespace (a pasted newline) stripped, nothing odd inside.

    A token with whitespace, control or non-ASCII characters inside cannot be sent as a header, and the
    HTTP library's complaint would quote it: it is refused here, by name, without showing it.
    """
    if not isinstance(value, str) or not value.strip():
        raise TrutoInputError(argument, "the API token is empty; set the connection's password")
    token = Secret(value.strip())
    if not all("!" <= char <= "~" for char in token):
        raise TrutoInputError(
            argument,
            "the API token holds whitespace, control or non-ASCII characters inside it; paste it again "
            "(it is not shown here)",
        )
    return token


def normalise_base_url(host: str | None, argument: str = "base_url") -> str:
    """A full URL is taken as is, a bare host gets ``https://``, nothing means Truto's own API.

    Only ``http`` and ``https`` URLs with a host and nothing after it are accepted: anything else is
    named as ``argument``. Every path the client calls starts at the host (``/unified/...``), so a Base URL
    with a path of its own (``https://api.truto.one/unified``) would reach no endpoint.
    """
    host = (host or "").strip()
    if not host:
        return DEFAULT_BASE_URL
    url = host if "://" in host else f"https://{host}"
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise TrutoInputError(
            argument, f"must be an http(s) URL with a host, such as {DEFAULT_BASE_URL}, got {host!r}"
        )
    extra = url[len(f"{parts.scheme}://{parts.netloc}") :].rstrip("/")
    if extra:
        bare = f"{parts.scheme}://{parts.netloc}"
        raise TrutoInputError(
            argument,
            f"the Base URL is the host only, such as {DEFAULT_BASE_URL}; got {host!r}: drop {extra!r} "
            f"and use {bare}",
        )
    return url.rstrip("/")

"""The Truto HTTP client: configuration, one pooled session, the retry loop and status -> error mapping.

No Airflow here: the hook turns a connection into a :class:`TrutoConfig` and hands it over.
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

import requests
import requests.adapters
import tenacity

from airflow_provider_truto import __version__
from airflow_provider_truto.exceptions import (
    TrutoConnectionError,
    TrutoHTTPError,
    TrutoInputError,
    TrutoInvalidResponseError,
    error_for_status,
)
from airflow_provider_truto.query import encode_query
from airflow_provider_truto.ratelimit import RateLimit, RateLimiters
from airflow_provider_truto.ratelimit_redis import RedisSettings
from airflow_provider_truto.retry import retry_policy
from airflow_provider_truto.validation import optional_count, require_id

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.truto.one"
DEFAULT_TIMEOUT_SECONDS = 30.0
DEFAULT_MAX_RETRIES = 5
DEFAULT_MAX_RETRY_WAIT_SECONDS = 60.0
# Truto's documented limits; "off" in a connection extra switches pacing off (the server still answers 429).
DEFAULT_ACCOUNT_RATE_LIMIT = RateLimit(50, 10.0)
DEFAULT_TOKEN_RATE_LIMIT = RateLimit(500, 10.0)
MAX_POOLED_CONNECTIONS = 64
USER_AGENT = f"airflow-provider-truto/{__version__}"

UNIFIED_METHODS = {"list": "GET", "get": "GET", "create": "POST", "update": "PATCH", "delete": "DELETE"}
_NEEDS_RESOURCE_ID = frozenset({"get", "update", "delete"})
_WRITE_METHODS = frozenset({"POST", "PATCH"})


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
    token_rate_limit: RateLimit | None = DEFAULT_TOKEN_RATE_LIMIT
    # The budgets in Redis, shared by every host (extra rate_limit_redis_conn_id); None: lock files.
    rate_limit_redis: RedisSettings | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.token, str) or not self.token.strip():
            raise TrutoInputError("token", "the API token is empty; set the connection's password")
        if self.timeout <= 0:
            raise TrutoInputError("timeout", f"must be a positive number of seconds, got {self.timeout!r}")
        if self.max_retries < 0:
            raise TrutoInputError("max_retries", f"must be 0 or more, got {self.max_retries!r}")
        object.__setattr__(self, "base_url", normalise_base_url(self.base_url))


def normalise_base_url(host: str | None) -> str:
    """A full URL is taken as is, a bare host gets ``https://``, nothing means Truto's own API."""
    host = (host or "").strip().rstrip("/")
    if not host:
        return DEFAULT_BASE_URL
    return host if "://" in host else f"https://{host}"


def default_headers(token: str) -> dict[str, str]:
    """The headers every Truto call carries, sync (requests) and async (the trigger's httpx) alike."""
    return {"Authorization": f"Bearer {token}", "Accept": "application/json", "User-Agent": USER_AGENT}


def unified_path(model: str, resource: str, method: str, resource_id: str | None) -> tuple[str, str]:
    """The HTTP method and path of a unified call; unknown method names are custom methods (POST)."""
    for argument, value in (("model", model), ("resource", resource), ("method", method)):
        require_id(argument, value)
        if "/" in value or value != value.strip():
            raise TrutoInputError(argument, f"must be a single path segment, got {value!r}")
    base = f"/unified/{quote(model)}/{quote(resource)}"
    if method in _NEEDS_RESOURCE_ID:
        item = quote(require_id("resource_id", resource_id), safe="")
        return UNIFIED_METHODS[method], f"{base}/{item}"
    if resource_id is not None:
        raise TrutoInputError("resource_id", f"is not used by the {method!r} method")
    if method in UNIFIED_METHODS:
        return UNIFIED_METHODS[method], base
    return "POST", f"{base}/{quote(method)}"


class TrutoClient:
    """A client for Truto's API over one pooled, keep-alive ``requests.Session``.

    :param config: the token, base URL, timeouts, retry and rate-limit settings.
    :param sleep: how to wait between attempts; tests pass a recorder.
    """

    def __init__(self, config: TrutoConfig, *, sleep: Callable[[float], None] = time.sleep) -> None:
        self.config = config
        self.session = _session_for(config.base_url)
        self.session.headers.update(default_headers(config.token))
        self._retrying = tenacity.Retrying(
            sleep=sleep,
            **retry_policy(
                config.max_retries,
                max_wait=config.max_retry_wait,
                log=log,
            ),
        )
        self._limiters = RateLimiters(
            f"{config.base_url}|{config.token}",
            token_limit=config.token_rate_limit,
            account_limit=config.account_rate_limit,
            redis=config.rate_limit_redis,
        )

    def close(self) -> None:
        self.session.close()
        self._limiters.close()

    def __enter__(self) -> TrutoClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- the generic paths -------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, Any] | None = None,
        body: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> Any:
        """Send one call, retrying what the policy allows, and return the decoded JSON answer.

        A POST or PATCH carries one ``Idempotency-Key``, generated here unless given, and the same on every
        retry, so a retried write can never act twice.
        """
        method = method.upper()
        params = encode_query(query)
        data = json.dumps(body, separators=(",", ":")).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if data is not None else {}
        if method in _WRITE_METHODS:
            headers["Idempotency-Key"] = idempotency_key or str(uuid.uuid4())
        account = (query or {}).get("integrated_account_id")
        url = self.config.base_url + path
        return self._retrying(self._send, method, url, params, data, headers, account)

    def unified(
        self,
        model: str,
        resource: str,
        method: str = "list",
        *,
        resource_id: str | None = None,
        integrated_account_id: str | None = None,
        query: Mapping[str, Any] | None = None,
        body: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> Any:
        """One call to ``/unified/{model}/{resource}[/{id}|/{custom method}]`` (a list returns one page).

        A custom method's answer wrapped as ``{"result": {...}}`` is unwrapped.
        """
        http_method, path = unified_path(model, resource, method, resource_id)
        account = self.account_id(integrated_account_id)
        answer = self.request(
            http_method,
            path,
            query={**(query or {}), "integrated_account_id": account},
            body=body,
            idempotency_key=idempotency_key,
        )
        if method not in UNIFIED_METHODS and _is_wrapped_result(answer):
            return answer["result"]
        return answer

    def paginate(
        self,
        path: str,
        *,
        query: Mapping[str, Any] | None = None,
        page_size: int | None = None,
        max_pages: int | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Yield the items of a cursor-paginated list, one page in memory at a time.

        Keeps going while ``next_cursor`` is set, even past an empty page (Slack sends those).
        """
        optional_count("limit", page_size)
        optional_count("max_pages", max_pages)
        cursor: str | None = None
        seen: set[str] = set()
        pages = 0
        while True:
            page = self.request(
                "GET", path, query={**(query or {}), "limit": page_size, "next_cursor": cursor}
            )
            yield from page_items(page, path)
            pages += 1
            cursor = page.get("next_cursor")
            if not cursor or (max_pages is not None and pages >= max_pages):
                return
            if cursor in seen:
                raise TrutoInvalidResponseError(f"{path} returned the cursor {cursor!r} twice; stopping")
            seen.add(cursor)

    def paginate_unified(
        self,
        model: str,
        resource: str,
        *,
        integrated_account_id: str | None = None,
        query: Mapping[str, Any] | None = None,
        page_size: int | None = None,
        max_pages: int | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Every item of a unified list, page by page."""
        _, path = unified_path(model, resource, "list", None)
        account = self.account_id(integrated_account_id)
        return self.paginate(
            path,
            query={**(query or {}), "integrated_account_id": account},
            page_size=page_size,
            max_pages=max_pages,
        )

    def account_id(self, integrated_account_id: str | None) -> str:
        """The account to act on: the argument, else the configured default; named when missing or bad."""
        account = (
            integrated_account_id if integrated_account_id is not None else self.config.integrated_account_id
        )
        if account is None:
            raise TrutoInputError(
                "integrated_account_id",
                "no integrated account given and the connection has no 'integrated_account_id' extra",
            )
        return require_id("integrated_account_id", account)

    # -- one attempt -------------------------------------------------------------------------------

    def _send(
        self,
        method: str,
        url: str,
        params: list[tuple[str, str]],
        data: bytes | None,
        headers: dict[str, str],
        account: str | None,
    ) -> Any:
        if self._limiters.enabled:
            self._limiters.wait_for_slot(account)
        try:
            response = self.session.request(
                method, url, params=params, data=data, headers=headers, timeout=self.config.timeout
            )
        except requests.Timeout as error:
            raise TrutoConnectionError(
                f"{method} {_path_of(url)} timed out after {self.config.timeout:g}s"
            ) from error
        except requests.RequestException as error:
            raise TrutoConnectionError(
                f"{method} {_path_of(url)} failed: {type(error).__name__}: {self._redact(str(error))}"
            ) from error
        if response.status_code == 429:  # every worker sharing the budget waits, not just this one
            self._limiters.pause(account, parse_retry_after(response.headers.get("Retry-After")))
        return decode_answer(
            response.status_code,
            response.text,
            retry_after=response.headers.get("Retry-After"),
            reason=response.reason,
            call=f"{method} {_path_of(url)}",
            token=self.config.token,
        )

    def _redact(self, text: str) -> str:
        return redact(text, self.config.token)


def redact(text: str, token: str) -> str:
    """Defence in depth: nothing we raise or log may carry the token, even if a server echoes it."""
    return text.replace(token, "***")


def decode_answer(
    status_code: int, text: str, *, retry_after: str | None, reason: str | None, call: str, token: str
) -> Any:
    """An answer's JSON, or the typed error it stands for; shared by the sync and async transports."""
    text = redact(text, token)
    if status_code >= 400:
        raise error_from_answer(status_code, text, retry_after=retry_after, reason=reason, call=call)
    if not text:
        return {}
    try:
        return json.loads(text)
    except ValueError as error:
        raise TrutoInvalidResponseError(
            f"{call} answered HTTP {status_code} with a body that is not JSON",
            status_code=status_code,
            body=text[:500],
        ) from error


def error_from_answer(
    status_code: int, text: str, *, retry_after: str | None, reason: str | None, call: str
) -> TrutoHTTPError:
    """The typed error for an error answer, from Truto's error body; shared by the sync and async paths.

    ``text`` must already be redacted.
    """
    try:
        payload = json.loads(text) if text else {}
    except ValueError:
        payload = {}
    if not isinstance(payload, dict):
        payload = {}
    raw = payload.get("raw_response")
    remote_error = raw.get("error") if isinstance(raw, dict) else None
    message = payload.get("message") or payload.get("error") or reason or "error"
    return error_for_status(
        status_code,
        f"{call}: {message}",
        retry_after=parse_retry_after(retry_after),
        remote_error=str(remote_error) if remote_error is not None else None,
        is_remote_error=bool(payload.get("truto_is_remote_error")),
        body=text,
    )


def _session_for(base_url: str) -> requests.Session:
    """A session whose proxy and CA settings are read from the environment once, not on every call.

    With ``trust_env`` on, requests scans the whole environment twice per request for proxies: a third
    of a loopback call's cost. The same settings (``HTTPS_PROXY``, ``NO_PROXY``, ``REQUESTS_CA_BUNDLE``)
    are honoured; they are just read when the client is made.
    """
    session = requests.Session()
    # Batch joins work many accounts on threads sharing this session: keep a connection for each of them
    # (requests keeps 10 and drops the rest, so the 11th thread would reconnect on every call).
    adapter = requests.adapters.HTTPAdapter(pool_connections=2, pool_maxsize=MAX_POOLED_CONNECTIONS)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.proxies.update(requests.utils.get_environ_proxies(base_url))
    ca_bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if ca_bundle:
        session.verify = ca_bundle
    session.trust_env = False
    return session


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` as seconds: a number, or an HTTP-date relative to now. Unreadable means absent."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _is_wrapped_result(answer: Any) -> bool:
    return isinstance(answer, dict) and isinstance(answer.get("result"), dict) and "id" not in answer


def page_items(page: Any, path: str) -> list[dict[str, Any]]:
    """The items of one list page, its envelope checked."""
    if not isinstance(page, dict):
        raise TrutoInvalidResponseError(f"{path} returned {type(page).__name__}, not a list envelope")
    # Truto's docs show "result"; one admin endpoint has been seen answering "results".
    items = page.get("result", page.get("results"))
    if not isinstance(items, list):
        raise TrutoInvalidResponseError(f"{path} returned no 'result' list")
    return items


def _path_of(url: str) -> str:
    return urlsplit(url).path

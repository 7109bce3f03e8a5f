"""The Truto HTTP client: configuration, one pooled session, the retry loop and status -> error mapping.

No Airflow here: the hook turns a connection into a :class:`TrutoConfig` and hands it over.
"""

from __future__ import annotations

import json
import logging
import math
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
from airflow_provider_truto.deadline import Deadline, DeadlineAdapter
from airflow_provider_truto.exceptions import (
    BODY_EXCERPT_CHARS,
    TrutoConnectionError,
    TrutoError,
    TrutoHTTPError,
    TrutoInputError,
    TrutoInvalidResponseError,
    TrutoRedirectError,
    error_for_status,
)
from airflow_provider_truto.query import encode_query
from airflow_provider_truto.ratelimit import RateLimit, RateLimiters
from airflow_provider_truto.ratelimit_redis import RedisSettings
from airflow_provider_truto.redaction import Secret, redact_value
from airflow_provider_truto.redaction import redact as redact  # re-exported: the trigger used it from here
from airflow_provider_truto.retry import retry_policy
from airflow_provider_truto.validation import optional_count, require_count, require_id

if TYPE_CHECKING:
    from collections.abc import AsyncIterable, Callable, Iterable, Iterator, Mapping

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.truto.one"
DEFAULT_TIMEOUT_SECONDS = 30.0
DEFAULT_MAX_RETRIES = 5
DEFAULT_MAX_RETRY_WAIT_SECONDS = 60.0
# Generous bounds against a server that misbehaves: a list that never ends, an answer that never stops.
DEFAULT_PAGE_CAP = 10_000
DEFAULT_MAX_RESPONSE_MB = 50.0
# Truto's documented limits; "off" in a connection extra switches pacing off (the server still answers 429).
DEFAULT_ACCOUNT_RATE_LIMIT = RateLimit(50, 10.0)
DEFAULT_TOKEN_RATE_LIMIT = RateLimit(500, 10.0)
MAX_POOLED_CONNECTIONS = 64
STREAM_CHUNK_BYTES = 64 * 1024
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
    page_cap: int = DEFAULT_PAGE_CAP
    max_response_bytes: int = int(DEFAULT_MAX_RESPONSE_MB * 1e6)

    def __post_init__(self) -> None:
        token = Secret(self.token) if isinstance(self.token, str) else self.token
        object.__setattr__(self, "token", clean_token(token, "token"))
        for name in ("timeout", "max_retry_wait"):
            seconds = getattr(self, name)
            if (
                isinstance(seconds, bool)
                or not isinstance(seconds, (int, float))
                or not 0 < seconds < math.inf
            ):
                raise TrutoInputError(name, f"must be a positive, finite number of seconds, got {seconds!r}")
        if (
            isinstance(self.max_retries, bool)
            or not isinstance(self.max_retries, int)
            or self.max_retries < 0
        ):
            raise TrutoInputError("max_retries", f"must be a whole number >= 0, got {self.max_retries!r}")
        require_count("page_cap", self.page_cap)
        require_count("max_response_bytes", self.max_response_bytes)
        object.__setattr__(self, "base_url", normalise_base_url(self.base_url))


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

    Only ``http`` and ``https`` URLs with a host are accepted: anything else is named as ``argument``.
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
    return url.rstrip("/")


def default_headers(token: str) -> dict[str, str]:
    """The headers every Truto call carries, sync (requests) and async (the trigger's httpx) alike."""
    return {"Authorization": f"Bearer {token}", "Accept": "application/json", "User-Agent": USER_AGENT}


def query_pairs(query: Mapping[str, Any] | None, argument: str = "query") -> list[tuple[str, str]]:
    """The query as Truto reads it; what it cannot express (lists of objects) is named as ``argument``."""
    try:
        return encode_query(query)
    except TypeError as error:
        problem = str(error)
    raise TrutoInputError(argument, problem)


def json_body(body: Mapping[str, Any] | None, argument: str = "body") -> bytes | None:
    """A request body as strict JSON; values JSON cannot hold (sets, objects, NaN) are named."""
    if body is None:
        return None
    try:
        return json.dumps(body, separators=(",", ":"), allow_nan=False).encode()
    except (TypeError, ValueError) as error:
        problem = (
            f"must hold only JSON values (objects, lists, text, finite numbers, true/false, null): {error}"
        )
    raise TrutoInputError(argument, problem)


def path_segment(argument: str, value: Any) -> str:
    """One path segment from an argument, percent-quoted (``/``, ``?`` and ``#`` included).

    ``.`` and ``..`` are refused: quoting leaves them as they are, and HTTP clients resolve them, so
    ``get_channel(".")`` would fetch the channel list and ``..`` would reach another endpoint.
    """
    value = require_id(argument, value)
    if value in (".", ".."):
        raise TrutoInputError(argument, f"must not be {value!r}: it would change the path of the call")
    return quote(value, safe="")


def unified_path(model: str, resource: str, method: str, resource_id: str | None) -> tuple[str, str]:
    """The HTTP method and path of a unified call; unknown method names are custom methods (POST)."""
    segments = []
    for argument, value in (("model", model), ("resource", resource), ("method", method)):
        require_id(argument, value)
        if "/" in value or value != value.strip():
            raise TrutoInputError(argument, f"must be a single path segment, got {value!r}")
        segments.append(path_segment(argument, value))
    base = f"/unified/{segments[0]}/{segments[1]}"
    if method in _NEEDS_RESOURCE_ID:
        return UNIFIED_METHODS[method], f"{base}/{path_segment('resource_id', resource_id)}"
    if resource_id is not None:
        raise TrutoInputError("resource_id", f"is not used by the {method!r} method")
    if method in UNIFIED_METHODS:
        return UNIFIED_METHODS[method], base
    return "POST", f"{base}/{segments[2]}"


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
        params = query_pairs(query)
        data = json_body(body)
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

        Keeps going while ``next_cursor`` is set, even past an empty page (Slack sends those), up to the
        connection's ``page_cap``: a list still going after that many pages is an error, not a loop.
        ``max_pages`` instead stops early, quietly, after that many pages.
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
            if max_pages is not None and pages >= max_pages:
                return
            cursor = next_cursor(page, path, pages=pages, page_cap=self.config.page_cap, seen=seen)
            if cursor is None:
                return

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
        call = f"{method} {_path_of(url)}"
        reader = AnswerReader(call, timeout=self.config.timeout, max_bytes=self.config.max_response_bytes)
        # Every error raised here is built outside the ``except`` block that caught the library's error,
        # so it chains nothing: requests' and urllib3's messages may quote the URL or headers unredacted.
        failure: TrutoError
        try:
            # Redirects are never followed: requests would re-send a POST as a GET without its body.
            with (
                Deadline(reader.deadline) as deadline,
                self.session.request(
                    method,
                    url,
                    params=params,
                    data=data,
                    headers=headers,
                    timeout=self.config.timeout,
                    allow_redirects=False,
                    stream=True,
                ) as response,
            ):
                return self._answer(response, reader, deadline, account)
        except TrutoError:
            raise
        except requests.RequestException as error:
            if isinstance(error, requests.Timeout) or reader.expired():
                failure = reader.timed_out()
            else:
                failure = TrutoConnectionError(
                    f"{call} failed: {type(error).__name__}: {self._redact(str(error))}"
                )
        raise failure

    def _answer(
        self, response: requests.Response, reader: AnswerReader, deadline: Deadline, account: str | None
    ) -> Any:
        token = self.config.token
        if response.status_code == 429:  # every worker sharing the budget waits, not just this one
            self._limiters.pause(account, parse_retry_after(response.headers.get("Retry-After")))
        redirect = redirect_error(
            response.status_code, response.headers.get("Location"), call=reader.call, token=token
        )
        if redirect is not None:
            raise redirect
        reader.expect(response.headers.get("Content-Length"))
        failure = reader.read(response.iter_content(STREAM_CHUNK_BYTES))
        if failure is None and deadline.cut:  # a body without a length ends "cleanly" when cut
            failure = reader.timed_out()
        if failure is not None:
            raise failure
        return decode_answer(
            response.status_code,
            decode_text(reader.body, response.headers.get("Content-Type")),
            retry_after=response.headers.get("Retry-After"),
            reason=response.reason,
            call=reader.call,
            token=token,
        )

    def _redact(self, text: str) -> str:
        return redact(text, self.config.token)


def redirect_error(
    status_code: int, location: str | None, *, call: str, token: str
) -> TrutoRedirectError | None:
    """The error for a 3xx answer, or ``None``; shared by the sync and async transports.

    Truto's API does not redirect: a 3xx means the Base URL points somewhere else (``http://`` behind a
    gateway that wants ``https://``, an old host). Following it would turn a POST into a bodiless GET.
    """
    if not 300 <= status_code < 400:
        return None
    where = redact(location, token) if location else None
    advice = f"it points to {where}" if where else "it names no Location"
    error = error_for_status(
        status_code,
        f"{call} was redirected (HTTP {status_code}); redirects are not followed, {advice}: "
        "set the connection's Base URL to the address Truto's API answers on",
    )
    assert isinstance(error, TrutoRedirectError)
    error.location = where
    return error


class AnswerReader:
    """One attempt's answer, read under the limits both transports share.

    - A total deadline: the connection's ``timeout`` covers the whole answer, not each read. The sync
      transport also cuts its socket at the deadline (:mod:`airflow_provider_truto.deadline`), the async
      one wraps the attempt in ``asyncio.wait_for``; both check between chunks.
    - A size cap: an answer announcing or reaching more than ``max_bytes`` is refused while it streams,
      so memory stays bounded by the cap, not by what a server sends.
    """

    def __init__(self, call: str, *, timeout: float, max_bytes: int) -> None:
        self.call = call
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.deadline = time.monotonic() + timeout
        self.body = bytearray()

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def expired(self) -> bool:
        return self.remaining() <= 0

    def expect(self, content_length: str | None) -> None:
        """Refuse an answer whose announced length is over the cap before reading any of it."""
        try:
            announced = int(content_length) if content_length else 0
        except ValueError:
            announced = 0
        if announced > self.max_bytes:
            raise self.too_large(announced)

    def read(self, chunks: Iterable[bytes]) -> TrutoError | None:
        """Read the body from ``chunks``; the error if a limit is passed.

        The error is returned, not raised: no frame of its traceback then holds a raw chunk (tracebacks
        that print local variables would show what a server echoed).
        """
        for chunk in chunks:
            failure = self.add(chunk)
            if failure is not None:
                return failure
        return None

    async def aread(self, chunks: AsyncIterable[bytes]) -> TrutoError | None:
        """:meth:`read` for an async stream."""
        async for chunk in chunks:
            failure = self.add(chunk)
            if failure is not None:
                return failure
        return None

    def add(self, chunk: bytes) -> TrutoError | None:
        if len(self.body) + len(chunk) > self.max_bytes:
            return self.too_large(None)
        if self.expired():
            return self.timed_out()
        self.body += chunk
        return None

    def timed_out(self) -> TrutoConnectionError:
        return TrutoConnectionError(
            f"{self.call} timed out: no complete answer within {self.timeout:g}s "
            "(the connection's timeout, for the whole answer)"
        )

    def too_large(self, announced: int | None) -> TrutoInvalidResponseError:
        size = f"{announced} bytes" if announced is not None else f"more than {self.max_bytes} bytes"
        return TrutoInvalidResponseError(
            f"{self.call} answered {size}, over the cap of {self.max_bytes / 1e6:g} MB; raise the "
            "connection's 'max_response_mb' extra if answers this large are expected"
        )


def decode_text(body: bytes | bytearray, content_type: str | None) -> str:
    """An answer's bytes as text: the charset the server declared, else UTF-8 (JSON's encoding)."""
    charset = "utf-8"
    for parameter in (content_type or "").split(";")[1:]:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset" and value.strip():
            charset = value.strip().strip('"')
    try:
        return body.decode(charset, errors="replace")
    except LookupError:
        return body.decode("utf-8", errors="replace")


def decode_answer(
    status_code: int, text: str, *, retry_after: str | None, reason: str | None, call: str, token: str
) -> Any:
    """An answer's JSON, or the typed error it stands for; shared by the sync and async transports.

    The token is redacted from the text before decoding, in every spelling a server may echo it in, and
    from the decoded value again. A successful answer that held the token is used with ``***`` in its
    place (and a warning): refusing it would fail a write that went through.
    """
    redacted = redact(text, token)
    held_token, text = redacted != text, redacted  # no local keeps the unredacted text past here
    reason = redact(reason, token) if reason else reason
    if status_code >= 400:
        raise error_from_answer(
            status_code, redacted, retry_after=retry_after, reason=reason, call=call, token=token
        )
    if not redacted:
        return {}
    try:
        answer = json.loads(redacted)
    except ValueError:
        failure = TrutoInvalidResponseError(
            f"{call} answered HTTP {status_code} with a body that is not JSON",
            status_code=status_code,
            body=redacted[:BODY_EXCERPT_CHARS],
        )
    else:
        # Decoding only changes text at a backslash (an escape): without one, every decoded string is a
        # piece of the text redacted above, and the walk would find nothing.
        answer, changed = redact_value(answer, token) if "\\" in redacted else (answer, False)
        if changed or held_token:
            log.warning("%s: the answer held the API token; it was replaced by *** before use", call)
        return answer
    raise failure


def error_from_answer(
    status_code: int,
    text: str,
    *,
    retry_after: str | None,
    reason: str | None,
    call: str,
    token: str = "",
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
    # The text was redacted before decoding; what its JSON escapes decoded to is redacted again.
    return error_for_status(
        status_code,
        redact(f"{call}: {message}", token),
        retry_after=parse_retry_after(retry_after),
        remote_error=redact(str(remote_error), token) if remote_error is not None else None,
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
    adapter = DeadlineAdapter(pool_connections=2, pool_maxsize=MAX_POOLED_CONNECTIONS)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.proxies.update(requests.utils.get_environ_proxies(base_url))
    ca_bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if ca_bundle:
        session.verify = ca_bundle
    session.trust_env = False
    return session


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` as seconds: a number, or an HTTP-date relative to now.

    Unreadable, negative, NaN or infinite means absent: the retry falls back to the backoff.
    """
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return seconds if 0 <= seconds < math.inf else None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _is_wrapped_result(answer: Any) -> bool:
    return isinstance(answer, dict) and isinstance(answer.get("result"), dict) and "id" not in answer


def page_items(page: Any, path: str) -> list[dict[str, Any]]:
    """The items of one list page, its envelope checked: a list of objects."""
    if not isinstance(page, dict):
        raise TrutoInvalidResponseError(f"{path} returned {type(page).__name__}, not a list envelope")
    # Truto's docs show "result"; one admin endpoint has been seen answering "results".
    items = page.get("result", page.get("results"))
    if not isinstance(items, list):
        raise TrutoInvalidResponseError(f"{path} returned no 'result' list")
    for item in items:
        if not isinstance(item, dict):
            raise TrutoInvalidResponseError(
                f"{path} returned a list holding {type(item).__name__}, not objects"
            )
    return items


def next_cursor(page: dict[str, Any], path: str, *, pages: int, page_cap: int, seen: set[str]) -> str | None:
    """The cursor of the page after ``page``, or ``None`` at the end; the check every list walk shares.

    ``pages`` pages have been read; ``seen`` holds the cursors used so far and is updated. A cursor that
    is not a string, comes back, or is still there after ``page_cap`` pages is an invalid answer: a list
    that never ends is a fault upstream, and walking it would never finish.
    """
    cursor = page.get("next_cursor")
    if cursor is None or cursor == "":
        return None
    if not isinstance(cursor, str):
        raise TrutoInvalidResponseError(
            f"{path} returned a next_cursor that is {type(cursor).__name__}, not text"
        )
    if cursor in seen:
        raise TrutoInvalidResponseError(f"{path} returned the cursor {cursor!r} twice; stopping")
    if pages >= page_cap:
        raise TrutoInvalidResponseError(
            f"{path} still had a next page after {page_cap} pages, the connection's page_cap; a list that "
            "never ends is a fault upstream (raise the 'page_cap' extra if the list really is this long)"
        )
    seen.add(cursor)
    return cursor


def _path_of(url: str) -> str:
    return urlsplit(url).path

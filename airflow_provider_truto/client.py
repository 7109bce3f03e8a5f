"""TrutoClient: Truto's API over one pooled, keep-alive ``requests.Session`` (the sync transport).

No Airflow here: the hook turns a connection into a :class:`~airflow_provider_truto.config.TrutoConfig`
and hands it over. What a call is (:mod:`~airflow_provider_truto.wire`), how an answer is decoded
(:mod:`~airflow_provider_truto.answers`), how a list is walked (:mod:`~airflow_provider_truto.pagination`)
and the retry policy (:mod:`~airflow_provider_truto.retry`) are shared with
:class:`~airflow_provider_truto.async_client.AsyncTrutoClient`; this module sends the bytes and sleeps.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import requests
import requests.adapters
import tenacity

from airflow_provider_truto.answers import STREAM_CHUNK_BYTES, AnswerDecoder
from airflow_provider_truto.base_client import MAX_POOLED_CONNECTIONS, BaseTrutoClient
from airflow_provider_truto.config import TrutoConfig
from airflow_provider_truto.deadline import Deadline, DeadlineAdapter
from airflow_provider_truto.exceptions import TrutoError
from airflow_provider_truto.network import NetworkSettings
from airflow_provider_truto.wire import (
    ApiCall,
    PreparedRequest,
    UnifiedCall,
    UnifiedList,
    default_headers,
    takes_api_call,
    takes_unified_call,
)

log = logging.getLogger(__name__)


class TrutoClient(BaseTrutoClient):
    """A client for Truto's API over one pooled, keep-alive ``requests.Session``.

    :param config: the token, base URL, timeouts, retry and rate-limit settings.
    :param sleep: how to wait between attempts; tests pass a recorder.
    :param log: where retries are logged (default: this module's logger).
    """

    def __init__(
        self,
        config: TrutoConfig,
        *,
        sleep: Callable[[float], None] = time.sleep,
        log: Any = None,
    ) -> None:
        super().__init__(config, log=log)
        self.session = _session(self.network)
        self.session.headers.update(default_headers(config.token))
        self._retrying = tenacity.Retrying(sleep=sleep, **self._retry_policy)

    def close(self) -> None:
        self.session.close()
        self._close_budgets()

    def __enter__(self) -> TrutoClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- calls -------------------------------------------------------------------------------------------

    @takes_api_call
    def request(self, call: ApiCall) -> Any:
        """Send one call, retrying what the policy allows, and return the decoded JSON answer.

        Takes :class:`~airflow_provider_truto.wire.ApiCall`'s arguments: ``method``, ``path``, then
        keyword-only ``query``, ``body`` and ``idempotency_key``. A POST or PATCH carries one
        ``Idempotency-Key``, generated unless given, and the same on every retry, so a retried write can
        never act twice.
        """
        return self._retrying(self._attempt, self._prepare(call))

    @takes_unified_call
    def unified(self, call: UnifiedCall) -> Any:
        """One call to ``/unified/{model}/{resource}[/{id}|/{custom method}]`` (a list returns one page).

        Takes :class:`~airflow_provider_truto.wire.UnifiedCall`'s arguments. A custom method's
        answer wrapped as ``{"result": {...}}`` is unwrapped.
        """
        return self.call_unified(call)

    def call_unified(self, call: UnifiedCall) -> Any:
        """:meth:`unified` for a call already made into a :class:`UnifiedCall`."""
        return call.result(self._retrying(self._attempt, self._prepare_unified(call)))

    def paginate(
        self,
        path: str,
        *,
        query: Mapping[str, Any] | None = None,
        limit: int | None = None,
        max_pages: int | None = None,
        page_size: int | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Yield the items of a cursor-paginated list, one page in memory at a time.

        ``limit`` is the page size (``page_size``, its former name, still works). Keeps going while
        ``next_cursor`` is set, even past an empty page (Slack sends those), up to the connection's
        ``page_cap``: a list still going after that many pages is an error, not a loop. ``max_pages``
        instead stops early, quietly, after that many pages.
        """
        walk = self._walk(path, query, _page_size(limit, page_size), max_pages)
        while (page_query := walk.next_query()) is not None:
            yield from walk.take(self.request("GET", path, query=page_query))

    def paginate_unified(
        self,
        model: str,
        resource: str,
        *,
        integrated_account_id: str | None = None,
        query: Mapping[str, Any] | None = None,
        limit: int | None = None,
        max_pages: int | None = None,
        page_size: int | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Every item of a unified list, page by page (``limit``: the page size; ``page_size``, its former
        name, still works). Its arguments are :class:`~airflow_provider_truto.wire.UnifiedList`'s,
        spelled out for ``page_size``."""
        return self.list_unified(
            UnifiedList(
                model,
                resource,
                integrated_account_id=integrated_account_id,
                query=query,
                limit=_page_size(limit, page_size),
                max_pages=max_pages,
            )
        )

    def list_unified(self, listing: UnifiedList) -> Iterator[dict[str, Any]]:
        """:meth:`paginate_unified` for a list already made into a :class:`UnifiedList`."""
        path, query = self._unified_list(listing)
        return self.paginate(path, query=query, limit=listing.limit, max_pages=listing.max_pages)

    # -- one attempt -------------------------------------------------------------------------------------

    def _attempt(self, request: PreparedRequest) -> Any:
        if self._limiters.enabled:
            self._limiters.wait_for_slot(request.account)  # reserve, then time.sleep
        decoder = self._decoder(request)
        # Every error raised here is built outside the ``except`` block that caught the library's error,
        # so it chains nothing: requests' and urllib3's messages may quote the URL or headers unredacted.
        failure: TrutoError
        try:
            # Redirects are never followed: requests would re-send a POST as a GET without its body.
            with (
                Deadline(decoder.deadline) as deadline,
                self.session.request(
                    request.method,
                    request.url,
                    params=request.params,
                    data=request.body,
                    headers=request.headers,
                    timeout=self.config.timeout,
                    allow_redirects=False,
                    stream=True,
                ) as response,
            ):
                read_failure = self._read(response, decoder, deadline)
                if read_failure is None:
                    return decoder.result(response.status_code, response.headers, response.reason)
                failure = read_failure
        except TrutoError:
            raise
        except requests.RequestException as error:
            failure = decoder.transport_failure(error, timed_out=isinstance(error, requests.Timeout))
        raise failure

    @staticmethod
    def _read(response: requests.Response, decoder: AnswerDecoder, deadline: Deadline) -> TrutoError | None:
        failure = decoder.head(response.status_code, response.headers)
        if failure is None:
            failure = decoder.read(response.iter_content(STREAM_CHUNK_BYTES))
        if failure is None and deadline.cut:  # a body without a length ends "cleanly" when cut
            failure = decoder.timed_out()
        return failure


def _page_size(limit: int | None, page_size: int | None) -> int | None:
    """``limit``, or the deprecated ``page_size`` of older callers."""
    if page_size is None:
        return limit
    import warnings

    warnings.warn(
        "TrutoClient's 'page_size' argument is now 'limit', as everywhere else; 'page_size' will be removed",
        DeprecationWarning,
        stacklevel=3,
    )
    return page_size if limit is None else limit


def _session(network: NetworkSettings) -> requests.Session:
    """A session with the client's proxy and CA bundle (:mod:`~airflow_provider_truto.network`).

    ``trust_env`` is off: requests would otherwise scan the whole environment twice per request for
    proxies (a third of a loopback call's cost), and read it its own way.
    """
    session = requests.Session()
    # Batch joins work many accounts on threads sharing this session: keep a connection for each of them
    # (requests keeps 10 and drops the rest, so the 11th thread would reconnect on every call).
    adapter = DeadlineAdapter(pool_connections=2, pool_maxsize=MAX_POOLED_CONNECTIONS)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    if network.proxy:
        session.proxies.update({"http": network.proxy, "https": network.proxy})
    session.verify = network.requests_verify()
    session.trust_env = False
    return session


# Names that lived in this module before the client was split by job; still importable from here.
_MOVED = {
    "airflow_provider_truto.answers": (
        "AnswerReader decode_answer decode_text error_from_answer parse_retry_after redirect_error"
    ),
    "airflow_provider_truto.config": (
        "DEFAULT_ACCOUNT_RATE_LIMIT DEFAULT_BASE_URL DEFAULT_MAX_RESPONSE_MB DEFAULT_MAX_RETRIES "
        "DEFAULT_MAX_RETRY_WAIT_SECONDS DEFAULT_PAGE_CAP DEFAULT_TIMEOUT_SECONDS DEFAULT_TOKEN_RATE_LIMIT "
        "clean_token normalise_base_url"
    ),
    "airflow_provider_truto.exceptions": (
        "BODY_EXCERPT_CHARS TrutoConnectionError TrutoHTTPError TrutoInputError TrutoInvalidResponseError "
        "TrutoRedirectError error_for_status"
    ),
    "airflow_provider_truto.pagination": "next_cursor page_items",
    "airflow_provider_truto.query": "encode_query",
    "airflow_provider_truto.ratelimit": "RateLimit RateLimiters",
    "airflow_provider_truto.ratelimit_redis": "RedisSettings",
    "airflow_provider_truto.redaction": "Secret redact redact_value",
    "airflow_provider_truto.retry": "retry_policy",
    "airflow_provider_truto.unified_api": "UNIFIED_METHODS",
    "airflow_provider_truto.validation": "optional_count require_count require_id",
    "airflow_provider_truto.wire": "USER_AGENT json_body path_segment query_pairs unified_path",
}
_MODULE_OF = {name: module for module, names in _MOVED.items() for name in names.split()}
# ``import *`` gives what it gave before the split (the module had no __all__ then).
__all__ = ["TrutoClient", "TrutoConfig", "log", *sorted(_MODULE_OF)]


def __getattr__(name: str) -> Any:
    if name in _MODULE_OF:
        import importlib

        return getattr(importlib.import_module(_MODULE_OF[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

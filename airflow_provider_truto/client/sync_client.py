"""TrutoClient: Truto's API over one pooled, keep-alive ``requests.Session`` (the sync transport).

No Airflow here: the hook turns a connection into a
:class:`~airflow_provider_truto.client.config.TrutoConfig` and hands it over. What a call is
(:mod:`~airflow_provider_truto.client.request`), how an answer is decoded
(:mod:`~airflow_provider_truto.client.response`), how a list is walked
(:mod:`~airflow_provider_truto.client.pagination`) and the retry policy
(:mod:`~airflow_provider_truto.client.retry`) are shared with
:class:`~airflow_provider_truto.client.async_client.AsyncTrutoClient`; this module sends the bytes and
sleeps.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import requests
import requests.adapters
import tenacity
import urllib3.exceptions

from airflow_provider_truto.client.base import MAX_POOLED_CONNECTIONS, TLS_PROBE_SECONDS, BaseTrutoClient
from airflow_provider_truto.client.config import TrutoConfig
from airflow_provider_truto.client.deadline import Deadline, DeadlineAdapter
from airflow_provider_truto.client.network import NetworkSettings, speaks_tls
from airflow_provider_truto.client.observer import PACING
from airflow_provider_truto.client.request import (
    ApiCall,
    PreparedRequest,
    UnifiedCall,
    UnifiedList,
    default_headers,
    takes_api_call,
    takes_unified_call,
    takes_unified_list,
)
from airflow_provider_truto.client.response import STREAM_CHUNK_BYTES, AnswerDecoder
from airflow_provider_truto.exceptions import TrutoError


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

        Takes :class:`~airflow_provider_truto.client.request.ApiCall`'s arguments: ``method``, ``path``, then
        keyword-only ``query``, ``body`` and ``idempotency_key``. A POST or PATCH carries one
        ``Idempotency-Key``, generated unless given, and the same on every retry, so a retried write can
        never act twice.
        """
        return self._retrying(self._attempt, self._prepare(call))

    @takes_unified_call
    def unified(self, call: UnifiedCall) -> Any:
        """One call to ``/unified/{model}/{resource}[/{id}|/{custom method}]`` (a list returns one page).

        Takes :class:`~airflow_provider_truto.client.request.UnifiedCall`'s arguments. A custom method's
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
    ) -> Iterator[dict[str, Any]]:
        """Yield the items of a cursor-paginated list, one page in memory at a time (``limit``: page size).

        Keeps going while ``next_cursor`` is set, even past an empty page (Slack sends those), up to the
        connection's ``page_cap``: a list still going after that many pages is an error, not a loop.
        ``max_pages`` instead stops early, quietly, after that many pages.
        """
        walk = self._walk(path, query, limit, max_pages)
        while (page_query := walk.next_query()) is not None:
            page = self.request("GET", path, query=page_query)
            try:
                items = walk.take(page)
            except TrutoError as error:  # a cursor that comes back, a list past the page cap
                error.explained(label=self.config.label)
                raise
            yield from items

    @takes_unified_list
    def list_unified(self, listing: UnifiedList) -> Iterator[dict[str, Any]]:
        """Every item of a unified list, page by page; takes
        :class:`~airflow_provider_truto.client.request.UnifiedList`'s arguments (``limit``: the page size)."""
        return self.walk_unified(listing)

    def walk_unified(self, listing: UnifiedList) -> Iterator[dict[str, Any]]:
        """:meth:`list_unified` for a list already made into a :class:`UnifiedList`."""
        path, query = self._unified_list(listing)
        return self.paginate(path, query=query, limit=listing.limit, max_pages=listing.max_pages)

    # -- one attempt -------------------------------------------------------------------------------------

    def _attempt(self, request: PreparedRequest) -> Any:
        if self._limiters.enabled:
            waited = self._limiters.wait_for_slot(request.account)  # reserve, then time.sleep
            if waited > 0 and self.config.observer is not None:
                self.config.observer.waited(waited, reason=PACING)
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
        except TrutoError as error:
            self._named(error, request)
            raise
        except (
            requests.RequestException,
            urllib3.exceptions.HTTPError,
        ) as error:  # the raw body is urllib3's
            timed_out = isinstance(error, (requests.Timeout, urllib3.exceptions.TimeoutError))
            failure = self._no_answer(error, decoder, timed_out=timed_out)
        if self._worth_a_tls_probe(failure) and speaks_tls(self.config.base_url, TLS_PROBE_SECONDS):
            failure = self._tls_error(decoder)
        raise self._named(failure, request)

    @staticmethod
    def _read(response: requests.Response, decoder: AnswerDecoder, deadline: Deadline) -> TrutoError | None:
        failure = decoder.head(response.status_code, response.headers)
        if failure is None:  # raw bytes: the decoder undoes Content-Encoding under its size cap
            failure = decoder.read(response.raw.stream(STREAM_CHUNK_BYTES, decode_content=False))
        if failure is None and deadline.cut:  # a body without a length ends "cleanly" when cut
            failure = decoder.timed_out()
        return failure


def _session(network: NetworkSettings) -> requests.Session:
    """A session with the client's proxy and CA bundle (:mod:`~airflow_provider_truto.client.network`).

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

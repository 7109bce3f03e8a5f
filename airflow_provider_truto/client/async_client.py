"""AsyncTrutoClient: Truto's API over one ``httpx.AsyncClient`` (the async transport, for triggers).

The same calls, retries, pacing, checks and errors as
:class:`~airflow_provider_truto.client.sync_client.TrutoClient`, from the same
:class:`~airflow_provider_truto.client.config.TrutoConfig`: both are built on
:class:`~airflow_provider_truto.client.base.BaseTrutoClient`, and this module only sends the bytes (httpx)
and waits (``asyncio.sleep``), so no wait blocks the event loop. ``httpx`` is imported with this module,
which the trigger imports only when it runs, never when a DAG is parsed.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping
from typing import Any, TypeVar

import httpx
import tenacity

from airflow_provider_truto.client.base import MAX_POOLED_CONNECTIONS, TLS_PROBE_SECONDS, BaseTrutoClient
from airflow_provider_truto.client.config import TrutoConfig
from airflow_provider_truto.client.network import speaks_tls
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

__all__ = ["AsyncTrutoClient", "within_deadline"]

T = TypeVar("T")


class AsyncTrutoClient(BaseTrutoClient):
    """A client for Truto's API over one pooled ``httpx.AsyncClient``; use it as ``async with``.

    :param config: the token, base URL, timeouts, retry and rate-limit settings.
    :param sleep: how to wait between attempts; tests pass a recorder.
    :param log: where retries are logged (a trigger passes its own ``self.log``).
    """

    def __init__(
        self,
        config: TrutoConfig,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        log: Any = None,
    ) -> None:
        super().__init__(config, log=log)
        self.http = httpx.AsyncClient(
            headers=default_headers(config.token),
            timeout=config.timeout,
            follow_redirects=False,
            # The proxy and CA bundle come from network_settings, as for requests, not from httpx's own
            # reading of the environment.
            trust_env=False,
            transport=httpx.AsyncHTTPTransport(
                verify=self.network.ssl_context(),
                proxy=self.network.proxy,
                limits=httpx.Limits(max_connections=MAX_POOLED_CONNECTIONS),
            ),
        )
        self._retrying = tenacity.AsyncRetrying(sleep=sleep, **self._retry_policy)

    async def aclose(self) -> None:
        await self.http.aclose()
        self._close_budgets()

    async def __aenter__(self) -> AsyncTrutoClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # -- calls -------------------------------------------------------------------------------------------

    @takes_api_call
    async def request(self, call: ApiCall) -> Any:
        """Send one call, retrying what the policy allows, and return the decoded JSON answer.

        Takes :class:`~airflow_provider_truto.client.request.ApiCall`'s arguments: ``method``, ``path``, then
        keyword-only ``query``, ``body`` and ``idempotency_key``. A POST or PATCH carries one
        ``Idempotency-Key``, generated unless given, and the same on every retry, so a retried write can
        never act twice.
        """
        return await self._retrying(self._attempt, self._prepare(call))

    @takes_unified_call
    async def unified(self, call: UnifiedCall) -> Any:
        """One call to ``/unified/{model}/{resource}[/{id}|/{custom method}]`` (a list returns one page).

        Takes :class:`~airflow_provider_truto.client.request.UnifiedCall`'s arguments. A custom method's
        answer wrapped as ``{"result": {...}}`` is unwrapped.
        """
        return await self.call_unified(call)

    async def call_unified(self, call: UnifiedCall) -> Any:
        """:meth:`unified` for a call already made into a :class:`UnifiedCall`."""
        return call.result(await self._retrying(self._attempt, self._prepare_unified(call)))

    async def paginate(
        self,
        path: str,
        *,
        query: Mapping[str, Any] | None = None,
        limit: int | None = None,
        max_pages: int | None = None,
    ) -> AsyncIterator[dict[str, Any]]:
        """Yield the items of a cursor-paginated list, one page in memory at a time (``limit``: page size).

        The same walk as :meth:`TrutoClient.paginate`: through empty pages, up to the connection's
        ``page_cap``, or ``max_pages``.
        """
        walk = self._walk(path, query, limit, max_pages)
        while (page_query := walk.next_query()) is not None:
            page = await self.request("GET", path, query=page_query)
            try:
                items = walk.take(page)
            except TrutoError as error:  # a cursor that comes back, a list past the page cap
                error.explained(label=self.config.label)
                raise
            for item in items:
                yield item

    @takes_unified_list
    def list_unified(self, listing: UnifiedList) -> AsyncIterator[dict[str, Any]]:
        """Every item of a unified list, page by page; takes
        :class:`~airflow_provider_truto.client.request.UnifiedList`'s arguments (``limit``: the page size)."""
        return self.walk_unified(listing)

    def walk_unified(self, listing: UnifiedList) -> AsyncIterator[dict[str, Any]]:
        """:meth:`list_unified` for a list already made into a :class:`UnifiedList`."""
        path, query = self._unified_list(listing)
        return self.paginate(path, query=query, limit=listing.limit, max_pages=listing.max_pages)

    # -- one attempt -------------------------------------------------------------------------------------

    async def _attempt(self, request: PreparedRequest) -> Any:
        if self._limiters.enabled:  # reserve, then wait without blocking the event loop
            delay = await self._reserve(request.account)
            if delay > 0:
                await asyncio.sleep(delay)
                if self.config.observer is not None:
                    self.config.observer.waited(delay, reason=PACING)
        # A 429's pause is written after the answer is read, off the event loop if the budgets are in Redis.
        pauses: list[tuple[str | None, float | None]] = []
        decoder = self._decoder(request, pause=lambda *pause: pauses.append(pause))
        # Errors are built outside the ``except`` blocks: httpx's messages may quote URLs unredacted, and
        # a chained cause is printed with the error.
        failure: TrutoError
        try:
            # The deadline covers the whole answer, however slowly it trickles in.
            return await within_deadline(decoder.remaining(), self._exchange(request, decoder))
        except TrutoError as error:
            await self._pause(pauses)
            self._named(error, request)
            raise
        except (asyncio.TimeoutError, httpx.TimeoutException) as error:
            failure = self._no_answer(error, decoder, timed_out=True)
        except httpx.HTTPError as error:
            # httpx says "closed without an answer" with its own exception, which has no standard cause.
            closed = isinstance(error, (httpx.RemoteProtocolError, httpx.ReadError))
            failure = self._no_answer(error, decoder, timed_out=False, closed=closed)
        await self._pause(pauses)
        if self._worth_a_tls_probe(failure) and await asyncio.to_thread(
            speaks_tls, self.config.base_url, TLS_PROBE_SECONDS
        ):
            failure = self._tls_error(decoder)
        raise self._named(failure, request)

    async def _reserve(self, account: str | None) -> float:
        """Reserve the slot: a lock file in place (microseconds), Redis from a worker thread, because the
        event loop serves every other trigger of the triggerer while Redis answers, or times out (the
        same for a 429's pause, :meth:`_pause`)."""
        if self._limiters.over_network:
            return await asyncio.to_thread(self._limiters.reserve, account)
        return self._limiters.reserve(account)

    async def _pause(self, pauses: list[tuple[str | None, float | None]]) -> None:
        """Pause the budgets a 429 belongs to, before its retry reserves a slot (Redis: from a thread)."""
        for account, seconds in pauses:
            if self._limiters.over_network:
                await asyncio.to_thread(self._limiters.pause, account, seconds)
            else:
                self._limiters.pause(account, seconds)

    async def _exchange(self, request: PreparedRequest, decoder: AnswerDecoder) -> Any:
        """Send the request and read the answer: its decoded JSON, or the typed error it raises."""
        async with self.http.stream(
            request.method,
            request.url,
            params=tuple(request.params),
            content=request.body,
            headers=request.headers,
        ) as response:
            failure = await self._read(response, decoder)
            if failure is not None:
                raise failure
            return decoder.result(response.status_code, response.headers, response.reason_phrase)

    @staticmethod
    async def _read(response: httpx.Response, decoder: AnswerDecoder) -> TrutoError | None:
        failure = decoder.head(response.status_code, response.headers)
        # Raw bytes: httpx would inflate a whole chunk before the size cap saw it (a compression bomb).
        return failure or await decoder.aread(response.aiter_raw(STREAM_CHUNK_BYTES))


async def within_deadline(seconds: float, work: Coroutine[Any, Any, T]) -> T:
    """``work``'s result, or ``asyncio.TimeoutError`` once ``seconds`` have passed: ``asyncio.timeout`` on
    Python 3.11+, :func:`within_deadline_by_task` on 3.10. (Not ``asyncio.wait_for``: up to 3.11 it can
    swallow a cancellation that arrives as it times out.)"""
    if sys.version_info >= (3, 11):
        async with asyncio.timeout(max(seconds, 0.0)):
            return await work
    return await within_deadline_by_task(seconds, work)  # pragma: no cover (Python 3.10)


async def within_deadline_by_task(seconds: float, work: Coroutine[Any, Any, T]) -> T:
    """The deadline without ``asyncio.timeout`` (Python 3.10). Cancelling the caller's own task at the
    deadline could not be told apart from a cancellation from outside (3.10 has no ``Task.uncancel``), so
    ``work`` runs as a task of its own: at the deadline it is cancelled and waited for (its connection
    closed), and a cancellation of the caller cancels it too and goes on as a cancellation."""
    task = asyncio.ensure_future(work)
    try:
        done, _ = await asyncio.wait({task}, timeout=max(seconds, 0.0))
    except BaseException:
        task.cancel()
        # Nobody awaits it any more: retrieve its end so that an error in its unwinding is not logged.
        task.add_done_callback(lambda ended: ended.cancelled() or ended.exception())
        raise
    if not done:
        task.cancel()
        await asyncio.wait({task})
        if task.cancelled():
            raise asyncio.TimeoutError
    return task.result()  # its answer, or its error, even if it came as the deadline passed

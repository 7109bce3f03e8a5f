"""What the sync and the async Truto client share: everything but sending bytes and waiting.

:class:`BaseTrutoClient` holds the config, the rate-limit budgets, the retry policy and the network
settings, and makes the pieces each call goes through: the prepared request
(:mod:`~airflow_provider_truto.client.request`), the answer decoder
(:mod:`~airflow_provider_truto.client.response`) and the cursor walk
(:mod:`~airflow_provider_truto.client.pagination`).
Its two subclasses only add their transport's attempt and their loops around these pieces, and wait
for the budgets' slot their own way (both reserve it with ``RateLimiters.reserve``):
:class:`~airflow_provider_truto.client.sync_client.TrutoClient` (requests, ``time.sleep``) and
:class:`~airflow_provider_truto.client.async_client.AsyncTrutoClient` (httpx, ``asyncio.sleep``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from airflow_provider_truto.client.advice import explain, sent
from airflow_provider_truto.client.config import TrutoConfig
from airflow_provider_truto.client.failures import connection_failure, speaks_tls_error
from airflow_provider_truto.client.network import NetworkSettings, network_settings
from airflow_provider_truto.client.pagination import CursorWalk
from airflow_provider_truto.client.request import (
    ApiCall,
    PreparedRequest,
    UnifiedCall,
    UnifiedList,
    unified_path,
)
from airflow_provider_truto.client.response import AnswerDecoder, PauseBudget
from airflow_provider_truto.client.retry import retry_policy
from airflow_provider_truto.exceptions import TrutoConnectionError, TrutoError, TrutoHTTPError, TrutoTLSError
from airflow_provider_truto.pacing.budgets import RateLimiters

# How long the check whether an http:// address speaks TLS may take (it runs only after a failure).
TLS_PROBE_SECONDS = 2.0

MAX_POOLED_CONNECTIONS = 64

client_log = logging.getLogger("airflow_provider_truto.client.sync_client")


class BaseTrutoClient:
    """The shared half of a Truto client; use
    :class:`~airflow_provider_truto.client.sync_client.TrutoClient` or
    :class:`~airflow_provider_truto.client.async_client.AsyncTrutoClient`.

    :param config: the token, base URL, timeouts, retry and rate-limit settings.
    :param log: where retries are logged (default: the ``airflow_provider_truto.client.sync_client`` logger).
    """

    def __init__(self, config: TrutoConfig, *, log: logging.Logger | Any = None) -> None:
        self.config = config
        self.network: NetworkSettings = network_settings(config.base_url)
        self._retry_policy = retry_policy(
            config.max_retries,
            max_wait=config.max_retry_wait,
            log=log or client_log,
            observer=config.observer,
        )
        self._limiters = RateLimiters(
            config.pacing_scope,
            token_limit=config.environment_rate_limit,
            account_limit=config.account_rate_limit,
            redis=config.rate_limit_redis,
        )

    def account_id(self, integrated_account_id: str | None = None) -> str:
        """The account a call acts on (see :meth:`TrutoConfig.account_id`)."""
        return self.config.account_id(integrated_account_id)

    # -- the pieces each call goes through -------------------------------------------------------------

    def _prepare(self, call: ApiCall) -> PreparedRequest:
        return call.prepare(self.config.base_url)

    def _prepare_unified(self, call: UnifiedCall) -> PreparedRequest:
        http_method, path = call.endpoint()
        account = self.account_id(call.integrated_account_id)
        query = {**(call.query or {}), "integrated_account_id": account}
        return self._prepare(
            ApiCall(http_method, path, query=query, body=call.body, idempotency_key=call.idempotency_key)
        )

    def _decoder(self, request: PreparedRequest, pause: PauseBudget | None = None) -> AnswerDecoder:
        """The decoder of one attempt's answer; a 429 pauses the budgets with ``pause`` (default: now)."""
        return AnswerDecoder(
            request.call,
            request.account,
            token=self.config.token,
            timeout=self.config.timeout,
            max_bytes=self.config.max_response_bytes,
            pause=pause or self._limiters.pause,
            observer=self.config.observer,
        )

    # -- what an error says -----------------------------------------------------------------------------

    def _named(self, error: TrutoError, request: PreparedRequest) -> TrutoError:
        """``error`` naming what ``request`` sent and the fix (when known), and the config's label."""
        if isinstance(error, TrutoHTTPError):
            explain(error, sent(request))
        return error.explained(label=self.config.label)

    def _no_answer(
        self, error: BaseException, decoder: AnswerDecoder, *, timed_out: bool, closed: bool = False
    ) -> TrutoConnectionError:
        """The error for a library's exception (no HTTP answer): a timeout, or a connection that failed.

        Build it inside the ``except`` block and raise it outside: the library's exception must not be
        chained (its message may quote URLs or headers unredacted, and names the library's internals).
        """
        if self.config.observer is not None:
            self.config.observer.unanswered()
        if timed_out or decoder.reader.expired():
            return decoder.timed_out()
        return connection_failure(
            error,
            call=decoder.call,
            base_url=self.config.base_url,
            token=self.config.token,
            proxy=self.network.proxy,
            closed=closed,
        )

    def _worth_a_tls_probe(self, failure: TrutoError) -> bool:
        """Whether ``http://`` got no answer in a way a TLS server gives one to plain HTTP (it just closes
        the connection), so that asking the address for a TLS handshake tells a scheme that does not
        match the server from a network failure. Not through a proxy: only the proxy would answer."""
        return (
            isinstance(failure, TrutoConnectionError)
            and failure.reason == "reset"
            and self.config.base_url.lower().startswith("http://")
            and self.network.proxy is None
        )

    def _tls_error(self, decoder: AnswerDecoder) -> TrutoTLSError:
        return speaks_tls_error(decoder.call, self.config.base_url)

    def _walk(
        self, path: str, query: Mapping[str, Any] | None, limit: int | None, max_pages: int | None
    ) -> CursorWalk:
        return CursorWalk(path, query, limit=limit, max_pages=max_pages, page_cap=self.config.page_cap)

    def _unified_list(self, listing: UnifiedList) -> tuple[str, dict[str, Any]]:
        """The path and query of a unified list, checked before its first page is asked for."""
        _, path = unified_path(listing.model, listing.resource, "list", None)
        account = self.account_id(listing.integrated_account_id)
        return path, {**(listing.query or {}), "integrated_account_id": account}

    def _close_budgets(self) -> None:
        self._limiters.close()

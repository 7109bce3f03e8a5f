"""A stateful local Truto for tests, demos and benchmarks: a real HTTP server on 127.0.0.1, like moto for AWS.

>>> from airflow_provider_truto.testing import TrutoSandbox, Fault
>>> with TrutoSandbox() as sb:                                          # doctest: +SKIP
...     account = sb.add_account("acct-1")
...     sb.seed_channels(account.id, 100, seed=1)
...     sb.inject("POST", "/unified/instant-messaging/channels/join", 500, Fault.rate_limited("2"))
...     ...  # point a client at sb.url with token sb.token

Modules: ``state`` (accounts, channels, joins, idempotency), ``routes`` (Truto's endpoints), ``slack``
(what Slack's ``conversations.list`` does behind them: filters, page size, list tier),
``sliding_windows`` (Truto's rate limits), ``faults`` (fault scripts), ``timeline`` (workspaces and
channels appearing at chosen moments), ``server`` (HTTP and :class:`TrutoSandbox`), ``pytest_plugin``
(fixtures ``truto_sandbox`` and ``truto_sandbox_factory``) and ``__main__`` (``python -m`` CLI).
"""

from __future__ import annotations

from airflow_provider_truto.testing.faults import Fault, FaultItem
from airflow_provider_truto.testing.server import RecordedRequest, TrutoSandbox
from airflow_provider_truto.testing.state import Account

__all__ = ["Account", "Fault", "FaultItem", "RecordedRequest", "TrutoSandbox"]

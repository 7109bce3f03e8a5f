"""What a client tells an observer while it works: each answer, each attempt without one, each wait.

The client knows no Airflow and no metrics backend: it calls a :class:`ClientObserver` given in its
:class:`~airflow_provider_truto.client.config.TrutoConfig`, and the hook connects that to Airflow's
metrics (:class:`~airflow_provider_truto.hooks.metrics.AirflowMetrics`). An observer must be quick and
must not raise: it is called on the request path, from worker threads and from the triggerer's event loop.
"""

from __future__ import annotations

from typing import Protocol

PACING = "pacing"  # a wait for a slot of the client-side rate budget
RATE_LIMITED = "rate_limited"  # a wait before retrying a 429 (its Retry-After)
BACKOFF = "backoff"  # a wait before retrying anything else


class ClientObserver(Protocol):
    def answered(self, status_code: int) -> None:
        """An attempt got an answer with this HTTP status."""

    def unanswered(self) -> None:
        """An attempt got no answer: refused, reset, timed out, or the TLS handshake failed."""

    def waited(self, seconds: float, *, reason: str) -> None:
        """The client waited ``seconds`` before sending: ``PACING``, ``RATE_LIMITED`` or ``BACKOFF``."""

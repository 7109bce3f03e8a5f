"""The provider's metrics, sent through Airflow's own metrics API, so that ``[metrics]`` applies to them:
StatsD, Datadog or OpenTelemetry, the prefix (``airflow.`` by default), the allow and block lists.

:data:`METRICS` owns the names: what emits them uses the constants below, and the docs' table is tested
against it. :class:`AirflowMetrics` is what the hook hands the client as its observer
(:class:`~airflow_provider_truto.client.observer.ClientObserver`); the join operator and the watcher count
through it too. Sending a metric never fails a task: a broken metrics backend is logged once and ignored.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

log = logging.getLogger(__name__)

PREFIX = "truto"
REQUESTS = f"{PREFIX}.requests"  # .2xx, .3xx, .4xx, .5xx, .failed
RATE_LIMITED = f"{PREFIX}.rate_limited"
RATE_LIMITED_WAIT = f"{PREFIX}.rate_limited.wait"
PACING_WAIT = f"{PREFIX}.pacing.wait"
JOINS = f"{PREFIX}.joins"  # .joined, .skipped, .failed
WATCHER_LATENCY = f"{PREFIX}.watcher.latency"
WATCHER_CYCLE = f"{PREFIX}.watcher.cycle"

# Every metric: name -> (kind, what it measures). Timers are in milliseconds, as StatsD sends them.
METRICS: dict[str, tuple[str, str]] = {
    f"{REQUESTS}.2xx": ("counter", "answers with a 2xx status, one per attempt"),
    f"{REQUESTS}.3xx": ("counter", "answers with a 3xx status (a Base URL that redirects)"),
    f"{REQUESTS}.4xx": ("counter", "answers with a 4xx status, 429 included"),
    f"{REQUESTS}.5xx": ("counter", "answers with a 5xx status"),
    f"{REQUESTS}.failed": ("counter", "attempts without an answer: refused, reset, timed out, TLS failed"),
    RATE_LIMITED: ("counter", "answers with status 429 (Truto's or Slack's rate limit)"),
    RATE_LIMITED_WAIT: ("timer", "each wait before retrying a 429 (its Retry-After)"),
    PACING_WAIT: ("timer", "each wait for a slot of the client-side pacing budget, when there was one"),
    f"{JOINS}.joined": ("counter", "channels joined (a join of a channel the bot is in counts too)"),
    f"{JOINS}.skipped": ("counter", "channels that cannot be joined (archived, gone, private)"),
    f"{JOINS}.failed": ("counter", "channels a join task failed to join"),
    WATCHER_LATENCY: ("timer", "fleet watcher: from a channel's creation to the event that reports it"),
    WATCHER_CYCLE: ("timer", "fleet watcher: one pass over every workspace it watches"),
}


class AirflowMetrics:
    """Counts and timings under ``truto.``, sent through Airflow's metrics API (its ``Stats``).

    :param stats: the metrics API to send through; default: Airflow's, resolved on first use.
    """

    def __init__(self, stats: Any = None) -> None:
        self._stats = stats
        self._broken = False

    # -- the client's observer -------------------------------------------------------------------------

    def answered(self, status_code: int) -> None:
        """An attempt got an answer with this status."""
        self.incr(f"{REQUESTS}.{status_code // 100}xx")
        if status_code == 429:
            self.incr(RATE_LIMITED)

    def unanswered(self) -> None:
        """An attempt got no answer."""
        self.incr(f"{REQUESTS}.failed")

    def waited(self, seconds: float, *, reason: str) -> None:
        """The client waited ``seconds``: for a pacing slot (``pacing``) or a 429's ``Retry-After``
        (``rate_limited``). Other waits (the backoff after a 5xx) are not timed."""
        name = {"pacing": PACING_WAIT, "rate_limited": RATE_LIMITED_WAIT}.get(reason)
        if name is not None and seconds > 0:
            self.timing(name, seconds)

    # -- the operators' and the watcher's --------------------------------------------------------------

    def joined(self, outcome: str) -> None:
        """A channel's join ended ``joined``, ``skipped`` or ``failed``."""
        self.incr(f"{JOINS}.{outcome}")

    def reported(self, latency_seconds: float) -> None:
        """The fleet watcher reported a channel ``latency_seconds`` after Slack says it was created."""
        self.timing(WATCHER_LATENCY, max(0.0, latency_seconds))

    def cycled(self, seconds: float) -> None:
        """The fleet watcher went once over every workspace it watches, in ``seconds``."""
        self.timing(WATCHER_CYCLE, seconds)

    # -- sending -----------------------------------------------------------------------------------------

    def incr(self, name: str, count: int = 1) -> None:
        self._send("incr", name, count)

    def timing(self, name: str, seconds: float) -> None:
        self._send("timing", name, timedelta(seconds=seconds))

    def _send(self, method: str, name: str, value: Any) -> None:
        if self._broken:
            return
        try:
            if self._stats is None:
                from airflow_provider_truto.compat import airflow_stats

                self._stats = airflow_stats()
            getattr(self._stats, method)(name, value)
        except Exception as error:  # metrics are a by-product: never the reason a task fails
            self._broken = True
            log.warning("Airflow's metrics refused %s (%s); no more provider metrics from here", name, error)

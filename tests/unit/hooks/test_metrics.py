"""AirflowMetrics: the provider's names under ``truto.``, sent through Airflow's metrics API of the release
it runs on; a broken metrics backend never fails a task."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from airflow_provider_truto.client.observer import BACKOFF, PACING, RATE_LIMITED
from airflow_provider_truto.compat import airflow_stats
from airflow_provider_truto.hooks.metrics import METRICS, AirflowMetrics


class Stats:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str, Any]] = []

    def incr(self, name: str, count: int) -> None:
        self.sent.append(("incr", name, count))

    def timing(self, name: str, value: timedelta) -> None:
        self.sent.append(("timing", name, value))


def test_each_event_becomes_its_documented_metric() -> None:
    stats = Stats()
    metrics = AirflowMetrics(stats)
    metrics.answered(200)
    metrics.answered(429)
    metrics.answered(503)
    metrics.unanswered()
    metrics.waited(0.25, reason=PACING)
    metrics.waited(10.0, reason=RATE_LIMITED)
    metrics.waited(1.0, reason=BACKOFF)  # not timed
    metrics.waited(0.0, reason=PACING)  # no wait: nothing sent
    for outcome in ("joined", "skipped", "failed"):
        metrics.joined(outcome)
    assert stats.sent == [
        ("incr", "truto.requests.2xx", 1),
        ("incr", "truto.requests.4xx", 1),
        ("incr", "truto.rate_limited", 1),
        ("incr", "truto.requests.5xx", 1),
        ("incr", "truto.requests.failed", 1),
        ("timing", "truto.pacing.wait", timedelta(seconds=0.25)),
        ("timing", "truto.rate_limited.wait", timedelta(seconds=10)),
        ("incr", "truto.joins.joined", 1),
        ("incr", "truto.joins.skipped", 1),
        ("incr", "truto.joins.failed", 1),
    ]
    assert {name for _, name, _ in stats.sent} <= set(METRICS)


def test_a_broken_metrics_backend_is_logged_once_and_ignored(caplog: pytest.LogCaptureFixture) -> None:
    class Broken:
        def incr(self, name: str, count: int) -> None:
            raise OSError("statsd host gone")

    metrics = AirflowMetrics(Broken())
    for _ in range(3):
        metrics.answered(200)
    assert [r.getMessage() for r in caplog.records if "no more provider metrics" in r.getMessage()] == [
        "Airflow's metrics refused truto.requests.2xx (statsd host gone); no more provider metrics from here"
    ]


def test_airflows_metrics_api_of_this_release_takes_the_names() -> None:
    stats = airflow_stats()
    AirflowMetrics(stats).answered(200)  # [metrics] is off here: Airflow's no-op logger takes it
    assert callable(stats.incr) and callable(stats.timing)


def test_the_docs_table_is_the_metrics_sent() -> None:
    """docs/deployment.md's table names every metric in METRICS, with its kind, and nothing else."""
    import re

    from tests.support.helpers import REPO

    text = (REPO / "docs" / "deployment.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `(truto\.[\w.]+)` \| (\w+) \| (.+?) \|$", text, re.M)
    assert {name: (kind, what) for name, kind, what in rows} == METRICS

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
    metrics.reported(42.5)
    metrics.reported(-0.3)  # a creation stamped by a clock a little ahead: no negative latency
    metrics.cycled(61.0)
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
        ("timing", "truto.watcher.latency", timedelta(seconds=42.5)),
        ("timing", "truto.watcher.latency", timedelta(0)),
        ("timing", "truto.watcher.cycle", timedelta(seconds=61)),
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


def test_a_process_airflow_did_not_set_up_sends_through_the_metrics_settings(tmp_path: Any) -> None:
    """Where no Airflow process set its metrics up (a triggerer's trigger runner, on some releases), the
    provider's still reach StatsD, from ``[metrics]``: a bare interpreter sends one over UDP."""
    import socket
    import subprocess
    import sys

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as statsd:
        statsd.bind(("127.0.0.1", 0))
        statsd.settimeout(30)
        env = {
            "PATH": "/usr/bin:/bin",
            "AIRFLOW_HOME": str(tmp_path),
            "AIRFLOW__METRICS__STATSD_ON": "True",
            "AIRFLOW__METRICS__STATSD_HOST": "127.0.0.1",
            "AIRFLOW__METRICS__STATSD_PORT": str(statsd.getsockname()[1]),
        }
        code = "from airflow_provider_truto.hooks.metrics import AirflowMetrics; AirflowMetrics().cycled(2.5)"
        done = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr[-2000:]
        received = [statsd.recv(65535).decode()]  # Airflow's own may come first: read until ours
        while "truto" not in received[-1]:
            received.append(statsd.recv(65535).decode())
        assert received[-1] == "airflow.truto.watcher.cycle:2500.000000|ms"

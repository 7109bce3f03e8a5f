"""A long auto-join run as a user and an operator see it, under ``airflow dags test`` with StatsD on.

One run of the example DAG joins 300 new channels of one workspace, paced at 9 joins a second (two mapped
tasks of 150, about 18 s each: a progress line every 5 s makes three in each), with one 429 on the way. From
its output: each join task logs a start line, at least three progress lines and a summary, and no line of
the run is at error level. From a UDP socket standing in for StatsD: the provider's metrics arrive through
Airflow's own, under ``truto.``, with the counts the sandbox saw.
"""

from __future__ import annotations

import re
import socket
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from airflow_provider_truto.hooks.metrics import METRICS
from airflow_provider_truto.testing import Fault, TrutoSandbox
from tests.support.helpers import ACCOUNT, JOIN, TOKEN, connection_json, metadata_rows, run_dag_test

pytestmark = pytest.mark.integration
DAG_ID = "example_truto_auto_join_channels"
CHANNELS = 300
NOW = datetime.now(timezone.utc).replace(microsecond=0)
CUTOFF = NOW - timedelta(days=1)
PROGRESS = re.compile(
    r"\d[\d,]* of 150 joined, \d+ skipped, \d+ failed, [\d.]+/(s|min), (about [\w ]+ left|time left unknown)"
)
ERROR_LINE = re.compile(r"\[(error|critical)\s*\]|\bERROR\b|Traceback")


@dataclass
class Run:
    output: str
    returncode: int
    datagrams: list[str]
    sandbox: TrutoSandbox


class StatsdListener:
    """A UDP socket on 127.0.0.1 that keeps every datagram, read by a thread so none is dropped."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.datagrams: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._stop.is_set():
            try:
                self.datagrams.extend(self.sock.recv(65535).decode(errors="replace").split("\n"))
            except TimeoutError:
                continue

    def close(self) -> list[str]:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()
        return self.datagrams


@pytest.fixture(scope="module")
def paced_run(airflow_home: Path) -> Iterator[Run]:
    with TrutoSandbox(token=TOKEN) as sandbox:
        sandbox.add_account(ACCOUNT)
        sandbox.seed_channels(
            ACCOUNT, CHANNELS, seed=24, mixed=False, start=CUTOFF + timedelta(minutes=1), end=NOW
        )
        sandbox.inject("POST", JOIN, Fault.rate_limited("1"))  # the first join meets Slack's limit once
        statsd = StatsdListener()
        try:
            done = run_dag_test(
                airflow_home,
                DAG_ID,
                conn=connection_json(sandbox, rate_limit="9/1"),
                conf={"created_after": CUTOFF.isoformat()},
                AIRFLOW__METRICS__STATSD_ON="True",
                AIRFLOW__METRICS__STATSD_HOST="127.0.0.1",
                AIRFLOW__METRICS__STATSD_PORT=str(statsd.port),
                AIRFLOW__METRICS__STATSD_PREFIX="airflow",
            )
        finally:
            datagrams = statsd.close()
        yield Run(done.stdout + done.stderr, done.returncode, datagrams, sandbox)


def logged_once(output: str) -> str:
    """The output with each log line once: Airflow 3.0's ``dags test`` prints a task's line in two formats,
    one after the other."""
    kept: list[str] = []
    previous = None
    for line in output.splitlines():
        message = re.split(r"\] \{[\w.]+:\d+\} \w+ - |\[\w+\s*\] ", line, maxsplit=1)[-1]
        if message != previous:
            kept.append(line)
        previous = message
    return "\n".join(kept)


def test_each_join_task_logs_a_start_progress_and_a_summary_and_nothing_at_error_level(
    paced_run: Run,
) -> None:
    assert paced_run.returncode == 0, paced_run.output[-4000:]
    output = logged_once(paced_run.output)
    # Airflow runs the mapped join tasks one after another here: each one's lines run from its start line to
    # its summary.
    tasks = re.findall(
        r"Joining 150 channels; at the connection's pacing \(9/1 per account\) that takes at least (\d+) s\b"
        r"(.*?)\n[^\n]*Joined 150 of 150 channels in \d+ s \([\d.]+/s\): 0 skipped, 0 failed",
        output,
        re.S,
    )
    assert [int(seconds) for seconds, _ in tasks] == [18, 18], output[-4000:]
    progress = [PROGRESS.findall(lines) for _, lines in tasks]
    assert all(len(lines) >= 3 for lines in progress), progress  # about 18 s a task, a line every 5 s
    assert "Auto-join: joined 300, skipped 0 (none), failed 0" in output
    # One line per channel only at DEBUG: no channel's own line at INFO.
    assert not re.search(r"\] Joined \S+ \(C\w+\) in integrated account", output)
    assert [line for line in output.splitlines() if ERROR_LINE.search(line)] == []


def test_the_report_pushes_only_the_xcom_rows_the_docs_name(paced_run: Run, airflow_home: Path) -> None:
    assert paced_run.returncode == 0, paced_run.output[-4000:]
    rows = metadata_rows(airflow_home, DAG_ID, "SELECT key FROM xcom WHERE task_id = 'report' AND dag_id = ?")
    assert sorted(key for (key,) in rows) == ["report", "return_value"]


def test_the_providers_metrics_arrive_through_airflows_statsd(paced_run: Run) -> None:
    assert paced_run.returncode == 0, paced_run.output[-4000:]
    counts: Counter[str] = Counter()
    timings: dict[str, list[float]] = {}
    for datagram in paced_run.datagrams:
        match = re.fullmatch(r"airflow\.(truto\.[\w.]+):([\d.]+)\|(c|ms)", datagram)
        if match is None:
            continue
        name, value, kind = match.groups()
        assert name in METRICS, f"{name} is sent but not in the documented table"
        if kind == "c":
            counts[name] += int(float(value))
        else:
            timings.setdefault(name, []).append(float(value))

    statuses = Counter(request.status for request in paced_run.sandbox.requests)
    assert counts["truto.requests.2xx"] == statuses[200]
    assert counts["truto.requests.4xx"] == statuses[429] == counts["truto.rate_limited"] == 1
    assert counts["truto.joins.joined"] == CHANNELS
    assert "truto.joins.failed" not in counts and "truto.requests.failed" not in counts
    # The 429's Retry-After of 1 s, and the pacing's waits: 300 joins at 9 a second for one account.
    assert [round(ms / 1000) for ms in timings["truto.rate_limited.wait"]] == [1]
    assert len(timings["truto.pacing.wait"]) > CHANNELS / 2
    assert 20_000 < sum(timings["truto.pacing.wait"]) < 50_000

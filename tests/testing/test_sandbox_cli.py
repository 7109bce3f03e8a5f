"""``python -m airflow_provider_truto.testing`` as a real subprocess."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

import airflow_provider_truto

CHANNELS = "/unified/instant-messaging/channels"
# The repository root, so the child imports this checkout whether or not the package is installed.
ROOT = str(Path(next(iter(airflow_provider_truto.__path__))).parent)


def _spawn(*args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")]))}
    return subprocess.Popen(
        [sys.executable, "-m", "airflow_provider_truto.testing", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _stop(proc: subprocess.Popen[str], sig: int) -> int:
    proc.send_signal(sig)
    try:
        return proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_the_cli_serves_until_signalled(sig):
    proc = _spawn("--channels", "7", "--seed", "3", "--rate-limit", "50/10", "--token", "tok")
    try:
        assert proc.stdout is not None
        url_line, conn_line, ready = (proc.stdout.readline().strip() for _ in range(3))
        assert ready == "ready"
        assert url_line.startswith("TRUTO_SANDBOX_URL=http://127.0.0.1:")
        url = url_line.split("=", 1)[1]
        name, _, value = conn_line.partition("=")
        assert name == "AIRFLOW_CONN_TRUTO_DEFAULT"
        conn = json.loads(value)
        assert conn == {
            "conn_type": "truto",
            "host": url,
            "password": "tok",
            "extra": {
                "integrated_account_id": "sandbox-account",
                "rate_limit": "50/10",
                "environment_rate_limit": "off",
            },
        }
        response = requests.get(
            url + CHANNELS,
            params={"integrated_account_id": "sandbox-account"},
            headers={"Authorization": "Bearer tok"},
            timeout=5,
        )
        assert response.json()["result_count"] == 7
    finally:
        code = _stop(proc, sig)
    assert code == 0
    assert proc.stderr is not None
    assert proc.stderr.read() == ""  # no per-request log lines without --verbose, and no token


def test_the_cli_generates_accounts():
    proc = _spawn("--accounts", "3", "--channels", "2")
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip().split("=", 1)[1]
        first = json.loads(proc.stdout.readline().split("=", 1)[1])["extra"]["integrated_account_id"]
        assert proc.stdout.readline().strip() == "ready"
        state = requests.get(url + "/_sandbox/state", timeout=5).json()
        assert [a["channels"] for a in state["accounts"]] == [2, 2, 2]
        assert state["accounts"][0]["id"] == first
    finally:
        assert _stop(proc, signal.SIGTERM) == 0


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--rate-limit", "fast"], "--rate-limit"),
        (["--token-rate-limit", "5/0"], "--token-rate-limit"),
        (["--channels", "-1"], "--channels"),
        (["--port", "http"], "--port"),
        (["--latency-ms", "slow"], "--latency-ms"),
        (["--accounts", "0"], "--accounts"),
        (["--accounts", "2", "--account", "x"], "--account"),
    ],
)
def test_bad_arguments_are_argparse_errors_naming_the_argument(args, named):
    proc = _spawn(*args)
    _, err = proc.communicate(timeout=10)
    assert proc.returncode == 2
    assert named in err

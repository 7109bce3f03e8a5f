"""``python -m airflow_provider_truto.testing`` as a real subprocess."""

from __future__ import annotations

import json
import signal

import pytest
import requests

from tests.support.helpers import spawn_sandbox_cli, stop_process

CHANNELS = "/unified/instant-messaging/channels"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_the_cli_serves_until_signalled(sig):
    proc = spawn_sandbox_cli(
        "--channels", "7", "--seed", "3", "--rate-limit", "50/10", "--token", "sandbox-7c1e94b2d05a"
    )
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
            "password": "sandbox-7c1e94b2d05a",
            "extra": {
                "integrated_account_id": "sandbox-account",
                "rate_limit": "50/10",
                "environment_rate_limit": "off",
            },
        }
        response = requests.get(
            url + CHANNELS,
            params={"integrated_account_id": "sandbox-account"},
            headers={"Authorization": "Bearer sandbox-7c1e94b2d05a"},
            timeout=5,
        )
        assert response.json()["result_count"] == 7
    finally:
        code = stop_process(proc, sig)
    assert code == 0
    assert proc.stderr is not None
    assert proc.stderr.read() == ""  # no per-request log lines without --verbose, and no token


def test_the_cli_generates_accounts():
    proc = spawn_sandbox_cli("--accounts", "3", "--channels", "2")
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip().split("=", 1)[1]
        first = json.loads(proc.stdout.readline().split("=", 1)[1])["extra"]["integrated_account_id"]
        assert proc.stdout.readline().strip() == "ready"
        state = requests.get(url + "/_sandbox/state", timeout=5).json()
        assert [a["channels"] for a in state["accounts"]] == [2, 2, 2]
        assert state["accounts"][0]["id"] == first
    finally:
        assert stop_process(proc, signal.SIGTERM) == 0


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
    proc = spawn_sandbox_cli(*args)
    _, err = proc.communicate(timeout=10)
    assert proc.returncode == 2
    assert named in err

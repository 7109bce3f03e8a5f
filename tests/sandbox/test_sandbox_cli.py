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
        # Once tracebacks, or a sandbox that could not work: a port out of range, an empty token, a
        # window the hook cannot read back (1e-05), an infinite latency, a token the hook refuses.
        (["--port", "70000"], "--port"),
        (["--token", ""], "--token"),
        (["--rate-limit", "5/0.00001"], "--rate-limit"),
        (["--latency-ms", "inf"], "--latency-ms"),
        (["--latency-ms", "nan"], "--latency-ms"),
        (["--shared", "nan"], "--shared"),
        (["--token", "two words"], "--token"),
        (["--token", "tök-1234"], "--token"),
    ],
)
def test_bad_arguments_are_argparse_errors_naming_the_argument(args, named):
    proc = spawn_sandbox_cli(*args)
    try:
        _, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:  # a sandbox that started after all: stop it, then fail
            proc.kill()
            proc.communicate()
    assert proc.returncode == 2
    assert f"error: argument {named}" in err and "Traceback" not in err
    assert "two words" not in err  # a token is not echoed


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["--token", "sandbox-!#$%&'()*+,./:;<=>?@[]^_`{|}~\"\\"],  # every punctuation the hook accepts
        ["--rate-limit", "5/0.001", "--token-rate-limit", "100000/3600.25"],
        ["--rate-limit", "1/0.0015", "--account", "acct with space"],
        ["--token-rate-limit", "9000000/1234567.5"],  # printed as 1.23457e+06 once, which the hook refuses
        ["--accounts", "2", "--latency-ms", "0"],
    ],
    ids=[
        "defaults",
        "punctuation-token",
        "extreme-windows",
        "odd-window-and-account",
        "long-window",
        "generated-accounts",
    ],
)
def test_every_connection_the_cli_prints_works_with_the_hook(args, monkeypatch, tmp_path):
    """The printed AIRFLOW_CONN_TRUTO_DEFAULT is read by TrutoHook as printed, and a call through it
    reaches the sandbox's account."""
    from airflow_provider_truto.hooks.truto import TrutoHook

    proc = spawn_sandbox_cli("--channels", "3", *args)
    try:
        assert proc.stdout is not None
        url_line, conn_line, ready = (proc.stdout.readline().strip() for _ in range(3))
        assert ready == "ready", proc.stderr.read() if proc.stderr else ""
        name, _, value = conn_line.partition("=")
        monkeypatch.setenv(name, value)
        monkeypatch.setenv("TRUTO_RATE_LIMIT_DIR", str(tmp_path))  # this test's pacing state
        hook = TrutoHook()
        assert hook.config.base_url == url_line.split("=", 1)[1]
        channels = list(hook.list_channels(limit=2))
        hook.close()
        assert len(channels) == 3
    finally:
        assert stop_process(proc, signal.SIGTERM) == 0

"""What tests share besides fixtures: names, connections, Airflow runs, token checks, task contexts.

Fixtures live in ``tests/conftest.py``; misbehaving servers in ``tests/support/hostile_servers.py``; an
Airflow home in :mod:`tests.support.airflow_home` (benchmarks and scripts use it too).
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import traceback
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from importlib.metadata import version
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import requests

from airflow_provider_truto.client.async_client import AsyncTrutoClient
from airflow_provider_truto.client.config import TrutoConfig
from airflow_provider_truto.client.sync_client import TrutoClient
from tests.support.airflow_home import AIRFLOW, airflow_env
from tests.support.hostile_servers import json_escaped

# The exceptions a task's runner acts on, where the installed Airflow keeps them (tests check the provider's
# errors against these, not against the provider's own resolution of them).
try:  # Airflow >= 3.2: the Task SDK
    from airflow.sdk.exceptions import AirflowFailException as AirflowFailException
    from airflow.sdk.exceptions import AirflowSkipException as AirflowSkipException
    from airflow.sdk.exceptions import TaskDeferred as TaskDeferred
except ImportError:  # Airflow 3.0, 3.1
    from airflow.exceptions import AirflowFailException as AirflowFailException  # type: ignore[no-redef]
    from airflow.exceptions import AirflowSkipException as AirflowSkipException  # type: ignore[no-redef]
    from airflow.exceptions import TaskDeferred as TaskDeferred  # type: ignore[no-redef]

if TYPE_CHECKING:
    import pytest

    from airflow_provider_truto.testing import TrutoSandbox
    from airflow_provider_truto.triggers.truto import TrutoNewChannelsTrigger

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_DAGS = REPO / "example_dags"
TEST_DAGS = REPO / "tests" / "dags"
AIRFLOW_VERSION = tuple(int(part) for part in version("apache-airflow").split(".")[:2])
ACCOUNT = "acct-1"
TOKEN = "tok-s3cr3t-0123456789"
CHANNELS = "/unified/instant-messaging/channels"
JOIN = f"{CHANNELS}/join"
# The sandbox fixture seeds 60 channels created over the last two years: all before this cutoff.
CUTOFF = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(seconds=1)


# -- waits recorded instead of slept ------------------------------------------------------------------------


class SleepRecorder:
    """Stands in for time.sleep in the retry loop: records each wait instead of sleeping it."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


class AsyncSleepRecorder(SleepRecorder):
    """Stands in for asyncio.sleep in the async retry loop."""

    async def __call__(self, seconds: float) -> None:  # type: ignore[override]
        self.waits.append(seconds)


# -- connections and clients --------------------------------------------------------------------------------


def connection_json(sandbox: TrutoSandbox, **extra: Any) -> str:
    """An AIRFLOW_CONN_* value for the sandbox; pacing off unless a test asks for it."""
    extras = {"integrated_account_id": ACCOUNT, "rate_limit": "off", "environment_rate_limit": "off", **extra}
    return json.dumps({"conn_type": "truto", "host": sandbox.url, "password": sandbox.token, "extra": extras})


def set_connection(monkeypatch: pytest.MonkeyPatch, conn_id: str, **fields: Any) -> None:
    """Define the Airflow connection ``conn_id`` of type ``truto`` with these fields, for this test."""
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": "truto", **fields}))


def hostile_connection(
    monkeypatch: pytest.MonkeyPatch, host: str, conn_id: str = "hostile", **extra: Any
) -> str:
    """A connection to ``host`` that neither paces nor retries (one request per call), for this test."""
    set_connection(
        monkeypatch,
        conn_id,
        host=host,
        password=extra.pop("password", TOKEN),
        extra={
            "integrated_account_id": ACCOUNT,
            "rate_limit": "off",
            "environment_rate_limit": "off",
            "max_retries": 0,
            **extra,
        },
    )
    return conn_id


def client_config(url: str, **overrides: Any) -> TrutoConfig:
    """A config for ``url`` with pacing off and no retries unless overridden."""
    settings: dict[str, Any] = {
        "token": TOKEN,
        "base_url": url,
        "integrated_account_id": ACCOUNT,
        "account_rate_limit": None,
        "environment_rate_limit": None,
        "max_retries": 0,
        **overrides,
    }
    return TrutoConfig(**settings)


def client_for(url: str, **overrides: Any) -> TrutoClient:
    """A sync client for ``url`` (see :func:`client_config`) whose retries do not sleep."""
    return TrutoClient(client_config(url, **overrides), sleep=lambda _seconds: None)


TRANSPORTS = ("requests", "httpx")  # TrutoClient's and AsyncTrutoClient's


def call_through(
    transport: str, url: str, use: Callable[[Any], Any], settings: dict[str, Any] | None = None
) -> Any:
    """``use(client)`` with a client of ``transport`` for ``url`` whose retries do not sleep.

    An iterator (a list walk) is collected into a list while the client is open; for httpx, ``use``
    returns an awaitable or an async iterator.
    """
    config = client_config(url, **(settings or {}))
    if transport == "requests":
        with TrutoClient(config, sleep=lambda _seconds: None) as client:
            outcome = use(client)
            return list(outcome) if isinstance(outcome, Iterator) else outcome

    async def main() -> Any:
        async with AsyncTrutoClient(config, sleep=AsyncSleepRecorder()) as client:
            outcome = use(client)
            if hasattr(outcome, "__aiter__"):
                return [item async for item in outcome]
            return await outcome

    return asyncio.run(main())


# -- a real Airflow -----------------------------------------------------------------------------------------


def run_dag_test(
    airflow_home: Path,
    dag_id: str,
    *,
    conn: str,
    conf: dict[str, Any] | None = None,
    dags_folder: Path | None = None,
    timeout: float = 900,
    **env: str,
) -> subprocess.CompletedProcess[str]:
    """``airflow dags test`` in a subprocess, as a user would run it; returns its output."""
    command = [str(AIRFLOW), "dags", "test", dag_id]
    if conf:
        command += ["--conf", json.dumps(conf)]
    return subprocess.run(
        command,
        env=airflow_env(
            airflow_home, dags_folder=dags_folder or EXAMPLE_DAGS, AIRFLOW_CONN_TRUTO_DEFAULT=conn, **env
        ),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def metadata_rows(airflow_home: Path, dag_id: str, query: str) -> list[tuple[Any, ...]]:
    """Rows of ``query`` (``... WHERE dag_id = ?``) for the DAG's latest run in the SQLite metadata DB."""
    with closing(sqlite3.connect(airflow_home / "airflow.db")) as db:
        run_id = db.execute(
            "SELECT run_id FROM dag_run WHERE dag_id = ? ORDER BY id DESC LIMIT 1", (dag_id,)
        ).fetchone()[0]
        return db.execute(f"{query} AND run_id = ?", (dag_id, run_id)).fetchall()


# -- the token is nowhere -----------------------------------------------------------------------------------


def token_leaks(text: str, token: str = TOKEN) -> list[str]:
    """Lines of Airflow output that carry the token.

    Airflow 3.0's own supervisor logs each secret it is asked to mask (``MaskSecret(value=...)``) at debug
    level under ``airflow dags test``; 3.1 stopped that. Those lines are Airflow's, not this provider's, so
    on 3.0 they are left out. Every other line counts.
    """
    airflow_3_0 = AIRFLOW_VERSION < (3, 1)
    return [
        line
        for line in text.splitlines()
        if token in line and not (airflow_3_0 and "MaskSecret(value=" in line)
    ]


def spellings(token: str = TOKEN) -> list[str]:
    """The token as servers and libraries render it: raw, \\u-escaped, percent-encoded, repr of a header."""
    return [
        token,
        json_escaped(token)[1:-1],
        "".join(f"%{ord(char):02X}" for char in token),
        "".join(f"%{ord(char):02x}" for char in token),
    ]


def leaks(text: str, token: str = TOKEN) -> list[str]:
    return [form for form in spellings(token) if form in text]


def leaking_lines(text: str, token: str = TOKEN) -> list[str]:
    return [line for line in text.splitlines() if leaks(line, token)]


def exception_chain(error: BaseException) -> Iterator[BaseException]:
    """The error and everything reachable through ``__cause__`` and ``__context__``."""
    seen: set[int] = set()
    todo = [error]
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        todo += [e for e in (current.__cause__, current.__context__) if e is not None]


def assert_token_free(error: BaseException, token: str = TOKEN) -> None:
    """Nothing the error carries (message, attributes, causes, the printed traceback) shows the token."""
    printed = "".join(traceback.format_exception(error))
    assert leaks(printed, token) == []
    # Airflow 3.0's console prints each frame's local variables (rich): none of the provider's may show it.
    for frame, _ in traceback.walk_tb(error.__traceback__):
        if "airflow_provider_truto" in frame.f_code.co_filename:
            for name, value in frame.f_locals.items():
                assert leaks(repr(value), token) == [], (
                    f"{frame.f_code.co_name}: local {name!r} shows the token"
                )
    for link in exception_chain(error):
        shown = f"{link}\n{link!r}\n{link.args!r}\n{vars(link)!r}"
        assert leaks(shown, token) == [], f"{type(link).__name__} in the chain shows the token"


# -- tasks and triggers run by hand -------------------------------------------------------------------------


def task_context(task_id: str = "t", map_index: int = -1, *, try_number: int = 1) -> dict[str, Any]:
    """The parts of a task's context the operators read: the run, and the task instance's ids and try."""
    run = SimpleNamespace(dag_id="d", run_id="r1")
    ti = SimpleNamespace(dag_id="d", run_id="r1", task_id=task_id, map_index=map_index, try_number=try_number)
    return {"dag_run": run, "ti": ti}


async def trigger_events(
    trigger: TrutoNewChannelsTrigger, count: int, timeout: float = 10.0
) -> list[dict[str, Any]]:
    """The payloads of the trigger's first ``count`` events (fewer if ``timeout`` passes first)."""
    payloads: list[dict[str, Any]] = []
    events = trigger.run()

    async def collect() -> None:
        async for event in events:
            payloads.append(event.payload)
            if len(payloads) >= count:
                break

    try:
        await asyncio.wait_for(collect(), timeout)  # not asyncio.timeout: Python 3.10 has none
    except asyncio.TimeoutError:  # not the built-in TimeoutError before Python 3.11
        pass
    finally:
        await events.aclose()
    return payloads


class MemoryStateStore:
    """Stands in for Airflow's per-asset state store (``aget`` / ``aset``), which the triggerer injects."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    async def aget(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    async def aset(self, key: str, value: Any) -> None:
        self.values[key] = json.loads(json.dumps(value))


# -- channels as Truto lists them ---------------------------------------------------------------------------

# Slack's sharing flags of a channel no other organisation shares.
INTERNAL = {
    "is_shared": False,
    "is_org_shared": False,
    "is_ext_shared": False,
    "is_pending_ext_shared": False,
}
NO_REMOTE_DATA = object()  # public_channel(remote_data=NO_REMOTE_DATA): a channel listed without it


def public_channel(name: str | None, **fields: Any) -> dict[str, Any]:
    """A new public channel the bot is not in, internal unless ``remote_data`` says otherwise."""
    remote = fields.pop("remote_data", INTERNAL)
    base = {"type": "channel", "status": "active", "is_member": False, "created_at": "2026-05-02T00:00:00Z"}
    made = {**base, "name": name, **fields}
    if remote is not NO_REMOTE_DATA:
        made["remote_data"] = remote
    return made


def created_at(seconds: float) -> str:
    """``seconds`` after :data:`CUTOFF`, ISO-8601."""
    return (CUTOFF + timedelta(seconds=seconds)).isoformat()


def new_channel(sandbox: TrutoSandbox, name: str, seconds: float, **fields: Any) -> str:
    """Add a channel to ``ACCOUNT`` created ``seconds`` after :data:`CUTOFF`; its id."""
    return str(sandbox.add_channel(ACCOUNT, name=name, created_at=created_at(seconds), **fields)["id"])


def channel_refs(n: int, account: str = "A") -> list[dict[str, str]]:
    """``n`` compact channel refs of ``account``, as the auto-join plan batches them."""
    return [
        {"id": f"{account}{i}", "name": f"{account}-{i}", "integrated_account_id": account} for i in range(n)
    ]


# -- the sandbox's own tests --------------------------------------------------------------------------------


class Api:
    """Thin helper over a keep-alive session so tests read like the calls they make."""

    def __init__(self, sandbox: TrutoSandbox, session: requests.Session) -> None:
        self.sb = sandbox
        self.session = session

    def get(self, path: str, *, account: str | None = ACCOUNT, **params: Any) -> requests.Response:
        if account is not None:
            params.setdefault("integrated_account_id", account)
        return self.session.get(self.sb.url + path, params=params, timeout=5)

    def post(
        self,
        path: str,
        body: Any = None,
        *,
        account: str | None = ACCOUNT,
        headers: Any = None,
        **params: Any,
    ) -> requests.Response:
        if account is not None:
            params.setdefault("integrated_account_id", account)
        return self.session.post(self.sb.url + path, params=params, json=body, headers=headers, timeout=5)

    def channels(self, **params: Any) -> requests.Response:
        return self.get(CHANNELS, **params)

    def join(self, channel_id: str, **kwargs: Any) -> requests.Response:
        return self.post(JOIN, {"channel": {"id": channel_id}}, **kwargs)

    def all_channels(self, **params: Any) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            extra = {"next_cursor": cursor} if cursor else {}
            body = self.channels(**params, **extra).json()
            out.extend(body["result"])
            cursor = body["next_cursor"]
            if cursor is None:
                return out


def spawn_sandbox_cli(*args: str) -> subprocess.Popen[str]:
    """``python -m airflow_provider_truto.testing ARGS`` from this checkout, installed or not."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "airflow_provider_truto.testing", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def stop_process(proc: subprocess.Popen[str], sig: int) -> int:
    """Send ``sig`` and wait for the exit code; kill what does not stop within 10 s."""
    proc.send_signal(sig)
    try:
        return proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()


# -- a running Airflow api-server (browser tests) ------------------------------------------------------------


@dataclass
class ApiServer:
    """A running ``airflow api-server`` and the environment every Airflow command of the test shares."""

    url: str
    home: Path
    env: dict[str, str]
    log: Path

    def get(self, path: str) -> Any:
        """GET a public API path with a token from the simple auth manager (all admins)."""
        with urllib.request.urlopen(f"{self.url}/auth/token", timeout=30) as answer:
            token = json.load(answer)["access_token"]
        request = urllib.request.Request(self.url + path, headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(request, timeout=30) as answer:
            return json.load(answer)

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

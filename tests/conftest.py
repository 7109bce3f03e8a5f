"""Fixtures shared by the suite: a sandbox on loopback, clients and connections on it, a real Airflow home.

Helpers that are not fixtures live in ``tests/support/helpers.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_truto.client.config import DEFAULT_MAX_RETRIES
from airflow_provider_truto.client.sync_client import TrutoClient
from airflow_provider_truto.testing import TrutoSandbox
from tests.support.airflow_home import new_airflow_home
from tests.support.helpers import (
    ACCOUNT,
    CHANNELS,
    EXAMPLE_DAGS,
    TOKEN,
    TRANSPORTS,
    SleepRecorder,
    call_through,
    client_config,
    connection_json,
)
from tests.support.hostile_servers import ChannelList


@pytest.fixture
def sandbox(truto_sandbox_factory: Callable[..., TrutoSandbox]) -> TrutoSandbox:
    sb = truto_sandbox_factory(token=TOKEN)
    sb.add_account(ACCOUNT)
    sb.seed_channels(ACCOUNT, 60, seed=3)
    return sb


@pytest.fixture
def conn(sandbox: TrutoSandbox, monkeypatch: pytest.MonkeyPatch) -> TrutoSandbox:
    """The sandbox as the default connection (``truto_default``), 60 channels in ``ACCOUNT``."""
    monkeypatch.setenv("AIRFLOW_CONN_TRUTO_DEFAULT", connection_json(sandbox))
    return sandbox


@pytest.fixture
def sleeps() -> SleepRecorder:
    return SleepRecorder()


@pytest.fixture
def make_client(sandbox: TrutoSandbox, sleeps: SleepRecorder) -> Iterator[Callable[..., TrutoClient]]:
    clients: list[TrutoClient] = []

    def make(**overrides: Any) -> TrutoClient:
        """A sync client of the sandbox, pacing off, the default retries (waits recorded in ``sleeps``)."""
        settings = client_config(sandbox.url, **{"max_retries": DEFAULT_MAX_RETRIES, **overrides})
        client = TrutoClient(settings, sleep=sleeps)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture(scope="session")
def airflow_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A temporary AIRFLOW_HOME with a migrated SQLite metadata database, shared by the session."""
    home, _ = new_airflow_home(directory=tmp_path_factory.mktemp("airflow-home"), dags_folder=EXAMPLE_DAGS)
    return home


@pytest.fixture
def channel_list(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[ChannelList]:
    """A one-page channel list as the default connection; set its ``channels`` to what it should serve."""
    with ChannelList(token=TOKEN, path=CHANNELS) as served:
        monkeypatch.setenv("AIRFLOW_CONN_TRUTO_DEFAULT", connection_json(served))  # type: ignore[arg-type]
        monkeypatch.setenv("TRUTO_RATE_LIMIT_DIR", str(tmp_path))
        yield served


@pytest.fixture(params=TRANSPORTS)
def unified(request: pytest.FixtureRequest) -> Callable[..., Any]:
    """``unified(url, *args, settings={...}, **kwargs)``: one unified call through the sync client, then
    (a second run of the test) the async one: what they share must behave the same."""

    def call(url: str, *args: Any, settings: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        return call_through(request.param, url, lambda client: client.unified(*args, **kwargs), settings)

    return call


@pytest.fixture(params=TRANSPORTS)
def list_unified(request: pytest.FixtureRequest) -> Callable[..., list[dict[str, Any]]]:
    """``list_unified(url, model, resource, settings={...}, **kwargs)``: every item, through either client."""

    def walk(url: str, *args: Any, settings: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        return call_through(request.param, url, lambda client: client.list_unified(*args, **kwargs), settings)

    return walk

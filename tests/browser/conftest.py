"""A real Airflow api-server on 127.0.0.1 and Debian's Chromium driven by Playwright.

Playwright's own browser download is not used (these machines cannot reach it): Playwright launches the
system ``chromium`` by path. Without Chromium the browser tests are skipped, or fail when CI requires the
services (``tests/services.py``).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.support.airflow_home import AIRFLOW, new_airflow_home
from tests.support.helpers import ApiServer
from tests.support.services import require_binary

if TYPE_CHECKING:
    from playwright.sync_api import Page

DAGS = Path(__file__).with_name("dags")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
SERVER_START_TIMEOUT = 180.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def chromium() -> str:
    return require_binary("chromium", debian_package="chromium")


@pytest.fixture
def api_server(chromium: str, tmp_path: Path) -> Iterator[ApiServer]:
    """``airflow api-server`` on a free port of 127.0.0.1, over a fresh, migrated SQLite AIRFLOW_HOME.

    Simple auth manager with every user an admin, connection testing enabled. The DAG folder holds the
    browser tests' DAGs, so ``airflow dags test`` with :attr:`ApiServer.env` uses the same metadata DB.
    """
    home, env = new_airflow_home(
        directory=tmp_path / "airflow-home",
        dags_folder=DAGS,
        AIRFLOW__CORE__AUTH_MANAGER="airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS="True",
        AIRFLOW__CORE__TEST_CONNECTION="Enabled",
        # Airflow 3.0 signs an empty issuer list, which PyJWT >= 2.10 refuses: name one.
        AIRFLOW__API_AUTH__JWT_ISSUER="airflow-provider-truto-tests",
    )
    airflow = str(AIRFLOW)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "api-server.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            # One worker: Airflow 3.0 defaults to four, whose start-up on a small machine outlasts
            # uvicorn's health check of its children, which then kills and restarts them in a loop.
            [airflow, "api-server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: the workers stop with it
        )
    server = ApiServer(url=url, home=home, env=env, log=log)
    try:
        wait_until_healthy(server, process)
        yield server
    finally:
        stop(process)
        print(f"--- api-server log (tail) ---\n{server.log_tail()}")


def wait_until_healthy(server: ApiServer, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"api-server exited with {process.returncode}:\n{server.log_tail()}")
        try:
            with urllib.request.urlopen(f"{server.url}/api/v2/monitor/health", timeout=5) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    raise AssertionError(f"api-server not healthy after {SERVER_START_TIMEOUT:.0f}s:\n{server.log_tail()}")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)


@pytest.fixture
def page(chromium: str) -> Iterator[Page]:
    """A Chromium page (Playwright for Python, the system's Chromium)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1400})
            page.set_default_timeout(30_000)
            yield page
        finally:
            browser.close()

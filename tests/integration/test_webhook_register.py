"""``python -m airflow_provider_truto.webhooks``: register the receiver with Truto (the sandbox) and keep
the secret in the connection, in a real Airflow metadata database (SQLite).

The steps run in one subprocess on the session's Airflow home (one Airflow start-up, not one per step):
each calls the command's ``main`` with the arguments a user types and reports its exit code and output.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_truto.testing import TrutoSandbox
from airflow_provider_truto.webhooks.events import DEFAULT_EVENT_TYPES
from tests.support.airflow_home import airflow_env
from tests.support.helpers import EXAMPLE_DAGS, TOKEN

pytestmark = pytest.mark.integration

URL = "https://airflow.example.com/truto/webhooks/truto_wh"
STEPS = r"""
import contextlib, io, json, sys
from airflow.models.connection import Connection
from airflow.utils.session import create_session
from airflow_provider_truto.webhooks.__main__ import main

with create_session() as session:
    session.query(Connection).filter(Connection.conn_id == "truto_wh").delete()
    session.add(Connection(conn_id="truto_wh", conn_type="truto", host=sys.argv[1], password=sys.argv[2],
                           extra=json.dumps({"rate_limit": "off", "environment_rate_limit": "off"})))

def run(*argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return {"argv": list(argv), "code": code, "out": out.getvalue(), "err": err.getvalue()}

def stored():
    with create_session() as session:
        conn = session.query(Connection).filter(Connection.conn_id == "truto_wh").one()
        return conn.extra_dejson

url = sys.argv[3]
results = [
    run("register", "--conn-id", "truto_wh", "--url", url),
    dict(extra=stored()),
    run("register", "--conn-id", "truto_wh", "--url", url),
    run("register", "--conn-id", "truto_wh", "--url", url, "--force", "--event", "record:created"),
    dict(extra=stored()),
    run("register", "--conn-id", "truto_env", "--url", url + "-env"),
    run("register", "--conn-id", "truto_env", "--url", url + "-env", "--show-secret"),
    run("register", "--conn-id", "truto_wh"),
    run("list", "--conn-id", "truto_wh"),
]
print("RESULTS " + json.dumps(results))
"""


@pytest.fixture(scope="module")
def sandbox() -> Iterator[TrutoSandbox]:
    """Truto for the whole module: every test reads what the one run of the steps registered."""
    with TrutoSandbox(TOKEN) as truto:
        yield truto


@pytest.fixture(scope="module")
def results(airflow_home: Path, sandbox: TrutoSandbox) -> list[dict[str, Any]]:
    env_conn = {"conn_type": "truto", "host": sandbox.url, "password": TOKEN}
    env = airflow_env(
        airflow_home,
        dags_folder=EXAMPLE_DAGS,
        AIRFLOW_CONN_TRUTO_ENV=json.dumps(env_conn),
        AIRFLOW__API__BASE_URL="",
    )
    done = subprocess.run(
        [sys.executable, "-c", STEPS, sandbox.url, TOKEN, URL],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULTS ")]
    assert done.returncode == 0 and lines, done.stdout[-3000:] + done.stderr[-3000:]
    found: list[dict[str, Any]] = json.loads(lines[-1].removeprefix("RESULTS "))
    return found


def test_register_stores_truto_s_secret_in_the_connection(
    results: list[dict[str, Any]], sandbox: TrutoSandbox
) -> None:
    first, stored = results[0], results[1]["extra"]
    assert first["code"] == 0, first
    webhook = next(w for w in sandbox.webhooks if w.target_url == URL)
    assert webhook.event_types == list(DEFAULT_EVENT_TYPES)
    assert stored["webhook_secret"] == webhook.secret
    assert stored["rate_limit"] == "off"  # the other extras are kept
    assert "stored in connection 'truto_wh', extra 'webhook_secret'" in first["out"]
    assert webhook.secret not in first["out"] + first["err"]


def test_a_url_already_registered_is_refused_unless_forced(
    results: list[dict[str, Any]], sandbox: TrutoSandbox
) -> None:
    refused, forced, stored = results[2], results[3], results[4]["extra"]
    assert refused["code"] == 2 and "already has a webhook" in refused["err"]
    assert forced["code"] == 0, forced
    ours = [w for w in sandbox.webhooks if w.target_url == URL]
    assert len(ours) == 2 and ours[1].event_types == ["record:created"]
    assert stored["webhook_secret"] == ours[1].secret  # the connection keeps the newest


def test_a_connection_this_command_cannot_write_is_refused_before_registering(
    results: list[dict[str, Any]], sandbox: TrutoSandbox
) -> None:
    refused, shown = results[5], results[6]
    assert refused["code"] == 2 and "not in Airflow's metadata database" in refused["err"]
    assert "Nothing was registered" in refused["err"]
    [webhook] = [w for w in sandbox.webhooks if w.target_url == URL + "-env"]  # only --show-secret's
    assert shown["code"] == 0 and webhook.secret in shown["out"]


def test_without_a_url_or_a_base_url_nothing_is_registered(results: list[dict[str, Any]]) -> None:
    missing = results[7]
    assert missing["code"] == 2 and "[api] base_url is not set" in missing["err"]


def test_list_shows_the_webhooks_but_no_secret(results: list[dict[str, Any]], sandbox: TrutoSandbox) -> None:
    listed = results[8]
    assert listed["code"] == 0
    assert all(w.id in listed["out"] for w in sandbox.webhooks)
    assert all(w.secret not in listed["out"] for w in sandbox.webhooks)

"""The token leaks nowhere in a real Airflow run (``airflow dags test``): not in its output, the task
logs streamed into it, the XCom table or anywhere in the metadata DB, against a server that echoes it in
answers, errors and redirects; with a token pasted with a newline and the deprecated extra's warning."""

from __future__ import annotations

import json
import socket
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.support.helpers import (
    ACCOUNT,
    AIRFLOW_VERSION,
    CHANNELS,
    JOIN,
    TEST_DAGS,
    leaking_lines,
    leaks,
    metadata_rows,
    run_dag_test,
    token_leaks,
)
from tests.support.hostile_servers import (
    DEAD,
    HostileServer,
    Request,
    channel,
    json_escaped,
    json_reply,
    reply,
)

pytestmark = pytest.mark.integration
DAG_ID = "truto_hostile_test"


def echoing_truto(token: str) -> Any:
    """A Truto that echoes the token wherever it can: in answers, errors and redirects."""

    def behaviour(request: Request, sock: socket.socket) -> None:
        if request.headers.get("authorization") != f"Bearer {token}":
            json_reply(sock, 401, {"statusCode": 401, "message": "Invalid API token"})
        elif request.method == "GET" and request.path == CHANNELS:
            items = f'[{{"id": "C1", "name": {json_escaped(token)}, "echo": "{token}"}}]'
            reply(sock, 200, f'{{"result": {items}, "next_cursor": null}}')
        elif request.path == JOIN:
            channel_id = request.json()["channel"]["id"]
            if channel_id == "ECHO200":
                reply(
                    sock, 200, f'{{"id": "ECHO200", "name": {json_escaped(token)}, "remote_data": "{token}"}}'
                )
            elif channel_id == "ECHO401":
                reply(sock, 401, f'{{"statusCode": 401, "message": {json_escaped("bad token " + token)}}}')
            elif channel_id == "REDIRECT":
                reply(sock, 302, headers={"Location": f"{DEAD}/steal?token={token}"})
            else:
                json_reply(sock, 200, channel(channel_id))
        else:
            json_reply(sock, 404, {"statusCode": 404, "message": "not here"})

    return behaviour


def test_no_token_in_an_airflow_runs_output_logs_or_xcom(airflow_home: Path) -> None:
    token = f"hostile-{uuid.uuid4().hex}"  # unique: the whole metadata database is searched for it
    with HostileServer(echoing_truto(token)) as server:

        def conn(password: str, **extra: Any) -> str:
            extras = {"integrated_account_id": ACCOUNT, "rate_limit": "off", "max_retries": 0, **extra}
            return json.dumps(
                {"conn_type": "truto", "host": server.url, "password": password, "extra": extras}
            )

        done = run_dag_test(
            airflow_home,
            DAG_ID,
            conn=conn(token),
            dags_folder=TEST_DAGS,
            AIRFLOW_CONN_TRUTO_HOSTILE=conn(token, environment_rate_limit="off"),
            AIRFLOW_CONN_TRUTO_NEWLINE=conn(token + "\n", environment_rate_limit="off"),
        )
    output = done.stdout + done.stderr
    states = dict(
        metadata_rows(airflow_home, DAG_ID, "SELECT task_id, state FROM task_instance WHERE dag_id = ?")
    )
    assert states == {
        "echo_in_answer": "success",
        "echo_in_list": "success",
        "echo_in_error": "failed",
        "redirect": "failed",
        "newline_token": "success",
    }, output[-3000:]
    # ``airflow dags test`` writes no task log files: each task's log is streamed into its output.
    assert "bad token ***" in output and f"{DEAD}/steal?token=***" in output
    assert "the answer held the API token; it was replaced by ***" in output
    assert leaking_lines(airflow_output(output), token) == [] and token_leaks(output, token) == []

    xcoms = dict(metadata_rows(airflow_home, DAG_ID, "SELECT task_id, value FROM xcom WHERE dag_id = ?"))
    assert "***" in str(xcoms["echo_in_answer"]) and "***" in str(xcoms["echo_in_list"])
    assert leaks(repr(xcoms), token) == []
    database = (airflow_home / "airflow.db").read_bytes().decode("latin-1")
    assert leaks(database, token) == []


def airflow_output(output: str) -> str:
    """The output less Airflow 3.0's own debug lines listing the secrets it masks (see ``token_leaks``)."""
    if AIRFLOW_VERSION >= (3, 1):
        return output
    return "\n".join(line for line in output.splitlines() if "MaskSecret(value=" not in line)

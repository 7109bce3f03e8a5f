"""Hostile and broken servers, odd input (issue 10): each behaviour on its own server on 127.0.0.1.

Every test here failed before its fix. The token must never reach a message, a chained cause, a log or a
result; a redirect is an error, never a silent "skipped"; lists, answers and attempts are bounded.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import sqlite3
import traceback
import uuid
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_truto.client import TrutoClient, TrutoConfig
from airflow_provider_truto.exceptions import (
    TrutoAuthError,
    TrutoError,
    TrutoInputError,
    TrutoRedirectError,
)
from airflow_provider_truto.hooks.truto import TrutoHook
from airflow_provider_truto.operators.instant_messaging import JoinChannelOperator
from airflow_provider_truto.testing import TrutoSandbox
from airflow_provider_truto.triggers.truto import TrutoNewChannelsTrigger, error_from_payload
from tests.conftest import ACCOUNT, REPO, TOKEN, connection_json, run_dag_test, token_leaks
from tests.hostile_servers import (
    HostileServer,
    Request,
    channel,
    json_escaped,
    json_reply,
    page,
    reply,
)

CHANNELS = "/unified/instant-messaging/channels"
JOIN = f"{CHANNELS}/join"
DAGS = REPO / "tests" / "dags"
DEAD = "http://127.0.0.1:9"  # the discard port: nothing listens, connections are refused


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
    for link in exception_chain(error):
        shown = f"{link}\n{link!r}\n{link.args!r}\n{vars(link)!r}"
        assert leaks(shown, token) == [], f"{type(link).__name__} in the chain shows the token"


def set_conn(monkeypatch: pytest.MonkeyPatch, host: str, conn_id: str = "hostile", **extra: Any) -> str:
    fields = {
        "conn_type": "truto",
        "host": host,
        "password": extra.pop("password", TOKEN),
        "extra": {
            "integrated_account_id": ACCOUNT,
            "rate_limit": "off",
            "environment_rate_limit": "off",
            "max_retries": 0,
            **extra,
        },
    }
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(fields))
    return conn_id


def client_for(url: str, **overrides: Any) -> TrutoClient:
    settings: dict[str, Any] = {
        "token": TOKEN,
        "base_url": url,
        "integrated_account_id": ACCOUNT,
        "account_rate_limit": None,
        "token_rate_limit": None,
        "max_retries": 0,
        **overrides,
    }
    return TrutoClient(TrutoConfig(**settings), sleep=lambda _seconds: None)


def one_page(request: Request, sock: socket.socket) -> None:
    json_reply(sock, 200, page([channel("C1")], None))


class FakeTI:
    def __init__(self, task_id: str, map_index: int = -1) -> None:
        self.dag_id, self.run_id, self.task_id, self.map_index = "d", "r1", task_id, map_index


class FakeRun:
    dag_id, run_id = "d", "r1"


def task_context(task_id: str, map_index: int = -1) -> dict[str, Any]:
    return {"dag_run": FakeRun(), "ti": FakeTI(task_id, map_index)}


async def trigger_events(
    trigger: TrutoNewChannelsTrigger, count: int, timeout: float
) -> list[dict[str, Any]]:
    payloads: list[dict[str, Any]] = []
    events = trigger.run()
    try:
        async with asyncio.timeout(timeout):
            async for event in events:
                payloads.append(event.payload)
                if len(payloads) >= count:
                    break
    except TimeoutError:
        pass
    finally:
        await events.aclose()
    return payloads


FAST_TRIGGER = {"truto_conn_id": "hostile", "poll_interval": 0.05}


# -- 1. the token never leaks --------------------------------------------------------------------------------


def test_a_token_pasted_with_a_trailing_newline_is_stripped(monkeypatch: pytest.MonkeyPatch) -> None:
    with HostileServer(one_page) as server:
        set_conn(monkeypatch, server.url, password=f"  {TOKEN}\n")
        assert [c["id"] for c in TrutoHook("hostile").list_channels()] == ["C1"]
        assert server.requests[0].headers["authorization"] == f"Bearer {TOKEN}"


@pytest.mark.parametrize("inside", [" ", "\t", "\n", "\x00", "\x7f", "é"])
def test_a_token_with_odd_characters_inside_is_refused_without_showing_it(
    monkeypatch: pytest.MonkeyPatch, inside: str
) -> None:
    head, tail = TOKEN[:10], TOKEN[10:]
    with HostileServer(one_page) as server:
        set_conn(monkeypatch, server.url, password=head + inside + tail)
        with pytest.raises(TrutoInputError) as caught:
            list(TrutoHook("hostile").list_channels())
        assert "password" in caught.value.argument and "paste it again" in str(caught.value)
        for link in exception_chain(caught.value):
            assert head not in f"{link!r}{vars(link)!r}" and tail not in f"{link!r}{vars(link)!r}"
        assert server.requests == []


def test_a_redirect_carrying_the_token_to_a_dead_host_leaks_nothing() -> None:
    def redirect(request: Request, sock: socket.socket) -> None:
        reply(sock, 302, headers={"Location": f"{DEAD}/steal?token={TOKEN}&t2={spellings()[2]}"})

    with (
        HostileServer(redirect) as server,
        client_for(server.url) as client,
        pytest.raises(TrutoRedirectError) as caught,
    ):
        client.unified("instant-messaging", "channels", "list")
    assert_token_free(caught.value)
    assert caught.value.location and caught.value.location.startswith(f"{DEAD}/steal?token=***")
    assert caught.value.status_code == 302 and len(server.requests) == 1


def test_a_token_echoed_as_json_escapes_in_an_error_is_redacted(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)

    def echo(request: Request, sock: socket.socket) -> None:
        escaped = json_escaped(f"bad token {TOKEN}")
        reply(sock, 401, f'{{"message": {escaped}, "raw_response": {{"error": {json_escaped(TOKEN)}}}}}')

    with (
        HostileServer(echo) as server,
        client_for(server.url) as client,
        pytest.raises(TrutoAuthError) as caught,
    ):
        client.unified("instant-messaging", "channels", "list")
    assert "bad token ***" in str(caught.value) and caught.value.remote_error == "***"
    assert_token_free(caught.value)
    assert leaks(caplog.text) == []


def test_a_token_echoed_in_a_successful_answer_never_reaches_the_result(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def echo(request: Request, sock: socket.socket) -> None:
        answer = {"id": "C1", "name": "x", "remote_data": {"echo": "@@", "raw": TOKEN}}
        reply(sock, 200, json.dumps(answer).replace('"@@"', json_escaped(TOKEN)))

    with HostileServer(echo) as server, client_for(server.url) as client:
        answer = client.unified("instant-messaging", "channels", "join", body={"channel": {"id": "C1"}})
    assert answer == {"id": "C1", "name": "x", "remote_data": {"echo": "***", "raw": "***"}}
    assert "held the API token" in caplog.text and leaks(caplog.text) == []


# -- 2. a redirect is an error naming the Location, never a silent skip --------------------------------------


def redirect_to(target: str, status: int = 302) -> Any:
    def behaviour(request: Request, sock: socket.socket) -> None:
        reply(sock, status, headers={"Location": target + request.target})

    return behaviour


def gateway(status: int) -> Any:
    """A gateway that redirects every POST to itself; the GET a client then sends finds no channel.

    Same host and port, so requests would keep the Authorization header while following it, as it does
    from ``http://`` to ``https://`` behind a real gateway.
    """

    def behaviour(request: Request, sock: socket.socket) -> None:
        if request.method == "POST":
            reply(sock, status, headers={"Location": request.target + "&via=gateway"})
        else:
            error = {"statusCode": 404, "message": "channel_not_found", "truto_is_remote_error": True}
            json_reply(sock, 404, {**error, "raw_response": {"ok": False, "error": "channel_not_found"}})

    return behaviour


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirected_batch_join_fails_instead_of_skipping(
    monkeypatch: pytest.MonkeyPatch, status: int
) -> None:
    with HostileServer(gateway(status)) as server:
        set_conn(monkeypatch, server.url)
        operator = JoinChannelOperator(task_id="j", channel_ids=["C1", "C2", "C3"], truto_conn_id="hostile")
        with pytest.raises(TrutoError, match="3 of 3 channels were not joined") as caught:
            operator.execute(task_context("j"))
    assert "redirected" in str(caught.value) and "via=gateway" in str(caught.value)
    # Not followed, and the account failed as a whole: one POST, no GET, the other channels not tried.
    assert [r.method for r in server.requests] == ["POST"]


def test_a_redirected_single_join_names_the_location(
    sandbox: TrutoSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    channel_id = sandbox.add_channel(ACCOUNT, name="c")["id"]
    with HostileServer(redirect_to("https://api.example.test", 301)) as gateway:
        set_conn(monkeypatch, gateway.url)
        with pytest.raises(TrutoRedirectError, match=r"https://api\.example\.test/unified") as caught:
            JoinChannelOperator(task_id="j", channel_id=channel_id, truto_conn_id="hostile").execute(
                task_context("j")
            )
    assert "Base URL" in str(caught.value) and caught.value.status_code == 301


def test_a_redirect_ends_the_trigger_with_an_error_event(monkeypatch: pytest.MonkeyPatch) -> None:
    with HostileServer(redirect_to("https://elsewhere.test")) as gateway:
        set_conn(monkeypatch, gateway.url)
        [payload] = asyncio.run(trigger_events(TrutoNewChannelsTrigger(**FAST_TRIGGER), 2, timeout=2))
    assert payload["status"] == "error" and payload["error_type"] == "TrutoRedirectError"
    assert isinstance(error_from_payload(payload), TrutoRedirectError)
    assert "https://elsewhere.test" in payload["message"] and len(gateway.requests) == 1


# -- 9. every task instance has its own idempotency keys ----------------------------------------------------


def test_two_tasks_joining_one_channel_get_their_own_answers(
    sandbox: TrutoSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_TRUTO_DEFAULT", connection_json(sandbox))
    channel_id = sandbox.add_channel(ACCOUNT, name="shared")["id"]
    unified = JoinChannelOperator(task_id="unified", channel_id=channel_id).execute(task_context("unified"))
    raw = JoinChannelOperator(task_id="raw", channel_id=channel_id, response_format="raw").execute(
        task_context("raw")
    )
    assert unified["id"] == channel_id and "ok" not in unified
    assert raw["ok"] is True and raw["channel"]["id"] == channel_id  # the raw answer, not the cached one
    JoinChannelOperator(task_id="unified", channel_id=channel_id).execute(task_context("unified"))  # a retry
    for index in (0, 1):
        JoinChannelOperator(task_id="mapped", channel_id=channel_id).execute(task_context("mapped", index))
    keys = [r.headers["idempotency-key"] for r in sandbox.requests if r.path == JOIN]
    assert keys[0] == keys[2]  # the same task instance, again: the same key
    assert len({keys[0], keys[1], keys[3], keys[4]}) == 4  # other tasks, other map indexes: their own


# -- 1. the token leaks nowhere in a real Airflow run, nor in the trigger's log ------------------------------


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


@pytest.mark.integration
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
            "truto_hostile_test",
            conn=conn(token),
            dags_folder=DAGS,
            AIRFLOW_CONN_TRUTO_HOSTILE=conn(token, token_rate_limit="off"),
            AIRFLOW_CONN_TRUTO_NEWLINE=conn(token + "\n", environment_rate_limit="off"),
        )
    output = done.stdout + done.stderr
    states = dict(metadata_rows(airflow_home, "SELECT task_id, state FROM task_instance WHERE dag_id = ?"))
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
    assert leaks(output, token) == [] and token_leaks(output, token) == []

    xcoms = dict(metadata_rows(airflow_home, "SELECT task_id, value FROM xcom WHERE dag_id = ?"))
    assert "***" in str(xcoms["echo_in_answer"]) and "***" in str(xcoms["echo_in_list"])
    assert leaks(repr(xcoms), token) == []
    database = (airflow_home / "airflow.db").read_bytes().decode("latin-1")
    assert leaks(database, token) == []

    # The deprecated extra: one warning line per hook that read it (four tasks on truto_hostile).
    assert output.count("the extra 'token_rate_limit' is deprecated") == 4


def metadata_rows(airflow_home: Path, query: str) -> list[tuple[Any, ...]]:
    with closing(sqlite3.connect(airflow_home / "airflow.db")) as db:
        run_id = db.execute(
            "SELECT run_id FROM dag_run WHERE dag_id = ? ORDER BY id DESC LIMIT 1", ("truto_hostile_test",)
        ).fetchone()[0]
        return db.execute(f"{query} AND run_id = ?", ("truto_hostile_test", run_id)).fetchall()


def test_no_token_in_the_triggers_log(
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    """The trigger's poll failures are logged on every poll: a retried 500 echoing the token, a redirect."""
    calls = []

    def flaky(request: Request, sock: socket.socket) -> None:
        calls.append(request)
        if len(calls) <= 3:  # transient, logged and polled again
            reply(sock, 500, f'{{"statusCode": 500, "message": {json_escaped("boom " + TOKEN)}}}')
        else:  # permanent: the error event ends the trigger
            reply(sock, 302, headers={"Location": f"{DEAD}/?t={TOKEN}"})

    logging.getLogger().setLevel(logging.DEBUG)
    with HostileServer(flaky) as server:
        set_conn(monkeypatch, server.url, password=TOKEN + "\n")
        payloads = asyncio.run(trigger_events(TrutoNewChannelsTrigger(**FAST_TRIGGER), 1, timeout=10))
    logged = "".join(capfd.readouterr())
    assert leaks(logged) == [] and leaks(json.dumps(payloads)) == []
    assert logged.count("polling again later") == 3 and "boom ***" in logged
    [payload] = payloads
    assert payload["error_type"] == "TrutoRedirectError" and f"{DEAD}/?t=***" in payload["message"]

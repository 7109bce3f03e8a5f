"""Hostile and broken servers, odd input (issue 10): each behaviour on its own server on 127.0.0.1.

Every test here failed before its fix. The token must never reach a message, a chained cause, a log or a
result; a redirect is an error, never a silent "skipped"; lists, answers and attempts are bounded.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import re
import socket
import sqlite3
import tempfile
import time
import traceback
import tracemalloc
import uuid
from collections.abc import Iterator
from contextlib import closing
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_truto.client import (
    DEFAULT_MAX_RESPONSE_MB,
    DEFAULT_PAGE_CAP,
    TrutoClient,
    TrutoConfig,
    parse_retry_after,
)
from airflow_provider_truto.exceptions import (
    TrutoAuthError,
    TrutoConnectionError,
    TrutoError,
    TrutoInputError,
    TrutoInvalidResponseError,
    TrutoNotFoundError,
    TrutoRedirectError,
    error_from_payload,
)
from airflow_provider_truto.hooks.truto import TrutoHook
from airflow_provider_truto.operators.instant_messaging import JoinChannelOperator
from airflow_provider_truto.retry import BACKOFF_BASE_SECONDS
from airflow_provider_truto.sensors.truto import TrutoNewChannelsSensor
from airflow_provider_truto.testing import TrutoSandbox
from airflow_provider_truto.triggers.truto import TrutoNewChannelsTrigger
from tests.conftest import ACCOUNT, AIRFLOW_VERSION, REPO, TOKEN, connection_json, run_dag_test, token_leaks
from tests.hostile_servers import (
    HostileServer,
    Request,
    channel,
    head,
    json_escaped,
    json_reply,
    page,
    reply,
    stream_body,
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


@pytest.mark.parametrize(
    "extra", [{"timeout": "soon"}, {"rate_limit": "none"}, {"integrated_account_id": None}], ids=str
)
def test_no_frame_of_an_escaping_error_shows_the_token(monkeypatch: pytest.MonkeyPatch, extra: Any) -> None:
    """Errors raised while the connection is read, or while an echoing answer is decoded."""
    set_conn(monkeypatch, "http://127.0.0.1:9", password=f"{TOKEN}\n", **extra)
    with pytest.raises(TrutoError) as caught:
        TrutoHook("hostile").get_channel("C1")
    assert_token_free(caught.value)

    def echo(request: Request, sock: socket.socket) -> None:
        reply(sock, 200, f"not json, but the token: {TOKEN} {json_escaped(TOKEN)}")

    with HostileServer(echo) as server:
        set_conn(monkeypatch, server.url, password=TOKEN)
        with pytest.raises(TrutoInvalidResponseError) as caught:
            TrutoHook("hostile").get_channel("C1")
    assert_token_free(caught.value)


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
    assert leaking_lines(airflow_output(output), token) == [] and token_leaks(output, token) == []

    xcoms = dict(metadata_rows(airflow_home, "SELECT task_id, value FROM xcom WHERE dag_id = ?"))
    assert "***" in str(xcoms["echo_in_answer"]) and "***" in str(xcoms["echo_in_list"])
    assert leaks(repr(xcoms), token) == []
    database = (airflow_home / "airflow.db").read_bytes().decode("latin-1")
    assert leaks(database, token) == []

    # The deprecated extra: one warning per hook that read it (four tasks on truto_hostile). Airflow 3.0
    # prints each task log record twice (two handlers, two time formats): count records by their time.
    warned = [line for line in output.splitlines() if "the extra 'token_rate_limit' is deprecated" in line]
    times = {re.sub(r"\D", "", re.findall(r"\d\d:\d\d:\d\d[.,]\d{3}", line)[0]) for line in warned}
    assert len(times) == 4
    assert len(warned) == 4 * (2 if AIRFLOW_VERSION < (3, 1) else 1)


def airflow_output(output: str) -> str:
    """The output less Airflow 3.0's own debug lines listing the secrets it masks (see ``token_leaks``)."""
    if AIRFLOW_VERSION >= (3, 1):
        return output
    return "\n".join(line for line in output.splitlines() if "MaskSecret(value=" not in line)


def metadata_rows(airflow_home: Path, query: str) -> list[tuple[Any, ...]]:
    with closing(sqlite3.connect(airflow_home / "airflow.db")) as db:
        run_id = db.execute(
            "SELECT run_id FROM dag_run WHERE dag_id = ? ORDER BY id DESC LIMIT 1", ("truto_hostile_test",)
        ).fetchone()[0]
        return db.execute(f"{query} AND run_id = ?", ("truto_hostile_test", run_id)).fetchall()


def test_no_token_in_the_triggers_log(
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    """The trigger's poll failures are logged on every poll: a retried 500 echoing the token, a redirect."""
    calls = []

    def flaky(request: Request, sock: socket.socket) -> None:
        calls.append(request)
        if len(calls) <= 3:  # transient, logged and polled again
            reply(sock, 500, f'{{"statusCode": 500, "message": {json_escaped("boom " + TOKEN)}}}')
        else:  # permanent: the error event ends the trigger
            reply(sock, 302, headers={"Location": f"{DEAD}/?t={TOKEN}"})

    with HostileServer(flaky) as server:
        set_conn(monkeypatch, server.url, password=TOKEN + "\n")
        caplog.set_level(logging.INFO)  # Airflow's default level (a library's DEBUG trace shows raw headers)
        payloads = asyncio.run(trigger_events(TrutoNewChannelsTrigger(**FAST_TRIGGER), 1, timeout=10))
    printed, recorded = "".join(capfd.readouterr()), caplog.text  # structlog (3.1+) or logging (3.0)
    assert (
        leaking_lines(printed) == [] and leaking_lines(recorded) == [] and leaks(json.dumps(payloads)) == []
    )
    logged = printed if "polling again later" in printed else recorded
    assert logged.count("polling again later") == 3 and "boom ***" in logged
    [payload] = payloads
    assert payload["error_type"] == "TrutoRedirectError" and f"{DEAD}/?t=***" in payload["message"]


# -- 3. a list that never ends is cut at the page cap -------------------------------------------------------

GIVE_UP_AFTER = 300  # the endless server's own backstop, so a client without a cap fails instead of hanging


def endless_list(cursor_of: Any = lambda n: f"cursor-{n}") -> Any:
    """A channel list whose every page names a new next cursor (a fault upstream)."""
    served = [0]

    def behaviour(request: Request, sock: socket.socket) -> None:
        served[0] += 1
        if served[0] > GIVE_UP_AFTER:
            json_reply(sock, 400, {"statusCode": 400, "message": "the endless server gave up"})
        else:
            json_reply(sock, 200, page([channel(f"C{served[0]}")], cursor_of(served[0])))

    return behaviour


def test_an_endless_list_stops_at_the_page_cap() -> None:
    with HostileServer(endless_list()) as server, client_for(server.url, page_cap=25) as client:
        with pytest.raises(TrutoInvalidResponseError, match="after 25 pages, the connection's page_cap"):
            list(client.paginate_unified("instant-messaging", "channels"))
        assert len(server.requests) == 25


def test_the_page_cap_is_a_connection_extra_with_a_generous_default(monkeypatch: pytest.MonkeyPatch) -> None:
    assert TrutoConfig(token=TOKEN).page_cap == DEFAULT_PAGE_CAP == 10_000
    with HostileServer(endless_list()) as server:
        set_conn(monkeypatch, server.url, page_cap=30)
        hook = TrutoHook("hostile")
        assert hook.config.page_cap == 30
        with pytest.raises(TrutoInvalidResponseError, match="page_cap"):
            list(hook.list_channels())
        assert len(server.requests) == 30


def test_an_endless_list_fails_the_sensors_poke(monkeypatch: pytest.MonkeyPatch) -> None:
    with HostileServer(endless_list()) as server:
        set_conn(monkeypatch, server.url, page_cap=20)
        sensor = TrutoNewChannelsSensor(task_id="s", truto_conn_id="hostile")
        with pytest.raises(TrutoInvalidResponseError, match="page_cap"):
            sensor.poke({})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("cursor_of", "match"),
    [
        (lambda n: f"cursor-{n}", "after 20 pages"),
        (lambda n: {"after": n}, "next_cursor that is dict"),
        (lambda n: 7, "next_cursor that is int"),
    ],
)
def test_an_endless_list_or_a_cursor_not_text_ends_the_trigger_with_an_error_event(
    monkeypatch: pytest.MonkeyPatch, cursor_of: Any, match: str
) -> None:
    with HostileServer(endless_list(cursor_of)) as server:
        set_conn(monkeypatch, server.url, page_cap=20)
        payloads = asyncio.run(trigger_events(TrutoNewChannelsTrigger(**FAST_TRIGGER), 2, timeout=5))
    [payload] = payloads
    assert payload["error_type"] == "TrutoInvalidResponseError" and match in payload["message"]


def test_a_cursor_that_is_not_text_is_an_invalid_answer() -> None:
    with (
        HostileServer(endless_list(lambda n: {"after": n})) as server,
        client_for(server.url) as client,
        pytest.raises(TrutoInvalidResponseError, match="next_cursor that is dict"),
    ):
        list(client.paginate_unified("instant-messaging", "channels"))


# -- 5. no argument reaches another path ---------------------------------------------------------------------


def test_dot_segments_are_refused_and_every_segment_is_quoted(monkeypatch: pytest.MonkeyPatch) -> None:
    def account(request: Request, sock: socket.socket) -> None:
        json_reply(sock, 200, {"id": "acct", "status": "active"})

    with HostileServer(account) as server:
        set_conn(monkeypatch, server.url)
        hook = TrutoHook("hostile")
        for bad in (".", ".."):
            with pytest.raises(TrutoInputError) as caught:
                hook.get_channel(bad)
            assert caught.value.argument == "channel_id"
            with pytest.raises(TrutoInputError) as caught:
                hook.unified("..", "channels")
            assert caught.value.argument == "model"
            with pytest.raises(TrutoInputError) as caught:
                hook.unified("instant-messaging", "channels", "get", resource_id=bad)
            assert caught.value.argument == "resource_id"
            with pytest.raises(TrutoInputError) as caught:
                hook.get_integrated_account(bad)
            assert caught.value.argument == "integrated_account_id"
        assert server.requests == []
        hook.get_integrated_account("acct?x=1#y")
        hook.get_integrated_account("../unified/instant-messaging/channels")
    assert [r.target for r in server.requests] == [
        "/integrated-account/acct%3Fx%3D1%23y",
        "/integrated-account/..%2Funified%2Finstant-messaging%2Fchannels",
    ]


# -- 7. a deadline for the whole answer, a cap on its size ---------------------------------------------------


def trickle_body(request: Request, sock: socket.socket) -> None:
    """A 200 that announces 400 bytes, then sends one every 25 ms (10 s in all)."""
    sock.sendall(head(200, {"Content-Type": "application/json"}, length=400))
    for _ in range(400):
        sock.sendall(b" ")
        time.sleep(0.025)


def trickle_headers(request: Request, sock: socket.socket) -> None:
    """The status line, then headers one byte every 25 ms (10 s in all)."""
    sock.sendall(b"HTTP/1.1 200 OK\r\n")
    for char in "X-Slow: " + "y" * 400:
        sock.sendall(char.encode())
        time.sleep(0.025)


@pytest.mark.parametrize("behaviour", [trickle_body, trickle_headers])
def test_a_trickling_server_is_cut_off_at_the_deadline(behaviour: Any) -> None:
    with HostileServer(behaviour) as server, client_for(server.url, timeout=1.0) as client:
        started = time.monotonic()
        with pytest.raises(TrutoConnectionError, match="no complete answer within 1s") as caught:
            client.unified("instant-messaging", "channels", "list")
        elapsed = time.monotonic() - started
    assert 0.9 <= elapsed < 1.8, elapsed  # the deadline, plus the watchdog's reaction: not 10 s
    assert_token_free(caught.value)


def test_the_trigger_cuts_a_trickling_server_off_and_polls_again(
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    with HostileServer(trickle_body) as server:
        set_conn(monkeypatch, server.url, timeout=0.5)
        assert asyncio.run(trigger_events(TrutoNewChannelsTrigger(**FAST_TRIGGER), 1, timeout=2.5)) == []
    logged = "".join(capfd.readouterr())
    # Each poll gives up after 0.5 s and the next one starts: several in 2.5 s, not one 10 s read.
    assert logged.count("no complete answer within 0.5s") >= 3
    assert len(server.requests) >= 3


def flood(total: int, *, announce: bool) -> Any:
    def behaviour(request: Request, sock: socket.socket) -> None:
        stream_body(servers[-1], sock, total=total, length=total if announce else None)

    servers: list[HostileServer] = []
    return behaviour, servers


@pytest.mark.parametrize("announce", [True, False])
def test_a_huge_answer_is_refused_while_it_streams(announce: bool) -> None:
    behaviour, holder = flood(100_000_000, announce=announce)
    with HostileServer(behaviour) as server:
        holder.append(server)
        with client_for(server.url, max_response_bytes=1_000_000) as client:
            tracemalloc.start()
            try:
                with pytest.raises(TrutoInvalidResponseError, match="over the cap of 1 MB") as caught:
                    client.unified("instant-messaging", "channels", "list")
                _, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
    assert "max_response_mb" in str(caught.value)
    assert peak < 8_000_000, peak  # a few times the cap, not the 100 MB sent
    assert server.sent[-1] < 40_000_000  # the client hung up early (kernel buffers hold a few MB)
    if announce:
        assert "answered 100000000 bytes" in str(caught.value)


def test_the_size_cap_is_a_connection_extra_with_a_generous_default(monkeypatch: pytest.MonkeyPatch) -> None:
    assert TrutoConfig(token=TOKEN).max_response_bytes == DEFAULT_MAX_RESPONSE_MB * 1e6 == 50_000_000
    set_conn(monkeypatch, "http://127.0.0.1:9", max_response_mb="2.5", timeout="")
    config = TrutoHook("hostile").config
    assert config.max_response_bytes == 2_500_000 and config.timeout == 30.0


def test_the_trigger_refuses_a_huge_answer_with_an_error_event(monkeypatch: pytest.MonkeyPatch) -> None:
    behaviour, holder = flood(20_000_000, announce=False)
    with HostileServer(behaviour) as server:
        holder.append(server)
        set_conn(monkeypatch, server.url, max_response_mb=1)
        [payload] = asyncio.run(trigger_events(TrutoNewChannelsTrigger(**FAST_TRIGGER), 2, timeout=5))
    assert (
        payload["error_type"] == "TrutoInvalidResponseError" and "over the cap of 1 MB" in payload["message"]
    )


# -- 8. every failure of a poll is a retry or an error event, never an escaped exception ---------------------


def test_a_page_of_non_objects_is_an_error_event(monkeypatch: pytest.MonkeyPatch) -> None:
    def junk(request: Request, sock: socket.socket) -> None:
        json_reply(sock, 200, page([channel("C1"), "C2", 3, None], None))

    with HostileServer(junk) as server:
        set_conn(monkeypatch, server.url)
        [payload] = asyncio.run(trigger_events(TrutoNewChannelsTrigger(**FAST_TRIGGER), 2, timeout=3))
    assert payload["error_type"] == "TrutoInvalidResponseError" and "holding str" in payload["message"]


def test_an_unusable_rate_limit_directory_is_an_error_event(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    not_a_directory = tmp_path / "file"
    not_a_directory.write_text("")
    monkeypatch.setenv("TRUTO_RATE_LIMIT_DIR", str(not_a_directory / "sub"))
    # The user's own directory, where pacing falls back to, is unusable too.
    monkeypatch.setattr(tempfile, "tempdir", str(not_a_directory / "tmp"))
    with HostileServer(one_page) as server:
        set_conn(monkeypatch, server.url, rate_limit="5/1", environment_rate_limit="5/1")
        [payload] = asyncio.run(trigger_events(TrutoNewChannelsTrigger(**FAST_TRIGGER), 2, timeout=3))
    assert payload["status"] == "error" and "TRUTO_RATE_LIMIT_DIR" in payload["message"]
    assert server.requests == []


@pytest.mark.parametrize("argument", ["poll_interval", "lookback_seconds"])
@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_a_nan_or_infinite_interval_is_refused(argument: str, value: float) -> None:
    with pytest.raises(TrutoInputError) as caught:
        TrutoNewChannelsTrigger(**{argument: value})
    assert caught.value.argument == argument


# -- 10. odd input: a clear TrutoInputError, or the documented behaviour ------------------------------------


@pytest.mark.parametrize(
    ("extra", "argument"),
    [
        ({"timeout": "nan"}, "timeout"),
        ({"timeout": "inf"}, "timeout"),
        ({"timeout": 1e400}, "timeout"),
        ({"max_retries": "nan"}, "max_retries"),
        ({"max_retries": "inf"}, "max_retries"),
        ({"max_retries": 2.5}, "max_retries"),
        ({"page_cap": 0}, "page_cap"),
        ({"max_response_mb": "nan"}, "max_response_mb"),
    ],
)
def test_nan_or_infinite_numbers_in_the_connection_are_named(
    monkeypatch: pytest.MonkeyPatch, extra: dict[str, Any], argument: str
) -> None:
    set_conn(monkeypatch, "http://127.0.0.1:9", **extra)
    with pytest.raises(TrutoInputError) as caught:
        _ = TrutoHook("hostile").config
    assert caught.value.argument == f"connection 'hostile': {argument}"


@pytest.mark.parametrize(
    ("settings", "argument"),
    [
        ({"timeout": math.nan}, "timeout"),
        ({"timeout": math.inf}, "timeout"),
        ({"max_retries": math.inf}, "max_retries"),
        ({"max_retry_wait": math.nan}, "max_retry_wait"),
        ({"page_cap": 0}, "page_cap"),
    ],
)
def test_nan_or_infinite_numbers_in_the_config_are_named(settings: dict[str, Any], argument: str) -> None:
    with pytest.raises(TrutoInputError) as caught:
        TrutoConfig(token=TOKEN, **settings)
    assert caught.value.argument == argument


@pytest.mark.parametrize(
    "host", ["http://", "https://", "ftp://truto.example", "file:///etc/passwd", "http:///x"]
)
def test_a_base_url_without_host_or_of_another_scheme_is_named(
    monkeypatch: pytest.MonkeyPatch, host: str
) -> None:
    set_conn(monkeypatch, host)
    with pytest.raises(TrutoInputError) as caught:
        _ = TrutoHook("hostile").config
    assert caught.value.argument == "connection 'hostile': host"
    with pytest.raises(TrutoInputError) as caught:
        TrutoConfig(token=TOKEN, base_url=host)
    assert caught.value.argument == "base_url"


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"remote_data": {"when": datetime(2026, 1, 1)}}, "remote_data"),
        ({"remote_data": {"ids": {1, 2}}}, "remote_data"),
        ({"remote_data": {"ratio": math.nan}}, "remote_data"),
        ({"remote_query": {"filter": [{"a": 1}]}}, "remote_query"),
        ({"remote_query": {"ids": [[1, 2]]}}, "remote_query"),
    ],
)
def test_remote_data_and_remote_query_truto_cannot_carry_are_named(
    monkeypatch: pytest.MonkeyPatch, kwargs: dict[str, Any], argument: str
) -> None:
    with HostileServer(one_page) as server:
        set_conn(monkeypatch, server.url)
        with pytest.raises(TrutoInputError) as caught:
            TrutoHook("hostile").join_channel("C1", **kwargs)
        assert caught.value.argument == argument and server.requests == []


@pytest.mark.parametrize("retry_after", ["NaN", "-5", "inf", "-inf"])
def test_an_unreadable_retry_after_falls_back_to_the_backoff(retry_after: str) -> None:
    answers = iter([429, 200])

    def limited(request: Request, sock: socket.socket) -> None:
        if next(answers) == 429:
            json_reply(sock, 429, {"statusCode": 429, "message": "slow down"}, {"Retry-After": retry_after})
        else:
            one_page(request, sock)

    waits: list[float] = []
    with HostileServer(limited) as server:
        config = TrutoConfig(
            token=TOKEN, base_url=server.url, integrated_account_id=ACCOUNT, max_retries=1,
            account_rate_limit=None, token_rate_limit=None,
        )  # fmt: skip
        with TrutoClient(config, sleep=waits.append) as client:
            client.unified("instant-messaging", "channels", "list")
    [wait] = waits
    assert BACKOFF_BASE_SECONDS / 2 <= wait <= BACKOFF_BASE_SECONDS  # the first backoff step, not 0
    assert parse_retry_after(retry_after) is None


def test_a_connection_missing_on_the_triggerer_is_reported_as_missing() -> None:
    [payload] = asyncio.run(
        trigger_events(TrutoNewChannelsTrigger(truto_conn_id="no_such_conn"), 1, timeout=5)
    )
    assert payload["status_code"] is None
    sensor = TrutoNewChannelsSensor(task_id="s", truto_conn_id="no_such_conn", deferrable=True)
    with pytest.raises(TrutoInputError) as caught:
        sensor.execute_complete({}, payload)  # type: ignore[arg-type]
    assert caught.value.argument == "truto_conn_id" and "no_such_conn" in str(caught.value)
    assert "missing" in str(caught.value) and not isinstance(caught.value, TrutoNotFoundError)

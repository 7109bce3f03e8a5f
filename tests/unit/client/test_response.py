"""Answers decoded the same way by both transports (airflow_provider_truto/answers.py).

Each test runs through the sync client (requests), then the async one (httpx): the ``unified`` fixture.
Truto's error body, redirects refused, the token redacted before and after decoding, the size cap.
Misbehaving servers are real servers on 127.0.0.1 (tests/support/hostile_servers.py) or the sandbox.
"""

from __future__ import annotations

import json
import logging
import socket
import tracemalloc
from collections.abc import Callable
from typing import Any

import pytest

from airflow_provider_truto.client.response import parse_retry_after
from airflow_provider_truto.exceptions import (
    TrutoAuthError,
    TrutoBadRequestError,
    TrutoInvalidResponseError,
    TrutoRedirectError,
)
from airflow_provider_truto.testing import Fault, TrutoSandbox
from tests.support.helpers import (
    ACCOUNT,
    CHANNELS,
    TOKEN,
    assert_token_free,
    leaks,
    spellings,
)
from tests.support.hostile_servers import (
    DEAD,
    HostileServer,
    Request,
    deeply_nested,
    flood,
    json_escaped,
    reply,
)

Call = Callable[..., Any]


def test_a_body_that_is_not_json_is_a_typed_error(sandbox: TrutoSandbox, unified: Call) -> None:
    sandbox.inject("GET", CHANNELS, Fault.bad_json())
    with pytest.raises(TrutoInvalidResponseError) as caught:
        unified(sandbox.url, "instant-messaging", "channels", "list")
    assert caught.value.status_code == 200 and "oops" in (caught.value.body or "")


def test_truto_error_body_is_kept(sandbox: TrutoSandbox, unified: Call) -> None:
    archived = sandbox.add_channel(ACCOUNT, status="archived")["id"]
    with pytest.raises(TrutoBadRequestError) as caught:
        unified(sandbox.url, "instant-messaging", "channels", "join", body={"channel": {"id": archived}})
    error = caught.value
    assert error.status_code == 422 and error.remote_error == "is_archived" and error.is_remote_error
    assert error.message and "is_archived" in (error.body or "")


def test_bad_token_is_an_auth_error_without_the_token(
    sandbox: TrutoSandbox, unified: Call, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "wrong-token-abcdef"
    with pytest.raises(TrutoAuthError) as caught:
        unified(sandbox.url, "instant-messaging", "channels", "list", settings={"token": wrong})
    assert caught.value.status_code == 401
    assert wrong not in str(caught.value) and wrong not in repr(caught.value.__dict__)
    assert wrong not in caplog.text


def test_parse_retry_after() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("1.5") == 1.5
    assert parse_retry_after("garbage") is None
    assert parse_retry_after(None) is None


def test_a_redirect_carrying_the_token_to_a_dead_host_leaks_nothing(unified: Call) -> None:
    def redirect(request: Request, sock: socket.socket) -> None:
        reply(sock, 302, headers={"Location": f"{DEAD}/steal?token={TOKEN}&t2={spellings()[2]}"})

    with HostileServer(redirect) as server, pytest.raises(TrutoRedirectError) as caught:
        unified(server.url, "instant-messaging", "channels", "list")
    assert_token_free(caught.value)
    assert caught.value.location and caught.value.location.startswith(f"{DEAD}/steal?token=***")
    assert caught.value.status_code == 302 and len(server.requests) == 1


def test_a_token_echoed_as_json_escapes_in_an_error_is_redacted(
    unified: Call, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    def echo(request: Request, sock: socket.socket) -> None:
        escaped = json_escaped(f"bad token {TOKEN}")
        reply(sock, 401, f'{{"message": {escaped}, "raw_response": {{"error": {json_escaped(TOKEN)}}}}}')

    with HostileServer(echo) as server, pytest.raises(TrutoAuthError) as caught:
        unified(server.url, "instant-messaging", "channels", "list")
    assert "bad token ***" in str(caught.value) and caught.value.remote_error == "***"
    assert_token_free(caught.value)
    assert leaks(caplog.text) == []


def test_a_token_echoed_in_a_successful_answer_never_reaches_the_result(
    unified: Call, caplog: pytest.LogCaptureFixture
) -> None:
    def echo(request: Request, sock: socket.socket) -> None:
        answer = {"id": "C1", "name": "x", "remote_data": {"echo": "@@", "raw": TOKEN}}
        reply(sock, 200, json.dumps(answer).replace('"@@"', json_escaped(TOKEN)))

    with HostileServer(echo) as server:
        answer = unified(server.url, "instant-messaging", "channels", "join", body={"channel": {"id": "C1"}})
    assert answer == {"id": "C1", "name": "x", "remote_data": {"echo": "***", "raw": "***"}}
    assert "held the API token" in caplog.text and leaks(caplog.text) == []


@pytest.mark.parametrize("announce", [True, False])
def test_a_huge_answer_is_refused_while_it_streams(unified: Call, announce: bool) -> None:
    behaviour, holder = flood(100_000_000, announce=announce)
    with HostileServer(behaviour) as server:
        holder.append(server)
        tracemalloc.start()
        try:
            with pytest.raises(TrutoInvalidResponseError, match="over the cap of 1 MB") as caught:
                unified(
                    server.url,
                    "instant-messaging",
                    "channels",
                    "list",
                    settings={"max_response_bytes": 1_000_000},
                )
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert "max_response_mb" in str(caught.value)
    assert peak < 8_000_000, peak  # a few times the cap, not the 100 MB sent
    assert server.sent[-1] < 40_000_000  # the client hung up early (kernel buffers hold a few MB)
    if announce:
        assert "answered 100000000 bytes" in str(caught.value)


# -- answers the provider cannot read are typed ----------------------------------------------------------


def test_deeply_nested_json_is_an_invalid_response(unified: Call) -> None:
    def deep(request: Request, sock: socket.socket) -> None:
        reply(sock, 200, deeply_nested())

    with HostileServer(deep) as server, pytest.raises(TrutoInvalidResponseError) as caught:
        unified(server.url, "instant-messaging", "channels", "join", body={"channel": {"id": "C1"}})
    assert "nested too deeply to read" in str(caught.value) and len(server.requests) == 1


def test_a_deeply_nested_error_body_still_gives_the_statuss_error(unified: Call) -> None:
    def deep(request: Request, sock: socket.socket) -> None:
        reply(sock, 400, '{"message": ' + "[" * 100_000 + "]" * 100_000 + "}")

    with HostileServer(deep) as server, pytest.raises(TrutoBadRequestError):
        unified(server.url, "instant-messaging", "channels", "list")


@pytest.mark.parametrize("charset", ["undefined", "idna", "punycode", "no-such-charset", '"utf-8"'])
def test_a_charset_that_cannot_decode_is_read_as_utf_8(unified: Call, charset: str) -> None:
    """JSON is UTF-8: a charset that names no usable text encoding (a UnicodeError of its own for
    undefined, idna and punycode) is read as UTF-8, a byte order mark dropped."""
    body = "\ufeff" + json.dumps({"result": [{"id": "C1", "name": "café ☕"}], "next_cursor": None})

    def odd(request: Request, sock: socket.socket) -> None:
        reply(sock, 200, body.encode(), {"Content-Type": f"application/json; charset={charset}"})

    with HostileServer(odd) as server:
        answer = unified(server.url, "instant-messaging", "channels", "list")
    assert answer["result"] == [{"id": "C1", "name": "café ☕"}]

"""Requests as they go on the wire (airflow_provider_truto/wire.py): every argument checked and named
before anything is sent, path segments quoted, bodies strict JSON, one Idempotency-Key per write."""

from __future__ import annotations

import math
import socket
import uuid
from datetime import datetime
from typing import Any

import pytest

from airflow_provider_truto.client.request import USER_AGENT, ApiCall, default_headers
from airflow_provider_truto.exceptions import TrutoInputError
from airflow_provider_truto.hooks.truto import TrutoHook
from tests.support.helpers import (
    hostile_connection,
)
from tests.support.hostile_servers import (
    HostileServer,
    Request,
    json_reply,
    one_page,
)


def test_dot_segments_are_refused_and_every_segment_is_quoted(monkeypatch: pytest.MonkeyPatch) -> None:
    def account(request: Request, sock: socket.socket) -> None:
        json_reply(sock, 200, {"id": "acct", "status": "active"})

    with HostileServer(account) as server:
        hostile_connection(monkeypatch, server.url)
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
        hostile_connection(monkeypatch, server.url)
        with pytest.raises(TrutoInputError) as caught:
            TrutoHook("hostile").join_channel("C1", **kwargs)
        assert caught.value.argument == argument and server.requests == []


def test_a_write_gets_one_key_a_read_none() -> None:
    write = ApiCall("post", "/x", body={"a": 1}).prepare("https://t.test")
    assert (write.method, write.url, write.body) == ("POST", "https://t.test/x", b'{"a":1}')
    assert write.headers["Content-Type"] == "application/json"
    uuid.UUID(write.headers["Idempotency-Key"])  # made once, here: every try sends this request as it is
    assert ApiCall("PATCH", "/x", idempotency_key="k").prepare("").headers["Idempotency-Key"] == "k"
    assert ApiCall("GET", "/x").prepare("https://t.test").headers == {}


def test_the_query_the_account_and_the_name_of_a_call() -> None:
    prepared = ApiCall(
        "GET", "/unified/a/b", query={"integrated_account_id": "acct", "x": [1, 2], "skip": None}
    ).prepare("https://t.test/base")
    assert prepared.params == [("integrated_account_id", "acct"), ("x[]", "1"), ("x[]", "2")]
    assert prepared.account == "acct" and prepared.call == "GET /base/unified/a/b"


def test_every_call_carries_the_token_and_says_who_it_is() -> None:
    assert default_headers("tok") == {
        "Authorization": "Bearer tok",
        "Accept": "application/json",
        "Accept-Encoding": "gzip, deflate",  # what the client undoes itself, under its size cap
        "User-Agent": USER_AGENT,
    }


@pytest.mark.parametrize(
    "key",
    ["run-1\r\nX-Injected: yes", "run-1\n", "ключ-1", "run-\u00e9", "run\x00", " padded ", "   "],
    ids=["crlf", "lf", "cyrillic", "latin-1", "nul", "padded", "blank"],
)
def test_an_idempotency_key_no_header_can_carry_is_named_before_any_request(unified: Any, key: str) -> None:
    """Once, a CR/LF in the key was retried three times as a network fault, and a non-Latin-1 key raised
    a raw UnicodeEncodeError from the HTTP library."""
    with HostileServer(one_page) as server, pytest.raises(TrutoInputError) as caught:
        unified(
            server.url,
            "instant-messaging",
            "channels",
            "join",
            body={"channel": {"id": "C1"}},
            idempotency_key=key,
            settings={"max_retries": 3},
        )
    assert caught.value.argument == "idempotency_key" and server.requests == []


def test_a_printable_idempotency_key_is_sent_as_given(unified: Any) -> None:
    with HostileServer(one_page) as server:
        unified(
            server.url,
            "instant-messaging",
            "channels",
            "join",
            body={"channel": {"id": "C1"}},
            idempotency_key="run 1|join:C1~x",
        )
    assert server.requests[0].headers["idempotency-key"] == "run 1|join:C1~x"

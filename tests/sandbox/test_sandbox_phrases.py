"""The sandbox names statuses as Truto does, whatever Python serves it: Python's own phrases changed in
3.13 (422 "Unprocessable Content", 413 "Content Too Large", 414 "URI Too Long", 416 "Range Not
Satisfiable"), Truto's did not. Checked over a raw socket: the error body's ``error`` and the status line."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from airflow_provider_truto.testing import TrutoSandbox
from airflow_provider_truto.testing.phrases import PHRASES

TOKEN = "sandbox-token"
ACCOUNTS = "/integrated-account"
# Written out here, not read from the sandbox's table: what a client of Truto sees.
TRUTO_NAMES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Request Entity Too Large",
    414: "Request-URI Too Long",
    416: "Requested Range Not Satisfiable",
    422: "Unprocessable Entity",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


@pytest.fixture
def sb() -> Iterator[TrutoSandbox]:
    with TrutoSandbox(TOKEN) as sandbox:
        yield sandbox


def _ask(
    sandbox: TrutoSandbox, method: str = "GET", path: str = ACCOUNTS
) -> tuple[int, str, dict[str, object]]:
    """Status, status-line reason and JSON body of one request on a connection of its own."""
    url = urlsplit(sandbox.url)
    conn = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=5)
    try:
        conn.request(method, path, headers={"Authorization": f"Bearer {TOKEN}"})
        response = conn.getresponse()
        return response.status, response.reason, json.loads(response.read())
    finally:
        conn.close()


@pytest.mark.parametrize(("status", "name"), sorted(TRUTO_NAMES.items()))
def test_an_error_is_named_as_truto_names_it_in_the_body_and_the_status_line(
    sb: TrutoSandbox, status: int, name: str
) -> None:
    sb.inject("GET", ACCOUNTS, status)
    body = {
        "statusCode": status,
        "error": name,
        "message": f"Injected fault: {status}",
        "truto_is_remote_error": False,
    }
    assert _ask(sb) == (status, name, body)


def test_a_success_is_ok_and_a_status_without_a_name_is_an_error(sb: TrutoSandbox) -> None:
    assert _ask(sb)[:2] == (200, "OK")
    sb.inject("GET", ACCOUNTS, 599)
    status, reason, body = _ask(sb)
    assert (status, reason, body["error"]) == (599, "Error", "Error")


def test_what_the_http_server_refuses_itself_is_answered_as_truto_would(sb: TrutoSandbox) -> None:
    # A method with no route, and a request line over the standard library's 64 KiB: neither reaches the
    # sandbox's routes, and both would otherwise carry Python's phrase and an HTML page.
    assert _ask(sb, "OPTIONS")[:2] == (501, "Not Implemented")
    status, reason, body = _ask(sb, path=ACCOUNTS + "?q=" + "x" * 70_000)
    assert (status, reason, body["statusCode"], body["error"]) == (
        414,
        "Request-URI Too Long",
        414,
        "Request-URI Too Long",
    )


def test_the_table_holds_the_names_above_and_only_statuses_the_sandbox_answers() -> None:
    assert {status: PHRASES[status] for status in TRUTO_NAMES} == TRUTO_NAMES
    assert all(status == 200 or 400 <= status <= 599 for status in PHRASES)

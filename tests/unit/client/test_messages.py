"""Each common mistake ends in a message that names what was sent, the connection and the fix, and never
the token: over real sockets, to the sandbox or to a server of the other scheme, through both clients.

The mistakes are the ones a new user makes (issue 24): an unknown account id, a channel given by its name,
https:// against a plain-HTTP server or the reverse, a Base URL with a path, a private channel, a server
that is not running.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_truto.client.config import TrutoConfig
from airflow_provider_truto.client.sync_client import TrutoClient
from airflow_provider_truto.exceptions import (
    TrutoBadRequestError,
    TrutoConnectionError,
    TrutoError,
    TrutoInputError,
    TrutoNotFoundError,
    TrutoTLSError,
)
from airflow_provider_truto.hooks.truto import TrutoHook
from airflow_provider_truto.testing import TrutoSandbox
from tests.support.helpers import ACCOUNT, JOIN, REPO, TOKEN, SleepRecorder, assert_token_free, set_connection
from tests.support.hostile_servers import TcpServer, plain_http_server, self_signed_certificate, tls_server
from tests.support.troubleshooting import MISTAKES, WARNINGS, reproduce

LABEL = "connection 'truto_default'"
# Names of the HTTP libraries' own classes, which no message should show the user.
LIBRARY_INTERNALS = re.compile(r"Pool\b|Pool\(|NewConnectionError|Max retries|urllib3|httpcore|_Watched")


def join(unified: Callable[..., Any], url: str, channel: str, account: str = ACCOUNT, **settings: Any) -> Any:
    return unified(
        url,
        "instant-messaging",
        "channels",
        "join",
        body={"channel": {"id": channel}},
        integrated_account_id=account,
        settings={"label": LABEL, **settings},
    )


def said(error: TrutoError) -> str:
    """The message as the task log shows it, checked for what every message must (and must not) hold."""
    text = str(error)
    assert text.startswith(f"Truto ({LABEL}): ") and "\n" not in text, text
    assert not LIBRARY_INTERNALS.search(text), text
    assert_token_free(error)
    return text


def test_an_unknown_account_is_named_with_the_fix(sandbox: TrutoSandbox, unified: Callable[..., Any]) -> None:
    with pytest.raises(TrutoNotFoundError) as caught:
        join(unified, sandbox.url, "C0000000001", account="acct-typo")
    text = said(caught.value)
    assert "integrated account 'acct-typo'" in text and "Integrated account not found" in text
    assert "TrutoHook().list_integrated_accounts()" in text and caught.value.status_code == 404


def test_a_channel_given_by_its_name_says_what_an_id_looks_like(
    sandbox: TrutoSandbox, unified: Callable[..., Any]
) -> None:
    with pytest.raises(TrutoNotFoundError) as caught:
        join(unified, sandbox.url, "general")
    text = said(caught.value)
    assert f"channel 'general' was not found in integrated account '{ACCOUNT}'" in text
    assert "ids look like C061EG9SL" in text and "TrutoHook().list_channels()" in text
    assert caught.value.remote_error == "channel_not_found"  # what code branches on is unchanged

    with pytest.raises(TrutoNotFoundError) as caught:
        join(unified, sandbox.url, "CGONE000000")  # an id, but of no channel there
    assert "deleted, or belong to another workspace" in said(caught.value)


def test_a_channel_written_with_a_hash_is_refused_before_any_request(
    sandbox: TrutoSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_connection(
        monkeypatch, "truto_default", host=sandbox.url, password=TOKEN, extra={"rate_limit": "off"}
    )
    hook = TrutoHook()
    for call in (
        lambda: hook.join_channel("#general", ACCOUNT),
        lambda: hook.get_channel("#general", ACCOUNT),
    ):
        with pytest.raises(TrutoInputError) as caught:
            call()
        assert caught.value.argument == "channel_id"
        assert "'#general' is a channel's name, not its id; ids look like C061EG9SL" in str(caught.value)
    assert sandbox.requests == []


def test_a_private_channel_says_to_invite_the_bot(sandbox: TrutoSandbox, unified: Callable[..., Any]) -> None:
    private = sandbox.add_channel(ACCOUNT, name="secret-plans", type="private_channel")["id"]
    with pytest.raises(TrutoBadRequestError) as caught:
        join(unified, sandbox.url, private)
    text = said(caught.value)
    assert f"channel '{private}' in integrated account '{ACCOUNT}' is private or a direct message" in text
    assert "invite it in Slack (/invite @your-bot" in text


def test_https_against_a_plain_http_server_is_not_retried(
    unified: Callable[..., Any], sleeps: SleepRecorder
) -> None:
    with TcpServer(plain_http_server) as server:
        with pytest.raises(TrutoTLSError) as caught:
            join(unified, f"https://{server.address}", "C1", max_retries=3)
        assert server.connections == 1  # a handshake that meets plain HTTP never turns into TLS
    text = said(caught.value)
    assert f"the TLS handshake with https://{server.address} failed" in text
    assert f"Check the scheme of the Base URL: http://{server.address}" in text
    assert caught.value.reason == "tls" and caught.value.url == f"https://{server.address}"


def test_http_against_a_tls_server_is_not_retried(tmp_path: Path, unified: Callable[..., Any]) -> None:
    _, context = self_signed_certificate(tmp_path)
    with TcpServer(tls_server(context)) as server:
        with pytest.raises(TrutoTLSError) as caught:
            join(unified, f"http://{server.address}", "C1", max_retries=3)
        assert server.connections == 2  # the plain request, then one TLS handshake asking why it closed
    text = said(caught.value)
    assert f"http://{server.address} speaks TLS" in text
    assert f"Check the scheme of the Base URL: https://{server.address}" in text


def test_a_server_that_closes_without_a_word_but_speaks_no_tls_is_retried(
    sandbox: TrutoSandbox, make_client: Callable[..., TrutoClient], sleeps: SleepRecorder
) -> None:
    """A reset is the network's doing unless the address answers TLS: it stays transient."""

    def close_at_once(sock: socket.socket) -> None:
        sock.recv(65536)

    with (
        TcpServer(close_at_once) as server,
        TrutoClient(
            TrutoConfig(token=TOKEN, base_url=f"http://{server.address}", max_retries=2, label=LABEL),
            sleep=sleeps,
        ) as client,
    ):
        with pytest.raises(TrutoConnectionError) as caught:
            client.request("GET", "/integrated-account")
        # Three attempts, each followed by one TLS probe, which this server does not answer with TLS.
        assert server.connections == 6 and len(sleeps.waits) == 2
    assert not isinstance(caught.value, TrutoTLSError) and caught.value.reason == "reset"
    assert "closed the connection without an answer" in said(caught.value)


def test_a_server_that_is_not_running_is_one_line_naming_the_address(
    unified: Callable[..., Any], sleeps: SleepRecorder
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        address = "{}:{}".format(*probe.getsockname())
    with pytest.raises(TrutoConnectionError) as caught:
        join(unified, f"http://{address}", "C1", max_retries=2)
    text = said(caught.value)
    assert f"cannot connect to http://{address}: connection refused, nothing listens there" in text
    assert "Is the server running, and is the Base URL right?" in text and caught.value.reason == "refused"


def test_a_refused_connection_spends_the_retry_budget(sleeps: SleepRecorder) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        address = "{}:{}".format(*probe.getsockname())
    config = TrutoConfig(token=TOKEN, base_url=f"http://{address}", max_retries=3, account_rate_limit=None)
    with TrutoClient(config, sleep=sleeps) as client, pytest.raises(TrutoConnectionError):
        client.request("GET", "/integrated-account")
    assert len(sleeps.waits) == 3  # a restarting server refuses for a moment: worth the budget


@pytest.mark.parametrize("base_url", ["https://api.truto.one/unified", "api.truto.one/v1/", "http://h:1/x?y"])
def test_a_base_url_with_a_path_is_refused_before_any_request(
    base_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_connection(monkeypatch, "truto_default", host=base_url, password=TOKEN)
    with pytest.raises(TrutoInputError) as caught:
        TrutoHook().join_channel("C061EG9SL", ACCOUNT)
    assert caught.value.argument == "connection 'truto_default': host"
    assert "the Base URL is the host only, such as https://api.truto.one" in str(caught.value)
    assert "drop '/" in str(caught.value)


def test_the_hook_labels_every_error_with_its_connection(
    sandbox: TrutoSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_connection(
        monkeypatch, "truto_default", host=sandbox.url, password=TOKEN, extra={"rate_limit": "off"}
    )
    hook = TrutoHook()
    with pytest.raises(TrutoNotFoundError) as caught:
        hook.join_channel("general", ACCOUNT)
    assert said(caught.value) and caught.value.label == LABEL
    with pytest.raises(TrutoNotFoundError) as caught:
        hook.get_integrated_account("acct-typo")
    assert "integrated account 'acct-typo'" in said(caught.value)
    with pytest.raises(TrutoInputError) as caught:
        TrutoHook().account_id()  # no account given, none in the connection
    assert said(caught.value) and caught.value.argument == "integrated_account_id"
    assert [r for r in sandbox.requests if r.path == JOIN]


def test_the_troubleshooting_page_quotes_the_messages_users_get() -> None:
    """docs/troubleshooting.md quotes under each mistake's heading exactly what its reproduction ends with."""
    text = (REPO / "docs" / "troubleshooting.md").read_text(encoding="utf-8")
    quoted = dict(re.findall(r"^### ([^\n]+)\n\n```text\n(.*?)\n```", text, re.M | re.S))
    for title in [*MISTAKES, *WARNINGS]:
        assert title in quoted, f"docs/troubleshooting.md has no section {title!r} quoting its message"
        assert quoted[title] == reproduce(title), title

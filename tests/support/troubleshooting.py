"""The mistakes docs/troubleshooting.md lists, each reproduced over real sockets as a task meets it.

:func:`reproduce` makes the mistake through ``TrutoHook("truto_default")`` (the sandbox, or a server of the
other scheme, on 127.0.0.1) and returns the error as a task's log ends with it: ``<type>: <message>``,
the server's port written as the page writes it (8080). The page's quoted messages are tested against
these, so the page shows what users really see.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from airflow_provider_truto.hooks.truto import TrutoHook
from airflow_provider_truto.testing import TrutoSandbox
from tests.support.hostile_servers import TcpServer, plain_http_server, self_signed_certificate, tls_server

TOKEN = "tr-4f8a2c9e71d3b6a0"  # a realistic sandbox token: what the page shows is what the test ran
ACCOUNT = "4b1e7c0a-9a3f-4a57-8f1f-5d1c2b0e6a11"
TYPO = "4b1e7c0a-9a3f-4a57-8f1f-5d1c2b0e6a12"
PRIVATE = "G07PRIV4TE1"
PAGE_PORT = 8080


@contextlib.contextmanager
def connection(host: str, **extra: Any) -> Iterator[TrutoHook]:
    """``truto_default`` pointing at ``host`` for the block (no pacing, no retries: one attempt)."""
    extras = {"integrated_account_id": ACCOUNT, "rate_limit": "off", "max_retries": 0, **extra}
    value = json.dumps({"conn_type": "truto", "host": host, "password": TOKEN, "extra": extras})
    saved = os.environ.get("AIRFLOW_CONN_TRUTO_DEFAULT")
    os.environ["AIRFLOW_CONN_TRUTO_DEFAULT"] = value
    try:
        yield TrutoHook()
    finally:
        if saved is None:
            del os.environ["AIRFLOW_CONN_TRUTO_DEFAULT"]
        else:
            os.environ["AIRFLOW_CONN_TRUTO_DEFAULT"] = saved


@contextlib.contextmanager
def sandbox() -> Iterator[TrutoSandbox]:
    with TrutoSandbox(token=TOKEN) as server:
        server.add_account(ACCOUNT)
        server.add_channel(ACCOUNT, id=PRIVATE, name="secret-plans", type="private_channel")
        yield server


def nothing_listens() -> tuple[Exception, int]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with connection(f"http://127.0.0.1:{port}") as hook:
        return failure(lambda: hook.list_channels()), port


def https_to_plain() -> tuple[Exception, int]:
    with TcpServer(plain_http_server) as server, connection(f"https://{server.address}") as hook:
        return failure(lambda: hook.join_channel("C061EG9SL")), port_of(server.address)


def http_to_tls() -> tuple[Exception, int]:
    _, context = self_signed_certificate(Path(tempfile.mkdtemp(prefix="truto-tls-")))
    with TcpServer(tls_server(context)) as server, connection(f"http://{server.address}") as hook:
        return failure(lambda: hook.join_channel("C061EG9SL")), port_of(server.address)


def untrusted_certificate() -> tuple[Exception, int]:
    _, context = self_signed_certificate(Path(tempfile.mkdtemp(prefix="truto-tls-")))
    with TcpServer(tls_server(context)) as server, connection(f"https://{server.address}") as hook:
        return failure(lambda: hook.join_channel("C061EG9SL")), port_of(server.address)


def base_url_with_a_path() -> tuple[Exception, int]:
    with connection("https://api.truto.one/unified") as hook:
        return failure(lambda: hook.join_channel("C061EG9SL")), PAGE_PORT


def unknown_account() -> tuple[Exception, int]:
    with sandbox() as server, connection(server.url) as hook:
        return failure(lambda: hook.join_channel("C061EG9SL", TYPO)), port_of(server.url)


def no_account() -> tuple[Exception, int]:
    with sandbox() as server, connection(server.url, integrated_account_id=None) as hook:
        return failure(lambda: hook.join_channel("C061EG9SL")), port_of(server.url)


def channel_name_with_hash() -> tuple[Exception, int]:
    with sandbox() as server, connection(server.url) as hook:
        return failure(lambda: hook.join_channel("#general")), port_of(server.url)


def channel_name() -> tuple[Exception, int]:
    with sandbox() as server, connection(server.url) as hook:
        return failure(lambda: hook.join_channel("general")), port_of(server.url)


def private_channel() -> tuple[Exception, int]:
    with sandbox() as server, connection(server.url) as hook:
        return failure(lambda: hook.join_channel(PRIVATE)), port_of(server.url)


def refused_token() -> tuple[Exception, int]:
    with sandbox() as server:
        wrong = json.dumps(
            {
                "conn_type": "truto",
                "host": server.url,
                "password": "tr-0000000000000000",
                "extra": {"integrated_account_id": ACCOUNT, "rate_limit": "off", "max_retries": 0},
            }
        )
        saved = os.environ.get("AIRFLOW_CONN_TRUTO_DEFAULT")
        os.environ["AIRFLOW_CONN_TRUTO_DEFAULT"] = wrong
        try:
            return failure(lambda: TrutoHook().join_channel("C061EG9SL")), port_of(server.url)
        finally:
            if saved is None:
                del os.environ["AIRFLOW_CONN_TRUTO_DEFAULT"]
            else:
                os.environ["AIRFLOW_CONN_TRUTO_DEFAULT"] = saved


def rate_limited() -> tuple[Exception, int]:
    """Not an error: the warning line a retried 429 logs (the retry's wait recorded, not slept)."""
    import logging

    from airflow_provider_truto.client.sync_client import TrutoClient
    from airflow_provider_truto.testing import Fault

    class Lines(logging.Handler):
        def __init__(self) -> None:
            super().__init__()
            self.lines: list[str] = []

        def emit(self, record: logging.LogRecord) -> None:
            self.lines.append(record.getMessage())

    lines = Lines()
    log = logging.getLogger("truto.troubleshooting")
    log.addHandler(lines)
    with sandbox() as server, connection(server.url, max_retries=5) as hook:
        port = port_of(server.url)
        server.inject("POST", "/unified/instant-messaging/channels/join", Fault.rate_limited("10"))
        server.add_channel(ACCOUNT, id="C061EG9SL", name="general")
        with TrutoClient(hook.config, sleep=lambda _seconds: None, log=log) as client:
            client.unified("instant-messaging", "channels", "join", body={"channel": {"id": "C061EG9SL"}})
    log.removeHandler(lines)
    return RuntimeError(lines.lines[0]), port


# The page's headings (under "What the task log says"), in its order, and how each mistake is made.
MISTAKES: dict[str, Callable[[], tuple[Exception, int]]] = {
    "Nothing listens at the Base URL": nothing_listens,
    "https:// against a server without TLS": https_to_plain,
    "http:// against a server that speaks TLS": http_to_tls,
    "A certificate that is not trusted": untrusted_certificate,
    "A Base URL with a path": base_url_with_a_path,
    "An integrated account Truto does not know": unknown_account,
    "No integrated account": no_account,
    "A channel's name instead of its id": channel_name_with_hash,
    "A channel Slack does not find": channel_name,
    "A private channel or a direct message": private_channel,
    "A token Truto refuses": refused_token,
}
# Lines that are no error, quoted under their own headings, as they are logged.
WARNINGS: dict[str, Callable[[], tuple[Exception, int]]] = {
    "Warnings about 429 and `Retry-After`": rate_limited
}


def failure(call: Callable[[], Any]) -> Exception:
    try:
        result = call()
        if isinstance(result, Iterator):
            list(result)
    except Exception as error:  # what the task would end with
        return error
    raise AssertionError("the mistake did not fail")


def port_of(address: str) -> int:
    return int(address.rstrip("/").rsplit(":", 1)[1])


def reproduce(title: str) -> str:
    """The mistake's error as a task's log ends with it, its port written as the page writes it."""
    if title in WARNINGS:
        warning, port = WARNINGS[title]()
        return str(warning).replace(f":{port}", f":{PAGE_PORT}")
    error, port = MISTAKES[title]()
    text = f"{type(error).__name__}: {error}"
    return text.replace(f":{port}", f":{PAGE_PORT}")

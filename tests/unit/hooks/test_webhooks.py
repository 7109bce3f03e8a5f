"""TrutoHook.register_webhook and list_webhooks against the sandbox: the body Truto gets, the secret it
answers, and bad arguments named before any request."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_truto.exceptions import TrutoInputError, TrutoInvalidResponseError
from airflow_provider_truto.hooks.truto import TrutoHook
from airflow_provider_truto.testing import TrutoSandbox
from airflow_provider_truto.webhooks.events import DEFAULT_EVENT_TYPES
from tests.support.helpers import connection_json, hostile_connection
from tests.support.hostile_servers import HostileServer, json_reply

URL = "https://airflow.example.com/truto/webhooks/truto_default"


@pytest.fixture
def hook(sandbox: TrutoSandbox, monkeypatch: pytest.MonkeyPatch) -> TrutoHook:
    monkeypatch.setenv("AIRFLOW_CONN_TRUTO_DEFAULT", connection_json(sandbox))
    return TrutoHook()


def test_register_sends_the_url_and_the_events_the_receiver_acts_on(
    hook: TrutoHook, sandbox: TrutoSandbox
) -> None:
    webhook = hook.register_webhook(URL)
    [registered] = sandbox.webhooks
    assert webhook["secret"] == registered.secret and webhook["id"] == registered.id
    assert registered.target_url == URL and registered.event_types == list(DEFAULT_EVENT_TYPES)
    [request] = [r for r in sandbox.requests if r.path == "/webhook"]
    assert request.method == "POST" and request.body == {
        "target_url": URL,
        "event_types": list(DEFAULT_EVENT_TYPES),
        "is_active": True,
    }
    assert request.headers.get("idempotency-key")  # a retried registration cannot register twice


def test_list_reads_every_page_and_no_secret(hook: TrutoHook, sandbox: TrutoSandbox) -> None:
    for n in range(30):
        sandbox.register_webhook(f"{URL}-{n}", ["record:created"])
    listed = list(hook.list_webhooks(limit=7))
    assert [w["target_url"] for w in listed] == [f"{URL}-{n}" for n in range(30)]
    assert all("secret" not in w for w in listed)


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"target_url": ""}, "target_url"),
        ({"target_url": "airflow.example.com/truto/webhooks/x"}, "target_url"),
        ({"target_url": URL, "event_types": []}, "event_types"),
        ({"target_url": URL, "event_types": "record:created"}, "event_types"),
        ({"target_url": URL, "event_types": ["record:created", " "]}, "event_types"),
    ],
)
def test_bad_arguments_are_named_before_any_request(
    hook: TrutoHook, sandbox: TrutoSandbox, kwargs: dict[str, Any], argument: str
) -> None:
    with pytest.raises(TrutoInputError) as caught:
        hook.register_webhook(**kwargs)
    assert caught.value.argument == argument
    assert sandbox.requests == []


def test_an_answer_without_a_secret_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    with HostileServer(lambda request, sock: json_reply(sock, 201, {"id": "wh-1"})) as server:
        hostile_connection(monkeypatch, server.url)
        with pytest.raises(TrutoInvalidResponseError, match="no webhook with a secret"):
            TrutoHook("hostile").register_webhook(URL)


def test_a_wrapped_answer_is_unwrapped(monkeypatch: pytest.MonkeyPatch) -> None:
    wrapped = {"result": {"id": "wh-1", "secret": "s3"}}
    with HostileServer(lambda request, sock: json_reply(sock, 201, wrapped)) as server:
        hostile_connection(monkeypatch, server.url)
        assert TrutoHook("hostile").register_webhook(URL) == {"id": "wh-1", "secret": "s3"}

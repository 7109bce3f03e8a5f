"""The receiver app over a real socket: uvicorn on 127.0.0.1 serving ``create_app``, deliveries by requests.

The secret source and the store are the test's own (a dict, and a store that keeps events in memory with the
same once-per-id rule): the Airflow-backed ones are tested against a real metadata database in
``tests/integration`` and ``tests/system``.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import requests
import uvicorn

from airflow_provider_truto.testing import TrutoSandbox
from airflow_provider_truto.webhooks.app import create_app
from airflow_provider_truto.webhooks.events import (
    CHANNEL_CREATED_ASSET,
    DEFAULT_EVENT_TYPES,
    WORKSPACE_CONNECTED_ASSET,
    Action,
)
from airflow_provider_truto.webhooks.receiver import DUPLICATE, RECORDED, Receiver
from airflow_provider_truto.webhooks.signature import SIGNATURE_HEADER, sign

SECRET = "whsec-7b0e4c1d-unit"
CONN = "truto_webhooks_test"


class MemoryStore:
    """Asset events in a list; an event id seen within ``seen_for`` is a duplicate. Can be told to fail."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any], datetime]] = []
        self.lock = threading.Lock()
        self.fail: Exception | None = None

    def record_once(self, action: Action, *, event_id: str, seen_for: timedelta) -> str:
        if self.fail is not None:
            raise self.fail
        with self.lock:
            since = datetime.now(timezone.utc) - seen_for
            if any(e["truto_event_id"] == event_id and at >= since for _, e, at in self.events):
                return DUPLICATE
            time.sleep(0.01)  # a transaction takes time: concurrent deliveries overlap here
            self.events.append((action.asset, action.extra, datetime.now(timezone.utc)))
            return RECORDED


class Secrets:
    def __init__(self) -> None:
        self.by_conn = {CONN: SECRET}
        self.down = False

    def __call__(self, conn_id: str) -> str | None:
        if self.down:
            raise ConnectionError("the secrets backend is down")
        return self.by_conn.get(conn_id)


class Served:
    """``create_app`` under uvicorn in a thread on a free loopback port."""

    def __init__(self, max_bytes: int = 20_000) -> None:
        self.store = MemoryStore()
        self.secrets = Secrets()
        app = create_app(Receiver(secret_of=self.secrets, store=self.store), max_bytes=max_bytes)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        config = uvicorn.Config(app, log_level="warning", lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)
        self.session = requests.Session()
        self.session.trust_env = False

    def __enter__(self) -> Served:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.session.close()
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()

    def post(
        self, body: bytes, *, conn: str = CONN, signature: str | None = "sign", **kw: Any
    ) -> requests.Response:
        headers = {"Content-Type": "application/json", **kw.pop("headers", {})}
        if signature is not None:
            headers[SIGNATURE_HEADER] = sign(SECRET, body) if signature == "sign" else signature
        return self.session.post(f"{self.url}/webhooks/{conn}", data=body, headers=headers, timeout=10, **kw)


def event(
    kind: str = "integrated_account:created", *, age: timedelta = timedelta(seconds=5), **fields: Any
) -> bytes:
    created = datetime.now(timezone.utc) - age
    body = {
        "id": fields.pop("id", str(uuid.uuid4())),
        "event": kind,
        "payload": fields.pop(
            "payload", {"id": "acct-1", "status": "active", "integration": {"name": "slack"}}
        ),
        "environment_id": "env-1",
        "webhook_id": "wh-1",
        "created_at": created.strftime("%Y-%m-%d %H:%M:%S"),
        **fields,
    }
    return json.dumps(body).encode()


@pytest.fixture
def served() -> Iterator[Served]:
    with Served() as running:
        yield running


def test_a_signed_workspace_event_is_recorded_and_answered_200(served: Served) -> None:
    body = event(id="evt-a")
    answer = served.post(body)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"status": RECORDED, "id": "evt-a", "asset": WORKSPACE_CONNECTED_ASSET}
    [(asset, extra, _)] = served.store.events
    assert asset == WORKSPACE_CONNECTED_ASSET
    assert extra["integrated_account_id"] == "acct-1" and extra["truto_conn_id"] == CONN


def test_the_same_event_delivered_again_is_200_and_recorded_once(served: Served) -> None:
    body = event(id="evt-b")
    assert served.post(body).json()["status"] == RECORDED
    again = served.post(body)
    assert again.status_code == 200 and again.json()["status"] == DUPLICATE
    assert len(served.store.events) == 1


def test_concurrent_deliveries_of_one_event_record_it_once(served: Served) -> None:
    body = event(id="evt-c")
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: served.post(body), range(8)))
    assert [a.status_code for a in answers] == [200] * 8
    assert sorted(a.json()["status"] for a in answers) == [DUPLICATE] * 7 + [RECORDED]
    assert len(served.store.events) == 1


@pytest.mark.parametrize(
    ("signature", "conn"),
    [
        (None, CONN),
        (sign("guessed-secret", b"x"), CONN),
        ("format=sha256,v=" + "0" * 64, CONN),
        ("sign", "unknown_conn"),
    ],
)
def test_unsigned_forged_or_unknown_connection_is_401_and_records_nothing(
    served: Served, signature: str | None, conn: str
) -> None:
    answer = served.post(event(), signature=signature, conn=conn)
    assert answer.status_code == 401
    assert served.store.events == []


def test_a_forged_signature_over_a_changed_body_is_401(served: Served) -> None:
    body = event(id="evt-d")
    tampered = body.replace(b"acct-1", b"acct-2")
    answer = served.post(tampered, signature=sign(SECRET, body))
    assert answer.status_code == 401 and served.store.events == []


def test_a_stale_delivery_is_refused_and_records_nothing(served: Served) -> None:
    answer = served.post(event(age=timedelta(minutes=30)))
    assert answer.status_code == 400 and answer.json()["error"].startswith("stale")
    assert served.store.events == []


def test_bodies_over_the_cap_are_400_declared_or_streamed(served: Served) -> None:
    big = event(payload={"id": "acct-1", "pad": "x" * 30_000})
    assert served.post(big).status_code == 400  # Content-Length over the cap: refused unread
    chunks = iter([big[:10_000], big[10_000:]])
    streamed = served.session.post(f"{served.url}/webhooks/{CONN}", data=chunks, timeout=10)
    # Chunked: no Content-Length, so the body is cut off while reading (before the signature is looked at).
    assert streamed.status_code == 400, streamed.text
    assert served.store.events == []


def test_signed_non_json_is_400(served: Served) -> None:
    assert served.post(b"id=1&event=x").status_code == 400


def test_ignored_events_are_answered_200_with_the_reason(served: Served) -> None:
    answer = served.post(event("integrated_account:updated"))
    assert answer.status_code == 200 and answer.json()["status"] == "ignored"
    teams = served.post(event(payload={"id": "acct-9", "integration": {"name": "msteams"}}))
    assert teams.json()["reason"] == "integration msteams cannot join channels"
    assert served.store.events == []


def test_a_channel_record_is_recorded_on_the_channel_asset(served: Served) -> None:
    payload = {
        "integrated_account_id": "acct-1",
        "unified_model": "instant-messaging",
        "resource": "channels",
        "record": {"id": "C1", "name": "eng-new", "type": "channel"},
    }
    answer = served.post(event("record:created", payload=payload))
    assert answer.json()["asset"] == CHANNEL_CREATED_ASSET
    assert served.store.events[0][1]["channel"] == {"id": "C1", "name": "eng-new", "type": "channel"}


def test_an_unknown_shape_is_logged_once_and_answered_200(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="airflow_provider_truto.webhooks")
    for _ in range(3):
        answer = served.post(event("record:created", payload={"weird": True}))
        assert answer.status_code == 200 and answer.json()["status"] == "ignored"
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "payload keys ['weird']" in warnings[0].getMessage()


def test_secrets_backend_or_database_down_is_503_so_truto_retries(served: Served) -> None:
    served.secrets.down = True
    assert served.post(event()).status_code == 503
    served.secrets.down = False
    served.store.fail = RuntimeError("database is down")
    body = event(id="evt-e")
    assert served.post(body).status_code == 503
    served.store.fail = None
    assert served.post(body).json()["status"] == RECORDED  # Truto's retry gets it through


def test_the_secret_is_in_no_answer_and_no_log(served: Served, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    answers = [
        served.post(event()),
        served.post(event(), signature=None),
        served.post(event(), signature=sign("nope", b"")),
        served.post(event(age=timedelta(hours=1))),
        served.post(b"[]"),
        served.post(event("record:created", payload={"secret": SECRET})),
    ]
    served.store.fail = RuntimeError("down")
    answers.append(served.post(event()))
    assert all(SECRET not in a.text for a in answers)
    assert caplog.records and SECRET not in caplog.text


def test_the_sandbox_s_deliveries_are_verified_and_recorded_once(served: Served) -> None:
    """The sandbox's sender and this receiver agree on the envelope, the signature and the time format."""
    with TrutoSandbox() as sandbox:
        webhook = sandbox.register_webhook(f"{served.url}/webhooks/{CONN}", list(DEFAULT_EVENT_TYPES))
        served.secrets.by_conn[CONN] = webhook.secret
        sandbox.connect_workspace("ws-1", channels=5)
        channel = sandbox.add_channel("ws-1", name="eng-new")
        sandbox.wait_for_webhooks(10)
        first = sandbox.webhook_deliveries[0]
        sandbox.resend(first)  # as Truto's retry would
        sandbox.wait_for_webhooks(10)
    assert [d.attempts for d in sandbox.webhook_deliveries] == [[200], [200], [200]]
    assert [json.loads(d.answers[0])["status"] for d in sandbox.webhook_deliveries] == [
        RECORDED,
        RECORDED,
        DUPLICATE,
    ]
    assets = [(asset, extra["integrated_account_id"]) for asset, extra, _ in served.store.events]
    assert assets == [(WORKSPACE_CONNECTED_ASSET, "ws-1"), (CHANNEL_CREATED_ASSET, "ws-1")]
    assert served.store.events[1][1]["channel"]["id"] == channel["id"]

"""The sandbox's webhooks: registration over HTTP, and signed deliveries as Truto sends them.

Deliveries go to a small recording server on 127.0.0.1 that answers what the test scripts.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

from airflow_provider_truto.testing import TrutoSandbox
from airflow_provider_truto.webhooks.delivery import parse_created_at
from airflow_provider_truto.webhooks.signature import SIGNATURE_HEADER, signature_matches

TOKEN = "sandbox-token"
EVENTS = ["integrated_account:created", "record:created"]


class Target:
    """Records each POST (headers, body) and answers the next scripted status (200 when none is left)."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.script: list[int] = []
        self.lock = threading.Lock()
        target = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with target.lock:
                    target.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                    status = target.script.pop(0) if target.script else 200
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/truto/webhooks/truto_default"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(body) for _, body in self.received]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def target() -> Iterator[Target]:
    served = Target()
    yield served
    served.close()


@pytest.fixture
def fast_sb() -> Iterator[TrutoSandbox]:
    with TrutoSandbox(TOKEN, webhook_retry_delays=(0.01, 0.02, 0.04)) as sandbox:
        yield sandbox


def register(sandbox: TrutoSandbox, url: str, events: list[str] = EVENTS) -> dict[str, Any]:
    answer = requests.post(
        f"{sandbox.url}/webhook",
        json={"target_url": url, "event_types": events},
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=5,
    )
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def test_register_answers_the_secret_and_the_list_never_shows_it(fast_sb: TrutoSandbox) -> None:
    made = register(fast_sb, "https://airflow.example.com/truto/webhooks/truto_default")
    assert set(made) >= {"id", "target_url", "event_types", "is_active", "secret"}
    assert made["event_types"] == EVENTS and made["is_active"] is True
    listed = requests.get(f"{fast_sb.url}/webhook", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5)
    assert listed.status_code == 200
    [item] = listed.json()["result"]
    assert item["id"] == made["id"] and "secret" not in item
    assert made["secret"] not in listed.text


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"event_types": EVENTS}, "target_url must be an http(s) URL"),
        ({"target_url": "ftp://x", "event_types": EVENTS}, "target_url must be an http(s) URL"),
        ({"target_url": "https://x"}, "event_types must be a non-empty list"),
        ({"target_url": "https://x", "event_types": []}, "event_types must be a non-empty list"),
        ({"target_url": "https://x", "event_types": EVENTS, "is_active": "yes"}, "is_active must be"),
    ],
)
def test_a_bad_registration_is_400_naming_the_field(fast_sb: TrutoSandbox, body: Any, problem: str) -> None:
    answer = requests.post(
        f"{fast_sb.url}/webhook", json=body, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5
    )
    assert answer.status_code == 400 and problem in answer.json()["message"]
    assert fast_sb.webhooks == []


def test_registering_needs_the_token(fast_sb: TrutoSandbox) -> None:
    answer = requests.post(
        f"{fast_sb.url}/webhook", json={"target_url": "https://x", "event_types": EVENTS}, timeout=5
    )
    assert answer.status_code == 401 and fast_sb.webhooks == []


def test_a_new_channel_is_sent_as_a_signed_record_created(fast_sb: TrutoSandbox, target: Target) -> None:
    secret = register(fast_sb, target.url)["secret"]
    fast_sb.add_account("acct-1")
    channel = fast_sb.add_channel("acct-1", name="eng-new")
    fast_sb.wait_for_webhooks(10)
    [(headers, raw)] = target.received
    assert signature_matches(secret, raw, headers[SIGNATURE_HEADER.lower()])
    body = json.loads(raw)
    assert set(body) == {"id", "event", "payload", "environment_id", "webhook_id", "created_at"}
    assert body["event"] == "record:created" and body["webhook_id"] == fast_sb.webhooks[0].id
    assert body["payload"] == {
        "integrated_account_id": "acct-1",
        "unified_model": "instant-messaging",
        "unified_resource": "channels",
        "record": channel,
    }
    # Truto's "2024-09-10 12:00:00" spelling, and now.
    assert "T" not in body["created_at"]
    assert abs(parse_created_at(body["created_at"]) - datetime.now(timezone.utc)) < timedelta(seconds=30)
    [delivery] = fast_sb.webhook_deliveries
    assert delivery.attempts == [200] and delivery.delivered


def test_a_connected_workspace_is_sent_after_its_channels_exist(
    fast_sb: TrutoSandbox, target: Target
) -> None:
    register(fast_sb, target.url)
    account = fast_sb.connect_workspace("ws-1", channels=30, seed=4)
    fast_sb.wait_for_webhooks(10)
    [body] = target.bodies()
    assert body["event"] == "integrated_account:created"
    assert body["payload"] == account.to_wire()
    assert body["payload"]["integration"]["name"] == "slack" and body["payload"]["status"] == "active"
    assert len(fast_sb.channels("ws-1")) == 30


def test_only_active_webhooks_subscribed_to_the_event_are_sent_it(
    fast_sb: TrutoSandbox, target: Target
) -> None:
    register(fast_sb, target.url, ["record:created"])
    fast_sb.connect_workspace("ws-2")  # integrated_account:created: not subscribed
    switched_off = fast_sb.register_webhook(target.url, ["integrated_account:created"], is_active=False)
    fast_sb.add_channel("ws-2", notify=False)
    fast_sb.seed_channels("ws-2", 10)  # bulk seeding sends nothing
    fast_sb.add_channel("ws-2", name="sent")
    fast_sb.wait_for_webhooks(10)
    assert [b["payload"]["record"]["name"] for b in target.bodies()] == ["sent"]
    assert all(d.webhook_id != switched_off.id for d in fast_sb.webhook_deliveries)


def test_a_delivery_not_answered_200_is_retried_three_times_then_given_up(
    fast_sb: TrutoSandbox, target: Target
) -> None:
    register(fast_sb, target.url)
    fast_sb.add_account("acct-1")
    target.script = [500, 401, 503, 429]
    fast_sb.add_channel("acct-1")
    fast_sb.wait_for_webhooks(10)
    [delivery] = fast_sb.webhook_deliveries
    assert delivery.attempts == [500, 401, 503, 429] and not delivery.delivered
    assert len({body for _, body in target.received}) == 1  # the same bytes each time
    target.script = [502]
    fast_sb.add_channel("acct-1")
    fast_sb.wait_for_webhooks(10)
    assert fast_sb.webhook_deliveries[-1].attempts == [502, 200]


def test_a_webhook_that_keeps_failing_is_deactivated(target: Target) -> None:
    with TrutoSandbox(TOKEN, webhook_retry_delays=()) as sandbox:
        sandbox.register_webhook(target.url, ["record:created"])
        sandbox.add_account("a")
        target.script = [500] * 10
        for _ in range(12):
            sandbox.add_channel("a")
        sandbox.wait_for_webhooks(10)
        assert sandbox.webhooks[0].is_active is False
        assert len(target.received) == 10  # the last two were no longer sent


def test_resend_sends_the_same_bytes_and_signature(fast_sb: TrutoSandbox, target: Target) -> None:
    register(fast_sb, target.url)
    fast_sb.add_account("acct-1")
    fast_sb.add_channel("acct-1")
    fast_sb.wait_for_webhooks(10)
    fast_sb.resend(fast_sb.webhook_deliveries[0])
    fast_sb.wait_for_webhooks(10)
    first, second = target.received
    assert first[1] == second[1] and first[0][SIGNATURE_HEADER.lower()] == second[0][SIGNATURE_HEADER.lower()]


def test_send_event_backdates_reuses_ids_and_sends_bodies_of_your_own(
    fast_sb: TrutoSandbox, target: Target
) -> None:
    register(fast_sb, target.url, ["*"])
    old = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)
    fast_sb.send_event("sync_job_run:completed", {"id": "run-1"}, event_id="evt-7", created_at=old)
    fast_sb.send_event("record:created", None, body={"id": "x", "weird": True})
    fast_sb.wait_for_webhooks(10)
    first, second = target.bodies()
    assert (first["id"], first["event"], first["created_at"]) == (
        "evt-7",
        "sync_job_run:completed",
        "2026-01-01 12:00:00",
    )
    assert second == {"id": "x", "weird": True}


def test_the_command_line_controls_connect_a_workspace_and_add_a_channel(
    fast_sb: TrutoSandbox, target: Target
) -> None:
    register(fast_sb, target.url)
    made = requests.post(
        f"{fast_sb.url}/_sandbox/workspaces", json={"id": "ws-cli", "channels": 12}, timeout=5
    )
    assert made.status_code == 201 and made.json()["id"] == "ws-cli"
    added = requests.post(
        f"{fast_sb.url}/_sandbox/channels",
        json={"integrated_account_id": "ws-cli", "name": "eng-cli"},
        timeout=5,
    )
    assert added.status_code == 201 and added.json()["name"] == "eng-cli"
    unknown = requests.post(
        f"{fast_sb.url}/_sandbox/channels", json={"integrated_account_id": "nope"}, timeout=5
    )
    assert unknown.status_code == 404
    fast_sb.wait_for_webhooks(10)
    assert [b["event"] for b in target.bodies()] == ["integrated_account:created", "record:created"]
    assert len(fast_sb.channels("ws-cli")) == 13
    # Controls are not part of Truto's API: no token needed, and nothing in the request log.
    assert all(not r.path.startswith("/_sandbox") for r in fast_sb.requests)

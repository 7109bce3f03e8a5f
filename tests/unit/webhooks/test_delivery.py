"""One delivery, checked in order (size, signature, JSON, fields, replay window) and decoded."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from airflow_provider_truto.webhooks.delivery import (
    MAX_AGE,
    MAX_AHEAD,
    SEEN_FOR,
    WebhookRejected,
    open_delivery,
    parse_created_at,
)
from airflow_provider_truto.webhooks.signature import sign

SECRET = "whsec-2f1c9a7e"
NOW = datetime(2026, 5, 4, 12, 0, 0, tzinfo=timezone.utc)


def envelope(**fields: Any) -> dict[str, Any]:
    body = {
        "id": "evt-1",
        "event": "integrated_account:created",
        "payload": {"id": "acct-1"},
        "environment_id": "env-1",
        "webhook_id": "wh-1",
        "created_at": "2026-05-04 11:58:00",
    }
    body.update(fields)
    return {key: value for key, value in body.items() if value is not None}


def deliver(body: bytes, *, secret: str | None = SECRET, signature: str | None = "sign", **kw: Any) -> Any:
    header = sign(SECRET, body) if signature == "sign" else signature
    return open_delivery(body, header, secret, now=NOW, **kw)


def rejected(body: bytes, **kw: Any) -> tuple[int, str]:
    with pytest.raises(WebhookRejected) as caught:
        deliver(body, **kw)
    return caught.value.status, caught.value.reason


def test_a_signed_fresh_event_is_decoded() -> None:
    delivery = deliver(json.dumps(envelope()).encode())
    assert delivery.id == "evt-1"
    assert delivery.event == "integrated_account:created"
    assert delivery.payload == {"id": "acct-1"}
    assert (delivery.environment_id, delivery.webhook_id) == ("env-1", "wh-1")
    assert delivery.created_at == datetime(2026, 5, 4, 11, 58, tzinfo=timezone.utc)


def test_unsigned_forged_or_unverifiable_deliveries_are_401_before_anything_is_parsed() -> None:
    body = json.dumps(envelope()).encode()
    assert rejected(body, signature=None) == (401, "missing X-Truto-Signature")
    assert rejected(body, signature=sign("guessed", body))[0] == 401
    assert rejected(body, secret=None)[0] == 401  # a connection without webhook_secret verifies nothing
    assert rejected(body, secret="")[0] == 401
    # Not JSON, but unsigned: refused for the signature, so an attacker learns nothing about parsing.
    assert rejected(b"<html>", signature=None)[0] == 401


def test_a_body_over_the_cap_is_400_before_the_signature_is_computed() -> None:
    body = json.dumps(envelope(payload={"pad": "x" * 2000})).encode()
    assert rejected(body, max_bytes=1000) == (400, "the body is larger than 1000 bytes")
    assert rejected(body, signature=None, max_bytes=1000)[0] == 400


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"not json", "the body is not JSON"),
        (b"\xff\xfe\x00", "the body is not JSON"),
        (b"[1, 2]", "the body is not a JSON object"),
        (json.dumps(envelope(id=None)).encode(), "id is missing"),
        (json.dumps(envelope(id="  ")).encode(), "id is missing"),
        (json.dumps(envelope(id=7)).encode(), "id is missing"),
        (json.dumps(envelope(event=None)).encode(), "event is missing"),
        (json.dumps(envelope(created_at=None)).encode(), "created_at is missing"),
        (json.dumps(envelope(created_at="yesterday")).encode(), "created_at is not a timestamp: 'yesterday'"),
        (json.dumps(envelope(id="x" * 201)).encode(), "id is longer than 200 characters"),
    ],
)
def test_signed_but_malformed_bodies_are_400(body: bytes, reason: str) -> None:
    assert rejected(body) == (400, reason)


@pytest.mark.parametrize(
    ("created_at", "accepted"),
    [
        ("2026-05-04 11:50:00", True),  # exactly MAX_AGE old
        ("2026-05-04 11:49:59", False),
        ("2026-05-04 11:30:00", False),  # 30 minutes old: a replay
        ("2026-05-04 12:05:00", True),  # exactly MAX_AHEAD ahead
        ("2026-05-04 12:05:01", False),
    ],
)
def test_the_replay_window(created_at: str, accepted: bool) -> None:
    assert timedelta(minutes=10) == MAX_AGE and timedelta(minutes=5) == MAX_AHEAD
    body = json.dumps(envelope(created_at=created_at)).encode()
    if accepted:
        assert deliver(body).created_at == parse_created_at(created_at)
    else:
        status, reason = rejected(body)
        assert status == 400 and ("stale" in reason or "future" in reason), reason


def test_ids_are_remembered_for_longer_than_two_accepted_deliveries_can_be_apart() -> None:
    assert SEEN_FOR > MAX_AGE + MAX_AHEAD


@pytest.mark.parametrize(
    "text",
    [
        "2024-09-10 12:00:00",
        "2024-09-10T12:00:00",
        "2024-09-10T12:00:00Z",
        "2024-09-10T12:00:00z",
        "2024-09-10T12:00:00+00:00",
        "2024-09-10T12:00:00+0000",
        "2024-09-10T14:00:00+02:00",
        "2024-09-10T07:00:00-05:00",
        "2024-09-10T12:00:00.000Z",
        "2024-09-10 12:00:00.000000",
        "  2024-09-10T12:00:00Z  ",
    ],
)
def test_created_at_spellings_all_mean_the_same_utc_instant(text: str) -> None:
    assert parse_created_at(text) == datetime(2024, 9, 10, 12, tzinfo=timezone.utc)


def test_fractions_of_any_length_are_read() -> None:
    assert parse_created_at("2024-09-10T12:00:00.5Z").microsecond == 500000
    assert parse_created_at("2024-09-10T12:00:00.123456789Z").microsecond == 123456

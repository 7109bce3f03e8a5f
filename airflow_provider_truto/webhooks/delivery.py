"""One webhook delivery from Truto: checked in order, then decoded. Pure: no Airflow, no HTTP server.

::

    size (400) -> signature (401) -> JSON object (400) -> id, event, created_at (400) -> replay window (400)

Nothing is parsed before the signature holds, so an unsigned or forged body costs one HMAC and is never
read. The replay window refuses an event whose ``created_at`` is more than :data:`MAX_AGE` old or more
than :data:`MAX_AHEAD` ahead of this clock; within it, the receiver remembers event ids, so a delivery
seen again (Truto retries any non-200 answer) is acted on once.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow_provider_truto.webhooks.signature import signature_matches

MAX_BODY_BYTES = 1_000_000  # Truto's events are a few KB; a record with remote_data stays far below this
MAX_AGE = timedelta(minutes=10)
MAX_AHEAD = timedelta(minutes=5)  # Truto's clock may run a little ahead of ours
# Two accepted deliveries of one event are at most MAX_AGE + MAX_AHEAD apart; remember ids a while longer.
SEEN_FOR = MAX_AGE + MAX_AHEAD + timedelta(minutes=5)
MAX_ID_CHARS = 200
# Python 3.10's fromisoformat takes only 3 or 6 fraction digits and a zone with a colon: normalised first.
_FRACTION = re.compile(r"\.(\d+)")
_ZONE_WITHOUT_COLON = re.compile(r"([+-]\d\d)(\d\d)$")


class WebhookRejected(Exception):
    """A delivery refused with an HTTP status; ``reason`` is safe to send back (it holds no secret).

    Not part of the provider's error tree (:mod:`airflow_provider_truto.exceptions`): it is an answer to
    a caller on the internet, not an error of a task.
    """

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"{status}: {reason}")
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class Delivery:
    """A verified, decoded event: Truto's envelope ``{"id", "event", "payload", "environment_id",
    "webhook_id", "created_at"}``."""

    id: str
    event: str
    created_at: datetime
    payload: Any = None
    environment_id: str | None = None
    webhook_id: str | None = None
    body: Mapping[str, Any] = field(default_factory=dict, repr=False)


def open_delivery(
    body: bytes,
    signature: str | None,
    secret: str | None,
    *,
    now: datetime,
    max_bytes: int = MAX_BODY_BYTES,
) -> Delivery:
    """Check one delivery and decode it, or raise :class:`WebhookRejected` with the status to answer.

    :param body: the raw body, exactly as received.
    :param signature: the ``X-Truto-Signature`` header (``None`` when absent).
    :param secret: the connection's ``webhook_secret`` (``None`` or empty: nothing can verify, so 401).
    :param now: this clock, aware.
    """
    if len(body) > max_bytes:
        raise WebhookRejected(400, f"the body is larger than {max_bytes} bytes")
    if not signature:
        raise WebhookRejected(401, "missing X-Truto-Signature")
    if not secret or not signature_matches(secret, body, signature):
        raise WebhookRejected(401, "the signature does not match")
    try:
        envelope = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        raise WebhookRejected(400, "the body is not JSON") from None
    if not isinstance(envelope, dict):
        raise WebhookRejected(400, "the body is not a JSON object")
    event_id = _text(envelope, "id")
    if len(event_id) > MAX_ID_CHARS:
        raise WebhookRejected(400, f"id is longer than {MAX_ID_CHARS} characters")
    created_at = parse_created_at(envelope.get("created_at"))
    if created_at < now - MAX_AGE:
        raise WebhookRejected(
            400, f"stale: created_at {created_at.isoformat()} is more than {_minutes(MAX_AGE)} old"
        )
    if created_at > now + MAX_AHEAD:
        raise WebhookRejected(
            400, f"created_at {created_at.isoformat()} is more than {_minutes(MAX_AHEAD)} in the future"
        )
    return Delivery(
        id=event_id,
        event=_text(envelope, "event"),
        created_at=created_at,
        payload=envelope.get("payload"),
        environment_id=_optional_text(envelope.get("environment_id")),
        webhook_id=_optional_text(envelope.get("webhook_id")),
        body=envelope,
    )


def parse_created_at(value: Any) -> datetime:
    """An aware UTC time from Truto's ``created_at``: ISO-8601 (``Z`` or an offset) or ``2024-09-10 12:00:00``
    (no zone: UTC), with or without fractions of a second."""
    if not isinstance(value, str) or not value.strip():
        raise WebhookRejected(400, "created_at is missing")
    text = value.strip()
    if text[-1:] in ("Z", "z"):
        text = text[:-1] + "+00:00"
    text = _FRACTION.sub(lambda digits: "." + (digits[1] + "000000")[:6], text, count=1)
    text = _ZONE_WITHOUT_COLON.sub(r"\1:\2", text)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise WebhookRejected(400, f"created_at is not a timestamp: {value[:40]!r}") from None
    return parsed.astimezone(timezone.utc) if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _text(envelope: Mapping[str, Any], name: str) -> str:
    value = envelope.get(name)
    if not isinstance(value, str) or not value.strip():
        raise WebhookRejected(400, f"{name} is missing")
    return value.strip()


def _optional_text(value: Any) -> str | None:
    return str(value) if isinstance(value, (str, int)) and str(value) else None


def _minutes(span: timedelta) -> str:
    return f"{span.total_seconds() / 60:g} minutes"

"""The sandbox's webhooks: registrations (``POST /webhook``, ``GET /webhook``) and signed deliveries.

Deliveries go out the way Truto sends them: ``{"id", "event", "payload", "environment_id", "webhook_id",
"created_at"}`` signed with each webhook's secret (``X-Truto-Signature: format=sha256,v=<hex>``, by the
provider's own :mod:`~airflow_provider_truto.webhooks.signature`), from a background thread, in order; any
answer but 200 (or no answer) is retried :data:`RETRY_DELAYS` later, and a webhook whose deliveries keep
failing is deactivated. Every attempt is kept in :attr:`WebhookSender.deliveries` for a test to read. No
third-party import, like the rest of the sandbox.
"""

from __future__ import annotations

import json
import queue
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

from airflow_provider_truto.webhooks.signature import SIGNATURE_HEADER, sign

__all__ = ["Delivery", "Webhook", "WebhookRegistry", "WebhookSender", "envelope"]

ENVIRONMENT_ID = "sandbox-environment"
RETRY_DELAYS = (1.0, 3.0, 9.0)  # Truto retries three times, backing off up to about ten seconds
DEACTIVATE_AFTER = 10  # failed deliveries in a row before a webhook is switched off
SEND_TIMEOUT_SECONDS = 10.0


@dataclass
class Webhook:
    """One registration; ``secret`` signs its deliveries and is only shown when it is created."""

    id: str
    target_url: str
    event_types: list[str]
    is_active: bool = True
    secret: str = field(default_factory=lambda: str(uuid.uuid4()), repr=False)
    environment_id: str = ENVIRONMENT_ID
    created_at: str = field(default_factory=lambda: _sql_time(datetime.now(timezone.utc)))
    failures_in_a_row: int = 0

    def to_wire(self, *, with_secret: bool = False) -> dict[str, Any]:
        wire = {
            "id": self.id,
            "target_url": self.target_url,
            "event_types": list(self.event_types),
            "is_active": self.is_active,
            "environment_id": self.environment_id,
            "created_at": self.created_at,
        }
        if with_secret:
            wire["secret"] = self.secret
        return wire

    def wants(self, event: str) -> bool:
        return self.is_active and (event in self.event_types or "*" in self.event_types)


@dataclass
class Delivery:
    """One event sent to one webhook: the body as sent, and each attempt's status (0: no answer)."""

    webhook_id: str
    event_id: str
    event: str
    url: str
    body: bytes
    attempts: list[int] = field(default_factory=list)
    answers: list[str] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)  # how long each attempt waited for its answer
    done: threading.Event = field(default_factory=threading.Event, repr=False)
    sent_at: float | None = None  # time.monotonic() of the first attempt

    @property
    def delivered(self) -> bool:
        return bool(self.attempts) and self.attempts[-1] == 200


class WebhookRegistry:
    """The environment's webhooks, behind one lock (server threads register, the sender reads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._webhooks: dict[str, Webhook] = {}

    def register(self, target_url: Any, event_types: Any, is_active: Any = True) -> Webhook:
        """A new webhook; raises ``ValueError`` naming what is wrong with the registration."""
        if not isinstance(target_url, str) or urlsplit(target_url).scheme not in ("http", "https"):
            raise ValueError("target_url must be an http(s) URL")
        if not urlsplit(target_url).hostname:
            raise ValueError("target_url must name a host")
        if (
            not isinstance(event_types, list)
            or not event_types
            or not all(isinstance(e, str) and e.strip() for e in event_types)
        ):
            raise ValueError("event_types must be a non-empty list of event names")
        if not isinstance(is_active, bool):
            raise ValueError("is_active must be true or false")
        webhook = Webhook(str(uuid.uuid4()), target_url, [e.strip() for e in event_types], is_active)
        with self._lock:
            self._webhooks[webhook.id] = webhook
        return webhook

    def all(self) -> list[Webhook]:
        with self._lock:
            return list(self._webhooks.values())

    def get(self, webhook_id: str) -> Webhook | None:
        with self._lock:
            return self._webhooks.get(webhook_id)

    def wanting(self, event: str) -> list[Webhook]:
        with self._lock:
            return [w for w in self._webhooks.values() if w.wants(event)]


def envelope(
    event: str,
    payload: Any,
    webhook: Webhook,
    *,
    event_id: str | None = None,
    created_at: datetime | None = None,
) -> dict[str, Any]:
    """Truto's webhook body; ``created_at`` as ``2024-09-10 12:00:00`` (UTC), one of Truto's spellings."""
    return {
        "id": event_id or str(uuid.uuid4()),
        "event": event,
        "payload": payload,
        "environment_id": webhook.environment_id,
        "webhook_id": webhook.id,
        "created_at": _sql_time(created_at or datetime.now(timezone.utc)),
    }


class WebhookSender:
    """Signs and posts deliveries from one background thread, in the order they were queued.

    :param registry: where the webhooks are.
    :param retry_delays: the waits before each retry of a delivery that did not get 200.
    :param deactivate_after: failed deliveries in a row before a webhook is deactivated.
    """

    def __init__(
        self,
        registry: WebhookRegistry,
        *,
        retry_delays: Sequence[float] = RETRY_DELAYS,
        deactivate_after: int = DEACTIVATE_AFTER,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.registry = registry
        self.retry_delays = tuple(retry_delays)
        self.deactivate_after = deactivate_after
        self._sleep = sleep
        self._queue: queue.Queue[Delivery | None] = queue.Queue()
        self._lock = threading.Lock()
        self._deliveries: list[Delivery] = []
        self._thread: threading.Thread | None = None
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # no proxy for targets

    @property
    def deliveries(self) -> list[Delivery]:
        with self._lock:
            return list(self._deliveries)

    def emit(
        self,
        event: str,
        payload: Any,
        *,
        event_id: str | None = None,
        created_at: datetime | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> list[Delivery]:
        """Queue ``event`` for every active webhook that subscribed to it; returns the queued deliveries.

        ``body`` replaces the whole envelope (for a shape of your own); it is still signed.
        """
        queued = []
        for webhook in self.registry.wanting(event):
            sent = (
                dict(body)
                if body is not None
                else envelope(event, payload, webhook, event_id=event_id, created_at=created_at)
            )
            queued.append(
                self.queue_body(webhook, json.dumps(sent).encode(), event=event, event_id=str(sent.get("id")))
            )
        return queued

    def queue_body(self, webhook: Webhook, raw: bytes, *, event: str, event_id: str) -> Delivery:
        """Queue these exact bytes for ``webhook``, signed with its secret (a resend, a body of your own)."""
        delivery = Delivery(webhook.id, event_id, event, webhook.target_url, raw)
        with self._lock:
            self._deliveries.append(delivery)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="truto-sandbox-webhooks", daemon=True)
                self._thread.start()
        self._queue.put(delivery)
        return delivery

    def wait(self, timeout: float = 60.0) -> None:
        """Block until every queued delivery is finished (delivered, or given up after its retries)."""
        deadline = time.monotonic() + timeout
        for delivery in self.deliveries:
            if not delivery.done.wait(max(0.0, deadline - time.monotonic())):
                raise TimeoutError(
                    f"delivery {delivery.event_id} to {delivery.url} still going after {timeout:g}s"
                )

    def stop(self) -> None:
        self._queue.put(None)

    def _run(self) -> None:
        while (delivery := self._queue.get()) is not None:
            try:
                self._deliver(delivery)
            finally:
                delivery.done.set()

    def _deliver(self, delivery: Delivery) -> None:
        webhook = self.registry.get(delivery.webhook_id)
        if webhook is None or not webhook.is_active:  # switched off since it was queued: not sent
            return
        delays = (0.0, *self.retry_delays)
        for attempt, delay in enumerate(delays):
            if attempt:
                self._sleep(delay)
            if delivery.sent_at is None:
                delivery.sent_at = time.monotonic()
            started = time.monotonic()
            status, answer = self._post(webhook, delivery.body)
            delivery.seconds.append(time.monotonic() - started)
            delivery.attempts.append(status)
            delivery.answers.append(answer)
            if status == 200:
                webhook.failures_in_a_row = 0
                return
        webhook.failures_in_a_row += 1
        if webhook.failures_in_a_row >= self.deactivate_after:
            webhook.is_active = False

    def _post(self, webhook: Webhook, body: bytes) -> tuple[int, str]:
        request = urllib.request.Request(
            webhook.target_url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                SIGNATURE_HEADER: sign(webhook.secret, body),
                "User-Agent": "truto-sandbox-webhooks",
            },
        )
        try:
            with self._opener.open(request, timeout=SEND_TIMEOUT_SECONDS) as answer:
                return int(answer.status), answer.read(2000).decode("utf-8", "replace")
        except urllib.error.HTTPError as error:
            return int(error.code), error.read(2000).decode("utf-8", "replace")
        except (OSError, ValueError) as error:
            return 0, type(error).__name__


def _sql_time(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")

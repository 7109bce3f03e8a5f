"""The receiver's decision for one delivery, from raw bytes to the answer Truto gets.

::

    connection's secret -> open_delivery (size, signature, JSON, replay window) -> interpret
        -> Ignored: 200 "ignored"      -> Action: store.record_once -> 200 "recorded" | "duplicate"

Truto retries any answer but 200 (three times, within about ten seconds) and deactivates an endpoint that
keeps failing, so everything it sent that holds together is answered 200, even what is ignored; a refused
delivery gets 400 or 401, and a failure to record (the database is down) 503, so Truto tries again.

Pure: the secret and the store are handed in (:class:`SecretSource`, :class:`EventStore`), so this runs
the same behind Airflow's api-server and in a test. It never logs a body, a header or a secret.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol

from airflow_provider_truto.webhooks.delivery import SEEN_FOR, WebhookRejected, open_delivery
from airflow_provider_truto.webhooks.events import Action, Ignored, interpret

log = logging.getLogger(__name__)

# Airflow's connection ids: letters, digits, "_", "-", "." (anything else cannot name a connection).
CONN_ID_PATTERN = re.compile(r"[A-Za-z0-9_.-]{1,250}")
RECORDED, DUPLICATE, NO_CONSUMER = "recorded", "duplicate", "no consumer"
_SHAPES_LOGGED_AT_MOST = 100


class SecretSource(Protocol):
    """The ``webhook_secret`` of a ``truto`` connection; ``None`` when there is none (or no such
    connection). Raises when the secrets cannot be read at all (the answer is then 503)."""

    def __call__(self, conn_id: str) -> str | None: ...


class EventStore(Protocol):
    """Records an action's asset event unless its event id was recorded within ``seen_for``.

    Returns :data:`RECORDED`, :data:`DUPLICATE` or :data:`NO_CONSUMER` (the asset is unknown: no DAG is
    scheduled on it). Must be safe when several processes call it at once for the same event.
    """

    def record_once(self, action: Action, *, event_id: str, seen_for: timedelta) -> str: ...


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]


@dataclass
class Receiver:
    """Turns deliveries into answers. One per process; thread-safe.

    :param secret_of: reads a connection's ``webhook_secret``.
    :param store: records asset events once.
    :param clock: the current time, aware (tests pin it).
    """

    secret_of: SecretSource
    store: EventStore
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(timezone.utc))
    _shapes_logged: set[str] = field(default_factory=set, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def receive(self, conn_id: str, body: bytes, signature: str | None) -> Answer:
        """The answer to one delivery for the connection ``conn_id``."""
        try:
            secret = self.secret_of(conn_id) if CONN_ID_PATTERN.fullmatch(conn_id) else None
        except Exception as error:  # a secrets backend down: let Truto retry
            log.warning(
                "Truto webhook for %s: cannot read the connection (%s)", conn_id, type(error).__name__
            )
            return Answer(503, {"error": "the connection cannot be read now; retry"})
        try:
            delivery = open_delivery(body, signature, secret, now=self.clock())
        except WebhookRejected as rejected:
            log.info("Truto webhook for %s refused with %d: %s", conn_id, rejected.status, rejected.reason)
            return Answer(rejected.status, {"error": rejected.reason})
        decision = interpret(delivery, conn_id)
        if isinstance(decision, Ignored):
            self._log_ignored(conn_id, delivery.event, delivery.id, decision)
            return Answer(200, {"status": "ignored", "id": delivery.id, "reason": decision.reason})
        try:
            outcome = self.store.record_once(decision, event_id=delivery.id, seen_for=SEEN_FOR)
        except Exception:
            log.exception(
                "Truto webhook %s (%s) for %s: could not be recorded", delivery.id, delivery.event, conn_id
            )
            return Answer(503, {"error": "the event could not be recorded; retry"})
        log.info(
            "Truto webhook %s (%s) for %s, account %s: %s on asset %s",
            delivery.id,
            delivery.event,
            conn_id,
            decision.extra.get("integrated_account_id"),
            outcome,
            decision.asset,
        )
        return Answer(200, {"status": outcome, "id": delivery.id, "asset": decision.asset})

    def _log_ignored(self, conn_id: str, event: str, event_id: str, ignored: Ignored) -> None:
        if ignored.shape is None:
            log.info("Truto webhook %s (%s) for %s ignored: %s", event_id, event, conn_id, ignored.reason)
            return
        with self._lock:
            # Bounded: a sender inventing shapes cannot grow this set, only stop the warnings.
            first = (
                ignored.shape not in self._shapes_logged and len(self._shapes_logged) < _SHAPES_LOGGED_AT_MOST
            )
            if first:
                self._shapes_logged.add(ignored.shape)
        if first:
            log.warning(
                "Truto webhook %s for %s ignored: %s (%s); this shape is logged once",
                event_id,
                conn_id,
                ignored.reason,
                ignored.shape,
            )
        else:
            log.info("Truto webhook %s (%s) for %s ignored: %s", event_id, event, conn_id, ignored.reason)

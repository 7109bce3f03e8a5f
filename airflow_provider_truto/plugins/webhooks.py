"""The webhook receiver wired to Airflow: the secret from a ``truto`` connection, the work as asset events.

Runs in the api-server, which talks to the metadata database itself (it is no task), on Airflow 3.0 to 3.3.

**Exactly once.** :meth:`AssetEventStore.record_once` runs one transaction: it locks the asset's row (a
no-op ``UPDATE``: a row lock on PostgreSQL and MySQL, the write lock on SQLite), looks for an event of
that asset in the last ``seen_for`` whose extra holds the same event id, and records the asset event only
if there is none. A second delivery of the event, in another api-server worker or after a restart, waits
for the lock until the first commits, then finds its event: it is answered "duplicate" and changes
nothing. No table of our own (no migration to run), nothing to clean up (Airflow's ``db clean`` prunes
asset events), and the proof that an event was received is the asset event the DAG run reads.
``seen_for`` only has to cover the replay window, since an older delivery is refused before it gets here.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from airflow_provider_truto.hooks.connection_type import CONN_TYPE, WEBHOOK_SECRET_EXTRA
from airflow_provider_truto.webhooks.events import EVENT_ID, Action
from airflow_provider_truto.webhooks.receiver import DUPLICATE, NO_CONSUMER, RECORDED, Receiver

if TYPE_CHECKING:
    from fastapi import FastAPI

log = logging.getLogger(__name__)

_WARNED_AT_MOST = 100


class ConnectionSecrets:
    """Reads ``webhook_secret`` from the named ``truto`` connection (any secrets backend), each time.

    A connection that is missing, of another type or without the extra gives ``None`` (the delivery is
    then refused with 401, as a forged one is) and one warning per connection and reason, so a mistyped
    URL shows in the api-server's log without a flood from whoever probes the endpoint.
    """

    def __init__(self) -> None:
        self._warned: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    def __call__(self, conn_id: str) -> str | None:
        from airflow.exceptions import AirflowNotFoundException  # type: ignore[attr-defined]
        from airflow.models.connection import Connection

        try:
            conn = Connection.get_connection_from_secrets(conn_id)
        except AirflowNotFoundException:
            self._warn(conn_id, "no such connection")
            return None
        if conn.conn_type != CONN_TYPE:
            self._warn(conn_id, f"the connection's type is {conn.conn_type!r}, not {CONN_TYPE!r}")
            return None
        secret = (conn.extra_dejson or {}).get(WEBHOOK_SECRET_EXTRA)
        if not isinstance(secret, str) or not secret.strip():
            self._warn(conn_id, f"the connection has no {WEBHOOK_SECRET_EXTRA!r} extra")
            return None
        return secret

    def _warn(self, conn_id: str, problem: str) -> None:
        with self._lock:
            first = (conn_id, problem) not in self._warned and len(self._warned) < _WARNED_AT_MOST
            if first:
                self._warned.add((conn_id, problem))
        if first:
            log.warning("Truto webhooks for connection %r are refused: %s", conn_id, problem)


class AssetEventStore:
    """Records an action as an asset event, once per event id (see the module's docstring)."""

    def record_once(self, action: Action, *, event_id: str, seen_for: timedelta) -> str:
        from airflow.assets.manager import AssetManager
        from airflow.models.asset import AssetEvent, AssetModel
        from airflow.utils.session import create_session
        from sqlalchemy import select, update

        with create_session() as session:
            named = (AssetModel.name == action.asset, AssetModel.uri == action.asset)
            # Lock the asset's row until the commit. A no-op UPDATE, not SELECT ... FOR UPDATE: the same
            # row lock on PostgreSQL and MySQL, and on SQLite (which has no FOR UPDATE) the database's
            # write lock, taken before the look below.
            locked = session.execute(
                update(AssetModel)
                .where(*named)
                .values(updated_at=AssetModel.updated_at)
                .execution_options(synchronize_session=False)
            )
            asset = session.scalar(select(AssetModel).where(*named)) if locked.rowcount else None  # type: ignore[attr-defined]
            if asset is None:
                log.warning(
                    "Truto webhook %s: no DAG is scheduled on the asset %r, so nothing runs for it",
                    event_id,
                    action.asset,
                )
                return NO_CONSUMER
            since = datetime.now(timezone.utc) - seen_for
            extras = session.scalars(
                select(AssetEvent.extra).where(AssetEvent.asset_id == asset.id, AssetEvent.timestamp >= since)
            )
            if any(_event_id(extra) == event_id for extra in extras):
                return DUPLICATE
            event = AssetManager.register_asset_change(asset=asset, extra=dict(action.extra), session=session)
            return RECORDED if event is not None else NO_CONSUMER


def _event_id(extra: Any) -> Any:
    return extra.get(EVENT_ID) if isinstance(extra, dict) else None


_app_lock = threading.Lock()
_app: list[FastAPI] = []


def webhook_app() -> FastAPI:
    """The receiver's FastAPI app, one per process (the plugin reads ``fastapi_apps`` more than once)."""
    from airflow_provider_truto.webhooks.app import create_app

    with _app_lock:
        if not _app:
            _app.append(create_app(Receiver(secret_of=ConnectionSecrets(), store=AssetEventStore())))
        return _app[0]

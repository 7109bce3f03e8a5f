"""Where a ``truto`` connection keeps the secret Truto signs its webhooks with: the extra ``webhook_secret``.

The receiver reads it (:mod:`airflow_provider_truto.plugins.webhooks`); registering a webhook writes it
(``python -m airflow_provider_truto.webhooks register``). Its name holds "secret", so Airflow masks it
everywhere (logs, the API, the UI), and the connection form shows it as a password field.
"""

from __future__ import annotations

import json

from airflow_provider_truto.hooks.connection_type import WEBHOOK_SECRET_EXTRA

__all__ = ["WEBHOOK_SECRET_EXTRA", "connection_in_database", "receiver_url", "store_webhook_secret"]


def receiver_url(conn_id: str, base_url: str | None = None) -> str | None:
    """The receiver's URL for ``conn_id`` under ``base_url`` (default: Airflow's ``[api] base_url``, the
    api-server's public address), or ``None`` when there is none."""
    from airflow_provider_truto.plugins.truto import URL_PREFIX
    from airflow_provider_truto.webhooks.app import WEBHOOK_ROUTE

    if base_url is None:
        from airflow.configuration import conf

        base_url = conf.get("api", "base_url", fallback="")
    if not base_url or not base_url.strip():
        return None
    return base_url.strip().rstrip("/") + URL_PREFIX + WEBHOOK_ROUTE.format(conn_id=conn_id)


def connection_in_database(conn_id: str) -> bool:
    """Whether Airflow's metadata database holds the connection (one from an environment variable or a
    secrets backend is read elsewhere, and cannot be written here)."""
    from airflow.models.connection import Connection
    from airflow.utils.session import create_session
    from sqlalchemy import func, select

    with create_session() as session:
        return bool(session.scalar(select(func.count()).where(Connection.conn_id == conn_id)))


def store_webhook_secret(conn_id: str, secret: str) -> None:
    """Write ``secret`` into the connection's ``webhook_secret`` extra, in the metadata database (encrypted
    there with Airflow's Fernet key, like every extra). The other extras are kept."""
    from airflow.models.connection import Connection
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        conn = session.scalar(select(Connection).where(Connection.conn_id == conn_id))
        if conn is None:
            raise LookupError(f"connection {conn_id!r} is not in Airflow's metadata database")
        extra = dict(conn.extra_dejson or {})
        extra[WEBHOOK_SECRET_EXTRA] = secret
        conn.set_extra(json.dumps(extra))

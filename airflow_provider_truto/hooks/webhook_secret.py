"""Where a ``truto`` connection keeps the secret Truto signs its webhooks with: the extra ``webhook_secret``.

The receiver reads it (:mod:`airflow_provider_truto.plugins.webhooks`); registering a webhook writes it
(``python -m airflow_provider_truto.webhooks register``). Its name holds "secret", so Airflow masks it
everywhere (logs, the API, the UI), and the connection form shows it as a password field.
"""

from __future__ import annotations

import json

WEBHOOK_SECRET_EXTRA = "webhook_secret"


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

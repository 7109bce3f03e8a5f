"""The ``truto`` connection type as :mod:`~airflow_provider_truto.get_provider_info` declares it: its
name, the default connection id and the extras (the form's fields).

Cheap to import (it reads only the provider info's plain dict): the operators, the sensor and the trigger
read :data:`DEFAULT_CONN_ID` when a DAG is parsed.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_truto.get_provider_info import get_provider_info

CONN_TYPE = "truto"
DEFAULT_CONN_ID = "truto_default"
# The secret Truto signs webhooks with: the one extra that is a secret on purpose (a password field),
# read by the webhook receiver (airflow_provider_truto.plugins.webhooks), never by the hook.
WEBHOOK_SECRET_EXTRA = "webhook_secret"


def connection_type_info() -> dict[str, Any]:
    """The ``truto`` entry of the provider info's ``connection-types``."""
    for entry in get_provider_info()["connection-types"]:
        if entry["connection-type"] == CONN_TYPE:
            found: dict[str, Any] = entry
            return found
    raise LookupError(f"get_provider_info declares no {CONN_TYPE!r} connection type")


# Every extra the hook reads: the form's fields but the webhook secret, declared once. None may hold a word
# Airflow's secrets masker hides (token, secret, password, ...): the form would show and save "***".
CONNECTION_EXTRAS = tuple(
    name for name in connection_type_info()["conn-fields"] if name != WEBHOOK_SECRET_EXTRA
)

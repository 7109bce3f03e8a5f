"""The provider's Airflow plugin: mounts the Truto webhook receiver on the api-server at :data:`URL_PREFIX`.

Registered by the ``airflow.plugins`` entry point, so installing the provider is enough: no file in the
plugins folder, no user code. Every Airflow process that loads plugins imports this module (the scheduler,
the dag-processor, the triggerer, task runners), so it imports nothing heavy: the FastAPI app is built the
first time ``fastapi_apps`` is read, which only the api-server does (once per worker process).

The receiver's routes are not behind Airflow's login (Truto cannot log in): each delivery authenticates
itself with its signature. See docs/webhooks.md.
"""

from __future__ import annotations

from typing import Any

try:  # Airflow >= 3.1: the Task SDK's plugin base, which task runners load without Airflow's core
    from airflow.sdk.plugins_manager import AirflowPlugin
except ImportError:  # pragma: no cover - Airflow 3.0
    from airflow.plugins_manager import AirflowPlugin  # type: ignore[assignment]

PLUGIN_NAME = "truto"
URL_PREFIX = "/truto"  # the receiver answers at <api-server base URL>/truto/webhooks/<conn_id>


class _WebhookApps:
    """``fastapi_apps``, built when first read (on the class or an instance)."""

    def __get__(self, instance: object, owner: type | None = None) -> list[dict[str, Any]]:
        from airflow_provider_truto.plugins.webhooks import webhook_app

        return [{"name": "truto_webhooks", "app": webhook_app(), "url_prefix": URL_PREFIX}]


class TrutoPlugin(AirflowPlugin):
    """Serves ``POST /truto/webhooks/<conn_id>`` on Airflow's api-server."""

    name = PLUGIN_NAME
    fastapi_apps = _WebhookApps()

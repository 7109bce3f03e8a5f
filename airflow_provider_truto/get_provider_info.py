"""Provider metadata for Airflow's providers manager: a plain dict, no imports."""

from __future__ import annotations

from typing import Any


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "airflow-provider-truto",
        "name": "Truto",
        "description": "Truto's unified API: join Slack channels and reach every unified model.",
        "versions": ["0.1.0"],
        "integrations": [
            {
                "integration-name": "Truto",
                "external-doc-url": "https://truto.one/docs",
                "tags": ["service"],
            }
        ],
        "operators": [
            {
                "integration-name": "Truto",
                "python-modules": [
                    "airflow_provider_truto.operators.instant_messaging",
                    "airflow_provider_truto.operators.unified",
                ],
            }
        ],
        "sensors": [
            {"integration-name": "Truto", "python-modules": ["airflow_provider_truto.sensors.truto"]}
        ],
        "triggers": [
            {"integration-name": "Truto", "python-modules": ["airflow_provider_truto.triggers.truto"]}
        ],
        "hooks": [{"integration-name": "Truto", "python-modules": ["airflow_provider_truto.hooks.truto"]}],
        "connection-types": [
            {
                "connection-type": "truto",
                "hook-class-name": "airflow_provider_truto.hooks.truto.TrutoHook",
                "hook-name": "Truto",
                # The connection form. Airflow 3.2+ reads it from here; 3.0 and 3.1 read the same
                # fields through TrutoHook.get_connection_form_widgets / get_ui_field_behaviour, which
                # derive them from this dict (airflow_provider_truto.hooks.form). No field has a
                # "default": the UI would save it into every connection (and a later change of a
                # default would never reach them). Airflow 3's form has no placeholder for extra
                # fields, so each description says what an empty field means. No extra's name may
                # contain a word Airflow's secrets masker hides (token, secret, password, ...): the
                # form would show and save "***". The one exception is webhook_secret, a secret on
                # purpose: a password field ("format": "password"), masked everywhere.
                "conn-fields": {
                    "integrated_account_id": {
                        "label": "Default integrated account ID",
                        "schema": {"type": ["string", "null"]},
                        "description": (
                            "The connected account that tasks act on when they name none. "
                            "Empty: every task must name its account."
                        ),
                    },
                    "timeout": {
                        "label": "Timeout (seconds)",
                        "schema": {"type": ["number", "null"]},
                        "description": "How long to wait for each HTTP attempt. Empty: 30 seconds.",
                    },
                    "max_retries": {
                        "label": "Max retries",
                        "schema": {"type": ["integer", "null"]},
                        "description": (
                            "Retries of 429, 408, 500, 502, 504 and dropped connections. Empty: 5."
                        ),
                    },
                    "rate_limit": {
                        "label": "Per-account rate limit",
                        "schema": {"type": ["string", "null"]},
                        "description": (
                            "Client-side pacing of each integrated account, as REQUESTS/SECONDS. "
                            "Empty: 50/10 (Truto's limit). 'off': no pacing."
                        ),
                    },
                    "environment_rate_limit": {
                        "label": "Per-environment rate limit",
                        "schema": {"type": ["string", "null"]},
                        "description": (
                            "Client-side pacing of the API token across all its accounts (a token "
                            "belongs to one environment), as REQUESTS/SECONDS. "
                            "Empty: 500/10 (Truto's limit). 'off': no pacing."
                        ),
                    },
                    "rate_limit_redis_conn_id": {
                        "label": "Redis connection for shared pacing",
                        "schema": {"type": ["string", "null"]},
                        "description": (
                            "The ID of a connection of type redis that keeps both pacing budgets for "
                            "every host (needs airflow-provider-truto[redis]). Empty: lock files on "
                            "each host."
                        ),
                    },
                    "page_cap": {
                        "label": "Page cap",
                        "schema": {"type": ["integer", "null"], "minimum": 1},
                        "description": (
                            "The most pages one list walk reads before it fails, so a list whose cursor "
                            "never ends cannot run forever. Empty: 10000."
                        ),
                    },
                    "max_response_mb": {
                        "label": "Max response size (MB)",
                        "schema": {"type": ["number", "null"]},
                        "description": "The largest answer accepted, in megabytes. Empty: 50.",
                    },
                    "webhook_secret": {
                        "label": "Webhook signing secret",
                        "schema": {"type": ["string", "null"], "format": "password"},
                        "description": (
                            "The secret Truto signs webhooks with, for the receiver at "
                            "/truto/webhooks/<this connection's ID> (see docs/webhooks.md). "
                            "Empty: webhooks for this connection are refused."
                        ),
                    },
                },
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "port", "login"],
                    "relabeling": {"password": "API token", "host": "Base URL"},
                    "placeholders": {
                        "host": "https://api.truto.one",
                        "password": "Truto API token",
                    },
                },
            }
        ],
    }

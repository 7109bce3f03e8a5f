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
                "conn-fields": {
                    "integrated_account_id": {
                        "label": "Default integrated account ID",
                        "schema": {"type": ["string", "null"]},
                        "description": "The connected account to act on when a task names none.",
                    },
                    "timeout": {
                        "label": "Timeout (seconds)",
                        "schema": {"type": ["number", "null"], "default": 30},
                        "description": "How long to wait for each HTTP attempt.",
                    },
                    "max_retries": {
                        "label": "Max retries",
                        "schema": {"type": ["integer", "null"], "default": 5},
                        "description": "Retries of 429, 408, 500, 502, 504 and dropped connections.",
                    },
                    "rate_limit": {
                        "label": "Per-account rate limit",
                        "schema": {"type": ["string", "null"], "default": "50/10"},
                        "description": "REQUESTS/SECONDS paced per integrated account, or 'off'.",
                    },
                    "environment_rate_limit": {
                        "label": "Per-environment rate limit",
                        "schema": {"type": ["string", "null"], "default": "500/10"},
                        "description": "REQUESTS/SECONDS paced for the API token (one per environment), "
                        "or 'off'.",
                    },
                    "page_cap": {
                        "label": "Page cap",
                        "schema": {"type": ["integer", "null"], "minimum": 1},
                        "description": "The most pages one list walk reads before it fails (default 10000).",
                    },
                    "max_response_mb": {
                        "label": "Max response size (MB)",
                        "schema": {"type": ["number", "null"]},
                        "description": "The largest answer accepted, in megabytes (default 50).",
                    },
                },
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "port", "login", "extra"],
                    "relabeling": {"password": "API token", "host": "Base URL"},
                    "placeholders": {
                        "host": "https://api.truto.one",
                        "password": "Truto API token",
                    },
                },
            }
        ],
    }

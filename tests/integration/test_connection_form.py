"""The ``truto`` connection form as Airflow's UI receives it: the api-server's ``/ui/connections/hook_meta``.

Airflow 3.2+ build it from ``get_provider_info`` (``conn-fields``); 3.0 and 3.1 from the hook's
``get_connection_form_widgets`` / ``get_ui_field_behaviour``. The same checks run on every release the
suite runs on (3.3.2 here, 3.0.6 in the matrix), so both paths are held to one form.

Airflow 3's React form shows a placeholder for the standard fields only; for an extra field it shows the
label (``schema.title``) and the description. So the default of an extra lives in its description
("Empty: ..."), and no extra carries a value that saving the form would write into the connection.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_truto.client.config import (
    DEFAULT_ACCOUNT_RATE_LIMIT,
    DEFAULT_BASE_URL,
    DEFAULT_ENVIRONMENT_RATE_LIMIT,
    DEFAULT_MAX_RESPONSE_MB,
    DEFAULT_MAX_RETRIES,
    DEFAULT_PAGE_CAP,
    DEFAULT_TIMEOUT_SECONDS,
)
from airflow_provider_truto.hooks.truto import TrutoHook
from airflow_provider_truto.hooks.webhook_secret import WEBHOOK_SECRET_EXTRA
from tests.support.airflow_home import airflow_env
from tests.support.helpers import EXAMPLE_DAGS

pytestmark = pytest.mark.integration

# What a user must see: label, and what an empty field means (the client's default).
EXTRA_FIELDS = {
    "integrated_account_id": ("Default integrated account ID", "Empty: every task must name its account"),
    "timeout": ("Timeout (seconds)", f"Empty: {DEFAULT_TIMEOUT_SECONDS:g} seconds"),
    "max_retries": ("Max retries", f"Empty: {DEFAULT_MAX_RETRIES}"),
    "rate_limit": ("Per-account rate limit", f"Empty: {DEFAULT_ACCOUNT_RATE_LIMIT}"),
    "environment_rate_limit": ("Per-environment rate limit", f"Empty: {DEFAULT_ENVIRONMENT_RATE_LIMIT}"),
    "rate_limit_redis_conn_id": ("Redis connection for shared pacing", "Empty: lock files on each host"),
    "page_cap": ("Page cap", f"Empty: {DEFAULT_PAGE_CAP}"),
    "max_response_mb": ("Max response size (MB)", f"Empty: {DEFAULT_MAX_RESPONSE_MB:g}"),
    "webhook_secret": ("Webhook signing secret", "Empty: webhooks for this connection are refused"),
}
# Secrets on purpose: password fields, which Airflow masks everywhere. Every other extra must not be masked.
SECRET_EXTRAS = {WEBHOOK_SECRET_EXTRA}
SHOWN = {"host": ("Base URL", DEFAULT_BASE_URL), "password": ("API token", "Truto API token")}
HIDDEN = ("url_schema", "port", "login")

# The api-server's app, made as Airflow's own API tests make it, asked as the UI asks: a token from the
# simple auth manager (all admins), then the hook metadata.
HOOK_META = """
import json
from fastapi.testclient import TestClient
from airflow.api_fastapi.app import create_app

client = TestClient(create_app())
token = client.get("/auth/token")
assert token.status_code == 201, token.text
client.headers["Authorization"] = "Bearer " + token.json()["access_token"]
answer = client.get("/ui/connections/hook_meta")
assert answer.status_code == 200, answer.text
print("HOOK_META " + json.dumps(answer.json()))
"""


def sensitive_words() -> frozenset[str]:
    """Airflow's own list of the words that make its secrets masker hide a connection extra."""
    try:  # Airflow >= 3.1
        from airflow._shared.secrets_masker.secrets_masker import DEFAULT_SENSITIVE_FIELDS
    except ImportError:  # Airflow 3.0
        from airflow.sdk.execution_time.secrets_masker import (  # type: ignore[no-redef]
            DEFAULT_SENSITIVE_FIELDS,
        )
    words = frozenset(DEFAULT_SENSITIVE_FIELDS)
    assert {"token", "secret", "password", "api_key"} <= words
    return words


@pytest.fixture(scope="module")
def truto_meta(airflow_home: Path) -> dict[str, Any]:
    env = airflow_env(
        airflow_home,
        dags_folder=EXAMPLE_DAGS,
        AIRFLOW__CORE__AUTH_MANAGER="airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS="True",
        # Airflow 3.0 signs an empty issuer list, which PyJWT >= 2.10 refuses: name one.
        AIRFLOW__API_AUTH__JWT_ISSUER="airflow-provider-truto-tests",
    )
    done = subprocess.run(
        [sys.executable, "-c", HOOK_META], env=env, capture_output=True, text=True, timeout=300
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("HOOK_META ")]
    assert done.returncode == 0 and lines, done.stdout[-3000:] + done.stderr[-3000:]
    by_type = {item["connection_type"]: item for item in json.loads(lines[-1].removeprefix("HOOK_META "))}
    assert "truto" in by_type, sorted(by_type)
    return by_type["truto"]


def test_hook_meta_names_the_truto_hook(truto_meta: dict[str, Any]) -> None:
    assert truto_meta["hook_name"] == "Truto"
    assert truto_meta["hook_class_name"] == "airflow_provider_truto.hooks.truto.TrutoHook"


def test_standard_fields_relabelled_with_placeholders_unused_ones_hidden(truto_meta: dict[str, Any]) -> None:
    standard = truto_meta["standard_fields"]
    assert standard, "no field behaviour: the form would show Airflow's generic fields"
    for name, (title, placeholder) in SHOWN.items():
        assert standard[name] == {"hidden": False, "title": title, "placeholder": placeholder}, name
    for name in HIDDEN:
        assert standard[name]["hidden"] is True, name


def test_every_extra_field_has_its_label_and_says_what_empty_means(truto_meta: dict[str, Any]) -> None:
    extras = truto_meta["extra_fields"]
    assert extras, "no extra fields: the form would offer only the JSON editor"
    assert list(extras) == list(EXTRA_FIELDS)  # the order the form shows them in
    for name, (label, empty) in EXTRA_FIELDS.items():
        field = extras[name]
        assert field["schema"]["title"] == label, name
        assert empty in field["description"], (name, field["description"])
        # No value: saving the form untouched writes no default into the connection.
        assert field["value"] is None, (name, field["value"])
        assert "default" not in field["schema"], (name, field["schema"])
        assert "null" in field["schema"]["type"], (name, field["schema"])


def test_only_the_secret_extras_are_ones_airflow_masks_and_they_are_password_fields(
    truto_meta: dict[str, Any],
) -> None:
    words = sensitive_words()
    # The secrets masker hides any key that contains a sensitive word; the form would show "***".
    masked = {name for name in truto_meta["extra_fields"] if any(w in name.lower() for w in words)}
    assert masked == SECRET_EXTRAS
    passwords = {
        name
        for name, field in truto_meta["extra_fields"].items()
        if field["schema"].get("format") == "password"
    }
    assert passwords == SECRET_EXTRAS


def test_hook_form_methods_match_the_provider_info_with_real_wtforms() -> None:
    """The 3.0/3.1 path outside the api-server (which swaps in stand-ins): real WTForms fields."""
    behaviour = TrutoHook.get_ui_field_behaviour()
    assert behaviour == {
        "hidden_fields": ["schema", "port", "login"],
        "relabeling": {"password": "API token", "host": "Base URL"},
        "placeholders": {"host": DEFAULT_BASE_URL, "password": "Truto API token"},
    }
    widgets = TrutoHook.get_connection_form_widgets()
    assert list(widgets) == list(EXTRA_FIELDS)
    for name, (label, _) in EXTRA_FIELDS.items():
        unbound = widgets[name]
        assert unbound.args[0] == label, name
        assert "default" not in unbound.kwargs, name
    assert widgets["max_retries"].field_class.__name__ == "IntegerField"
    # Airflow 3.0/3.1 accept no FloatField: the timeout is text, and the hook reads numbers from text.
    assert widgets["timeout"].field_class.__name__ == "StringField"
    assert {name for name, w in widgets.items() if w.field_class.__name__ == "PasswordField"} == SECRET_EXTRAS


def test_form_modules_import_no_wtforms() -> None:
    code = (
        "import sys; import airflow_provider_truto.hooks.truto, airflow_provider_truto.get_provider_info; "
        "print('wtforms' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "False"

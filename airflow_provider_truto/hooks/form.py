"""The ``truto`` connection form for Airflow 3.0 and 3.1, derived from the provider info.

Airflow 3.2 and later read the form from ``get_provider_info`` (``conn-fields`` and
``ui-field-behaviour``) and, when those are there, never call the hook's form methods. Airflow 3.0 and
3.1 read only the hook's ``get_connection_form_widgets`` and ``get_ui_field_behaviour``. Both are built
here from the one dict in :mod:`airflow_provider_truto.get_provider_info`, so every release shows the
same fields, labels and descriptions.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_truto.hooks.connection_type import connection_type_info


def ui_field_behaviour() -> dict[str, Any]:
    """Hidden, relabelled and placeholder-carrying standard fields (``get_ui_field_behaviour``)."""
    behaviour = connection_type_info()["ui-field-behaviour"]
    return {
        "hidden_fields": list(behaviour["hidden-fields"]),
        "relabeling": dict(behaviour["relabeling"]),
        "placeholders": dict(behaviour["placeholders"]),
    }


def connection_form_widgets() -> dict[str, Any]:
    """The extra fields as WTForms fields, as ``get_connection_form_widgets`` returns them.

    Airflow 3.0 and 3.1 accept only ``StringField``, ``IntegerField``, ``PasswordField`` and
    ``BooleanField``, so a ``number`` (the timeout) is a ``StringField``: the hook reads numbers from text,
    and a ``"format": "password"`` field (the webhook secret) is a ``PasswordField``.
    No field gets a ``default``: Airflow would save it into every new connection. The api-server swaps
    these classes for stand-ins when it builds the form's metadata, and its React form ignores
    Flask-AppBuilder widgets, so none are given.
    """
    # Imported here, not at module level: only the api-server's form metadata needs WTForms.
    from wtforms import IntegerField, PasswordField, StringField

    widgets: dict[str, Any] = {}
    for name, field in connection_type_info()["conn-fields"].items():
        schema = field["schema"]
        if schema.get("format") == "password":
            field_class: Any = PasswordField
        else:
            field_class = IntegerField if "integer" in schema["type"] else StringField
        widgets[name] = field_class(field["label"], description=field.get("description", ""))
    return widgets

"""Truto's unified API as data: its standard methods, its response formats, the channel model's names.

The one owner of these facts: the clients, the hook, the operators and the trigger read them from here.
Imported when a DAG is parsed (the operators check their arguments with it), so it imports nothing but the
error tree.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_truto.exceptions import TrutoInputError

# The standard methods and their HTTP methods; any other name is a custom method (POST), such as "join".
UNIFIED_METHODS = {"list": "GET", "get": "GET", "create": "POST", "update": "PATCH", "delete": "DELETE"}
METHODS_WITH_RESOURCE_ID = frozenset({"get", "update", "delete"})
READ_METHODS = frozenset(name for name, verb in UNIFIED_METHODS.items() if verb == "GET")
# truto_response_format: "unified" is Truto's default, so it is never sent.
RESPONSE_FORMATS = ("unified", "raw", "normalized", "stream")

INSTANT_MESSAGING = "instant-messaging"
CHANNELS = "channels"


def check_response_format(value: Any) -> str:
    """``response_format`` must be one of :data:`RESPONSE_FORMATS`."""
    if value not in RESPONSE_FORMATS:
        raise TrutoInputError(
            "response_format", f"must be one of {', '.join(RESPONSE_FORMATS)}, got {value!r}"
        )
    return str(value)

"""Truto's unified API as data: its methods, its response formats, a unified call and a unified list.

The one owner of these facts: the clients, the hook and the operators read them from here.
:class:`UnifiedCall` spells the arguments of a unified call once: ``TrutoClient.unified``,
``AsyncTrutoClient.unified`` and ``TrutoHook.unified`` take exactly its arguments
(:func:`takes_unified_call`) instead of each restating them; :class:`UnifiedList` does the same for a
list walked page by page (``TrutoHook.list_unified``, ``AsyncTrutoClient.paginate_unified``). Cheap to
import (operators read it when a DAG is parsed): no HTTP.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import KW_ONLY, dataclass
from typing import Any

from airflow_provider_truto.exceptions import TrutoInputError
from airflow_provider_truto.signatures import taking
from airflow_provider_truto.validation import require_id
from airflow_provider_truto.wire import path_segment, query_pairs

# The standard methods and their HTTP methods; any other name is a custom method (POST), such as "join".
UNIFIED_METHODS = {"list": "GET", "get": "GET", "create": "POST", "update": "PATCH", "delete": "DELETE"}
METHODS_WITH_RESOURCE_ID = frozenset({"get", "update", "delete"})
READ_METHODS = frozenset(name for name, verb in UNIFIED_METHODS.items() if verb == "GET")
# truto_response_format: "unified" is Truto's default, so it is never sent.
RESPONSE_FORMATS = ("unified", "raw", "normalized", "stream")

INSTANT_MESSAGING = "instant-messaging"
CHANNELS = "channels"


@dataclass(frozen=True)
class UnifiedCall:
    """One call to ``/unified/{model}/{resource}[/{resource_id}|/{custom method}]``.

    :param model: the unified model, e.g. ``instant-messaging``, ``crm``.
    :param resource: the resource, e.g. ``channels``.
    :param method: ``list`` (one page), ``get``, ``create``, ``update``, ``delete`` or a custom method
        such as ``join``.
    :param resource_id: the item of ``get``, ``update`` and ``delete``.
    :param integrated_account_id: the account; ``None``: the connection's.
    :param query: query parameters, nested as Truto reads them.
    :param body: the JSON body.
    :param idempotency_key: the ``Idempotency-Key`` of a write; ``None``: a new one per call.
    """

    model: str
    resource: str
    method: str = "list"
    _: KW_ONLY
    resource_id: str | None = None
    integrated_account_id: str | None = None
    query: Mapping[str, Any] | None = None
    body: Mapping[str, Any] | None = None
    idempotency_key: str | None = None

    def endpoint(self) -> tuple[str, str]:
        """The HTTP method and path; bad arguments are named before any request."""
        return unified_path(self.model, self.resource, self.method, self.resource_id)

    def result(self, answer: Any) -> Any:
        """The answer as callers get it: a custom method's ``{"result": {...}}`` wrapper is removed."""
        if self.method not in UNIFIED_METHODS and _is_wrapped_result(answer):
            return answer["result"]
        return answer


def unified_path(model: str, resource: str, method: str, resource_id: str | None) -> tuple[str, str]:
    """The HTTP method and path of a unified call; unknown method names are custom methods (POST)."""
    segments = []
    for argument, value in (("model", model), ("resource", resource), ("method", method)):
        require_id(argument, value)
        if "/" in value or value != value.strip():
            raise TrutoInputError(argument, f"must be a single path segment, got {value!r}")
        segments.append(path_segment(argument, value))
    base = f"/unified/{segments[0]}/{segments[1]}"
    if method in METHODS_WITH_RESOURCE_ID:
        return UNIFIED_METHODS[method], f"{base}/{path_segment('resource_id', resource_id)}"
    if resource_id is not None:
        raise TrutoInputError("resource_id", f"is not used by the {method!r} method")
    if method in UNIFIED_METHODS:
        return UNIFIED_METHODS[method], base
    return "POST", f"{base}/{segments[2]}"


def check_response_format(value: Any) -> str:
    """``response_format`` must be one of :data:`RESPONSE_FORMATS`."""
    if value not in RESPONSE_FORMATS:
        raise TrutoInputError(
            "response_format", f"must be one of {', '.join(RESPONSE_FORMATS)}, got {value!r}"
        )
    return str(value)


def response_options(
    response_format: str,
    exclude_fields: Sequence[str] | None,
    ignore_remote_data: bool,
    remote_query: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """The ``truto_*`` and ``remote_query`` query parameters, validated."""
    check_response_format(response_format)
    if exclude_fields is not None and (
        isinstance(exclude_fields, str) or not all(isinstance(f, str) and f for f in exclude_fields)
    ):
        raise TrutoInputError("exclude_fields", "must be a list of field names")
    if remote_query is not None and not isinstance(remote_query, Mapping):
        raise TrutoInputError("remote_query", f"must be a mapping, got {type(remote_query).__name__}")
    query_pairs({"remote_query": remote_query}, "remote_query")
    return {
        "truto_response_format": None if response_format == "unified" else response_format,
        "truto_ignore_remote_data": True if ignore_remote_data else None,
        "truto_exclude_fields": list(exclude_fields) if exclude_fields else None,
        "remote_query": dict(remote_query) if remote_query else None,
    }


def _is_wrapped_result(answer: Any) -> bool:
    return isinstance(answer, dict) and isinstance(answer.get("result"), dict) and "id" not in answer


@dataclass(frozen=True)
class UnifiedList:
    """Every item of a unified list, walked page by page.

    :param model: the unified model, e.g. ``instant-messaging``.
    :param resource: the resource, e.g. ``channels``.
    :param integrated_account_id: the account; ``None``: the connection's.
    :param query: query parameters, nested as Truto reads them.
    :param limit: the page size; ``None``: Truto's default.
    :param max_pages: stop after this many pages; ``None``: read to the end.
    """

    model: str
    resource: str
    _: KW_ONLY
    integrated_account_id: str | None = None
    query: Mapping[str, Any] | None = None
    limit: int | None = None
    max_pages: int | None = None


takes_unified_call = taking(UnifiedCall)
"""For ``def unified(self, call: UnifiedCall)``, called as ``unified("crm", "contacts", "get", ...)``."""
takes_unified_list = taking(UnifiedList)
"""For ``def list_unified(self, listing: UnifiedList)``, called as ``list_unified("crm", "contacts")``."""

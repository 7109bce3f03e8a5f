"""A Truto request as it goes on the wire, prepared once for either transport.

A call is a value: :class:`ApiCall` (any path), :class:`UnifiedCall` (a unified model's method) or
:class:`UnifiedList` (a unified list walked page by page). :meth:`ApiCall.prepare` turns one into a
:class:`PreparedRequest`: the URL with its quoted path segments, the query in Truto's conventions, the
JSON body, the per-request headers and the ``Idempotency-Key`` of a write. The sync and async clients send
exactly what it prepared; every argument check here happens before any request goes out, naming the
argument. Each value's arguments are spelled once, in its class: the clients' and the hook's methods take
them through :func:`takes_api_call`, :func:`takes_unified_call` and :func:`takes_unified_list`.

No HTTP library here (stdlib, with the package's query, validation and error modules).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import KW_ONLY, dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from airflow_provider_truto import __version__
from airflow_provider_truto.client.content_encoding import ACCEPT_ENCODING
from airflow_provider_truto.client.query import encode_query
from airflow_provider_truto.client.signatures import taking
from airflow_provider_truto.client.unified_api import (
    METHODS_WITH_RESOURCE_ID,
    UNIFIED_METHODS,
    check_response_format,
)
from airflow_provider_truto.client.validation import given, optional_header_value, require_segment
from airflow_provider_truto.exceptions import TrutoInputError

USER_AGENT = f"airflow-provider-truto/{__version__}"
WRITE_METHODS = frozenset({"POST", "PATCH"})


@dataclass(frozen=True)
class PreparedRequest:
    """One call, ready to send (and to re-send, unchanged, on every retry).

    :param call: ``"METHOD /path"``, how messages and logs name the call (never the query: it may be long).
    :param account: the integrated account the call spends the rate budget of, if any.
    """

    method: str
    url: str
    params: list[tuple[str, str]]
    body: bytes | None
    headers: dict[str, str]
    call: str
    account: str | None


@dataclass(frozen=True)
class ApiCall:
    """One call to any path of Truto's API, as a caller gives it.

    :param method: the HTTP method.
    :param path: the path below the base URL, e.g. ``/integrated-account``.
    :param query: query parameters, nested as Truto reads them (``None`` values are left out).
    :param body: the JSON body.
    :param idempotency_key: the ``Idempotency-Key`` of a POST or PATCH; ``None``: a new one per call.
    """

    method: str
    path: str
    _: KW_ONLY
    query: Mapping[str, Any] | None = None
    body: Mapping[str, Any] | None = None
    idempotency_key: str | None = None

    def prepare(self, base_url: str) -> PreparedRequest:
        """The request for this call; bad arguments are named here, before anything is sent.

        A POST or PATCH carries an ``Idempotency-Key``, generated here unless given: made once per call,
        before any attempt, it is the same on every retry, so a retried write can never act twice.
        """
        method = self.method.upper()
        data = json_body(self.body)
        key = optional_header_value("idempotency_key", given(self.idempotency_key))
        headers = {"Content-Type": "application/json"} if data is not None else {}
        if method in WRITE_METHODS:
            headers["Idempotency-Key"] = key or str(uuid.uuid4())
        account = (self.query or {}).get("integrated_account_id")
        url = base_url + self.path
        return PreparedRequest(
            method=method,
            url=url,
            params=query_pairs(self.query),
            body=data,
            headers=headers,
            call=f"{method} {urlsplit(url).path}",  # a Base URL's own path included
            account=account if isinstance(account, str) else None,
        )


takes_api_call = taking(ApiCall)
"""For ``def request(self, call: ApiCall)``, called as ``request("GET", "/path", query=...)``."""


def default_headers(token: str) -> dict[str, str]:
    """The headers every Truto call carries, set once per client (sync and async alike); only the
    codings the client undoes itself are asked for (:mod:`.content_encoding`)."""
    return {
        "Authorization": f"Bearer {token}",
        "Accept": "application/json",
        "Accept-Encoding": ACCEPT_ENCODING,
        "User-Agent": USER_AGENT,
    }


def query_pairs(query: Mapping[str, Any] | None, argument: str = "query") -> list[tuple[str, str]]:
    """The query as Truto reads it; what it cannot express (lists of objects) is named as ``argument``."""
    try:
        return encode_query(query)
    except TypeError as error:
        problem = str(error)
    raise TrutoInputError(argument, problem)


def json_body(body: Mapping[str, Any] | None, argument: str = "body") -> bytes | None:
    """A request body as strict JSON; values JSON cannot hold (sets, objects, NaN) are named."""
    if body is None:
        return None
    try:
        return json.dumps(body, separators=(",", ":"), allow_nan=False).encode()
    except (TypeError, ValueError) as error:
        problem = (
            f"must hold only JSON values (objects, lists, text, finite numbers, true/false, null): {error}"
        )
    raise TrutoInputError(argument, problem)


def path_segment(argument: str, value: Any) -> str:
    """One path segment from an argument (:func:`~airflow_provider_truto.client.validation.require_segment`),
    percent-quoted (``/``, ``?`` and ``#`` included)."""
    return quote(require_segment(argument, value), safe="")


# -- the unified API -------------------------------------------------------------------------------------


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
    segments = [
        quote(require_segment(argument, value, name=True), safe="")
        for argument, value in (("model", model), ("resource", resource), ("method", method))
    ]
    base = f"/unified/{segments[0]}/{segments[1]}"
    if method in METHODS_WITH_RESOURCE_ID:
        return UNIFIED_METHODS[method], f"{base}/{path_segment('resource_id', resource_id)}"
    if resource_id is not None:
        raise TrutoInputError("resource_id", f"is not used by the {method!r} method")
    if method in UNIFIED_METHODS:
        return UNIFIED_METHODS[method], base
    return "POST", f"{base}/{segments[2]}"


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

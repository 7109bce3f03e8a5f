"""A Truto request as it goes on the wire, prepared once for either transport.

:meth:`ApiCall.prepare` turns a call (method, path, query, body, idempotency key) into a
:class:`PreparedRequest`: the URL, the query in Truto's conventions, the JSON body, the per-request
headers and the ``Idempotency-Key`` of a write. The sync and async clients send exactly what it prepared;
every argument check here happens before any request goes out, naming the argument.

Stdlib only (with the package's query, validation and error modules).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import KW_ONLY, dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from airflow_provider_truto import __version__
from airflow_provider_truto.exceptions import TrutoInputError
from airflow_provider_truto.query import encode_query
from airflow_provider_truto.signatures import taking
from airflow_provider_truto.validation import require_id

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
        headers = {"Content-Type": "application/json"} if data is not None else {}
        if method in WRITE_METHODS:
            headers["Idempotency-Key"] = self.idempotency_key or str(uuid.uuid4())
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
    """The headers every Truto call carries, set once per client (sync and async alike)."""
    return {"Authorization": f"Bearer {token}", "Accept": "application/json", "User-Agent": USER_AGENT}


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
    """One path segment from an argument, percent-quoted (``/``, ``?`` and ``#`` included).

    ``.`` and ``..`` are refused: quoting leaves them as they are, and HTTP clients resolve them, so
    ``get_channel(".")`` would fetch the channel list and ``..`` would reach another endpoint.
    """
    value = require_id(argument, value)
    if value in (".", ".."):
        raise TrutoInputError(argument, f"must not be {value!r}: it would change the path of the call")
    return quote(value, safe="")

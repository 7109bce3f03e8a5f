"""TrutoUnifiedApiOperator: one call to any of Truto's unified models, its answer in XCom."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_truto.client.unified_api import METHODS_WITH_RESOURCE_ID, READ_METHODS
from airflow_provider_truto.client.validation import (
    given,
    optional_count,
    optional_id,
    require_id,
    require_segment,
)
from airflow_provider_truto.exceptions import TrutoInputError
from airflow_provider_truto.hooks.connection_type import DEFAULT_CONN_ID
from airflow_provider_truto.operators.idempotency import task_idempotency_key

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_truto.hooks.truto import TrutoHook

# A list task's items all land in one XCom row of the metadata DB. 10,000 unified items (a few KB each
# with remote_data) is already tens of MB there; counted in items, not pages, because the page size
# (``limit``) varies and what a row holds is items.
DEFAULT_MAX_ITEMS = 10_000


class TrutoUnifiedApiOperator(BaseOperator):
    """Call ``/unified/{model}/{resource}`` through Truto and return the answer (XCom ``return_value``).

    ``method="list"`` reads every page (or the first ``max_pages``) and returns all items as one list,
    at most ``max_items`` of them: a longer list fails the task with :class:`TrutoTooManyItemsError`
    rather than push an unbounded list to XCom (stream such lists to storage from a task with
    :meth:`TrutoHook.list_unified` instead);
    ``get``, ``create``, ``update``, ``delete`` and custom methods (such as ``join``) return Truto's
    answer object (a custom method's ``{"result": {...}}`` wrapper is removed). Writes carry an
    idempotency key derived from the DAG run, task and map index, so an Airflow retry of the task never
    writes twice; pass ``idempotency_key`` to choose your own. Arguments are checked before any request.

    :param model: the unified model, e.g. ``instant-messaging``, ``crm``, ``ticketing``.
    :param resource: the resource, e.g. ``channels``, ``contacts``.
    :param method: ``list`` (default), ``get``, ``create``, ``update``, ``delete`` or a custom method name.
    :param resource_id: the item for ``get``, ``update`` and ``delete`` (templated).
    :param integrated_account_id: the connected account; defaults to the connection's (templated).
    :param query: query parameters, a mapping or JSON text, nested as Truto reads them
        (``{"workspace": {"id": "W1"}}`` is sent as ``workspace[id]=W1``) (templated).
    :param body: the JSON body of ``create``, ``update``, ``delete`` and custom methods, a mapping or
        JSON text (templated).
    :param max_pages: with ``list``, stop after this many pages.
    :param limit: with ``list``, the page size.
    :param max_items: with ``list``, the most items the task returns (default 10,000); ``None``: no cap.
    :param idempotency_key: the ``Idempotency-Key`` of a write (templated); default derived from the run.
    :param truto_conn_id: the Airflow connection of type ``truto``.
    """

    template_fields: Sequence[str] = (
        "resource_id",
        "integrated_account_id",
        "query",
        "body",
        "idempotency_key",
    )
    template_fields_renderers = {"query": "json", "body": "json"}
    ui_color = "#e3f2fd"

    def __init__(
        self,
        *,
        model: str,
        resource: str,
        method: str = "list",
        resource_id: str | None = None,
        integrated_account_id: str | None = None,
        query: Mapping[str, Any] | None = None,
        body: Mapping[str, Any] | None = None,
        max_pages: int | None = None,
        limit: int | None = None,
        max_items: int | None = DEFAULT_MAX_ITEMS,
        idempotency_key: str | None = None,
        truto_conn_id: str = DEFAULT_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.model = model
        self.resource = resource
        self.method = method
        self.resource_id = resource_id
        self.integrated_account_id = integrated_account_id
        self.query = query
        self.body = body
        self.max_pages = max_pages
        self.limit = limit
        self.max_items = max_items
        self.idempotency_key = idempotency_key
        self.truto_conn_id = truto_conn_id
        # What needs no rendering is checked when the DAG is parsed, the rest again at run time.
        self._check_static()

    @cached_property
    def hook(self) -> TrutoHook:
        from airflow_provider_truto.hooks.truto import TrutoHook

        return TrutoHook(self.truto_conn_id)

    def execute(self, context: Context) -> Any:
        self._check_static()
        resource_id = optional_id("resource_id", self.resource_id)
        account = optional_id("integrated_account_id", self.integrated_account_id)
        query = _optional_mapping(self.query, "query")
        body = _optional_mapping(self.body, "body")
        if self.method in METHODS_WITH_RESOURCE_ID and resource_id is None:
            raise TrutoInputError("resource_id", f"is required by the {self.method!r} method")
        if self.method not in METHODS_WITH_RESOURCE_ID and resource_id is not None:
            raise TrutoInputError("resource_id", f"is not used by the {self.method!r} method")
        if self.method in READ_METHODS and body is not None:
            raise TrutoInputError("body", f"is not sent with the {self.method!r} method (a GET)")
        # Resolve the account now, so a missing one is named before any request.
        account = self.hook.account_id(account)
        if self.method == "list":
            return self._list(account, query)
        answer = self.hook.unified(
            self.model,
            self.resource,
            self.method,
            resource_id=resource_id,
            integrated_account_id=account,
            query=query,
            body=body,
            idempotency_key=None if self.method in READ_METHODS else self._idempotency_key(context, account),
        )
        self.log.info(
            "%s %s/%s%s done",
            self.method,
            self.model,
            self.resource,
            f" {resource_id}" if resource_id else "",
        )
        return answer

    def _list(self, account: str, query: Mapping[str, Any] | None) -> list[dict[str, Any]]:
        from airflow_provider_truto.exceptions import TrutoTooManyItemsError

        items: list[dict[str, Any]] = []
        pages = self.hook.list_unified(
            self.model,
            self.resource,
            integrated_account_id=account,
            query=query,
            limit=self.limit,
            max_pages=self.max_pages,
        )
        for item in pages:
            if self.max_items is not None and len(items) == self.max_items:
                # Stop at the first item over the cap: no further page is fetched, nothing is pushed.
                raise TrutoTooManyItemsError(
                    "max_items",
                    self.max_items,
                    f"the {self.model}/{self.resource} list has more than max_items={self.max_items} "
                    "items, more than this task should push to XCom. Raise max_items (None: no cap), "
                    "narrow the list with query or max_pages, or stream it to storage from a task with "
                    "TrutoHook.list_unified.",
                )
            items.append(item)
        self.log.info("Listed %d %s/%s items", len(items), self.model, self.resource)
        return items

    def _check_static(self) -> None:
        for argument in ("model", "resource", "method"):
            require_segment(argument, getattr(self, argument), name=True)
        require_id("truto_conn_id", self.truto_conn_id)
        optional_count("max_items", self.max_items)
        for argument in ("max_pages", "limit"):
            value = getattr(self, argument)
            if optional_count(argument, value) is None:
                continue
            if self.method != "list":
                raise TrutoInputError(argument, f"applies to the 'list' method only, not {self.method!r}")

    def _idempotency_key(self, context: Context, account: str) -> str:
        if self.idempotency_key:
            return str(self.idempotency_key)
        return task_idempotency_key(
            context, account, self.model, self.resource, self.method, given(self.resource_id)
        )


def _optional_mapping(value: Any, argument: str) -> Mapping[str, Any] | None:
    if given(value) is None:
        return None
    if isinstance(value, str):
        # A whole-field template renders to text unless the DAG renders native objects: take JSON.
        try:
            value = json.loads(value)
        except ValueError:
            raise TrutoInputError(
                argument, "must be a mapping or a JSON object, got unreadable text"
            ) from None
    if not isinstance(value, Mapping):
        raise TrutoInputError(argument, f"must be a mapping (a JSON object), got {type(value).__name__}")
    return value

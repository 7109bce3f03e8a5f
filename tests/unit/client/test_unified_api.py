"""The unified API's facts (airflow_provider_truto/unified_api.py): its paths and methods, a custom
method's wrapper, the response formats, and the one signature every ``unified`` method takes."""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from airflow_provider_truto.client.async_client import AsyncTrutoClient
from airflow_provider_truto.client.request import UnifiedCall, response_options, unified_path
from airflow_provider_truto.client.sync_client import TrutoClient
from airflow_provider_truto.client.unified_api import RESPONSE_FORMATS
from airflow_provider_truto.exceptions import TrutoInputError
from airflow_provider_truto.hooks.truto import TrutoHook


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"model": ""}, "model"),
        ({"resource": "a/b"}, "resource"),
        ({"method": "get"}, "resource_id"),
        ({"method": "get", "resource_id": "  "}, "resource_id"),
        ({"method": "get", "resource_id": 12}, "resource_id"),
        ({"method": "list", "resource_id": "x"}, "resource_id"),
        ({"integrated_account_id": ""}, "integrated_account_id"),
    ],
)
def test_bad_input_is_named_and_sends_nothing(
    sandbox: Any, make_client: Any, kwargs: dict, argument: str
) -> None:
    call = {"model": "instant-messaging", "resource": "channels", "method": "list", **kwargs}
    with pytest.raises(TrutoInputError) as caught:
        make_client().unified(call.pop("model"), call.pop("resource"), call.pop("method"), **call)
    assert caught.value.argument == argument and argument in str(caught.value)
    assert sandbox.requests == []


@pytest.mark.parametrize(
    ("method", "resource_id", "expected"),
    [
        ("list", None, ("GET", "/unified/crm/contacts")),
        ("create", None, ("POST", "/unified/crm/contacts")),
        ("get", "c 1/x", ("GET", "/unified/crm/contacts/c%201%2Fx")),
        ("update", "c1", ("PATCH", "/unified/crm/contacts/c1")),
        ("delete", "c1", ("DELETE", "/unified/crm/contacts/c1")),
        ("join", None, ("POST", "/unified/crm/contacts/join")),
    ],
)
def test_methods_map_to_http(method: str, resource_id: str | None, expected: tuple[str, str]) -> None:
    assert unified_path("crm", "contacts", method, resource_id) == expected


def test_only_a_custom_methods_result_wrapper_is_removed() -> None:
    wrapped = {"result": {"id": "C1"}}
    assert UnifiedCall("instant-messaging", "channels", "join").result(wrapped) == {"id": "C1"}
    assert UnifiedCall("instant-messaging", "channels", "get", resource_id="C1").result(wrapped) == wrapped
    # An object that has an id of its own is the answer, whatever field it has.
    own = {"id": "C1", "result": {"id": "x"}}
    assert UnifiedCall("instant-messaging", "channels", "join").result(own) == own


def test_response_options_become_truto_query_parameters() -> None:
    assert RESPONSE_FORMATS == ("unified", "raw", "normalized", "stream")
    assert response_options("raw", ["a"], True, {"q": 1}) == {
        "truto_response_format": "raw",
        "truto_ignore_remote_data": True,
        "truto_exclude_fields": ["a"],
        "remote_query": {"q": 1},
    }
    assert set(response_options("unified", None, False, None).values()) == {None}  # nothing to send
    with pytest.raises(TrutoInputError, match="unified, raw, normalized, stream") as caught:
        response_options("xml", None, False, None)
    assert caught.value.argument == "response_format"


def test_every_unified_method_takes_the_one_signature() -> None:
    """The arguments are spelled once (UnifiedCall); help() shows them on each method."""
    expected = ["model", "resource", "method", "resource_id", "integrated_account_id", "query", "body"]
    for owner in (TrutoClient, AsyncTrutoClient, TrutoHook):
        parameters = inspect.signature(owner.unified).parameters
        assert list(parameters) == ["self", *expected, "idempotency_key"], owner
        assert parameters["method"].default == "list"
        assert parameters["query"].kind is inspect.Parameter.KEYWORD_ONLY
    assert list(inspect.signature(TrutoHook.list_unified).parameters) == [
        "self", "model", "resource", "integrated_account_id", "query", "limit", "max_pages",
    ]  # fmt: skip


def test_a_unified_call_takes_its_arguments_positionally_as_before(sandbox: Any, make_client: Any) -> None:
    page = make_client().unified("instant-messaging", "channels", "list", query={"limit": 1})
    assert len(page["result"]) == 1 and sandbox.requests[-1].query["limit"] == ["1"]
    with pytest.raises(TypeError):
        make_client().unified("instant-messaging", "channels", "get", "C1")  # resource_id is keyword-only

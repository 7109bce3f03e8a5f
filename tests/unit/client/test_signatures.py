"""``signatures.taking``: methods that take a call value's arguments behave like methods written out."""

from __future__ import annotations

import asyncio
import inspect
import re
from unittest import mock

import pytest

from airflow_provider_truto.client.async_client import AsyncTrutoClient
from airflow_provider_truto.client.config import TrutoConfig
from airflow_provider_truto.client.request import ApiCall, UnifiedCall
from airflow_provider_truto.client.sync_client import TrutoClient
from airflow_provider_truto.hooks.truto import TrutoHook


def test_async_methods_stay_coroutine_functions_and_autospec_mocks_can_be_awaited() -> None:
    for name in ("request", "unified", "call_unified", "list_unified", "walk_unified"):
        method = getattr(AsyncTrutoClient, name)
        assert inspect.iscoroutinefunction(method) == (name in ("request", "unified", "call_unified")), name
    for name in ("request", "unified"):
        assert not inspect.iscoroutinefunction(getattr(TrutoClient, name)), name

    client = mock.create_autospec(AsyncTrutoClient, instance=True)
    client.unified.return_value = {"id": "C1"}
    assert asyncio.run(client.unified("instant-messaging", "channels", "get", resource_id="C1")) == {
        "id": "C1"
    }
    client.unified.assert_awaited_once()


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda c: c.unified("crm", "contacts", integrated_acount_id="a"),
            "TrutoClient.unified() got an unexpected",
        ),
        (lambda c: c.request("GET"), "TrutoClient.request() missing 1 required positional argument: 'path'"),
        (lambda c: c.request("GET", "/x", {"q": 1}), "TrutoClient.request() takes 3 positional arguments"),
    ],
)
def test_a_wrong_argument_is_reported_against_the_method(call: object, message: str) -> None:
    config = TrutoConfig(token="tok-0123456789", base_url="http://127.0.0.1:9")
    with TrutoClient(config) as client, pytest.raises(TypeError, match="^" + re.escape(message)) as raised:
        call(client)  # type: ignore[operator]
    assert "__init__" not in str(raised.value)
    assert raised.value.__cause__ is None and raised.value.__suppress_context__ is False
    assert raised.value.__context__ is None


def test_help_shows_the_call_values_own_arguments() -> None:
    for method, value in (
        (TrutoClient.request, ApiCall),
        (AsyncTrutoClient.request, ApiCall),
        (TrutoClient.unified, UnifiedCall),
        (AsyncTrutoClient.unified, UnifiedCall),
        (TrutoHook.unified, UnifiedCall),
    ):
        shown = list(inspect.signature(method).parameters.values())
        assert shown[0].name == "self"
        assert shown[1:] == list(inspect.signature(value).parameters.values()), method

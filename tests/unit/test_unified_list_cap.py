"""TrutoUnifiedApiOperator(method="list") never pushes an unbounded list to XCom: ``max_items`` caps it
(10,000 by default), and a longer list fails the task, naming the argument, before anything is pushed."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from airflow_provider_truto.compat import AirflowFailException
from airflow_provider_truto.exceptions import TrutoInputError, TrutoTooManyItemsError
from airflow_provider_truto.operators.unified import DEFAULT_MAX_ITEMS, TrutoUnifiedApiOperator
from airflow_provider_truto.testing import TrutoSandbox
from tests.conftest import ACCOUNT, connection_json

CHANNELS = "/unified/instant-messaging/channels"


@pytest.fixture
def conn(sandbox: TrutoSandbox, monkeypatch: pytest.MonkeyPatch) -> TrutoSandbox:
    monkeypatch.setenv("AIRFLOW_CONN_TRUTO_DEFAULT", connection_json(sandbox))
    return sandbox  # 60 channels


def listing(**kwargs: Any) -> TrutoUnifiedApiOperator:
    return TrutoUnifiedApiOperator(task_id="list", model="instant-messaging", resource="channels", **kwargs)


def run(operator: TrutoUnifiedApiOperator) -> Any:
    return operator.execute({"ti": SimpleNamespace(dag_id="d", run_id="r", task_id="list", map_index=-1)})


def test_a_list_over_the_cap_fails_naming_the_argument_and_stops_reading(conn: TrutoSandbox) -> None:
    with pytest.raises(TrutoTooManyItemsError) as raised:
        run(listing(limit=10, max_items=25))
    error = raised.value
    assert (error.argument, error.limit) == ("max_items", 25)
    assert isinstance(error, AirflowFailException)  # a retry would meet the same list: no retries
    assert "max_items=25" in str(error) and "TrutoHook.list_unified" in str(error)
    # The 26th item is on the third page: nothing past it was fetched.
    assert len([r for r in conn.requests if r.path == CHANNELS]) == 3


def test_a_list_at_the_cap_or_without_one_is_returned_whole(conn: TrutoSandbox) -> None:
    every = [c["id"] for c in conn.channels(ACCOUNT)]
    assert [c["id"] for c in run(listing(limit=25, max_items=60))] == every
    assert [c["id"] for c in run(listing(limit=25, max_items=None))] == every


def test_default_cap_is_ten_thousand(sandbox: TrutoSandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    assert DEFAULT_MAX_ITEMS == 10_000 and listing().max_items == DEFAULT_MAX_ITEMS
    big = "acct-big"
    sandbox.add_account(big)
    sandbox.seed_channels(big, DEFAULT_MAX_ITEMS + 1, seed=5, mixed=False)
    monkeypatch.setenv("AIRFLOW_CONN_TRUTO_DEFAULT", connection_json(sandbox, integrated_account_id=big))
    with pytest.raises(TrutoTooManyItemsError, match="max_items=10000"):
        run(listing(limit=1000))
    assert len(run(listing(limit=1000, max_items=None))) == DEFAULT_MAX_ITEMS + 1


@pytest.mark.parametrize("bad", [0, -1, "many", 2.5])
def test_a_bad_cap_is_named_when_the_dag_is_parsed(bad: Any) -> None:
    with pytest.raises(TrutoInputError, match="max_items"):
        listing(max_items=bad)

"""TrutoConfig: the settings both clients share, checked when made; which account a call acts on."""

from __future__ import annotations

import pytest

from airflow_provider_truto.config import TrutoConfig
from airflow_provider_truto.exceptions import TrutoInputError
from tests.conftest import ACCOUNT, TOKEN


def test_the_account_is_the_argument_else_the_connections() -> None:
    config = TrutoConfig(token=TOKEN, integrated_account_id=ACCOUNT)
    assert config.account_id() == ACCOUNT and config.account_id(None) == ACCOUNT
    assert config.account_id("acct-2") == "acct-2"


@pytest.mark.parametrize(
    ("given", "problem"), [(None, "no integrated account given"), ("", "empty"), (7, "string")]
)
def test_a_missing_or_bad_account_is_named(given: object, problem: str) -> None:
    with pytest.raises(TrutoInputError, match=problem) as caught:
        TrutoConfig(token=TOKEN).account_id(given)  # type: ignore[arg-type]
    assert caught.value.argument == "integrated_account_id"


def test_the_pacing_scope_is_the_token_at_its_base_url() -> None:
    one = TrutoConfig(token=TOKEN, base_url="https://a.test")
    assert one.pacing_scope == f"https://a.test|{TOKEN}"
    assert TrutoConfig(token=TOKEN, base_url="https://b.test").pacing_scope != one.pacing_scope

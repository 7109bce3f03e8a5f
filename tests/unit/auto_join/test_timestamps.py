"""Creation times (airflow_provider_truto/auto_join/timestamps.py): every form a channel or a param gives,
and every value a buggy upstream sends, read without a stray ValueError or OverflowError."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest

from airflow_provider_truto.auto_join.timestamps import (
    NO_CREATED_AT,
    UNREADABLE_CREATED_AT,
    parse_timestamp,
    read_created_at,
)
from airflow_provider_truto.exceptions import TrutoInputError
from tests.support.hostile_servers import UNREADABLE_CREATED_AT as ODD_VALUES

T0 = datetime(2026, 5, 1, tzinfo=timezone.utc)


def test_parse_timestamp_forms() -> None:
    assert parse_timestamp("2026-05-01T00:00:00Z") == T0
    assert parse_timestamp("2026-05-01T00:00:00") == T0
    assert parse_timestamp("2026-05-01T02:00:00+02:00") == T0
    assert parse_timestamp(T0.timestamp()) == T0
    assert parse_timestamp(datetime(2026, 5, 1)) == T0


# Year 1 in UTC is a datetime: only a channel's created_at refuses it (no channel predates 1970).
NO_DATETIME = [value for name, value in ODD_VALUES.items() if name != "year-one"]


@pytest.mark.parametrize("value", [*NO_DATETIME, float("inf"), 10**400, "9999-12-31T23:00:00-05:00"])
def test_a_value_no_datetime_holds_is_an_input_error_naming_the_argument(value: Any) -> None:
    with pytest.raises(TrutoInputError) as caught:
        parse_timestamp(value, "watermark")
    assert caught.value.argument == "watermark"


@pytest.mark.parametrize("name", sorted(ODD_VALUES))
def test_an_unreadable_created_at_is_reported_not_raised(name: str) -> None:
    assert read_created_at({"created_at": ODD_VALUES[name]}) == UNREADABLE_CREATED_AT


def test_created_at_missing_readable_or_before_1970() -> None:
    for missing in ({}, {"created_at": None}, {"created_at": " "}):
        assert read_created_at(missing) == NO_CREATED_AT
    assert read_created_at({"created_at": "2026-05-01T00:00:00Z"}) == T0
    assert read_created_at({"created_at": T0.timestamp()}) == T0
    assert read_created_at({"created_at": 0}) == UNREADABLE_CREATED_AT  # the epoch itself: a sentinel
    assert read_created_at({"created_at": "1969-12-31T23:59:59Z"}) == UNREADABLE_CREATED_AT

"""Creation times (airflow_provider_truto/auto_join/timestamps.py): every form a channel or a param gives."""

from __future__ import annotations

from datetime import datetime, timezone

from airflow_provider_truto.auto_join.timestamps import parse_timestamp

T0 = datetime(2026, 5, 1, tzinfo=timezone.utc)


def test_parse_timestamp_forms() -> None:
    assert parse_timestamp("2026-05-01T00:00:00Z") == T0
    assert parse_timestamp("2026-05-01T00:00:00") == T0
    assert parse_timestamp(T0.timestamp()) == T0
    assert parse_timestamp(datetime(2026, 5, 1)) == T0

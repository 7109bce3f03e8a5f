"""Truto's query conventions (airflow_provider_truto/query.py): ``key[]`` arrays, ``key[sub]`` objects,
``true``/``false``, ISO-8601 times."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from airflow_provider_truto.client.query import encode_query


def test_encode_query_follows_truto_conventions() -> None:
    assert encode_query(
        {
            "integrated_account_id": "a",
            "truto_exclude_fields": ["x", "y"],
            "remote_query": {"foo": "bar", "n": 2},
            "workspace": {"id": "W1"},
            "truto_ignore_remote_data": True,
            "flag": False,
            "created_at": datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc),
            "skipped": None,
        }
    ) == [
        ("integrated_account_id", "a"),
        ("truto_exclude_fields[]", "x"),
        ("truto_exclude_fields[]", "y"),
        ("remote_query[foo]", "bar"),
        ("remote_query[n]", "2"),
        ("workspace[id]", "W1"),
        ("truto_ignore_remote_data", "true"),
        ("flag", "false"),
        ("created_at", "2026-01-02T03:04:05Z"),
    ]
    assert encode_query({"a": {"b": {"c": 1}}}) == [("a[b][c]", "1")]
    with pytest.raises(TypeError):
        encode_query({"a": [[1]]})

"""Truto's query conventions: ``key[]=a`` for arrays, ``key[sub]=v`` for objects, ``true``/``false``."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timezone
from typing import Any

QueryPairs = list[tuple[str, str]]


def encode_query(params: Mapping[str, Any] | None) -> QueryPairs:
    """Flatten nested query parameters the way Truto reads them; ``None`` values are left out."""
    pairs: QueryPairs = []
    for key, value in (params or {}).items():
        _encode(str(key), value, pairs)
    return pairs


def _encode(key: str, value: Any, pairs: QueryPairs) -> None:
    if value is None:
        return
    if isinstance(value, Mapping):
        for sub_key, sub_value in value.items():
            _encode(f"{key}[{sub_key}]", sub_value, pairs)
    elif isinstance(value, (list, tuple, set, frozenset)):
        for item in value:
            if isinstance(item, (Mapping, list, tuple, set, frozenset)):
                raise TypeError(f"query parameter {key!r}: arrays of arrays or objects are not supported")
            _encode(f"{key}[]", item, pairs)
    else:
        pairs.append((key, format_scalar(value)))


def format_scalar(value: Any) -> str:
    """A scalar as Truto expects it: lower-case booleans, ISO-8601 datetimes (naive ones taken as UTC)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        return aware.isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)

"""Creation times as the auto-join selection reads them: ISO-8601 text, datetimes or epoch seconds, in UTC."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from airflow_provider_truto.exceptions import TrutoInputError


def parse_timestamp(value: Any, argument: str = "created_after") -> datetime:
    """An aware UTC datetime from ISO-8601 text (``Z`` allowed), a datetime or epoch seconds."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, tz=timezone.utc)
    if isinstance(value, str) and value.strip():
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise TrutoInputError(argument, f"is not an ISO-8601 timestamp: {value!r}") from None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
    raise TrutoInputError(argument, f"expected an ISO-8601 timestamp, got {value!r}")


def created_at(channel: Mapping[str, Any]) -> datetime | None:
    """A channel's ``created_at``, or ``None`` when it has none or it cannot be read."""
    value = channel.get("created_at")
    if not value:
        return None
    try:
        return parse_timestamp(value, "created_at")
    except TrutoInputError:
        return None

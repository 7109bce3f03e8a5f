"""Creation times as the auto-join selection reads them: ISO-8601 text, datetimes or epoch seconds, in UTC.

Two readers. :func:`parse_timestamp` reads what a user gives (``created_after``, a saved watermark) and
names the argument when it cannot. :func:`read_created_at` reads what a server gives (a channel's
``created_at``) and never raises: a value it cannot read is that one channel's problem, reported as
:data:`UNREADABLE_CREATED_AT`, never the whole watch's. Neither lets a ``ValueError`` or ``OverflowError``
of the standard library escape.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from airflow_provider_truto.exceptions import TrutoInputError

# Why a channel's creation time cannot be used: the selection counts channels left out by these reasons.
NO_CREATED_AT = "no created_at"
UNREADABLE_CREATED_AT = "unreadable created_at"
# No channel was created before Unix time began: earlier values are sentinels (Go's zero time, year 0001;
# an epoch of 0 or below), or a clock that was never set.
EARLIEST_CREATED_AT = datetime(1970, 1, 1, tzinfo=timezone.utc)


def parse_timestamp(value: Any, argument: str = "created_after") -> datetime:
    """An aware UTC datetime from ISO-8601 text (``Z`` allowed), a datetime or epoch seconds.

    Anything else, or a value no datetime can hold (NaN, ``1e20``, an epoch in milliseconds, a year
    that overflows once moved to UTC), is a :class:`TrutoInputError` naming ``argument``.
    """
    if isinstance(value, datetime):
        parsed = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        parsed = _from_epoch(value, argument)
    elif isinstance(value, str) and value.strip():
        parsed = _from_text(value, argument)
    else:
        raise TrutoInputError(argument, f"expected an ISO-8601 timestamp, got {_shown(value)}")
    try:
        return parsed.astimezone(timezone.utc)
    except (OverflowError, ValueError):  # year 1 at +01:00, year 9999 at -01:00: out of range in UTC
        raise TrutoInputError(argument, f"is out of the range of dates: {_shown(value)}") from None


def read_created_at(channel: Mapping[str, Any]) -> datetime | str:
    """A channel's ``created_at`` in UTC, or why there is none to use.

    :data:`NO_CREATED_AT` when the channel has none (absent, ``null`` or blank text);
    :data:`UNREADABLE_CREATED_AT` when it has one that is no time, or no plausible one (before 1970).
    """
    value = channel.get("created_at")
    if value is None or (isinstance(value, str) and not value.strip()):
        return NO_CREATED_AT
    try:
        when = parse_timestamp(value, "created_at")
    except TrutoInputError:
        return UNREADABLE_CREATED_AT
    return when if when > EARLIEST_CREATED_AT else UNREADABLE_CREATED_AT


def created_at(channel: Mapping[str, Any]) -> datetime | None:
    """A channel's ``created_at``, or ``None`` when it has none or it cannot be read."""
    when = read_created_at(channel)
    return when if isinstance(when, datetime) else None


def shown_created_at(channel: Mapping[str, Any]) -> str:
    """A channel's raw ``created_at`` as a warning shows it: its ``repr``, cut short."""
    return _shown(channel.get("created_at"))


def _from_epoch(value: float, argument: str) -> datetime:
    try:
        if not math.isfinite(value):
            raise ValueError(value)
        return datetime.fromtimestamp(value, tz=timezone.utc)
    except (OverflowError, OSError, ValueError):  # NaN; an epoch in milliseconds lands in year 57,000
        raise TrutoInputError(
            argument, f"is out of the range of dates as epoch seconds: {_shown(value)}"
        ) from None


def _from_text(value: str, argument: str) -> datetime:
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise TrutoInputError(argument, f"is not an ISO-8601 timestamp: {_shown(value)}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _shown(value: Any) -> str:
    try:
        text = repr(value)
    except ValueError:  # an int of more digits than Python converts to text
        text = f"<{type(value).__name__}>"
    return text if len(text) <= 60 else text[:57] + "..."

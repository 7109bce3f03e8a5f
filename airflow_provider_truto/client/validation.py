"""Argument checks: the one owner of what an id, a count, a number of seconds and "not given" are.

Every check names the argument it refuses (:class:`~airflow_provider_truto.exceptions.TrutoInputError`)
before any request goes out. The clients, the hook, the operators, the sensor and the trigger all check
with these. Cheap to import: the operators check their arguments when a DAG is parsed.
"""

from __future__ import annotations

import math
from typing import Any, TypeVar

from airflow_provider_truto.exceptions import TrutoInputError

T = TypeVar("T")


def given(value: T) -> T | None:
    """``value``, or ``None`` when it was not given: ``None`` or ``""``.

    An unset templated field renders as ``""``, and an empty form field is saved as ``""``: both mean
    "not given", so the default applies. Anything else, blanks included, is checked as given.
    """
    return None if value is None or value == "" else value


def require_id(argument: str, value: Any) -> str:
    """An id must be a non-blank string: anything else is named and refused before a request goes out."""
    if not isinstance(value, str):
        raise TrutoInputError(argument, f"must be a string, got {type(value).__name__}")
    if not value.strip():
        raise TrutoInputError(argument, "must not be empty or blank")
    return value


def require_channel_id(argument: str, value: Any) -> str:
    """A channel id; a channel's name written as in Slack (``#general``) is refused before any request.

    No provider's channel id starts with ``#``; a bare name (``general``) cannot be told from an id here,
    and is named by the error Slack answers it with (:mod:`~airflow_provider_truto.client.advice`).
    """
    channel = require_id(argument, value)
    if channel.strip().startswith("#"):
        raise TrutoInputError(
            argument,
            f"{channel!r} is a channel's name, not its id; ids look like C061EG9SL: "
            "TrutoHook().list_channels() lists each channel's id and name",
        )
    return channel


def optional_id(argument: str, value: Any) -> str | None:
    """Like :func:`require_id`, for an id that may be left out (see :func:`given`)."""
    if given(value) is None:
        return None
    return require_id(argument, value)


def require_segment(argument: str, value: Any, *, name: bool = False) -> str:
    """One segment of a call's path, as given (the caller quotes it): a non-blank id, not ``.`` or ``..``.

    Quoting leaves ``.`` and ``..`` as they are, and HTTP clients resolve them: ``get_channel(".")``
    would fetch the channel list, ``..`` reach another endpoint. A ``name`` (a unified model, resource
    or method) must also be one segment as written: no ``/``, no surrounding whitespace.
    """
    segment = require_id(argument, value)
    if name and ("/" in segment or segment != segment.strip()):
        raise TrutoInputError(argument, f"must be a single path segment, got {segment!r}")
    if segment in (".", ".."):
        raise TrutoInputError(argument, f"must not be {segment!r}: it would change the path of the call")
    return segment


def optional_header_value(argument: str, value: Any) -> str | None:
    """A value sent as an HTTP header as given (``None``: not given): printable ASCII, spaces inside.

    A CR or LF would end the header (requests and httpx refuse it only when sending, which looks like a
    network fault and is retried), and a character outside ASCII is encoded differently by each transport
    (httpx refuses it): both are named here, before any request.
    """
    if value is None:
        return None
    if not isinstance(value, str):
        raise TrutoInputError(argument, f"must be a string, got {type(value).__name__}")
    if not value.strip():
        raise TrutoInputError(argument, "must not be empty or blank")
    if value != value.strip() or not all(" " <= char <= "~" for char in value):
        raise TrutoInputError(
            argument,
            "must be printable ASCII without surrounding whitespace: no line breaks, control or non-ASCII "
            f"characters, got {value[:60]!r}",
        )
    return value


def require_whole(argument: str, value: Any, *, minimum: int = 0) -> int:
    """A whole number (an ``int``, not a ``bool``) of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise TrutoInputError(argument, _not_whole(value, minimum))
    return value


def require_count(argument: str, value: Any) -> int:
    """A whole number of at least 1 (a page size, a number of pages, workers...)."""
    return require_whole(argument, value, minimum=1)


def optional_count(argument: str, value: Any) -> int | None:
    """Like :func:`require_count`, with ``None`` meaning "not set"."""
    return None if value is None else require_count(argument, value)


def require_positive(argument: str, value: Any, what: str = "number of seconds") -> float:
    """A finite number above 0 (an ``int`` or a ``float``, not a ``bool``)."""
    if not _is_number(value) or not 0 < value < math.inf:
        raise TrutoInputError(argument, f"must be a positive, finite {what}, got {value!r}")
    return float(value)


def require_non_negative(argument: str, value: Any) -> float:
    """A finite number of at least 0 (an ``int`` or a ``float``, not a ``bool``)."""
    if not _is_number(value) or not 0 <= value < math.inf:
        raise TrutoInputError(argument, f"must be a finite number >= 0, got {value!r}")
    return float(value)


def read_number(argument: str, value: Any) -> float:
    """A finite number from text (``"30"``, as a connection form saves it) or a JSON number."""
    number: float | None = None
    if not isinstance(value, bool):
        try:
            number = float(value)
        except (TypeError, ValueError, OverflowError):
            number = None
    if number is None or not math.isfinite(number):
        raise TrutoInputError(argument, f"must be a finite number, got {value!r}")
    return number


def read_whole(argument: str, value: Any, *, minimum: int = 0) -> int:
    """A whole number of at least ``minimum`` from text or a JSON number (``"5"``, ``5``, ``5.0``)."""
    number = read_number(argument, value)
    if number < minimum or not number.is_integer():
        raise TrutoInputError(argument, _not_whole(value, minimum))
    return int(number)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _not_whole(value: Any, minimum: int) -> str:
    return f"must be a whole number >= {minimum}, got {value!r}"

"""Argument checks shared by the client and the operators; cheap to import."""

from __future__ import annotations

from typing import Any

from airflow_provider_truto.exceptions import TrutoInputError


def require_id(argument: str, value: Any) -> str:
    """An id must be a non-blank string: anything else is named and refused before a request goes out."""
    if not isinstance(value, str):
        raise TrutoInputError(argument, f"must be a string, got {type(value).__name__}")
    if not value.strip():
        raise TrutoInputError(argument, "must not be empty or blank")
    return value


def require_count(argument: str, value: Any) -> int:
    """A whole number of at least 1 (a page size, a number of pages, workers...)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise TrutoInputError(argument, f"must be a whole number >= 1, got {value!r}")
    return value


def optional_count(argument: str, value: Any) -> int | None:
    """Like :func:`require_count`, with ``None`` meaning "not set"."""
    return None if value is None else require_count(argument, value)

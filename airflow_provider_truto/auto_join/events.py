"""Asset events of a new-channels watch, read back in the DAG they trigger, and the watch's settings read
from the environment (a watcher's trigger kwargs must not change between two parses of its DAG).

Used by ``example_truto_join_on_new_channel_event``; cheap to import, since the DAG imports it when parsed.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

from airflow_provider_truto.exceptions import TrutoInputError, error_from_payload


def patterns_from_env(name: str) -> list[str]:
    """Comma-separated globs from the environment variable ``name`` (blank items dropped)."""
    return [item.strip() for item in (os.environ.get(name) or "").split(",") if item.strip()]


def flag_from_env(name: str) -> bool:
    """``true`` or ``false`` (any case; unset: false) from the environment variable ``name``."""
    value = (os.environ.get(name) or "false").strip().lower()
    if value not in ("true", "false"):
        raise TrutoInputError(name, f"must be true or false, got {value!r}")
    return value == "true"


def channels_from_events(events: Iterable[Any]) -> list[dict[str, Any]]:
    """The channels of the triggering asset events, each (account, id) once, in event order.

    An ``error`` event (the trigger met a bad token or a blocked account and stopped) fails the run with
    the typed Truto error, so the problem shows in the UI instead of only in the triggerer's log. An event
    that carries no payload of ours (someone else recorded it on the asset) is passed over.
    """
    channels: dict[tuple[str, str], dict[str, Any]] = {}
    for event in events:
        extra = getattr(event, "extra", None) or {}
        payload = extra.get("payload") if isinstance(extra, Mapping) else None
        if not isinstance(payload, Mapping):
            continue
        if payload.get("status") != "success":
            raise error_from_payload(payload)
        for channel in payload.get("channels") or []:
            key = (str(channel.get("integrated_account_id") or ""), str(channel["id"]))
            channels.setdefault(key, dict(channel))
    return list(channels.values())

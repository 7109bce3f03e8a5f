"""Asset events of a new-channels watch, read back in the DAG they trigger and cut into join batches, and
the watch's settings read from the environment (a watcher's trigger kwargs must not change between two
parses of its DAG).

Used by ``example_truto_join_on_new_channel_event``; cheap to import, since the DAG imports it when parsed.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_truto.auto_join.defaults import ALL_ACCOUNTS
from airflow_provider_truto.exceptions import TrutoError, TrutoInputError, error_from_payload


def patterns_from_env(name: str) -> list[str]:
    """Comma-separated globs from the environment variable ``name`` (blank items dropped)."""
    return [item.strip() for item in (os.environ.get(name) or "").split(",") if item.strip()]


def flag_from_env(name: str) -> bool:
    """``true`` or ``false`` (any case; unset: false) from the environment variable ``name``."""
    value = (os.environ.get(name) or "false").strip().lower()
    if value not in ("true", "false"):
        raise TrutoInputError(name, f"must be true or false, got {value!r}")
    return value == "true"


def accounts_from_env(name: str) -> str | list[str]:
    """The workspaces to watch from the environment variable ``name``: comma-separated account ids, or
    ``all`` (also when unset or blank): every active Slack account of the token's environment."""
    value = (os.environ.get(name) or "").strip()
    if not value or value.lower() == ALL_ACCOUNTS:
        return ALL_ACCOUNTS
    return [item.strip() for item in value.split(",") if item.strip()]


@dataclass
class WatchEvents:
    """What the triggering events of a run said: the channels to join, each (account, id) once, in event
    order; and the problems: an ``error`` event each (a workspace set aside, or the watch ended)."""

    channels: list[dict[str, Any]] = field(default_factory=list)
    problems: list[dict[str, Any]] = field(default_factory=list)

    def raise_problems(self) -> None:
        """Fail with the typed error of the one problem, or name them all; nothing when there is none."""
        if not self.problems:
            return
        if len(self.problems) == 1:
            raise error_from_payload(self.problems[0])
        described = "; ".join(
            f"{p.get('integrated_account_id') or 'the watch'}: {p.get('message')}" for p in self.problems[:10]
        )
        more = f" and {len(self.problems) - 10} more" if len(self.problems) > 10 else ""
        raise TrutoError(f"{len(self.problems)} problems reported by the watch: {described}{more}")


def read_events(events: Iterable[Any]) -> WatchEvents:
    """The channels and problems of the triggering asset events. An event that carries no payload of
    ours (someone else recorded it on the asset) is passed over."""
    channels: dict[tuple[str, str], dict[str, Any]] = {}
    read = WatchEvents()
    for event in events:
        extra = getattr(event, "extra", None) or {}
        payload = extra.get("payload") if isinstance(extra, Mapping) else None
        if not isinstance(payload, Mapping):
            continue
        if payload.get("status") != "success":
            read.problems.append(dict(payload))
            continue
        for channel in payload.get("channels") or []:
            key = (str(channel.get("integrated_account_id") or ""), str(channel["id"]))
            channels.setdefault(key, dict(channel))
    read.channels = list(channels.values())
    return read


def batches_by_account(
    channels: Sequence[Mapping[str, Any]], *, accounts_per_batch: int = 16
) -> list[list[dict[str, Any]]]:
    """The channels as join batches: each workspace's channels together, in one batch, and up to
    ``accounts_per_batch`` workspaces to a batch (a join task works them in parallel, each at its own
    pace: Slack limits joins per workspace, so splitting one workspace's channels gains nothing). The
    largest workspaces first, each to the batch with the fewest channels so far: tasks end close together.
    """
    if accounts_per_batch < 1:
        raise TrutoInputError("accounts_per_batch", f"must be at least 1, got {accounts_per_batch}")
    by_account: dict[str, list[dict[str, Any]]] = {}
    for channel in channels:
        by_account.setdefault(str(channel.get("integrated_account_id") or ""), []).append(dict(channel))
    if not by_account:
        return []
    batches: list[list[dict[str, Any]]] = [[] for _ in range(math.ceil(len(by_account) / accounts_per_batch))]
    accounts_in: list[int] = [0] * len(batches)
    for account_channels in sorted(by_account.values(), key=len, reverse=True):
        open_batches = [n for n in range(len(batches)) if accounts_in[n] < accounts_per_batch]
        target = min(open_batches, key=lambda n: len(batches[n]))
        batches[target].extend(account_channels)
        accounts_in[target] += 1
    return batches

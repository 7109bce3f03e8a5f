"""The sandbox's world: integrated accounts, their Slack channels, join counts and the idempotency cache.

Everything here is plain data behind one lock, with no HTTP in sight, so the server threads and the test
thread (which seeds, archives and inspects) can touch it at the same time.
"""

from __future__ import annotations

import copy
import math
import random
import string
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

__all__ = [
    "Account",
    "CachedAnswer",
    "Channel",
    "ChannelError",
    "SandboxState",
    "format_time",
    "parse_time",
]

CHANNEL_TYPES = ("channel", "private_channel", "dm", "group_dm")
CHANNEL_STATUSES = ("active", "archived")
# How far a channel is shared, rendered as Slack's flags in remote_data: "org" is Enterprise Grid-wide
# (internal), "external" is Slack Connect (another organisation), "pending" an invitation not yet accepted.
CHANNEL_SHARING = ("none", "org", "external", "pending")
# Slack's conversations.join only works on public channels; everything else needs an invitation.
JOINABLE_TYPES = frozenset({"channel"})

_MIXED_TYPE_WEIGHTS = (70, 15, 10, 5)
_ARCHIVED_SHARE = 0.10
_MEMBER_SHARE = 0.30
_PENDING_SHARE = 0.2  # of the channels shared with other organisations, those still an invitation
_ID_ALPHABET = string.ascii_uppercase + string.digits

_PREFIXES = (
    "proj", "team", "eng", "ops", "sales", "help", "announce", "social", "incident", "design",
    "data", "support", "mktg", "fin", "hr", "legal", "release", "alerts", "cust", "research",
)  # fmt: skip
_WORDS = (
    "apollo", "zephyr", "orion", "atlas", "nova", "falcon", "cedar", "harbor", "summit", "quartz",
    "maple", "comet", "delta", "ember", "fjord", "glacier", "helix", "iris", "juniper", "kepler",
    "lumen", "meridian", "nimbus", "onyx", "pioneer", "quasar", "raven", "sierra", "tundra", "vega",
)  # fmt: skip


def format_time(moment: datetime) -> str:
    """ISO-8601 in UTC with a ``Z``, the way Truto writes timestamps."""
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(value: datetime | str) -> datetime:
    """Accept a datetime (naive means UTC) or an ISO-8601 string, possibly ending in ``Z``."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def _now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class Account:
    """An integrated account (one customer's connected Slack workspace).

    Mutable on purpose: a test may flip ``status`` to ``"needs_reauth"`` or set ``blocked`` mid-run and the
    server sees it on the next request.

    :param id: the integrated account id (a UUID string unless given).
    :param status: ``active`` | ``connecting`` | ``post_install_error`` | ``validation_error`` |
        ``needs_reauth``; anything but ``active`` answers 401 on unified routes.
    :param integration: the integration name; only ``slack`` supports join.
    :param is_sandbox: sandbox accounts are read-only (writes answer 405).
    :param blocked: blocked accounts answer 503 on unified routes.
    :param tenant_id: the customer the account belongs to.
    """

    id: str
    status: str = "active"
    integration: str = "slack"
    is_sandbox: bool = False
    blocked: bool = False
    tenant_id: str = "sandbox-tenant"
    environment_integration_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    last_error: str | None = None
    context: dict[str, Any] = field(default_factory=dict)
    created_at: datetime = field(default_factory=_now)
    updated_at: datetime = field(default_factory=_now)

    @property
    def workspace(self) -> dict[str, str]:
        # Derived from the id so it is stable without extra state.
        team = "T" + uuid.uuid5(uuid.NAMESPACE_URL, self.id).hex[:10].upper()
        return {"id": team, "name": f"Workspace {self.id[:8]}"}

    @property
    def organization(self) -> dict[str, str]:
        org = "E" + uuid.uuid5(uuid.NAMESPACE_DNS, self.id).hex[:10].upper()
        return {"id": org, "name": f"Org {self.id[:8]}"}

    def to_wire(self) -> dict[str, Any]:
        """The admin API's integrated-account object."""
        return {
            "id": self.id,
            "tenant_id": self.tenant_id,
            "environment_integration_id": self.environment_integration_id,
            "integration": {"name": self.integration, "category": "instant-messaging"},
            "status": self.status,
            "is_sandbox": self.is_sandbox,
            "context": copy.deepcopy(self.context),
            "last_error": self.last_error,
            "created_at": format_time(self.created_at),
            "updated_at": format_time(self.updated_at),
        }


@dataclass
class Channel:
    """One Slack conversation as the sandbox stores it; rendered as unified or raw on the way out."""

    id: str
    name: str
    type: str = "channel"
    status: str = "active"
    is_member: bool = False
    created_at: datetime = field(default_factory=_now)
    updated_at: datetime | None = None
    description: str = ""
    creator: str = "U0000000001"
    sharing: str = "none"

    def to_raw(self) -> dict[str, Any]:
        """A Slack ``conversations.list``-style object (Truto's ``remote_data``)."""
        created = int(self.created_at.timestamp())
        return {
            "id": self.id,
            "name": self.name,
            "name_normalized": self.name,
            "is_channel": self.type in ("channel", "private_channel"),
            "is_group": False,
            "is_im": self.type == "dm",
            "is_mpim": self.type == "group_dm",
            "is_private": self.type != "channel",
            "is_archived": self.status == "archived",
            "is_general": False,
            "is_shared": self.sharing in ("org", "external"),
            "is_org_shared": self.sharing == "org",
            "is_ext_shared": self.sharing == "external",
            "is_pending_ext_shared": self.sharing == "pending",
            "is_member": self.is_member,
            "created": created,
            "updated": int((self.updated_at or self.created_at).timestamp() * 1000),
            "creator": self.creator,
            "unlinked": 0,
            "topic": {"value": "", "creator": "", "last_set": 0},
            "purpose": {"value": self.description, "creator": self.creator, "last_set": created},
        }

    def to_unified(self, account: Account) -> dict[str, Any]:
        """Truto's unified channel object, ``remote_data`` included."""
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "type": self.type,
            "status": self.status,
            "is_member": self.is_member,
            "created_at": format_time(self.created_at),
            "updated_at": format_time(self.updated_at or self.created_at),
            "created_by": {"id": self.creator},
            "workspace": account.workspace,
            "organization": account.organization,
            "group": None,
            "remote_data": self.to_raw(),
        }


class ChannelError(Exception):
    """A join Slack refuses; ``code`` is Slack's error (``channel_not_found``, ``is_archived``, ...)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class CachedAnswer:
    """A response kept for an idempotency key, replayed byte for byte."""

    status: int
    body: bytes
    content_type: str
    headers: tuple[tuple[str, str], ...] = ()


class SandboxState:
    """Thread-safe store of accounts, channels, join counts and idempotency answers."""

    def __init__(self) -> None:
        # RLock: public methods call each other while holding it.
        self._lock = threading.RLock()
        self._accounts: dict[str, Account] = {}
        self._channels: dict[str, dict[str, Channel]] = {}
        self._channel_ids: set[str] = set()
        self._joins: dict[str, dict[str, int]] = {}
        self._idempotent: dict[tuple[str, str], CachedAnswer] = {}
        self._replays = 0

    # -- accounts -------------------------------------------------------------------------------------------

    def add_account(self, account: Account) -> Account:
        with self._lock:
            if account.id in self._accounts:
                raise ValueError(f"account {account.id!r} already exists")
            self._accounts[account.id] = account
            self._channels[account.id] = {}
            self._joins[account.id] = {}
            return account

    def account(self, account_id: str) -> Account | None:
        with self._lock:
            return self._accounts.get(account_id)

    def accounts(self) -> list[Account]:
        with self._lock:
            return list(self._accounts.values())

    def _require(self, account_id: str) -> Account:
        account = self._accounts.get(account_id)
        if account is None:
            raise KeyError(f"unknown account {account_id!r}")
        return account

    # -- channels -------------------------------------------------------------------------------------------

    def _new_id(self, rng: random.Random) -> str:
        while True:
            candidate = "C" + "".join(rng.choice(_ID_ALPHABET) for _ in range(10))
            if candidate not in self._channel_ids:
                return candidate

    def add_channel(self, account_id: str, channel: Channel) -> Channel:
        with self._lock:
            self._require(account_id)
            if channel.id in self._channel_ids:
                raise ValueError(f"channel id {channel.id!r} already exists")
            if channel.type not in CHANNEL_TYPES:
                raise ValueError(f"channel type must be one of {CHANNEL_TYPES}, not {channel.type!r}")
            if channel.status not in CHANNEL_STATUSES:
                raise ValueError(f"channel status must be one of {CHANNEL_STATUSES}, not {channel.status!r}")
            if channel.sharing not in CHANNEL_SHARING:
                raise ValueError(f"channel sharing must be one of {CHANNEL_SHARING}, not {channel.sharing!r}")
            self._channel_ids.add(channel.id)
            self._channels[account_id][channel.id] = channel
            return channel

    def new_channel_id(self) -> str:
        with self._lock:
            # Unseeded on purpose: ad-hoc channels only need to be unique.
            return self._new_id(random.Random())

    def seed_channels(
        self,
        account_id: str,
        count: int,
        *,
        seed: int,
        mixed: bool,
        start: datetime,
        end: datetime,
        shared: float = 0.0,
        org_shared: float = 0.0,
    ) -> list[Channel]:
        if count < 0:
            raise ValueError("count must be >= 0")
        if not (0 <= shared <= 1 and 0 <= org_shared <= 1 and shared + org_shared <= 1):
            raise ValueError("shared and org_shared must be shares between 0 and 1, together at most 1")
        if end < start:
            raise ValueError("end must not be before start")
        rng = random.Random(seed)
        # Sharing draws from its own stream: the same seed gives the same channels with or without it.
        sharing_rng = random.Random(f"{seed}-sharing")
        # Whole seconds inside [start, end]: Slack's `created` is a unix integer and both views must agree.
        first = start.replace(microsecond=0) + (timedelta(seconds=1) if start.microsecond else timedelta())
        seconds = math.floor((end - first).total_seconds())
        created: list[Channel] = []
        with self._lock:
            self._require(account_id)
            names = {c.name for c in self._channels[account_id].values()}
            for _ in range(count):
                kind = rng.choices(CHANNEL_TYPES, weights=_MIXED_TYPE_WEIGHTS)[0] if mixed else "channel"
                archived = mixed and rng.random() < _ARCHIVED_SHARE
                member = mixed and rng.random() < _MEMBER_SHARE
                name = self._new_name(rng, kind, names)
                names.add(name)
                moment = first + timedelta(seconds=rng.randint(0, seconds)) if seconds >= 0 else start
                draw = sharing_rng.random()
                if draw < shared:
                    sharing = "pending" if sharing_rng.random() < _PENDING_SHARE else "external"
                else:
                    sharing = "org" if draw < shared + org_shared else "none"
                channel = Channel(
                    id=self._new_id(rng),
                    name=name,
                    type=kind,
                    status="archived" if archived else "active",
                    is_member=member,
                    created_at=moment,
                    description=f"About {name.replace('-', ' ')}",
                    creator="U" + "".join(rng.choice(_ID_ALPHABET) for _ in range(10)),
                    sharing=sharing,
                )
                created.append(self.add_channel(account_id, channel))
        return created

    @staticmethod
    def _new_name(rng: random.Random, kind: str, taken: set[str]) -> str:
        while True:
            prefix = "dm" if kind == "dm" else "mpdm" if kind == "group_dm" else rng.choice(_PREFIXES)
            name = f"{prefix}-{rng.choice(_WORDS)}-{rng.randrange(10000):04d}"
            if name not in taken:
                return name

    def channel(self, account_id: str, channel_id: str) -> Channel | None:
        with self._lock:
            found = self._channels.get(account_id, {}).get(channel_id)
            return copy.copy(found) if found else None

    def channels(self, account_id: str) -> list[Channel]:
        """Copies, in insertion order, so callers can read them without the lock."""
        with self._lock:
            self._require(account_id)
            return [copy.copy(c) for c in self._channels[account_id].values()]

    def archive_channel(self, account_id: str, channel_id: str) -> None:
        with self._lock:
            channel = self._channel_or_raise(account_id, channel_id)
            channel.status = "archived"
            channel.updated_at = _now()

    def remove_channel(self, account_id: str, channel_id: str) -> None:
        with self._lock:
            self._channel_or_raise(account_id, channel_id)
            del self._channels[account_id][channel_id]
            # The id stays reserved: Slack never reuses conversation ids.

    def _channel_or_raise(self, account_id: str, channel_id: str) -> Channel:
        self._require(account_id)
        channel = self._channels[account_id].get(channel_id)
        if channel is None:
            raise KeyError(f"unknown channel {channel_id!r} in account {account_id!r}")
        return channel

    def join(self, account_id: str, channel_id: str) -> tuple[Channel, bool]:
        """Apply Slack's ``conversations.join``: the channel after it, and whether it was a member already.

        Raises :class:`ChannelError` with Slack's code when Slack would refuse.
        """
        with self._lock:
            self._require(account_id)
            channel = self._channels[account_id].get(channel_id)
            if channel is None:
                raise ChannelError("channel_not_found")
            if channel.status == "archived":
                raise ChannelError("is_archived")
            if channel.type not in JOINABLE_TYPES:
                raise ChannelError("method_not_supported_for_channel_type")
            # Rejoining is Slack's "already_in_channel" warning: a success, still counted as an applied join.
            already = channel.is_member
            channel.is_member = True
            channel.updated_at = _now()
            counts = self._joins[account_id]
            counts[channel_id] = counts.get(channel_id, 0) + 1
            return copy.copy(channel), already

    def join_counts(self, account_id: str | None = None) -> dict[str, int]:
        with self._lock:
            if account_id is not None:
                self._require(account_id)
                return dict(self._joins[account_id])
            merged: dict[str, int] = {}
            for counts in self._joins.values():
                merged.update(counts)  # channel ids are unique across the sandbox
            return merged

    def joins_by_account(self) -> dict[str, dict[str, int]]:
        with self._lock:
            return {account_id: dict(counts) for account_id, counts in self._joins.items()}

    # -- idempotency ----------------------------------------------------------------------------------------

    def replay(self, scope: str, key: str) -> CachedAnswer | None:
        with self._lock:
            answer = self._idempotent.get((scope, key))
            if answer is not None:
                self._replays += 1
            return answer

    def remember(self, scope: str, key: str, answer: CachedAnswer) -> None:
        with self._lock:
            # First answer wins: two racing requests with one key must not overwrite each other's replay.
            self._idempotent.setdefault((scope, key), answer)

    @property
    def idempotent_replays(self) -> int:
        with self._lock:
            return self._replays

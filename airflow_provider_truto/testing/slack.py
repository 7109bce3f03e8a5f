"""Slack behind Truto's channel list: what ``conversations.list`` does with what Truto passes it.

Truto's unified channel list for Slack calls ``conversations.list``. Slack's own parameters reach it as
``remote_query[...]``; the sandbox honours the two that matter to a watcher, and Slack's limits:

- ``remote_query[types]``: comma-separated Slack types (``public_channel``, ``private_channel``, ``mpim``,
  ``im``); the list holds only those. An unknown type is Slack's ``invalid_types`` error (a remote 400).
- ``remote_query[exclude_archived]``: ``true`` drops archived channels. Slack applies it to each page
  after reading it, so a page may come back shorter than ``limit`` (even empty) while the list goes on,
  which Slack's documentation allows ("fewer than the requested number of items may be returned").
- ``limit``: at most 1000 a page (Slack's maximum); more is clamped, not refused.
- The list tier: Slack allows each app about 20 ``conversations.list`` calls a minute per workspace
  (Tier 2). Over it, Slack answers 429 with its own ``Retry-After``, and Truto passes both through:
  ``truto_is_remote_error`` true, ``raw_response`` ``{"ok": false, "error": "ratelimited"}``. Such a
  request has already counted against Truto's own limits, as it would on Truto.

Pure functions and one limiter; no HTTP here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from airflow_provider_truto.testing.sliding_windows import RateLimiter, SlidingWindow

__all__ = [
    "SLACK_LIST_TIER",
    "SLACK_MAX_LIMIT",
    "SLACK_TYPES",
    "ListTier",
    "SlackListError",
    "archived_excluded",
    "requested_types",
]

# Slack's conversation types and the unified channel type each one is.
SLACK_TYPES: Mapping[str, str] = {
    "public_channel": "channel",
    "private_channel": "private_channel",
    "mpim": "group_dm",
    "im": "dm",
}
SLACK_MAX_LIMIT = 1000
# Tier 2 ("20+ per minute"), per app and workspace, as (calls, seconds).
SLACK_LIST_TIER = (20, 60.0)

_TYPES = "remote_query[types]"
_EXCLUDE_ARCHIVED = "remote_query[exclude_archived]"
_TRUE = frozenset({"true", "1"})
_FALSE = frozenset({"false", "0", ""})


class SlackListError(Exception):
    """A ``conversations.list`` call Slack refuses: ``code`` is Slack's error, ``message`` Truto's text."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def requested_types(query: Mapping[str, Sequence[str]]) -> frozenset[str] | None:
    """The unified channel types ``remote_query[types]`` asks for; ``None`` when it asks for none.

    Accepts one comma-separated value, several values, or the array spelling ``remote_query[types][]``.
    """
    values = [*query.get(_TYPES, ()), *query.get(_TYPES + "[]", ())]
    if not values:
        return None
    names = [name.strip() for value in values for name in value.split(",") if name.strip()]
    unknown = sorted({name for name in names if name not in SLACK_TYPES})
    if unknown or not names:
        raise SlackListError(
            "invalid_types", f"Unknown conversation type(s): {', '.join(unknown) or '(none)'}"
        )
    return frozenset(SLACK_TYPES[name] for name in names)


def archived_excluded(query: Mapping[str, Sequence[str]]) -> bool:
    """Whether ``remote_query[exclude_archived]`` is true; anything but a boolean is ``invalid_arguments``."""
    values = query.get(_EXCLUDE_ARCHIVED)
    if not values:
        return False
    value = values[0].strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise SlackListError("invalid_arguments", f"exclude_archived must be true or false, got {values[0]!r}")


class ListTier:
    """Slack's per-workspace limit on ``conversations.list``: at most ``calls`` in any ``seconds``.

    :param calls: calls allowed per workspace in the window (Slack's Tier 2: about 20 a minute).
    :param seconds: the window's length.
    """

    def __init__(self, calls: int, seconds: float) -> None:
        self.calls = calls
        self.seconds = seconds
        self._window = SlidingWindow(calls, seconds)
        self._limiter = RateLimiter()

    def acquire(self, workspace: str) -> int | None:
        """Count one call and return ``None``, or count nothing and return Slack's ``Retry-After``."""
        return self._limiter.acquire([(self._window, workspace)])

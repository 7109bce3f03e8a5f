"""When a fleet watcher polls which workspace, and when each page may go: within every budget at once.

A watcher over many workspaces spends at most a share (``budget_share``, one half by default) of each
budget its requests count against, so the scheduled auto-join DAG and the join tasks find the rest:

- the token's (``environment_rate_limit``, Truto's 500 / 10 s): one GCRA, no burst, for every request the
  watcher sends, its pages and its reads of the account list. It bounds how fast the fleet is cycled.
- each workspace's Truto budget (``rate_limit``, 50 / 10 s) and Slack's list tier
  (:data:`~airflow_provider_truto.pacing.limits.SLACK_LIST_RATE_LIMIT`, about 20 ``conversations.list``
  calls a minute per workspace): a sliding window each, per workspace.

A page first waits for its own workspace's windows, reserving nothing, so a workspace at its Slack limit
never holds up the others; then it takes the next slot of the token's share. Polls start oldest-due
first, at most ``max_concurrent_polls`` at once, and never sooner than ``poll_interval`` after the same
workspace's last one started: the cycle over the fleet is ``poll_interval`` while the budgets allow it,
and as short as they allow beyond.

These shares are the watcher's own, kept in its memory; the client's pacing (lock files or Redis, at 95%
of the whole budgets, shared with every task on the token) still applies underneath.

Pure: the caller reads its clock (monotonic seconds), passes it in, and does the waiting.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from dataclasses import dataclass

from airflow_provider_truto.auto_join.defaults import DEFAULT_BUDGET_SHARE, DEFAULT_WATCH_POLL_INTERVAL
from airflow_provider_truto.pacing.limits import SLACK_LIST_RATE_LIMIT, RateLimit

__all__ = ["FleetBudgets", "FleetSchedule", "NextPoll", "Window"]

# Polls in flight at once: enough to keep the token's share busy while pages take a second to come
# back (25 requests a second at one half of 500 / 10 s). A walk holds no page it is not reading, so
# what a poll in flight costs is the answer being received: about a megabyte for 1,000 channels.
DEFAULT_MAX_CONCURRENT_POLLS = 32
# A send lands this much after the oldest one leaves its window: clocks and floats never tie.
_MARGIN = 0.001


@dataclass(frozen=True)
class FleetBudgets:
    """The limits a fleet watcher paces within, and how it polls.

    :param token: the token's limit (``environment_rate_limit``); ``None``: not paced.
    :param account: each workspace's Truto limit (``rate_limit``); ``None``: not paced.
    :param slack_list: Slack's limit on listing one workspace's channels; ``None``: not paced.
    :param share: the share of each limit the watcher may spend, in (0, 1].
    :param poll_interval: the shortest time between the starts of two polls of one workspace.
    :param max_concurrent_polls: polls in flight at once.
    """

    token: RateLimit | None
    account: RateLimit | None
    slack_list: RateLimit | None = SLACK_LIST_RATE_LIMIT
    share: float = DEFAULT_BUDGET_SHARE
    poll_interval: float = DEFAULT_WATCH_POLL_INTERVAL
    max_concurrent_polls: int = DEFAULT_MAX_CONCURRENT_POLLS

    def __post_init__(self) -> None:
        if not 0 < self.share <= 1:
            raise ValueError(f"share must be in (0, 1], got {self.share}")
        if not 0 < self.poll_interval < math.inf:
            raise ValueError(f"poll_interval must be a positive number of seconds, got {self.poll_interval}")
        if self.max_concurrent_polls < 1:
            raise ValueError(f"max_concurrent_polls must be at least 1, got {self.max_concurrent_polls}")

    def calls(self, limit: RateLimit) -> int:
        """The watcher's share of ``limit`` in whole calls per window, at least one."""
        return max(1, math.floor(limit.requests * self.share))

    @property
    def page_spacing(self) -> float:
        """Seconds one page costs a workspace at its sustained pace: a poll of ``n`` pages is followed by
        the next one no sooner than ``n`` times this, so polls come evenly, not in bursts that empty a
        window and then wait for all of it."""
        limits = [limit for limit in (self.slack_list, self.account) if limit is not None]
        return max((limit.seconds / self.calls(limit) for limit in limits), default=0.0)

    @property
    def token_interval(self) -> float:
        """Seconds between two of the watcher's requests on the token; 0 when the token is not paced."""
        if self.token is None:
            return 0.0
        return self.token.seconds / (self.token.requests * self.share)


class Window:
    """At most ``calls`` sends in any ``seconds``: the last send times, oldest first."""

    def __init__(self, calls: int, seconds: float) -> None:
        self.calls = calls
        self.seconds = seconds
        self._sent: deque[float] = deque(maxlen=calls)

    def room_at(self, now: float, count: int = 1) -> float:
        """The earliest moment, ``now`` or later, when ``count`` more sends fit. ``count`` is capped at
        ``calls``: a poll of more pages than that goes page by page as the window allows."""
        count = min(max(count, 1), self.calls)
        must_leave = len(self._sent) - (self.calls - count)  # the oldest sends that must expire first
        if must_leave <= 0:
            return now
        return max(now, self._sent[must_leave - 1] + self.seconds + _MARGIN)

    def record(self, at: float) -> None:
        self._sent.append(at)


@dataclass
class _Workspace:
    due: float
    windows: list[Window]
    pages: int = 1  # how many pages its last poll took: the room its next poll starts with
    polling: bool = False
    started: float = 0.0
    set_aside_until: float | None = None
    version: int = 0  # which of its entries in the queue is current


@dataclass(frozen=True)
class NextPoll:
    """Poll ``workspace`` now; or, when it is ``None``, ask again at ``wake_at`` (``inf``: once a poll ends
    or a workspace is added)."""

    workspace: str | None
    wake_at: float = math.inf


class FleetSchedule:
    """The schedule of one fleet watcher; workspaces come and go (:meth:`add`, :meth:`remove`)."""

    def __init__(self, budgets: FleetBudgets) -> None:
        self.budgets = budgets
        self._workspaces: dict[str, _Workspace] = {}
        # The workspaces not being polled, by when they are due: (due, name, version). An entry whose
        # version is not its workspace's (or whose workspace is gone) is stale and skipped.
        self._queue: list[tuple[float, str, int]] = []
        self._polling = 0
        self._token_next = -math.inf

    # -- the fleet ----------------------------------------------------------------------------------------

    def add(self, workspace: str, now: float) -> bool:
        """Watch ``workspace`` from now on, its first poll due at once; whether it was new."""
        if workspace in self._workspaces:
            return False
        limits = (self.budgets.slack_list, self.budgets.account)
        windows = [Window(self.budgets.calls(limit), limit.seconds) for limit in limits if limit is not None]
        entry = self._workspaces[workspace] = _Workspace(due=now, windows=windows)
        self._enqueue(workspace, entry)
        return True

    def remove(self, workspace: str) -> None:
        entry = self._workspaces.pop(workspace, None)
        if entry is not None and entry.polling:
            self._polling -= 1

    def __contains__(self, workspace: object) -> bool:
        return workspace in self._workspaces

    def __len__(self) -> int:
        return len(self._workspaces)

    @property
    def workspaces(self) -> list[str]:
        return list(self._workspaces)

    @property
    def polling(self) -> int:
        """Polls in flight."""
        return self._polling

    # -- polls --------------------------------------------------------------------------------------------

    def next_poll(self, now: float) -> NextPoll:
        """The workspace to poll now (it counts as polling until :meth:`finish` or :meth:`set_aside`),
        or when to ask again."""
        if self._polling >= self.budgets.max_concurrent_polls:
            return NextPoll(None)
        while self._queue:
            due, name, version = self._queue[0]
            entry = self._workspaces.get(name)
            if entry is None or entry.version != version:
                heapq.heappop(self._queue)
                continue
            room = max((window.room_at(now, entry.pages) for window in entry.windows), default=now)
            if room > max(due, now):  # its windows hold it past its turn: back in the queue for then
                heapq.heappop(self._queue)
                entry.due = room
                self._enqueue(name, entry)
                continue
            if due > now:
                return NextPoll(None, due)
            heapq.heappop(self._queue)
            entry.polling, entry.started = True, now
            self._polling += 1
            return NextPoll(name)
        return NextPoll(None)

    def page_slot(self, workspace: str, now: float) -> tuple[float, bool]:
        """``(seconds to wait, reserved)`` for the next page of ``workspace``'s poll.

        Not reserved: the workspace's own windows are full, nothing was taken; ask again after the wait.
        Reserved: the page holds the token's next slot and counts in the workspace's windows; send it
        after the wait.
        """
        entry = self._workspaces.get(workspace)
        windows = entry.windows if entry is not None else []
        room = max((window.room_at(now) for window in windows), default=now)
        if room > now:
            return room - now, False
        wait = self.token_slot(now)
        for window in windows:
            window.record(now + wait)
        return wait, True

    def token_slot(self, now: float) -> float:
        """Take the next slot of the watcher's share of the token: the seconds to wait for it."""
        start = max(self._token_next, now)
        self._token_next = start + self.budgets.token_interval
        return start - now

    def finish(self, workspace: str, *, pages: int, retry_at: float | None = None) -> None:
        """``workspace``'s poll ended after ``pages`` pages; ``retry_at``: no poll before then (a 429's)."""
        entry = self._end_poll(workspace)
        if entry is None:  # dropped while it was polled
            return
        entry.set_aside_until = None
        entry.pages = max(1, pages)
        pace = max(self.budgets.poll_interval, entry.pages * self.budgets.page_spacing)
        entry.due = max(entry.started + pace, retry_at or -math.inf)
        self._enqueue(workspace, entry)

    def set_aside(self, workspace: str, until: float) -> None:
        """``workspace`` failed for good: no poll before ``until``, when it is checked again."""
        entry = self._end_poll(workspace)
        if entry is not None:
            entry.set_aside_until = entry.due = until
            self._enqueue(workspace, entry)

    def set_aside_until(self, workspace: str) -> float | None:
        """When a workspace set aside is checked again; ``None`` when it is not set aside."""
        entry = self._workspaces.get(workspace)
        return entry.set_aside_until if entry is not None else None

    def _enqueue(self, name: str, entry: _Workspace) -> None:
        entry.version += 1
        heapq.heappush(self._queue, (entry.due, name, entry.version))

    def _end_poll(self, workspace: str) -> _Workspace | None:
        entry = self._workspaces.get(workspace)
        if entry is not None and entry.polling:
            entry.polling = False
            self._polling -= 1
        return entry

"""A rate limit and the GCRA arithmetic that keeps requests under it, whichever store holds the state.

A budget (a token's or an account's) is one GCRA ("virtual scheduling") whose state is the theoretical
arrival time of the next request (``tat``) and when it was written (``stamp``), both in integer
microseconds of the store's clock. :func:`gcra_reserve` and :func:`gcra_pause` are that arithmetic: the
lock files (:mod:`~airflow_provider_truto.pacing.lock_files`) run it in Python, the Redis script
(:mod:`~airflow_provider_truto.pacing.redis_store`) repeats it line for line. Requests are spaced evenly,
with no burst, so no window of the limit's length ever holds more than its budget.

Stdlib only: the client's config reads :class:`RateLimit` when a connection is parsed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NamedTuple

PACING_HEADROOM = 0.95  # pace at 95% of the budget; see RateLimit.interval
# Microsecond counts above this are no honest clock reading (the year 2255); they are read as absent.
# It also keeps every value exact in the doubles of the Redis script's Lua.
MAX_STATE_MICROS = 2**53
_SPEC = re.compile(r"^\s*(\d+)\s*/\s*(\d+(?:\.\d+)?)\s*$")


@dataclass(frozen=True)
class RateLimit:
    """At most ``requests`` requests in any ``seconds``-long window."""

    requests: int
    seconds: float

    def __post_init__(self) -> None:
        if self.requests < 1 or self.seconds <= 0:
            raise ValueError(f"a rate limit needs requests >= 1 and seconds > 0, got {self}")

    @property
    def interval(self) -> float:
        """The spacing between paced requests, with headroom below the budget.

        Scheduling and network jitter move a request's arrival by milliseconds; paced at exactly the
        budget, some windows on the server would see one request too many and answer 429 (costing a
        whole ``Retry-After``). A few percent below the budget, none do.
        """
        return self.seconds / (self.requests * PACING_HEADROOM)

    @classmethod
    def parse(cls, spec: str | RateLimit | None) -> RateLimit | None:
        """Read ``"50/10"`` (50 requests per 10 s); ``"off"`` (any case) switches pacing off.

        Only ``"off"`` does: an empty text, ``"none"`` or anything else unreadable is a ``ValueError``, so
        a typo or a cleared field never silently removes the pacing. ``None`` (the Python value) and a
        ``RateLimit`` are returned as they are.
        """
        if spec is None or isinstance(spec, RateLimit):
            return spec
        if spec.strip().lower() == "off":
            return None
        match = _SPEC.match(spec)
        if not match:
            raise ValueError(
                f"expected REQUESTS/SECONDS such as '50/10', or 'off' to switch pacing off, got {spec!r}"
            )
        return cls(int(match.group(1)), float(match.group(2)))

    def __str__(self) -> str:
        return f"{self.requests}/{self.seconds:g}"


class BudgetState(NamedTuple):
    """A budget's state, integer microseconds: the next free slot, and when the state was written."""

    tat: int
    stamp: int


def interval_micros(limit: RateLimit) -> int:
    return round(limit.interval * 1_000_000)


def horizon_micros(limit: RateLimit) -> int:
    """How far ahead of now a budget may be booked: the longest honest queue of waiters, and of a pause.

    Anything read beyond it is clamped to it, so no state, however odd, stalls a caller for longer.
    """
    return round(max(10 * limit.seconds, 60.0) * 1_000_000)


def _booked_until(state: BudgetState | None, now: int, horizon: int) -> int:
    if state is None:
        return now
    tat = state.tat
    if state.stamp > now:
        # Written "in the future": the clock went back since (or the state came from a clock ahead of
        # ours). The queue it holds is still real; the absolute times are not, so rebase them on now.
        tat = tat - state.stamp + now
    return min(tat, now + horizon)


def gcra_reserve(state: BudgetState | None, now: int, interval: int, horizon: int) -> tuple[int, BudgetState]:
    """Take the next free slot: ``(microseconds to wait for it, the new state)``."""
    start = max(_booked_until(state, now, horizon), now)
    return start - now, BudgetState(start + interval, now)


def gcra_pause(state: BudgetState | None, now: int, pause: int, horizon: int) -> BudgetState:
    """No slot starts before ``now + pause`` (a 429's ``Retry-After``, capped at the horizon)."""
    return BudgetState(max(_booked_until(state, now, horizon), now + min(pause, horizon)), now)


# Slack's Tier 2, which ``conversations.list`` (Truto's channel list for Slack) is in: "20+ per minute", per
# app and workspace. Over it Slack answers 429 with its own Retry-After, which Truto passes through.
SLACK_LIST_RATE_LIMIT = RateLimit(20, 60.0)

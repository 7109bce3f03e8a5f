"""A rate limit and the GCRA arithmetic (airflow_provider_truto/pacing/limits.py), apart from any store."""

from __future__ import annotations

import pytest

from airflow_provider_truto.pacing.limits import (
    PACING_HEADROOM,
    BudgetState,
    RateLimit,
    gcra_pause,
    gcra_reserve,
    horizon_micros,
    interval_micros,
)

LIMIT = RateLimit(10, 1.0)
INTERVAL = interval_micros(LIMIT)
HORIZON = horizon_micros(LIMIT)


def test_parse() -> None:
    assert RateLimit.parse("50/10") == RateLimit(50, 10.0)
    assert RateLimit.parse(" 5 / 0.5 ") == RateLimit(5, 0.5)
    assert RateLimit.parse("off") is None and RateLimit.parse(None) is None
    for bad in ("fast", "0/1", "5/0", "-1/2"):
        with pytest.raises(ValueError):
            RateLimit.parse(bad)


def test_the_interval_keeps_headroom_below_the_budget() -> None:
    assert LIMIT.interval == pytest.approx(0.1 / PACING_HEADROOM)
    assert round(0.1 / PACING_HEADROOM * 1_000_000) == INTERVAL


def test_reservations_are_spaced_evenly_and_idle_time_banks_no_burst() -> None:
    state, waits = None, []
    for _ in range(3):
        wait, state = gcra_reserve(state, 0, INTERVAL, HORIZON)
        waits.append(wait)
    assert waits == [0, INTERVAL, 2 * INTERVAL]
    later = 10_000_000  # ten idle seconds
    assert gcra_reserve(state, later, INTERVAL, HORIZON)[0] == 0
    assert (
        gcra_reserve(gcra_reserve(state, later, INTERVAL, HORIZON)[1], later, INTERVAL, HORIZON)[0]
        == INTERVAL
    )


def test_a_pause_moves_the_next_slot_and_never_past_the_horizon() -> None:
    assert gcra_reserve(gcra_pause(None, 0, 2_000_000, HORIZON), 0, INTERVAL, HORIZON)[0] == 2_000_000
    assert gcra_pause(None, 0, 10 * HORIZON, HORIZON) == BudgetState(HORIZON, 0)


def test_a_state_written_by_a_clock_ahead_keeps_its_queue_rebased_on_now() -> None:
    ahead = BudgetState(tat=3_600_000_000 + 5 * INTERVAL, stamp=3_600_000_000)
    assert gcra_reserve(ahead, 0, INTERVAL, HORIZON)[0] == 5 * INTERVAL

"""What a failed join means (airflow_provider_truto/auto_join/outcomes.py): a channel that can never be
joined, or an account that cannot be worked now."""

from __future__ import annotations

import pytest

from airflow_provider_truto.auto_join.outcomes import classify_join_error, is_account_wide, unjoinable_reason
from airflow_provider_truto.exceptions import (
    TrutoConnectionError,
    TrutoError,
    error_for_status,
)


def test_unjoinable_reasons() -> None:
    assert unjoinable_reason(error_for_status(422, "x", remote_error="is_archived")) == "is_archived"
    gone = error_for_status(404, "x", remote_error="channel_not_found", is_remote_error=True)
    assert unjoinable_reason(gone) == "channel_not_found"
    assert unjoinable_reason(error_for_status(404, "unknown account")) is None  # Truto's own 404
    assert unjoinable_reason(error_for_status(401, "x")) is None
    assert unjoinable_reason(TrutoError("x")) is None


@pytest.mark.parametrize(
    ("status", "remote_error", "is_remote", "expected"),
    [
        (401, None, False, ("failed", True)),  # bad token, re-auth needed
        (403, "missing_scope", True, ("failed", True)),
        (503, None, False, ("failed", True)),  # Truto blocked the account
        (404, None, False, ("failed", True)),  # Truto does not know the account
        (400, None, False, ("failed", True)),  # refused as sent: a read-only account
        (302, None, False, ("failed", True)),  # the Base URL redirects
        (404, "channel_not_found", True, ("skipped", False)),  # the provider's 404: the channel is gone
        (400, "is_archived", True, ("skipped", False)),
        (429, None, False, ("failed", False)),  # transient: the next channel may pass
        (500, None, False, ("failed", False)),
    ],
)
def test_one_rule_says_which_failures_end_an_account(
    status: int, remote_error: str | None, is_remote: bool, expected: tuple[str, bool]
) -> None:
    error = error_for_status(status, "x", remote_error=remote_error, is_remote_error=is_remote)
    outcome, _, account_failed = classify_join_error(error)
    assert (outcome, account_failed) == expected
    # A listing has no channel to blame: the same errors are account-wide there, the provider's 404 too.
    assert is_account_wide(error) == (status not in (429, 500))


def test_errors_without_an_answer_are_about_no_account() -> None:
    assert not is_account_wide(TrutoConnectionError("reset")) and not is_account_wide(ValueError())
    assert classify_join_error(TrutoConnectionError("reset"))[2] is False

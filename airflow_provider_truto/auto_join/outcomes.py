"""What a join's failure means: a channel that can never be joined, or an account that cannot be worked.

The one owner of both rules: the join operator decides each channel's outcome with them, and the
auto-join planning which accounts it leaves out.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_truto.client.redaction import redact
from airflow_provider_truto.exceptions import (
    TrutoAccountBlockedError,
    TrutoAuthError,
    TrutoBadRequestError,
    TrutoError,
    TrutoHTTPError,
    TrutoNotFoundError,
    TrutoRedirectError,
)

# Slack refuses these joins for good: the channel is archived or gone, or an app must be invited to it.
UNJOINABLE_REMOTE_ERRORS = frozenset(
    {"is_archived", "channel_not_found", "method_not_supported_for_channel_type"}
)
# Errors about the account (or the connection it is reached through), not one channel: every other call
# for the account would meet them, and no retry mends them. A bad token, a missing scope or an account
# that needs re-authorising (401, 403), an account Truto blocked (503) or does not know (404), a request
# refused as sent (400, 405, 409, 422: a read-only account), a Base URL that redirects (3xx).
ACCOUNT_WIDE_ERRORS: tuple[type[TrutoHTTPError], ...] = (
    TrutoAuthError,
    TrutoAccountBlockedError,
    TrutoNotFoundError,
    TrutoBadRequestError,
    TrutoRedirectError,
)

JOINED = "joined"
SKIPPED = "skipped"
FAILED = "failed"


def unjoinable_reason(error: BaseException) -> str | None:
    """Why a join failed for good for this channel alone, or ``None`` when the error is about more.

    A 404 counts only when the provider said it (the channel is gone); Truto's own 404 (say, an unknown
    integrated account) would hit every channel alike: it is account-wide.
    """
    if not isinstance(error, TrutoHTTPError):
        return None
    if error.remote_error in UNJOINABLE_REMOTE_ERRORS:
        return error.remote_error
    if isinstance(error, TrutoNotFoundError) and error.is_remote_error:
        return error.remote_error or "not_found"
    return None


def is_account_wide(error: BaseException) -> bool:
    """Whether a failed call says the account cannot be worked now (:data:`ACCOUNT_WIDE_ERRORS`).

    For a join, ask :func:`unjoinable_reason` first: the provider's 404 there is about the channel.
    """
    return isinstance(error, ACCOUNT_WIDE_ERRORS)


def classify_join_error(error: BaseException, *, token: str = "") -> tuple[str, str, bool]:
    """``(outcome, reason, account_failed)`` for a join that raised.

    A channel that can never be joined is ``skipped``; anything else is ``failed``, and an account-wide
    error (:func:`is_account_wide`) fails the account. An error that is no Truto error (a bug, something
    no one foresaw) fails this channel only, named by its type, ``token`` redacted from its text (a
    Truto error's text is redacted already).
    """
    reason = unjoinable_reason(error)
    if reason is not None:
        return SKIPPED, reason, False
    if not isinstance(error, TrutoError):
        return FAILED, redact(f"unexpected {type(error).__name__}: {error}", token), False
    return FAILED, str(error), is_account_wide(error)


def join_outcome(channel: dict[str, str], account: str, outcome: str, reason: str | None) -> dict[str, Any]:
    """One channel's outcome as a batch join returns it (and the auto-join report reads it)."""
    return {
        "id": channel["id"],
        "name": channel["name"],
        "integrated_account_id": account,
        "outcome": outcome,
        "reason": reason,
    }

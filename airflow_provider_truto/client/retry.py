"""The one retry policy for every Truto call, sync (the hook) and async (the trigger).

The decision is a pure function of the error; the wait is a pure function of the error and the attempt,
with the jittered backoff isolated so tests can pin it. ``retry_policy`` turns both into tenacity arguments
that ``tenacity.Retrying`` and ``tenacity.AsyncRetrying`` share.
"""

from __future__ import annotations

import logging
import random
from typing import TYPE_CHECKING, Any

from airflow_provider_truto.client.observer import BACKOFF, RATE_LIMITED
from airflow_provider_truto.exceptions import TrutoConnectionError, TrutoHTTPError, TrutoTLSError

if TYPE_CHECKING:
    from collections.abc import Callable

    import tenacity

    from airflow_provider_truto.client.observer import ClientObserver

# 503 is missing on purpose: Truto answers it for a blocked integrated account, which a retry cannot mend.
RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 504})
BACKOFF_BASE_SECONDS = 0.5
BACKOFF_CAP_SECONDS = 30.0


def is_retryable(error: BaseException) -> bool:
    """Whether a failed attempt is worth another: timeouts, dropped or refused connections and the statuses
    above. Not a TLS handshake that failed: the scheme or the certificate is wrong, and stays wrong.

    A refused connection is retried with the whole budget, like a reset one: a server or proxy being
    restarted refuses for a few seconds. Where nothing listens at all, that costs the budget's backoff
    (8 to 16 s with the default 5 retries) before the one line that names the address.
    """
    if isinstance(error, TrutoTLSError):
        return False
    if isinstance(error, TrutoConnectionError):
        return True
    return isinstance(error, TrutoHTTPError) and error.status_code in RETRYABLE_STATUSES


def backoff_seconds(attempt: int, *, jitter: Callable[[], float] = random.random) -> float:
    """Capped exponential backoff with jitter: half the step fixed, half random, so clients spread out."""
    step: float = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2.0 ** (attempt - 1))
    return step / 2 + step / 2 * jitter()


def wait_seconds(error: BaseException | None, attempt: int, *, max_wait: float) -> float:
    """How long to wait after failed attempt number ``attempt``: Truto's Retry-After if it gave one."""
    retry_after: float | None = getattr(error, "retry_after", None)
    wait = retry_after if retry_after is not None else backoff_seconds(attempt)
    return max(0.0, min(wait, max_wait))


def retry_policy(
    max_retries: int, *, max_wait: float, log: logging.Logger | Any, observer: ClientObserver | None = None
) -> dict[str, Any]:
    """Keyword arguments for ``tenacity.Retrying`` / ``AsyncRetrying`` implementing this policy.

    Each retry is logged as a warning on ``log`` (the error is already token-free), and its wait told to
    ``observer``: a 429's as ``RATE_LIMITED``, any other as ``BACKOFF``.
    """
    import tenacity

    def wait(state: tenacity.RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        return wait_seconds(error, state.attempt_number, max_wait=max_wait)

    def before_sleep(state: tenacity.RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        pause = state.next_action.sleep if state.next_action else 0.0
        log.warning("%s; retry %d of %d in %.1fs", error, state.attempt_number, max_retries, pause)
        if observer is not None:
            limited = isinstance(error, TrutoHTTPError) and error.status_code == 429
            observer.waited(pause, reason=RATE_LIMITED if limited else BACKOFF)

    return {
        "retry": tenacity.retry_if_exception(is_retryable),
        "stop": tenacity.stop_after_attempt(max_retries + 1),
        "wait": wait,
        "reraise": True,
        "before_sleep": before_sleep,
    }

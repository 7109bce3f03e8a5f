"""Every error the Truto provider raises, in one tree.

::

    AirflowException
    └── TrutoError                      base: message, label, advice, status_code, remote_error, body
        ├── TrutoInputError             bad argument, raised before any request   [permanent]
        ├── TrutoConnectionError        no HTTP answer: refused, reset, timed out [transient]
        │   └── TrutoTLSError           the TLS handshake failed: a scheme that does not match the
        │                               server, or a certificate not trusted      [permanent]
        ├── TrutoInvalidResponseError   an answer that is not the JSON promised   [not retried by the hook]
        ├── TrutoTooManyItemsError      a list longer than the cap set for XCom   [permanent]
        └── TrutoHTTPError              Truto answered with an error status
            ├── TrutoRedirectError      3xx: the Base URL points at a redirect     [permanent]
            ├── TrutoBadRequestError    400, 405, 409, 422: the request or the write was refused [permanent]
            ├── TrutoAuthError          401, 403: bad token, account needs re-auth, missing scope [permanent]
            ├── TrutoNotFoundError      404                                        [permanent]
            ├── TrutoRateLimitError     429                                        [transient]
            └── TrutoServerError        5xx                                        [transient]
                └── TrutoAccountBlockedError  503: the integrated account is blocked [permanent]

*Permanent* errors also derive from Airflow's ``AirflowFailException``, so a task that raises one fails at
once instead of spending its Airflow retries on something a retry cannot mend. Branch on the type and the
attributes, never on the message text.

A message names what was sent and what to do about it: ``Truto (connection 'truto_default'): <what
happened> (HTTP <status>, remote error <code>). <how to fix it>``. ``label`` is the connection (the client
is told it by the hook; it knows no Airflow), ``advice`` the fix when one is known. Neither ever holds the
API token.

Airflow's two base classes are taken from the lightest module that has them (the Task SDK's exceptions on
Airflow 3.2 and later, ``airflow.exceptions`` before). Where Airflow is not installed, plain stand-ins
take their place, so the client (:mod:`airflow_provider_truto.client`) and the pacing
(:mod:`airflow_provider_truto.pacing`) work without Airflow.

An error crosses from the triggerer to a task as an event payload: :func:`error_payload` writes it,
:func:`error_from_payload` raises the same kind again.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

try:  # Airflow >= 3.2 keeps the task-facing exceptions in the Task SDK.
    from airflow.sdk.exceptions import AirflowException, AirflowFailException
except ImportError:  # pragma: no cover - Airflow 3.0 and 3.1, or no Airflow at all
    try:
        from airflow.exceptions import (  # type: ignore[no-redef,attr-defined]
            AirflowException,
            AirflowFailException,
        )
    except ModuleNotFoundError as missing:
        if missing.name != "airflow":
            raise

        class AirflowException(Exception):  # type: ignore[no-redef]
            """Stands in for Airflow's base error where Airflow is not installed."""

        class AirflowFailException(AirflowException):  # type: ignore[no-redef]
            """Stands in for Airflow's "fail without retrying" where Airflow is not installed."""


__all__ = [
    "TrutoAccountBlockedError",
    "TrutoAuthError",
    "TrutoBadRequestError",
    "TrutoConnectionError",
    "TrutoError",
    "TrutoHTTPError",
    "TrutoInputError",
    "TrutoInvalidResponseError",
    "TrutoNotFoundError",
    "TrutoRateLimitError",
    "TrutoRedirectError",
    "TrutoServerError",
    "TrutoTLSError",
    "TrutoTooManyItemsError",
    "error_for_status",
    "error_from_payload",
    "error_payload",
]

BODY_EXCERPT_CHARS = 500


class TrutoError(AirflowException):
    """Base class of every Truto provider error.

    :param message: what happened: the call and Truto's ``message``, or ours for errors with no answer.
    :param status_code: the HTTP status, or ``None`` when no answer came back.
    :param remote_error: the provider's error code from ``raw_response.error`` (e.g. ``is_archived``).
    :param is_remote_error: Truto's ``truto_is_remote_error``: the provider (Slack), not Truto, failed.
    :param body: the answer's body, trimmed to a few hundred characters.
    :param label: where the call went, as the user knows it (``connection 'truto_default'``).
    :param advice: how to fix it, when that is known.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        remote_error: str | None = None,
        is_remote_error: bool = False,
        body: str | None = None,
        label: str | None = None,
        advice: str | None = None,
    ) -> None:
        self.message = message
        self.status_code: int | None = status_code  # type: ignore[assignment]
        self.remote_error = remote_error
        self.is_remote_error = is_remote_error
        self.body = body
        self.label = label
        self.advice = advice
        super().__init__(self._describe())

    def _describe(self) -> str:
        text = f"Truto ({self.label}): {self.message}" if self.label else f"Truto: {self.message}"
        if self.status_code is not None:
            remote = f", remote error {self.remote_error}" if self.remote_error else ""
            text += f" (HTTP {self.status_code}{remote})"
        return f"{text}. {self.advice}" if self.advice else text

    def explained(
        self, *, message: str | None = None, advice: str | None = None, label: str | None = None
    ) -> TrutoError:
        """This error, its message rebuilt with what it now knows: what happened, how to fix it, and
        where the call went (a label already set is kept). Returns ``self``, to be raised."""
        if message is not None:
            self.message = message
        if advice is not None:
            self.advice = advice
        if label is not None and self.label is None:
            self.label = label
        self.args = (self._describe(),)
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        # Keep the attributes when the error crosses a process boundary (triggers, multiprocessing).
        return (_rebuild, (type(self), self.args, self.__dict__))


def _rebuild(cls: type[TrutoError], args: tuple[Any, ...], state: dict[str, Any]) -> TrutoError:
    error = cls.__new__(cls)
    Exception.__init__(error, *args)
    error.__dict__.update(state)
    return error


class TrutoInputError(TrutoError, ValueError, AirflowFailException):
    """A bad argument, detected before any request was sent. ``argument`` names it."""

    def __init__(self, argument: str, problem: str) -> None:
        self.argument = argument
        super().__init__(f"invalid argument {argument!r}: {problem}")


class TrutoTooManyItemsError(TrutoError, AirflowFailException):
    """A list outgrew the cap that keeps it out of XCom. ``argument`` names the cap, ``limit`` its value."""

    def __init__(self, argument: str, limit: int, problem: str) -> None:
        self.argument = argument
        self.limit = limit
        super().__init__(problem)


class TrutoConnectionError(TrutoError):
    """No HTTP answer: the connection was refused or reset, or the request timed out.

    ``reason`` says which, for code to branch on: ``refused``, ``unresolved`` (no such host), ``reset``
    (closed before an answer), ``timeout``, ``tls`` (the handshake failed) or ``other``.
    """

    def __init__(self, message: str, *, reason: str = "other", **kwargs: Any) -> None:
        self.reason = reason
        super().__init__(message, **kwargs)


class TrutoTLSError(TrutoConnectionError, AirflowFailException):
    """The TLS handshake failed: ``https://`` against a plain-HTTP server, ``http://`` against a TLS one,
    or a certificate that is not trusted. No retry mends it: fix the Base URL's scheme, or the CA bundle.
    ``url`` is the address it happened at."""

    def __init__(self, message: str, *, url: str, **kwargs: Any) -> None:
        self.url = url
        super().__init__(message, reason="tls", **kwargs)


class TrutoInvalidResponseError(TrutoError):
    """Truto answered, but not with the JSON object the call expects."""


class TrutoHTTPError(TrutoError):
    """Truto answered with an error status; ``retry_after`` holds its ``Retry-After`` in seconds, if any."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kwargs)


class TrutoRedirectError(TrutoHTTPError, AirflowFailException):
    """3xx: the server redirected. Redirects are never followed (a redirected POST would come back as a
    GET without its body); ``location`` holds where it pointed, redacted. Fix the connection's Base URL."""

    def __init__(self, message: str, *, location: str | None = None, **kwargs: Any) -> None:
        self.location = location
        super().__init__(message, **kwargs)


class TrutoBadRequestError(TrutoHTTPError, AirflowFailException):
    """400, 405, 409 or 422: Truto or the provider refused the request as sent."""


class TrutoAuthError(TrutoHTTPError, AirflowFailException):
    """401 or 403: a bad token, an account that needs re-authorising, or a missing OAuth scope."""


class TrutoNotFoundError(TrutoHTTPError, AirflowFailException):
    """404: the resource does not exist or is not visible to this token."""


class TrutoRateLimitError(TrutoHTTPError):
    """429: over Truto's or the provider's rate limit; ``retry_after`` says how long to wait."""


class TrutoServerError(TrutoHTTPError):
    """5xx: Truto failed, or the provider gave no clean answer."""


class TrutoAccountBlockedError(TrutoServerError, AirflowFailException):
    """503: Truto has blocked the integrated account; retrying will not help."""


_BY_STATUS: dict[int, type[TrutoHTTPError]] = {
    400: TrutoBadRequestError,
    401: TrutoAuthError,
    403: TrutoAuthError,
    404: TrutoNotFoundError,
    405: TrutoBadRequestError,
    409: TrutoBadRequestError,
    422: TrutoBadRequestError,
    429: TrutoRateLimitError,
    503: TrutoAccountBlockedError,
}


def error_for_status(
    status_code: int,
    message: str,
    *,
    retry_after: float | None = None,
    remote_error: str | None = None,
    is_remote_error: bool = False,
    body: str | None = None,
) -> TrutoHTTPError:
    """Build the error for an HTTP status: the one place that maps a status to a class."""
    cls = _BY_STATUS.get(status_code)
    if cls is None:
        cls = TrutoServerError if status_code >= 500 else TrutoHTTPError
        cls = TrutoRedirectError if 300 <= status_code < 400 else cls
    return cls(
        message,
        retry_after=retry_after,
        status_code=status_code,
        remote_error=remote_error,
        is_remote_error=is_remote_error,
        body=body[:BODY_EXCERPT_CHARS] if body else body,
    )


# -- errors as event payloads (triggerer -> task) ----------------------------------------------------------


def error_payload(error: BaseException, account: str | None, *, token: str = "") -> dict[str, Any]:
    """An ``error`` event: the error's type and attributes, so the sensor can raise the same kind.

    Only a Truto error carries an HTTP status: Airflow's own errors may have one too (a missing
    connection is a "404"), which must not come back as Truto's 404. ``token`` is redacted from the text.
    """
    from airflow_provider_truto.client.redaction import redact

    truto = isinstance(error, TrutoError)
    payload: dict[str, Any] = {
        "status": "error",
        "integrated_account_id": account,
        "message": redact(str((getattr(error, "message", None) if truto else None) or error), token),
        "error_type": type(error).__name__,
        "status_code": getattr(error, "status_code", None) if truto else None,
        "remote_error": getattr(error, "remote_error", None),
        "is_remote_error": bool(getattr(error, "is_remote_error", False)),
    }
    if isinstance(error, TrutoError):
        payload["label"] = error.label
        payload["advice"] = redact(error.advice, token) if error.advice else None
    if isinstance(error, TrutoInputError):
        payload["argument"] = error.argument
    if isinstance(error, TrutoConnectionError):
        payload["reason"] = error.reason
    if isinstance(error, TrutoTLSError):
        payload["url"] = error.url
    return payload


def error_from_payload(payload: Mapping[str, Any]) -> TrutoError:
    """The typed error an ``error`` event describes (the inverse of :func:`error_payload`)."""
    message = str(payload.get("message") or "the Truto trigger failed")
    said = {"label": payload.get("label"), "advice": payload.get("advice")}
    status_code = payload.get("status_code")
    error_type = payload.get("error_type")
    error: TrutoError
    if isinstance(status_code, int):
        error = error_for_status(
            status_code,
            message,
            remote_error=payload.get("remote_error"),
            is_remote_error=bool(payload.get("is_remote_error")),
        )
    elif error_type == "TrutoInputError":
        return TrutoInputError(str(payload.get("argument") or "truto_conn_id"), message)
    elif error_type == "AirflowNotFoundException":  # the connection is not defined where the trigger ran
        return TrutoInputError("truto_conn_id", f"the connection is missing: {message}")
    elif error_type == "TrutoTLSError":
        error = TrutoTLSError(message, url=str(payload.get("url") or ""))
    elif error_type == "TrutoConnectionError":
        error = TrutoConnectionError(message, reason=str(payload.get("reason") or "other"))
    elif error_type == "TrutoInvalidResponseError":
        error = TrutoInvalidResponseError(message)
    else:
        error = TrutoError(f"{error_type}: {message}" if error_type else message)
    return error.explained(**{k: str(v) for k, v in said.items() if v})

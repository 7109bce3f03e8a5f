"""One attempt's answer, decoded the same way whichever transport read it.

A transport (requests in :class:`~airflow_provider_truto.client.sync_client.TrutoClient`, httpx in
:class:`~airflow_provider_truto.client.async_client.AsyncTrutoClient`) only moves bytes: it hands an
:class:`AnswerDecoder` the status and headers (:meth:`~AnswerDecoder.head`), then the body's chunks
(:meth:`~AnswerDecoder.read` / :meth:`~AnswerDecoder.aread`), then asks for the result
(:meth:`~AnswerDecoder.result`); an attempt without an answer is read by
:mod:`~airflow_provider_truto.client.failures`. Everything else is decided here, once:

- a 429 pauses the rate budget it belongs to, for every worker sharing it;
- a 3xx is a :class:`~airflow_provider_truto.exceptions.TrutoRedirectError`, never followed;
- the answer must arrive whole within the connection's timeout and stay under its size cap, decoded;
- the token is redacted from what is shown, never from the values decided with (:func:`decode_answer`);
- an error status becomes the typed error of :func:`~airflow_provider_truto.exceptions.error_for_status`.
"""

from __future__ import annotations

import codecs
import json
import logging
import math
import time
from collections.abc import AsyncIterable, Callable, Iterable, Mapping
from email.utils import parsedate_to_datetime
from typing import Any

from airflow_provider_truto.client.content_encoding import BodyDecoder, EncodingError
from airflow_provider_truto.client.observer import ClientObserver
from airflow_provider_truto.client.redaction import contains_token, redact, redact_value
from airflow_provider_truto.exceptions import (
    BODY_EXCERPT_CHARS,
    TrutoConnectionError,
    TrutoError,
    TrutoHTTPError,
    TrutoInvalidResponseError,
    TrutoRedirectError,
    error_for_status,
)

log = logging.getLogger("airflow_provider_truto.client.sync_client")  # the name users' log settings know

STREAM_CHUNK_BYTES = 64 * 1024

PauseBudget = Callable[[str | None, float | None], None]


class AnswerDecoder:
    """Decodes one attempt's answer to the call ``call`` (``"GET /path"``).

    :param pause: called with the account and the ``Retry-After`` of a 429 (``RateLimiters.pause``).
    """

    def __init__(
        self,
        call: str,
        account: str | None,
        *,
        token: str,
        timeout: float,
        max_bytes: int,
        pause: PauseBudget,
        observer: ClientObserver | None = None,
    ) -> None:
        self.reader = AnswerReader(call, timeout=timeout, max_bytes=max_bytes)
        self.call = call
        self._account = account
        self._token = token
        self._pause = pause
        self._observer = observer

    def remaining(self) -> float:
        """Seconds left until the attempt's deadline."""
        return self.reader.remaining()

    @property
    def deadline(self) -> float:
        """The attempt's deadline on ``time.monotonic()``'s clock."""
        return self.reader.deadline

    def head(self, status_code: int, headers: Mapping[str, str]) -> TrutoError | None:
        """Check the status line and headers before any of the body is read; the error if they are refused.

        Returned, not raised: this frame holds the headers, which may carry the token (a ``Location``).
        """
        if self._observer is not None:
            self._observer.answered(status_code)
        if status_code == 429:  # every worker sharing the budget waits, not just this one
            self._pause(self._account, parse_retry_after(headers.get("Retry-After")))
        redirect = redirect_error(status_code, headers.get("Location"), call=self.call, token=self._token)
        return (
            redirect
            or self.reader.check_length(headers.get("Content-Length"))
            or self.reader.check_encoding(headers.get("Content-Encoding"))
        )

    def read(self, chunks: Iterable[bytes]) -> TrutoError | None:
        """Read the body; the error (returned, not raised) if a limit is passed."""
        return self.reader.read(chunks)

    async def aread(self, chunks: AsyncIterable[bytes]) -> TrutoError | None:
        """:meth:`read` for an async stream."""
        return await self.reader.aread(chunks)

    def timed_out(self) -> TrutoConnectionError:
        return self.reader.timed_out()

    def result(self, status_code: int, headers: Mapping[str, str], reason: str | None) -> Any:
        """The decoded answer of a body read whole, or raise the typed error it stands for."""
        return decode_answer(
            status_code,
            decode_text(self.reader.body, headers.get("Content-Type")),
            retry_after=headers.get("Retry-After"),
            reason=reason,
            call=self.call,
            token=self._token,
        )


def redirect_error(
    status_code: int, location: str | None, *, call: str, token: str
) -> TrutoRedirectError | None:
    """The error for a 3xx answer, or ``None``.

    Truto's API does not redirect: a 3xx means the Base URL points somewhere else (``http://`` behind a
    gateway that wants ``https://``, an old host). Following it would turn a POST into a bodiless GET.
    """
    if not 300 <= status_code < 400:
        return None
    where = redact(location, token) if location else None
    advice = f"it points to {where}" if where else "it names no Location"
    error = error_for_status(
        status_code,
        f"{call} was redirected (HTTP {status_code}); redirects are not followed, {advice}: "
        "set the connection's Base URL to the address Truto's API answers on",
    )
    assert isinstance(error, TrutoRedirectError)
    error.location = where
    return error


class AnswerReader:
    """One attempt's body, read under the limits both transports share.

    - A total deadline: the connection's ``timeout`` covers the whole answer, not each read. The sync
      transport also cuts its socket at the deadline (:mod:`airflow_provider_truto.client.deadline`),
      the async one runs the attempt within it (``async_client.within_deadline``); both check between
      chunks.
    - A size cap: an answer announcing or reaching more than ``max_bytes`` is refused while it streams,
      so memory stays bounded by the cap, not by what a server sends. The cap holds on the decoded
      bytes: the transports hand over raw bytes, and ``Content-Encoding`` is undone here a piece at a
      time (:mod:`~airflow_provider_truto.client.content_encoding`), so a compression bomb is refused
      after at most the cap, as a permanent :class:`TrutoInvalidResponseError`, never decoded whole.
    """

    def __init__(self, call: str, *, timeout: float, max_bytes: int) -> None:
        self.call = call
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.deadline = time.monotonic() + timeout
        self.body = bytearray()
        self.received = 0  # raw bytes, before decoding
        self._encoding: str | None = None
        self._decoder = BodyDecoder(None)

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def expired(self) -> bool:
        return self.remaining() <= 0

    def check_length(self, content_length: str | None) -> TrutoInvalidResponseError | None:
        """The error for an answer whose announced length is over the cap, before reading any of it."""
        try:
            announced = int(content_length) if content_length else 0
        except ValueError:
            announced = 0
        return self.too_large(announced) if announced > self.max_bytes else None

    def check_encoding(self, content_encoding: str | None) -> TrutoInvalidResponseError | None:
        """The error for an answer in a ``Content-Encoding`` the client cannot undo; else undo it."""
        try:
            self._decoder = BodyDecoder(content_encoding)
        except EncodingError as error:
            return TrutoInvalidResponseError(f"{self.call} answered with {error}")
        self._encoding = content_encoding
        return None

    def read(self, chunks: Iterable[bytes]) -> TrutoError | None:
        """Read the body from ``chunks`` (raw bytes, as sent); the error if a limit is passed.

        The error is returned, not raised: no frame of its traceback then holds a raw chunk (tracebacks
        that print local variables would show what a server echoed).
        """
        for chunk in chunks:
            failure = self.add(chunk)
            if failure is not None:
                return failure
        return self.finish()

    async def aread(self, chunks: AsyncIterable[bytes]) -> TrutoError | None:
        """:meth:`read` for an async stream."""
        async for chunk in chunks:
            failure = self.add(chunk)
            if failure is not None:
                return failure
        return self.finish()

    def add(self, chunk: bytes) -> TrutoError | None:
        self.received += len(chunk)
        if self.received > self.max_bytes:
            return self.too_large(None)
        if self.expired():
            return self.timed_out()
        return self._keep(self._decoder.decode, chunk)

    def finish(self) -> TrutoError | None:
        """Take what the decoder still holds once the body has ended."""
        return self._keep(lambda _: self._decoder.finish(), b"")

    def _keep(self, decode: Callable[[bytes], Iterable[bytes]], chunk: bytes) -> TrutoError | None:
        try:
            for piece in decode(chunk):
                if len(self.body) + len(piece) > self.max_bytes:
                    return self.too_large(None, decoded=bool(self._decoder.layers))
                self.body += piece
        except EncodingError as error:
            return TrutoInvalidResponseError(f"{self.call} answered {error}")
        return None

    def timed_out(self) -> TrutoConnectionError:
        return TrutoConnectionError(
            f"{self.call} timed out: no complete answer within {self.timeout:g}s "
            "(the connection's timeout, for the whole answer)"
        )

    def too_large(self, announced: int | None, *, decoded: bool = False) -> TrutoInvalidResponseError:
        size = f"{announced} bytes" if announced is not None else f"more than {self.max_bytes} bytes"
        if decoded:
            size += f" once decoded (Content-Encoding: {self._encoding})"
        return TrutoInvalidResponseError(
            f"{self.call} answered {size}, over the cap of {self.max_bytes / 1e6:g} MB; raise the "
            "connection's 'max_response_mb' extra if answers this large are expected"
        )


# Codecs Python knows that no server means as a body's charset: read as undeclared.
NOT_CHARSETS = frozenset({"undefined", "idna", "punycode"})


def decode_text(body: bytes | bytearray, content_type: str | None) -> str:
    """An answer's bytes as text: the charset the server declared, else UTF-8 (JSON's encoding).

    A charset that names no text encoding, or a codec that is no body's charset (:data:`NOT_CHARSETS`:
    ``undefined`` and ``idna`` raise a ``UnicodeError`` of their own, ``punycode`` does too before
    Python 3.13 and decodes to nonsense from it), counts as undeclared. A UTF-8 byte order mark is
    dropped.
    """
    charset = None
    for parameter in (content_type or "").split(";")[1:]:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset" and value.strip():
            charset = value.strip().strip('"')
    if charset is not None:
        try:
            if codecs.lookup(charset).name not in ("utf-8", *NOT_CHARSETS):
                return body.decode(charset, errors="replace")
        except Exception:  # LookupError, UnicodeError, a codec's own complaint: JSON's UTF-8 instead
            pass
    return body.decode("utf-8-sig", errors="replace")


def decode_answer(
    status_code: int, text: str, *, retry_after: str | None, reason: str | None, call: str, token: str
) -> Any:
    """An answer's JSON, or the typed error it stands for.

    An error answer's text is redacted before anything reads it. A successful answer is decoded as
    sent, so the values the provider decides with (:data:`DECIDED_WITH`: ids, ``created_at``, cursors)
    are exactly Truto's. If it held the token in any spelling, every other string it holds is redacted
    (they are what is handed on and shown: a successful answer is used with ``***`` in place of the
    token, and a warning, because refusing it would fail a write that went through); a value decided
    with that holds the token is refused instead, since acting on it and showing it are both wrong.
    """
    reason = redact(reason, token) if reason else reason
    if status_code >= 400:
        redacted = redact(text, token)
        del text  # no raising frame keeps the unredacted text
        raise error_from_answer(
            status_code, redacted, retry_after=retry_after, reason=reason, call=call, token=token
        )
    answer, failure = _decode_success(status_code, text, call=call, token=token)
    del text
    if failure is not None:
        raise failure
    return answer


# The keys whose values the provider decides with, at any depth of an answer: never redacted.
DECIDED_WITH = frozenset({"id", "created_at", "next_cursor", "prev_cursor"})


def _decode_success(
    status_code: int, text: str, *, call: str, token: str
) -> tuple[Any, TrutoInvalidResponseError | None]:
    """``(answer, None)``, or ``(None, the error)``: returned, so no raising frame holds ``text``."""
    if not text:
        return {}, None
    try:
        answer = json.loads(text)
    except (ValueError, RecursionError) as error:  # nested deeper than Python's recursion limit
        problem = "nested too deeply to read" if isinstance(error, RecursionError) else "not JSON"
        return None, TrutoInvalidResponseError(
            f"{call} answered HTTP {status_code} with a body that is {problem}",
            status_code=status_code,
            body=redact(text[: BODY_EXCERPT_CHARS * 2], token)[:BODY_EXCERPT_CHARS],
        )
    if not contains_token(text, token):  # decoding cannot make a token appear that no spelling showed
        return answer, None
    try:
        return _without_token(answer, status_code, call=call, token=token)
    except RecursionError:  # parsed, but too deep for the walk that takes the token out
        return None, TrutoInvalidResponseError(
            f"{call} answered HTTP {status_code} with a body that is nested too deeply to read",
            status_code=status_code,
        )


def _without_token(
    answer: Any, status_code: int, *, call: str, token: str
) -> tuple[Any, TrutoInvalidResponseError | None]:
    held = _decided_with_token(answer, token)
    if held is not None:
        return None, TrutoInvalidResponseError(
            f"{call} answered HTTP {status_code} with the API token in its {held!r}, a value the "
            "provider would act on: refused rather than used or shown",
            status_code=status_code,
        )
    log.warning("%s: the answer held the API token; it was replaced by *** before use", call)
    return _redact_shown(answer, token), None


def _decided_with_token(value: Any, token: str) -> str | None:
    """The first key of :data:`DECIDED_WITH` whose text value shows the token, at any depth."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key in DECIDED_WITH and isinstance(item, str) and contains_token(item, token):
                return str(key)
            found = _decided_with_token(item, token)
            if found is not None:
                return found
    elif isinstance(value, list):
        for item in value:
            found = _decided_with_token(item, token)
            if found is not None:
                return found
    return None


def _redact_shown(value: Any, token: str) -> Any:
    """``value`` with the token redacted from every string but the values of :data:`DECIDED_WITH`
    (which :func:`_decided_with_token` found clean)."""
    if isinstance(value, dict):
        return {
            redact(key, token) if isinstance(key, str) else key: (
                item if key in DECIDED_WITH and isinstance(item, str) else _redact_shown(item, token)
            )
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_redact_shown(item, token) for item in value]
    return redact_value(value, token)[0]


def error_from_answer(
    status_code: int,
    text: str,
    *,
    retry_after: str | None,
    reason: str | None,
    call: str,
    token: str = "",
) -> TrutoHTTPError:
    """The typed error for an error answer, from Truto's error body. ``text`` must already be redacted."""
    try:
        payload = json.loads(text) if text else {}
    except (ValueError, RecursionError):  # not JSON, or nested too deeply: the status still says enough
        payload = {}
    if not isinstance(payload, dict):
        payload = {}
    raw = payload.get("raw_response")
    remote_error = _text(raw.get("error")) if isinstance(raw, dict) else None
    message = _text(payload.get("message")) or _text(payload.get("error")) or reason or "error"
    # The text was redacted before decoding; what its JSON escapes decoded to is redacted again.
    return error_for_status(
        status_code,
        redact(f"{call}: {message}", token),
        retry_after=parse_retry_after(retry_after),
        remote_error=redact(remote_error, token) if remote_error is not None else None,
        is_remote_error=bool(payload.get("truto_is_remote_error")),
        body=text,
    )


def _text(value: Any) -> str | None:
    """A field of an error body as text: a string or a number; anything else (an object, a list nested
    a thousand deep) is not a message."""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return None


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` as seconds: a number, or an HTTP-date relative to now.

    Unreadable, negative, NaN or infinite means absent: the retry falls back to the backoff.
    """
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return seconds if 0 <= seconds < math.inf else None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())

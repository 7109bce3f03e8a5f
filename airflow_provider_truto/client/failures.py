"""Why an attempt got no answer, and the error that says so in the user's words.

requests/urllib3 and httpx/httpcore wrap the socket's error in layers whose messages name their own
classes (``_WatchedHTTPSPool(host=...): Max retries exceeded ... NewConnectionError(...)``). The reason is
read here from the chain of causes, with the standard library's types (``ConnectionRefusedError``,
``socket.gaierror``, ``ssl.SSLError``, ...), and the message names the address, what happened and what to
check. A TLS handshake that fails because the scheme does not match the server, or because its certificate
is not trusted, is :class:`~airflow_provider_truto.exceptions.TrutoTLSError`: no retry mends it.

Stdlib only (with the package's errors).
"""

from __future__ import annotations

import http.client
import socket
import ssl
from collections.abc import Iterator
from urllib.parse import urlsplit

from airflow_provider_truto.client.redaction import redact
from airflow_provider_truto.exceptions import TrutoConnectionError, TrutoTLSError

# OpenSSL's reasons for a handshake that met something other than TLS: a plain-HTTP answer to https://.
NOT_TLS_REASONS = frozenset(
    {"WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "PACKET_LENGTH_TOO_LONG", "UNKNOWN_PROTOCOL"}
)


def causes(error: BaseException) -> Iterator[BaseException]:
    """``error`` and what caused it, outermost first (each once)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def connection_failure(
    error: BaseException,
    *,
    call: str,
    base_url: str,
    token: str,
    proxy: str | None = None,
    closed: bool = False,
) -> TrutoConnectionError:
    """The error for an attempt that got no answer because of ``error`` (a library's exception).

    :param closed: the transport knows the server closed the connection without an answer (httpx says so
        with its own exception, which has no standard cause).
    """
    chain = list(causes(error))
    via = f" through the proxy at {_address(proxy)}" if proxy else ""
    certificate = _first(chain, ssl.SSLCertVerificationError)
    if certificate is not None:
        return TrutoTLSError(
            f"{call}: the certificate of {base_url} is not trusted "
            f"({redact(getattr(certificate, 'verify_message', None) or str(certificate), token)})",
            url=base_url,
            advice="If this is the right server, trust the CA that signed its certificate: name it in "
            "REQUESTS_CA_BUNDLE or SSL_CERT_FILE where the task runs",
        )
    handshake = _first(chain, ssl.SSLError)
    if handshake is not None and getattr(handshake, "reason", None) in NOT_TLS_REASONS:
        return TrutoTLSError(
            f"{call}: the TLS handshake with {base_url}{via} failed: the server does not speak TLS there",
            url=base_url,
            advice=f"Check the scheme of the Base URL: {swap_scheme(base_url)} if the server has no TLS",
        )
    if _first(chain, ConnectionRefusedError) is not None:
        return TrutoConnectionError(
            f"{call}: cannot connect to {base_url}{via}: connection refused, nothing listens there",
            reason="refused",
            advice="Is the server running, and is the Base URL right?",
        )
    if _first(chain, socket.gaierror) is not None:
        host = urlsplit(base_url).hostname
        return TrutoConnectionError(
            f"{call}: cannot connect to {base_url}{via}: the host {host!r} is not known",
            reason="unresolved",
            advice="Check the Base URL's host",
        )
    if closed or any(isinstance(e, (ConnectionResetError, http.client.RemoteDisconnected)) for e in chain):
        return TrutoConnectionError(
            f"{call}: {base_url}{via} closed the connection without an answer", reason="reset"
        )
    if handshake is not None:  # the handshake broke off (EOF, reset): the network, not the scheme
        return TrutoConnectionError(
            f"{call}: the TLS handshake with {base_url}{via} broke off ({redact(str(handshake), token)})",
            reason="reset",
        )
    innermost = chain[-1]
    said = redact(str(innermost), token) or type(innermost).__name__
    return TrutoConnectionError(f"{call}: no answer from {base_url}{via} ({said})")


def speaks_tls_error(call: str, base_url: str) -> TrutoTLSError:
    """The error for ``http://`` at an address that answered a TLS handshake (see ``speaks_tls``)."""
    return TrutoTLSError(
        f"{call}: {base_url} speaks TLS: it closed the connection on a plain HTTP request",
        url=base_url,
        advice=f"Check the scheme of the Base URL: {swap_scheme(base_url)}",
    )


def swap_scheme(base_url: str) -> str:
    """``https://h`` for ``http://h`` and the other way round."""
    scheme, _, rest = base_url.partition("://")
    return f"{'http' if scheme.lower() == 'https' else 'https'}://{rest}"


def _first(chain: list[BaseException], kind: type[BaseException]) -> BaseException | None:
    return next((e for e in chain if isinstance(e, kind)), None)


def _address(url: str) -> str:
    """``host:port`` of a URL: a proxy's URL may hold a login, which no message shows."""
    parts = urlsplit(url if "://" in url else f"http://{url}")
    return f"{parts.hostname}:{parts.port}" if parts.port else str(parts.hostname)

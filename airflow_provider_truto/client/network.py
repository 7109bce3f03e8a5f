"""Which proxy a client goes through and which certificates it trusts: one reading for both transports.

requests and httpx read the environment each their own way: requests takes ``REQUESTS_CA_BUNDLE`` or
``CURL_CA_BUNDLE``, httpx ``SSL_CERT_FILE`` or ``SSL_CERT_DIR``, and each parses the proxy variables with
its own rules. The same connection could then trust other certificates, or take another route, in a task
(requests) than in the triggerer (httpx). :func:`network_settings` reads the environment once, when a
client is made, and both transports are configured from its answer with their own reading switched off.

Stdlib only (with the package's errors).
"""

from __future__ import annotations

import ipaddress
import os
import socket
import ssl
import urllib.request
from dataclasses import dataclass
from urllib.parse import urlsplit

from airflow_provider_truto.exceptions import TrutoInputError

# Where a CA bundle to trust instead of the default one may be named, first set wins: requests' two names,
# then OpenSSL's (which httpx read). A file or a directory of hashed certificates.
CA_BUNDLE_VARIABLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR")


@dataclass(frozen=True)
class NetworkSettings:
    """How a client reaches its base URL.

    :param proxy: the proxy URL to go through, or ``None`` to connect directly.
    :param ca_bundle: a CA file or directory to trust instead of the default bundle (certifi), or ``None``.
    """

    proxy: str | None = None
    ca_bundle: str | None = None

    def requests_verify(self) -> str | bool:
        """``verify`` for requests: the bundle's path, or ``True`` (the default bundle)."""
        return self.ca_bundle or True

    def ssl_context(self) -> ssl.SSLContext | bool:
        """``verify`` for httpx: a context trusting the bundle, or ``True`` (the default bundle)."""
        if not self.ca_bundle:
            return True
        if os.path.isdir(self.ca_bundle):
            return ssl.create_default_context(capath=self.ca_bundle)
        return ssl.create_default_context(cafile=self.ca_bundle)


def network_settings(base_url: str) -> NetworkSettings:
    """The proxy and CA bundle for ``base_url``, from the environment as it is now.

    Proxies: ``HTTPS_PROXY`` / ``HTTP_PROXY`` for the URL's scheme, else ``ALL_PROXY`` (lower-case names
    win, as in curl), unless ``NO_PROXY`` names the host (``*``, a domain and its subdomains, a host with
    its port, an address or a CIDR range). A CA bundle that does not exist is a
    :class:`~airflow_provider_truto.exceptions.TrutoInputError` naming its variable, before any request.
    """
    ca_bundle = None
    for name in CA_BUNDLE_VARIABLES:
        if os.environ.get(name):
            ca_bundle = os.environ[name]
            if not os.path.exists(ca_bundle):
                raise TrutoInputError(name, f"names no CA file or directory: {ca_bundle!r}")
            break
    return NetworkSettings(proxy=_proxy_for(base_url), ca_bundle=ca_bundle)


def _proxy_for(url: str) -> str | None:
    proxies = urllib.request.getproxies_environment()
    parts = urlsplit(url)
    proxy = proxies.get(parts.scheme) or proxies.get("all")
    if not proxy or _bypassed(parts.hostname or "", parts.port, proxies.get("no", "")):
        return None
    return proxy


def _bypassed(host: str, port: int | None, no_proxy: str) -> bool:
    host_and_port = f"{host}:{port}" if port else host
    if urllib.request.proxy_bypass_environment(host_and_port, {"no": no_proxy}):  # type: ignore[attr-defined]
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    for entry in no_proxy.split(","):
        try:
            if address in ipaddress.ip_network(entry.strip(), strict=False):
                return True
        except ValueError:
            continue
    return False


def speaks_tls(base_url: str, timeout: float) -> bool:
    """Whether the host and port of ``base_url`` answer a TLS handshake (the certificate unchecked).

    Asked only when ``http://`` got no answer at all, to tell a Base URL whose scheme does not match the
    server (a TLS server closes a plain-HTTP connection without a word) from a network failure.
    """
    parts = urlsplit(base_url)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with (
            socket.create_connection((parts.hostname, parts.port or 80), timeout=timeout) as sock,
            context.wrap_socket(sock, server_hostname=parts.hostname),
        ):
            return True
    except (OSError, ValueError):  # ssl.SSLError is an OSError
        return False

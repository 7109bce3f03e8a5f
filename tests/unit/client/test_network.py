"""One reading of the proxy and CA settings for both transports (airflow_provider_truto/network.py).

Each check runs the sync client (requests) and the async client (httpx) against a real HTTPS server with
a certificate of its own, or through a real HTTP proxy, on 127.0.0.1. Before network.py, requests read
only REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE and httpx only SSL_CERT_FILE / SSL_CERT_DIR: a bundle named by one
library's variable was ignored by the other transport.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_truto.client.async_client import AsyncTrutoClient
from airflow_provider_truto.client.network import CA_BUNDLE_VARIABLES, NetworkSettings, network_settings
from airflow_provider_truto.client.sync_client import TrutoClient
from airflow_provider_truto.exceptions import TrutoConnectionError, TrutoInputError, TrutoTLSError
from tests.support.helpers import CHANNELS, TOKEN, client_config
from tests.support.hostile_servers import HostileServer, one_page, self_signed_certificate
from tests.support.services import require_binary

PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """An environment without any CA or proxy setting (this machine, like many CI images, sets several)."""
    for name in (*CA_BUNDLE_VARIABLES, *PROXY_VARIABLES):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    return monkeypatch


def listed(list_unified: Any, url: str) -> list[str]:
    """The channel ids at ``url``, through the transport the ``list_unified`` fixture stands for."""
    return [c["id"] for c in list_unified(url, "instant-messaging", "channels", settings={"timeout": 5.0})]


def hashed_directory(cert: Path, directory: Path) -> Path:
    """A CA directory as OpenSSL reads one (SSL_CERT_DIR): the certificate under its subject hash."""
    openssl = require_binary("openssl", debian_package="openssl")
    subject_hash = subprocess.run(
        [openssl, "x509", "-hash", "-noout", "-in", str(cert)], capture_output=True, text=True, check=True
    ).stdout.strip()
    directory.mkdir()
    shutil.copy(cert, directory / f"{subject_hash}.0")
    return directory


@pytest.mark.parametrize("variable", CA_BUNDLE_VARIABLES)
def test_both_transports_trust_a_ca_bundle_whichever_variable_names_it(
    env: pytest.MonkeyPatch, tmp_path: Path, list_unified: Any, variable: str
) -> None:
    cert, context = self_signed_certificate(tmp_path)
    with HostileServer(one_page, tls=context) as server:
        with pytest.raises(TrutoTLSError) as caught:
            listed(list_unified, server.url)  # the default bundle does not hold this certificate
        assert server.requests == [] and caught.value.url == server.url
        assert "is not trusted" in str(caught.value) and "REQUESTS_CA_BUNDLE" in str(caught.value)
        bundle = hashed_directory(cert, tmp_path / "certs") if variable == "SSL_CERT_DIR" else cert
        env.setenv(variable, str(bundle))
        assert listed(list_unified, server.url) == ["C1"]
        assert len(server.requests) == 1


def test_both_transports_take_the_same_variable_when_several_are_set(
    env: pytest.MonkeyPatch, tmp_path: Path, list_unified: Any
) -> None:
    cert, context = self_signed_certificate(tmp_path)
    (tmp_path / "other").mkdir()
    other, _ = self_signed_certificate(tmp_path / "other")
    with HostileServer(one_page, tls=context) as server:
        # requests' own names come first, for both transports: a bundle without this certificate there
        # wins over the one that has it in OpenSSL's variable.
        env.setenv("SSL_CERT_FILE", str(cert))
        env.setenv("REQUESTS_CA_BUNDLE", str(other))
        with pytest.raises(TrutoConnectionError):
            listed(list_unified, server.url)
        env.setenv("REQUESTS_CA_BUNDLE", str(cert))
        env.setenv("SSL_CERT_FILE", str(other))
        assert listed(list_unified, server.url) == ["C1"]


def test_both_transports_go_through_the_proxy_the_environment_names(
    env: pytest.MonkeyPatch, list_unified: Any
) -> None:
    with HostileServer(one_page) as proxy:
        env.setenv("HTTP_PROXY", proxy.url)
        # No such host: only the proxy can answer for it.
        assert listed(list_unified, "http://truto.invalid") == ["C1"]
        [request] = proxy.requests
        assert request.target.startswith(f"http://truto.invalid{CHANNELS}?")
        assert request.headers["authorization"] == f"Bearer {TOKEN}"

        env.setenv("NO_PROXY", "example.test,.invalid")
        with pytest.raises(TrutoConnectionError):
            listed(list_unified, "http://truto.invalid")  # straight to a host that does not exist
        assert len(proxy.requests) == 1


@pytest.mark.parametrize("client_type", [TrutoClient, AsyncTrutoClient])
def test_a_ca_bundle_that_does_not_exist_is_named_before_any_request(
    env: pytest.MonkeyPatch, tmp_path: Path, client_type: type
) -> None:
    env.setenv("CURL_CA_BUNDLE", str(tmp_path / "missing.pem"))
    with pytest.raises(TrutoInputError) as caught:
        client_type(client_config("https://api.truto.one"))
    assert caught.value.argument == "CURL_CA_BUNDLE" and "missing.pem" in str(caught.value)


@pytest.mark.parametrize(
    ("variables", "url", "proxy"),
    [
        ({"HTTPS_PROXY": "http://p:3128"}, "https://api.truto.one", "http://p:3128"),
        (
            {"https_proxy": "http://lower:1", "HTTPS_PROXY": "http://upper:1"},
            "https://x.test",
            "http://lower:1",
        ),
        ({"HTTP_PROXY": "http://p:3128"}, "https://api.truto.one", None),
        ({"ALL_PROXY": "http://all:1"}, "https://api.truto.one", "http://all:1"),
        ({"HTTPS_PROXY": "http://p:1", "NO_PROXY": "*"}, "https://api.truto.one", None),
        ({"HTTPS_PROXY": "http://p:1", "NO_PROXY": "truto.one"}, "https://api.truto.one", None),
        ({"HTTPS_PROXY": "http://p:1", "NO_PROXY": "api.truto.one:443"}, "https://api.truto.one:443", None),
        ({"HTTPS_PROXY": "http://p:1", "NO_PROXY": "other.one"}, "https://api.truto.one", "http://p:1"),
        ({"HTTP_PROXY": "http://p:1", "NO_PROXY": "10.0.0.0/8"}, "http://10.1.2.3:8080", None),
        ({"HTTP_PROXY": "http://p:1", "NO_PROXY": "10.0.0.0/8"}, "http://11.1.2.3", "http://p:1"),
    ],
)
def test_which_proxy_a_base_url_takes(
    env: pytest.MonkeyPatch, variables: dict[str, str], url: str, proxy: str | None
) -> None:
    for name, value in variables.items():
        env.setenv(name, value)
    assert network_settings(url) == NetworkSettings(proxy=proxy, ca_bundle=None)


def test_the_settings_are_read_once_when_a_client_is_made(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    bundle = tmp_path / "corp.pem"
    bundle.write_text("")
    env.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    env.setenv("REQUESTS_CA_BUNDLE", str(bundle))
    client = TrutoClient(client_config("https://api.truto.one"))
    env.delenv("HTTPS_PROXY")
    assert client.network == NetworkSettings(proxy="http://proxy.internal:3128", ca_bundle=str(bundle))
    assert client.session.proxies["https"] == "http://proxy.internal:3128"
    assert client.session.verify == str(bundle) and client.session.trust_env is False

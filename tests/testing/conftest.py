"""Shared fixtures for the sandbox's own tests: a running sandbox with one account and an authed session."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
import requests

from airflow_provider_truto.testing import TrutoSandbox

# The plugin's fixtures, imported rather than named in `pytest_plugins` (not allowed in a non-root conftest);
# harmless when the installed entry point registers the plugin too.
from airflow_provider_truto.testing.pytest_plugin import (  # noqa: F401
    pytest_configure,
    truto_sandbox,
    truto_sandbox_factory,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

TOKEN = "sandbox-token"
ACCOUNT = "acct-1"
CHANNELS = "/unified/instant-messaging/channels"
JOIN = CHANNELS + "/join"


class Api:
    """Thin helper over a keep-alive session so tests read like the calls they make."""

    def __init__(self, sandbox: TrutoSandbox, session: requests.Session) -> None:
        self.sb = sandbox
        self.session = session

    def get(self, path: str, *, account: str | None = ACCOUNT, **params: Any) -> requests.Response:
        if account is not None:
            params.setdefault("integrated_account_id", account)
        return self.session.get(self.sb.url + path, params=params, timeout=5)

    def post(
        self,
        path: str,
        body: Any = None,
        *,
        account: str | None = ACCOUNT,
        headers: Any = None,
        **params: Any,
    ) -> requests.Response:
        if account is not None:
            params.setdefault("integrated_account_id", account)
        return self.session.post(self.sb.url + path, params=params, json=body, headers=headers, timeout=5)

    def channels(self, **params: Any) -> requests.Response:
        return self.get(CHANNELS, **params)

    def join(self, channel_id: str, **kwargs: Any) -> requests.Response:
        return self.post(JOIN, {"channel": {"id": channel_id}}, **kwargs)

    def all_channels(self, **params: Any) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            extra = {"next_cursor": cursor} if cursor else {}
            body = self.channels(**params, **extra).json()
            out.extend(body["result"])
            cursor = body["next_cursor"]
            if cursor is None:
                return out


@pytest.fixture
def sb() -> Iterator[TrutoSandbox]:
    with TrutoSandbox(TOKEN) as sandbox:
        sandbox.add_account(ACCOUNT)
        yield sandbox


@pytest.fixture
def api(sb: TrutoSandbox) -> Iterator[Api]:
    with requests.Session() as session:
        session.headers["Authorization"] = f"Bearer {TOKEN}"
        yield Api(sb, session)

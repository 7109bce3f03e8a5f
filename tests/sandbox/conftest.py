"""Fixtures for the sandbox's own tests: a running sandbox with one account and an authed session."""

from __future__ import annotations

from typing import TYPE_CHECKING

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
from tests.support.helpers import ACCOUNT, Api

if TYPE_CHECKING:
    from collections.abc import Iterator

TOKEN = "sandbox-token"  # the sandbox's own tests use a token of their own


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

"""pytest fixtures for the sandbox (registered as the ``truto`` entry point of ``pytest11``).

- ``truto_sandbox``: a running :class:`TrutoSandbox`, token ``sandbox-token``, one active Slack account
  ``sandbox-account`` (``sb.account_id``) with 20 mixed channels (seed 0); ``AIRFLOW_CONN_TRUTO_DEFAULT``
  points at it for the test. Mark a test
  ``@pytest.mark.truto_sandbox(channels=..., seed=..., mixed=..., **sandbox_kwargs)`` to change the seeding
  or pass keyword arguments to :class:`TrutoSandbox`.
- ``truto_sandbox_factory``: ``factory(**sandbox_kwargs)`` starts more sandboxes, all stopped at teardown.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_truto.testing.server import TrutoSandbox

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

DEFAULT_ACCOUNT = "sandbox-account"
DEFAULT_TOKEN = "sandbox-token"
DEFAULT_CHANNELS = 20


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "truto_sandbox(channels=20, seed=0, mixed=True, **sandbox_kwargs): "
        "configure the truto_sandbox fixture",
    )


@pytest.fixture
def truto_sandbox_factory() -> Iterator[Callable[..., TrutoSandbox]]:
    started: list[TrutoSandbox] = []

    def factory(**kwargs: Any) -> TrutoSandbox:
        sandbox = TrutoSandbox(**kwargs).start()
        started.append(sandbox)
        return sandbox

    yield factory
    for sandbox in started:
        sandbox.stop()


@pytest.fixture
def truto_sandbox(
    request: pytest.FixtureRequest,
    truto_sandbox_factory: Callable[..., TrutoSandbox],
    monkeypatch: pytest.MonkeyPatch,
) -> TrutoSandbox:
    marker = request.node.get_closest_marker("truto_sandbox")
    options: dict[str, Any] = dict(marker.kwargs) if marker else {}
    channels = int(options.pop("channels", DEFAULT_CHANNELS))
    seed = int(options.pop("seed", 0))
    mixed = bool(options.pop("mixed", True))
    options.setdefault("token", DEFAULT_TOKEN)
    sandbox = truto_sandbox_factory(**options)
    sandbox.add_account(DEFAULT_ACCOUNT)
    sandbox.default_account_id = DEFAULT_ACCOUNT
    sandbox.seed_channels(DEFAULT_ACCOUNT, channels, seed=seed, mixed=mixed)
    monkeypatch.setenv("AIRFLOW_CONN_TRUTO_DEFAULT", sandbox.airflow_conn_env(DEFAULT_ACCOUNT))
    return sandbox

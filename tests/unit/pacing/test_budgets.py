"""The budgets one client spends (airflow_provider_truto/pacing/budgets.py): a token's and an account's
combined, and a 429 that pauses the budget it belongs to for every client on the host (sync and async).
Across hosts, through Redis: test_redis_store.py."""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_truto.client.sync_client import TrutoClient, TrutoConfig
from airflow_provider_truto.exceptions import TrutoRateLimitError
from airflow_provider_truto.pacing.budgets import RateLimiters
from airflow_provider_truto.pacing.limits import PACING_HEADROOM, RateLimit
from airflow_provider_truto.pacing.lock_files import (
    STATE_DIR_ENV,
    decode_file_state,
)
from airflow_provider_truto.testing import Fault, TrutoSandbox
from airflow_provider_truto.triggers.truto import TrutoNewChannelsTrigger
from tests.support.helpers import ACCOUNT, CHANNELS, JOIN, TOKEN, connection_json

if TYPE_CHECKING:
    pass


OTHER_ACCOUNT = "acct-2"


PACED: dict[str, Any] = {
    "account_rate_limit": RateLimit(50, 10.0),
    "environment_rate_limit": RateLimit(500, 10.0),
}


@pytest.fixture
def host(sandbox: TrutoSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Clients of one host: they share its lock-file directory."""
    monkeypatch.setenv(STATE_DIR_ENV, str(tmp_path))
    sandbox.add_account(OTHER_ACCOUNT)
    sandbox.seed_channels(OTHER_ACCOUNT, 3, seed=9)
    clients: list[TrutoClient] = []

    def client(**config: Any) -> TrutoClient:
        made = TrutoClient(TrutoConfig(token=TOKEN, base_url=sandbox.url, **{**PACED, **config}))
        clients.append(made)
        return made

    yield client
    for made in clients:
        made.close()


def join(client: TrutoClient, sandbox: TrutoSandbox, account: str) -> None:
    channel = sandbox.channels(account)[0]["id"]
    client.unified(
        "instant-messaging",
        "channels",
        "join",
        integrated_account_id=account,
        body={"channel": {"id": channel}},
    )


def arrivals(sandbox: TrutoSandbox, path: str) -> list[tuple[str, int, float]]:
    return [(r.query["integrated_account_id"][0], r.status, r.at) for r in sandbox.requests if r.path == path]


def test_an_accounts_429_pauses_that_account_for_every_client_on_the_host(
    sandbox: TrutoSandbox, host: Any
) -> None:
    first, second = host(max_retries=0), host()
    sandbox.inject("POST", JOIN, Fault.rate_limited("1"))  # Slack's own 429 for this workspace
    with pytest.raises(TrutoRateLimitError):
        join(first, sandbox, ACCOUNT)
    join(second, sandbox, OTHER_ACCOUNT)  # another account is not held up
    join(second, sandbox, ACCOUNT)
    (_, status, limited), (other, _, other_at), (_, _, same_at) = arrivals(sandbox, JOIN)
    assert status == 429 and other == OTHER_ACCOUNT
    assert other_at - limited < 0.5 and same_at - limited >= 0.95


def test_a_429_for_a_call_without_account_pauses_the_token(sandbox: TrutoSandbox, host: Any) -> None:
    first, second = host(max_retries=0), host()
    sandbox.inject("GET", "/integrated-account", Fault.rate_limited("1"))
    started = time.monotonic()
    with pytest.raises(TrutoRateLimitError):
        list(first.paginate("/integrated-account"))
    join(second, sandbox, OTHER_ACCOUNT)  # every call of the token waits
    [(_, _, joined)] = arrivals(sandbox, JOIN)
    assert joined - started >= 0.95


def test_nothing_is_paused_where_pacing_is_off(sandbox: TrutoSandbox, host: Any) -> None:
    first, second = host(max_retries=0, account_rate_limit=None), host(account_rate_limit=None)
    sandbox.inject("POST", JOIN, Fault.rate_limited("5"))
    with pytest.raises(TrutoRateLimitError):
        join(first, sandbox, ACCOUNT)
    join(second, sandbox, ACCOUNT)
    (_, _, limited), (_, _, joined) = arrivals(sandbox, JOIN)
    assert joined - limited < 0.5


def paused_past(state: Path, when: float) -> bool:
    decoded = decode_file_state(state.read_bytes(), 0) if state.exists() else None
    return decoded is not None and decoded.tat / 1_000_000 > when


def test_the_triggers_429_pauses_the_account_for_the_hosts_clients(
    sandbox: TrutoSandbox, host: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_TRUTO_DEFAULT",
        connection_json(sandbox, rate_limit="50/10", environment_rate_limit="500/10"),
    )
    sandbox.inject("GET", CHANNELS, Fault.rate_limited("1"))

    async def first_event() -> None:
        events = TrutoNewChannelsTrigger(poll_interval=0.05).run()
        await asyncio.wait_for(events.__anext__(), 10)
        await events.aclose()

    poller = threading.Thread(target=asyncio.run, args=(first_event(),))
    poller.start()
    # The sandbox logs the 429 before the trigger reads it: wait until the pause is in the account's file.
    prefix = hashlib.sha256(f"{sandbox.url}|{TOKEN}".encode()).hexdigest()[:20]
    state = tmp_path / f"{prefix}-account-{hashlib.sha256(ACCOUNT.encode()).hexdigest()[:20]}.gcra"
    deadline = time.monotonic() + 5
    while not paused_past(state, time.time() + 0.5):
        assert time.monotonic() < deadline, "the trigger's 429 paused no budget"
        time.sleep(0.005)
    join(host(), sandbox, ACCOUNT)
    poller.join(10)
    [(_, status, limited), *_] = arrivals(sandbox, CHANNELS)
    [(_, _, joined)] = arrivals(sandbox, JOIN)
    assert status == 429 and joined - limited >= 0.95


def test_account_and_token_budgets_combine(tmp_path: Path) -> None:
    slept: list[float] = []
    limiters = RateLimiters(
        "s",
        token_limit=RateLimit(100, 1.0),
        account_limit=RateLimit(2, 1.0),
        state_dir=tmp_path,
        sleep=slept.append,
    )
    for _ in range(3):
        limiters.wait_for_slot("acct-a")
    limiters.wait_for_slot("acct-b")  # another account only waits for the token budget
    step = 0.5 / PACING_HEADROOM
    assert slept[0] == pytest.approx(step, abs=0.05) and slept[1] == pytest.approx(2 * step, abs=0.05)
    assert len(slept) == 3 and slept[2] < 0.05
    assert not any(p.name == "s" for p in tmp_path.iterdir())  # files are named by hashes, not by the scope

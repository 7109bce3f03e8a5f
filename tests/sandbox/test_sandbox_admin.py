"""The admin routes, the observer endpoint, seeding, the request log and the Python API around them."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone

import pytest
import requests

import airflow_provider_truto.testing as testing
from airflow_provider_truto.testing import TrutoSandbox
from airflow_provider_truto.testing.sliding_windows import RateLimiter, SlidingWindow

ACCOUNT = "acct-1"
TOKEN = "sandbox-token"
CHANNELS = "/unified/instant-messaging/channels"


def test_the_public_surface():
    assert sorted(testing.__all__) == ["Account", "Fault", "FaultItem", "RecordedRequest", "TrutoSandbox"]


# -- integrated accounts -------------------------------------------------------------------------------------


def test_get_an_integrated_account(sb, api):
    sb.add_account("stale", status="needs_reauth", tenant_id="cust-9")
    response = api.get("/integrated-account/stale", account=None)
    assert response.status_code == 200  # the admin API ignores the account's status
    body = response.json()
    assert set(body) == {
        "id", "tenant_id", "environment_integration_id", "integration", "status", "is_sandbox", "context",
        "last_error", "created_at", "updated_at",
    }  # fmt: skip
    assert body["id"] == "stale"
    assert body["tenant_id"] == "cust-9"
    assert body["integration"]["name"] == "slack"
    assert body["status"] == "needs_reauth"
    assert body["last_error"] == "invalid_auth"
    assert body["is_sandbox"] is False
    assert body["created_at"].endswith("Z")


def test_an_unknown_integrated_account_is_a_404(api):
    response = api.get("/integrated-account/nope", account=None)
    assert response.status_code == 404
    assert response.json()["message"] == "Integrated account not found"


def test_the_admin_api_needs_the_token_too(sb):
    assert requests.get(f"{sb.url}/integrated-account/{ACCOUNT}").status_code == 401


@pytest.fixture
def five_accounts(sb):
    sb.add_account("b", status="needs_reauth", tenant_id="t2")
    sb.add_account("c", is_sandbox=True, tenant_id="t2")
    sb.add_account("d", integration="msteams", tenant_id="t3")
    sb.add_account("e", status="connecting")
    return sb


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, ["acct-1", "b", "c", "d", "e"]),
        ({"status": "active"}, ["acct-1", "c", "d"]),
        ({"is_sandbox": "true"}, ["c"]),
        ({"is_sandbox": "false"}, ["acct-1", "b", "d", "e"]),
        ({"tenant_id": "t2"}, ["b", "c"]),
        ({"integration[name]": "slack"}, ["acct-1", "b", "c", "e"]),
        ({"integration.name": "msteams"}, ["d"]),
        ({"status": "active", "tenant_id": "t2"}, ["c"]),
    ],
)
def test_integrated_account_filters(five_accounts, api, params, expected):
    body = api.get("/integrated-account", account=None, **params).json()
    assert [a["id"] for a in body["result"]] == expected
    assert body["result_count"] == len(expected)


def test_integrated_accounts_paginate(five_accounts, api):
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 2, **({"next_cursor": cursor} if cursor else {})}
        body = api.get("/integrated-account", account=None, **params).json()
        seen += [a["id"] for a in body["result"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert seen == ["acct-1", "b", "c", "d", "e"]


@pytest.mark.parametrize("params", [{"is_sandbox": "maybe"}, {"limit": "0"}, {"next_cursor": "x"}])
def test_bad_integrated_account_queries_are_400s(api, params):
    assert api.get("/integrated-account", account=None, **params).status_code == 400


# -- observer endpoint, stats, request log -------------------------------------------------------------------


def test_the_state_endpoint_needs_no_auth_and_is_not_logged(sb, api):
    sb.seed_channels(ACCOUNT, 10, seed=0)
    joinable = next(c for c in sb.channels(ACCOUNT) if c["type"] == "channel" and c["status"] == "active")
    api.join(joinable["id"])
    api.channels(account="missing")
    state = requests.get(sb.url + "/_sandbox/state").json()
    members = sum(c["is_member"] for c in sb.channels(ACCOUNT))
    assert state["accounts"] == [{"id": ACCOUNT, "status": "active", "channels": 10, "members": members}]
    assert state["join_counts"] == {ACCOUNT: {joinable["id"]: 1}}
    assert state["stats"] == {
        "requests": 2,
        "by_status": {"200": 1, "404": 1},
        "joins": 1,
        "idempotent_replays": 0,
    }
    assert len(sb.requests) == 2


def test_requests_are_recorded_in_full(sb, api):
    before = sb.requests
    api.post(
        "/unified/instant-messaging/channels/join",
        {"channel": {"id": "C1"}},
        headers={"Idempotency-Key": "abc", "X-Custom": "yes"},
        flag="",
    )
    requests.get(sb.url + CHANNELS + "?a=1&a=2")
    first, second = sb.requests[len(before) :]
    assert first.method == "POST"
    assert first.path == "/unified/instant-messaging/channels/join"
    assert first.query == {"flag": [""], "integrated_account_id": [ACCOUNT]}
    assert first.headers["idempotency-key"] == "abc"
    assert first.headers["x-custom"] == "yes"
    assert first.body == {"channel": {"id": "C1"}}
    assert first.status == 404
    assert second.method == "GET"
    assert second.query == {"a": ["1", "2"]}
    assert second.body is None
    assert second.status == 401
    assert first.at <= second.at
    with pytest.raises(AttributeError):
        first.status = 200  # frozen
    sb.clear_requests()
    assert sb.requests == []
    assert sb.stats()["requests"] == 0


def test_airflow_connection_points_at_the_sandbox(sb):
    conn = sb.airflow_connection(ACCOUNT)
    assert conn == {
        "conn_type": "truto",
        "host": sb.url,
        "password": TOKEN,
        "extra": {"integrated_account_id": ACCOUNT, "rate_limit": "off", "environment_rate_limit": "off"},
    }
    assert json.loads(sb.airflow_conn_env(ACCOUNT)) == conn
    assert "integrated_account_id" not in sb.airflow_connection()["extra"]
    sb.default_account_id = ACCOUNT
    assert sb.airflow_connection() == conn
    assert sb.account_id == ACCOUNT


def test_airflow_connection_paces_like_the_sandbox_limits():
    with TrutoSandbox(TOKEN, account_rate_limit=(50, 1.0), token_rate_limit=(500, 10.0)) as limited:
        extra = limited.airflow_connection("a")["extra"]
    assert (extra["rate_limit"], extra["environment_rate_limit"]) == ("50/1", "500/10")


def test_the_server_is_quiet_unless_verbose(capfd):
    with TrutoSandbox() as sandbox:
        requests.get(sandbox.url + "/unified/x")
    assert capfd.readouterr().err == ""
    with TrutoSandbox(verbose=True) as sandbox:
        requests.get(sandbox.url + "/unified/x", headers={"Authorization": "Bearer sandbox-token"})
    err = capfd.readouterr().err
    assert "/unified/x" in err
    assert "sandbox-token" not in err


def test_lifecycle_errors():
    sandbox = TrutoSandbox()
    with pytest.raises(RuntimeError):
        _ = sandbox.url
    sandbox.start()
    try:
        with pytest.raises(RuntimeError):
            sandbox.start()
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", sandbox.url)
    finally:
        sandbox.stop()
    sandbox.stop()  # idempotent
    with pytest.raises(AttributeError):
        _ = sandbox.account_id


# -- seeding -------------------------------------------------------------------------------------------------


END = datetime(2026, 1, 1, tzinfo=timezone.utc)
START = END - timedelta(days=30)


def _seeded(seed: int, count: int = 50, **kwargs: object) -> list[dict[str, object]]:
    sandbox = TrutoSandbox()  # seeding needs no running server
    sandbox.add_account("x")
    return sandbox.seed_channels("x", count, seed=seed, start=START, end=END, **kwargs)  # type: ignore[arg-type]


def test_seeding_is_deterministic():
    assert _seeded(4) == _seeded(4)
    assert _seeded(4) != _seeded(5)


def test_seeded_channels_look_like_slack():
    channels = _seeded(1, 1000)
    types = [c["type"] for c in channels]
    assert 0.62 < types.count("channel") / 1000 < 0.78
    assert 0.10 < types.count("private_channel") / 1000 < 0.20
    assert 0.06 < types.count("dm") / 1000 < 0.14
    assert 0.02 < types.count("group_dm") / 1000 < 0.08
    assert 0.06 < sum(c["status"] == "archived" for c in channels) / 1000 < 0.14
    assert 0.24 < sum(c["is_member"] for c in channels) / 1000 < 0.36
    assert all(re.fullmatch(r"C[A-Z0-9]{10}", c["id"]) for c in channels)
    assert len({c["id"] for c in channels}) == 1000
    assert len({c["name"] for c in channels}) == 1000
    assert all(re.fullmatch(r"[a-z]+-[a-z]+-\d{4}", c["name"]) for c in channels)
    for channel in channels:
        created = datetime.fromisoformat(channel["created_at"].replace("Z", "+00:00"))
        assert START <= created <= END
        assert channel["remote_data"]["created"] == int(created.timestamp())


def test_unmixed_seeding_is_all_joinable():
    channels = _seeded(2, 100, mixed=False)
    assert {(c["type"], c["status"], c["is_member"]) for c in channels} == {("channel", "active", False)}


def test_ids_are_unique_across_accounts_and_names_within_one():
    sandbox = TrutoSandbox()
    for account in ("a", "b"):
        sandbox.add_account(account)
        sandbox.seed_channels(account, 200, seed=0)
    sandbox.seed_channels("a", 200, seed=0)
    ids = [c["id"] for account in ("a", "b") for c in sandbox.channels(account)]
    assert len(ids) == len(set(ids)) == 600
    names = [c["name"] for c in sandbox.channels("a")]
    assert len(names) == len(set(names)) == 400


def test_seeding_defaults_to_the_last_two_years():
    sandbox = TrutoSandbox()
    sandbox.add_account("a")
    now = datetime.now(timezone.utc)
    for channel in sandbox.seed_channels("a", 100):
        created = datetime.fromisoformat(channel["created_at"].replace("Z", "+00:00"))
        assert now - timedelta(days=731) <= created <= now + timedelta(seconds=1)


def test_bad_setup_is_refused():
    sandbox = TrutoSandbox()
    sandbox.add_account("a")
    with pytest.raises(ValueError):
        sandbox.add_account("a")
    with pytest.raises(KeyError):
        sandbox.seed_channels("missing", 1)
    channel = sandbox.add_channel("a", id="C0000000001")
    with pytest.raises(ValueError):
        sandbox.add_channel("a", id=channel["id"])
    with pytest.raises(ValueError):
        sandbox.add_channel("a", type="forum")
    with pytest.raises(ValueError):
        sandbox.add_channel("a", status="deleted")
    with pytest.raises(KeyError):
        sandbox.archive_channel("a", "C404")
    with pytest.raises(ValueError):
        TrutoSandbox(token="")


# -- the limiter, without a network --------------------------------------------------------------------------


def test_sliding_window_with_a_fake_clock():
    now = [100.0]
    limiter = RateLimiter(clock=lambda: now[0])
    account = SlidingWindow(3, 10.0)
    checks = [(account, "a")]
    assert [limiter.acquire(checks) for _ in range(3)] == [None, None, None]
    now[0] = 104.2
    assert limiter.acquire(checks) == 6  # ceil(100 + 10 - 104.2)
    now[0] = 110.0
    # The three t=100 hits left the window (a hit counts while t > now - S).
    assert [limiter.acquire(checks) for _ in range(3)] == [None, None, None]
    assert limiter.acquire(checks) == 10
    other = SlidingWindow(1, 1.0)
    # Rejected by `account`: recorded in neither window, so `other` still has room afterwards.
    assert limiter.acquire([(other, "t"), (account, "a")]) == 10
    assert limiter.acquire([(other, "t")]) is None
    with pytest.raises(ValueError):
        SlidingWindow(0, 1.0)

"""Rate limits, fault scripts and latency, over real HTTP."""

from __future__ import annotations

import http.client
import time
from urllib.parse import urlsplit

import pytest
import requests

from airflow_provider_truto.testing import Fault, TrutoSandbox

CHANNELS = "/unified/instant-messaging/channels"
JOIN = CHANNELS + "/join"
ACCOUNT = "acct-1"
TOKEN = "sandbox-token"


@pytest.fixture
def limited():
    """A sandbox with small windows: 5 per 0.5 s per account, 8 per 0.5 s per token."""
    with TrutoSandbox(TOKEN, account_rate_limit=(5, 0.5), token_rate_limit=(8, 0.5)) as sandbox:
        sandbox.add_account("a")
        sandbox.add_account("b")
        yield sandbox


def _list(sandbox: TrutoSandbox, session: requests.Session, account: str | None = "a") -> requests.Response:
    params = {"integrated_account_id": account} if account else {}
    return session.get(sandbox.url + CHANNELS, params=params, timeout=5)


@pytest.fixture
def session():
    with requests.Session() as s:
        s.headers["Authorization"] = f"Bearer {TOKEN}"
        yield s


# -- rate limits ---------------------------------------------------------------------------------------------


def test_the_account_window_answers_429_with_retry_after_then_recovers(limited, session):
    statuses = [_list(limited, session).status_code for _ in range(5)]
    assert statuses == [200] * 5
    rejected = _list(limited, session)
    assert rejected.status_code == 429
    assert rejected.headers["Retry-After"] == "1"  # ceil of < 0.5 s, at least 1
    body = rejected.json()
    assert body["statusCode"] == 429
    assert body["error"] == "Too Many Requests"
    assert body["truto_is_remote_error"] is False
    time.sleep(0.55)
    assert _list(limited, session).status_code == 200


def test_retry_after_is_the_ceiling_of_the_wait():
    with TrutoSandbox(TOKEN, account_rate_limit=(2, 2.5)) as sandbox, requests.Session() as s:
        sandbox.add_account("a")
        s.headers["Authorization"] = f"Bearer {TOKEN}"
        assert [_list(sandbox, s).status_code for _ in range(2)] == [200, 200]
        assert _list(sandbox, s).headers["Retry-After"] == "3"


def test_rejected_requests_are_not_counted(session):
    with TrutoSandbox(TOKEN, account_rate_limit=(2, 0.6)) as sandbox:
        sandbox.add_account("a")
        assert [_list(sandbox, session).status_code for _ in range(2)] == [200, 200]
        time.sleep(0.3)
        assert {_list(sandbox, session).status_code for _ in range(5)} == {429}
        time.sleep(0.35)
        # Only the first two requests were in the window; the rejected five left no trace.
        assert _list(sandbox, session).status_code == 200


def test_each_account_has_its_own_window(limited, session):
    for _ in range(5):
        _list(limited, session, "a")
    assert _list(limited, session, "a").status_code == 429
    assert _list(limited, session, "b").status_code == 200


def test_token_and_account_limits_apply_together(limited, session):
    assert [_list(limited, session, "a").status_code for _ in range(6)] == [200] * 5 + [429]
    # The token window holds 5 (the rejected one does not count): 3 more fit, on any account.
    assert [_list(limited, session, "b").status_code for _ in range(4)] == [200, 200, 200, 429]
    # The admin API has no integrated_account_id: only the token window applies, and it is full.
    admin = session.get(limited.url + "/integrated-account", timeout=5)
    assert admin.status_code == 429
    assert int(admin.headers["Retry-After"]) >= 1
    assert limited.stats()["by_status"] == {"200": 8, "429": 3}


def test_unauthenticated_requests_do_not_use_the_window(limited, session):
    for _ in range(10):
        assert requests.get(limited.url + CHANNELS, params={"integrated_account_id": "a"}).status_code == 401
    assert _list(limited, session).status_code == 200


def test_limits_are_off_by_default(sb, api):
    assert {api.channels().status_code for _ in range(60)} == {200}


# -- faults --------------------------------------------------------------------------------------------------


def test_status_items_answer_truto_error_bodies_then_requests_pass(sb, api):
    sb.inject("GET", CHANNELS, 500, 502, 504, 408, 503, 401)
    responses = [api.channels() for _ in range(7)]
    assert [r.status_code for r in responses] == [500, 502, 504, 408, 503, 401, 200]
    assert responses[1].json() == {
        "statusCode": 502,
        "error": "Bad Gateway",
        "message": "Injected fault: 502",
        "truto_is_remote_error": False,
    }
    assert [r.status for r in sb.requests] == [500, 502, 504, 408, 503, 401, 200]


def test_a_rate_limited_fault_passes_retry_after_through(sb, api):
    http_date = "Wed, 21 Oct 2026 07:28:00 GMT"
    sb.inject("GET", CHANNELS, Fault.rate_limited("7"), Fault.rate_limited(http_date), Fault.rate_limited(2))
    responses = [api.channels() for _ in range(3)]
    assert [r.status_code for r in responses] == [429, 429, 429]
    assert [r.headers["Retry-After"] for r in responses] == ["7", http_date, "2"]
    assert responses[0].json()["raw_response"] == {"ok": False, "error": "ratelimited"}


def test_reset_drops_the_connection_without_an_answer(sb, api):
    sb.inject("GET", CHANNELS, Fault.reset())
    with pytest.raises(requests.ConnectionError):
        api.channels()
    assert sb.requests[-1].status == 0
    assert api.channels().status_code == 200  # the session reconnects


def test_reset_after_applies_the_join_before_dropping_the_connection(sb, api):
    channel = sb.add_channel(ACCOUNT, name="general")
    sb.inject("POST", JOIN, Fault.reset_after())
    with pytest.raises(requests.ConnectionError):
        api.join(channel["id"])
    assert sb.channels(ACCOUNT)[0]["is_member"] is True
    assert sb.join_counts() == {channel["id"]: 1}
    assert sb.stats()["by_status"] == {"0": 1}


def test_delay_trips_a_client_timeout_and_the_server_carries_on(sb, api):
    sb.inject("GET", CHANNELS, Fault.delay(0.6))
    with pytest.raises(requests.Timeout):
        api.session.get(sb.url + CHANNELS, params={"integrated_account_id": ACCOUNT}, timeout=0.2)
    assert api.channels().status_code == 200


def test_delay_then_answers_normally(sb, api):
    sb.inject("GET", CHANNELS, Fault.delay(0.2))
    started = time.monotonic()
    assert api.channels().status_code == 200
    assert time.monotonic() - started >= 0.2


def test_bad_json_is_a_200_with_html(sb, api):
    sb.inject("GET", CHANNELS, Fault.bad_json())
    response = api.channels()
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/html"
    assert response.text == "<html>oops</html>"
    with pytest.raises(ValueError):
        response.json()


def test_passthrough_leaves_a_gap_in_a_script(sb, api):
    sb.inject("GET", CHANNELS, Fault.passthrough(), 500)
    assert [api.channels().status_code for _ in range(3)] == [200, 500, 200]


def test_repeat_cycles_until_cleared(sb, api):
    sb.inject("GET", CHANNELS, 500, 502, repeat=True)
    assert [api.channels().status_code for _ in range(5)] == [500, 502, 500, 502, 500]
    sb.clear_faults()
    assert api.channels().status_code == 200


def test_paths_match_exactly_or_by_prefix_and_methods_must_match(sb, api):
    sb.inject("POST", CHANNELS, 500)  # wrong method for a list
    sb.inject("GET", CHANNELS + "/", 500)  # not the same path
    assert api.channels().status_code == 200
    sb.clear_faults()
    sb.inject("get", "/unified/*", 503)
    assert api.channels().status_code == 503
    sb.inject("*", "/integrated-account*", 504)
    assert api.get("/integrated-account/acct-1", account=None).status_code == 504


def test_fault_items_are_validated():
    with TrutoSandbox() as sandbox:
        with pytest.raises(ValueError):
            sandbox.inject("GET", CHANNELS, 200)
        with pytest.raises(TypeError):
            sandbox.inject("GET", CHANNELS, "500")  # type: ignore[arg-type]
        with pytest.raises(ValueError):
            sandbox.inject_random("GET", CHANNELS, probability=1.5, items=[500])


def _random_run(seed: int) -> list[int]:
    with TrutoSandbox(TOKEN) as sandbox, requests.Session() as s:
        sandbox.add_account("a")
        s.headers["Authorization"] = f"Bearer {TOKEN}"
        sandbox.inject_random(
            "GET", CHANNELS, probability=0.3, items=[500, Fault.rate_limited("1")], seed=seed
        )
        return [_list(sandbox, s).status_code for _ in range(40)]


def test_inject_random_is_deterministic_for_a_seed():
    first, again, other = _random_run(7), _random_run(7), _random_run(8)
    assert first == again
    assert first != other
    assert set(first) == {200, 429, 500}
    assert 4 <= sum(status != 200 for status in first) <= 20


@pytest.mark.parametrize(("probability", "expected"), [(0.0, {200}), (1.0, {500})])
def test_inject_random_probability_bounds(sb, api, probability, expected):
    sb.inject_random("GET", CHANNELS, probability=probability, items=[500])
    assert {api.channels().status_code for _ in range(10)} == expected


def test_faults_come_before_auth(sb):
    sb.inject("GET", CHANNELS, 502)
    assert requests.get(sb.url + CHANNELS).status_code == 502
    assert requests.get(sb.url + CHANNELS).status_code == 401


# -- latency and connections ---------------------------------------------------------------------------------


def test_latency_is_added_to_every_request(session):
    with TrutoSandbox(TOKEN, latency_ms=150) as sandbox:
        sandbox.add_account("a")
        started = time.monotonic()
        assert _list(sandbox, session).status_code == 200
        assert requests.get(sandbox.url + CHANNELS).status_code == 401
        assert time.monotonic() - started >= 0.3


def test_keep_alive_with_content_length_on_every_answer(sb):
    url = urlsplit(sb.url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=5)
    try:
        for headers in ({"Authorization": f"Bearer {TOKEN}"}, {}):
            conn.request("GET", f"{CHANNELS}?integrated_account_id={ACCOUNT}", headers=headers)
            response = conn.getresponse()
            body = response.read()
            assert response.version == 11
            assert int(response.headers["Content-Length"]) == len(body)
            assert not response.will_close
        # Both requests went over the one socket.
        assert conn.sock is not None
    finally:
        conn.close()
    assert [r.status for r in sb.requests] == [200, 401]


def test_stop_closes_the_port_and_idle_keep_alive_connections(api):
    url = api.sb.url
    assert api.channels().status_code == 200
    api.sb.stop()
    with pytest.raises(requests.ConnectionError):
        api.session.get(url + CHANNELS, timeout=2)

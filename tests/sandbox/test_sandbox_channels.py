"""Channel routes over real HTTP: pagination, auth, account checks, join semantics, options, idempotency."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

CHANNELS = "/unified/instant-messaging/channels"
JOIN = CHANNELS + "/join"
ACCOUNT = "acct-1"
TOKEN = "sandbox-token"


def _error(status: int, error: str, message: str, raw: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "statusCode": status,
        "error": error,
        "message": message,
        "truto_is_remote_error": raw is not None,
    }
    if raw is not None:
        body["raw_response"] = raw
    return body


def _first(sb: Any, **wanted: Any) -> dict[str, Any]:
    return next(c for c in sb.channels(ACCOUNT) if all(c[k] == v for k, v in wanted.items()))


# -- pagination ----------------------------------------------------------------------------------------------


def test_list_pages_through_every_channel_in_order(sb, api):
    sb.seed_channels(ACCOUNT, 57, seed=3)
    sizes, ids, cursor = [], [], None
    while True:
        params: dict[str, Any] = {"limit": 10}
        if cursor:
            params["next_cursor"] = cursor
        response = api.channels(**params)
        assert response.status_code == 200
        assert response.headers["Content-Type"] == "application/json"
        body = response.json()
        assert set(body) == {"result", "next_cursor", "prev_cursor", "result_count"}
        assert body["result_count"] == len(body["result"])
        assert body["prev_cursor"] is None
        sizes.append(len(body["result"]))
        ids.extend(c["id"] for c in body["result"])
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert sizes == [10, 10, 10, 10, 10, 7]
    assert ids == [c["id"] for c in sb.channels(ACCOUNT)]


def test_default_page_size_is_25_and_last_page_has_a_null_cursor(sb, api):
    sb.seed_channels(ACCOUNT, 25, seed=1)
    body = api.channels().json()
    assert body["result_count"] == 25
    assert body["next_cursor"] is None


def test_an_account_without_channels_lists_one_empty_page(api):
    body = api.channels().json()
    assert body == {"result": [], "next_cursor": None, "prev_cursor": None, "result_count": 0}


@pytest.mark.parametrize("limit", ["0", "ten", "-3"])
def test_a_bad_limit_is_a_400(api, limit):
    response = api.channels(limit=limit)
    assert response.status_code == 400
    assert "limit" in response.json()["message"]


def test_limit_1000_is_allowed(sb, api):
    sb.seed_channels(ACCOUNT, 30, seed=1)
    assert api.channels(limit=1000).json()["result_count"] == 30


@pytest.mark.parametrize("cursor", ["garbage!!", "eyJ4IjoxfQ", "bnVsbA"])
def test_a_cursor_the_sandbox_did_not_issue_is_a_400(api, cursor):
    response = api.channels(next_cursor=cursor)
    assert response.status_code == 400
    assert response.json()["message"] == "next_cursor is invalid"


def test_empty_pages_keep_the_cursor_going(sb, api):
    sb.seed_channels(ACCOUNT, 12, seed=2)
    sb.empty_pages = True
    pages = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 5}
        if cursor:
            params["next_cursor"] = cursor
        body = api.channels(**params).json()
        pages.append((body["result_count"], body["next_cursor"] is not None))
        cursor = body["next_cursor"]
        if cursor is None:
            break
    # Empty pages alternate with real ones and always carry a cursor; a client stopping early loses data.
    assert pages == [(0, True), (5, True), (0, True), (5, True), (0, True), (2, False)]
    assert [c["id"] for c in api.all_channels(limit=5)] == [c["id"] for c in sb.channels(ACCOUNT)]


def test_empty_pages_can_be_set_in_the_constructor():
    from airflow_provider_truto.testing import TrutoSandbox

    with TrutoSandbox(empty_pages=True) as sandbox:
        assert sandbox.empty_pages is True


def test_truto_side_list_filters_are_ignored_so_clients_must_filter(sb, api):
    sb.seed_channels(ACCOUNT, 60, seed=5)
    body = api.channels(limit=100, type="channel", **{"created_at[gt]": "2100-01-01T00:00:00Z"}).json()
    assert body["result_count"] == 60
    assert {c["type"] for c in body["result"]} > {"channel"}


# -- auth and accounts ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-token"},
        {"Authorization": TOKEN},
        {"Authorization": f"Basic {TOKEN}"},
    ],
)
def test_a_missing_or_wrong_token_is_a_401(sb, headers):
    response = requests.get(sb.url + CHANNELS, params={"integrated_account_id": ACCOUNT}, headers=headers)
    assert response.status_code == 401
    assert response.json() == _error(401, "Unauthorized", "Invalid API token")
    assert "wrong-token" not in response.text


def test_the_request_log_never_holds_the_token(sb, api):
    api.channels()
    recorded = sb.requests[-1]
    assert TOKEN not in json.dumps(recorded.headers)
    assert recorded.headers["authorization"] == "<redacted>"


def test_a_missing_account_id_is_a_400_naming_it(api):
    response = api.channels(account=None)
    assert response.status_code == 400
    assert response.json() == _error(400, "Bad Request", "integrated_account_id is required")


def test_an_unknown_account_is_a_404(api):
    response = api.channels(account="nope")
    assert response.status_code == 404
    assert response.json() == _error(404, "Not Found", "Integrated account not found")


def test_an_account_needing_reauth_answers_401_as_a_remote_error(sb, api):
    sb.add_account("stale", status="needs_reauth")
    response = api.channels(account="stale")
    assert response.status_code == 401
    body = response.json()
    assert body["truto_is_remote_error"] is True
    assert body["raw_response"] == {"ok": False, "error": "invalid_auth"}
    assert "needs_reauth" in body["message"]


def test_account_objects_are_live(sb, api):
    account = sb.accounts[0]
    account.status = "needs_reauth"
    assert api.channels().status_code == 401
    account.status = "active"
    account.blocked = True
    assert api.channels().status_code == 503
    account.blocked = False
    assert api.channels().status_code == 200


def test_a_blocked_account_answers_503(sb, api):
    sb.add_account("blocked", blocked=True)
    response = api.join("C0000000001", account="blocked")
    assert response.status_code == 503
    assert response.json() == _error(503, "Service Unavailable", "The integrated account is blocked")


def test_a_sandbox_account_reads_but_refuses_joins_with_405(sb, api):
    sb.add_account("sbx", is_sandbox=True)
    channel = sb.add_channel("sbx", name="general")
    assert api.channels(account="sbx").json()["result_count"] == 1
    response = api.join(channel["id"], account="sbx")
    assert response.status_code == 405
    assert response.json()["truto_is_remote_error"] is False
    assert sb.channels("sbx")[0]["is_member"] is False


def test_join_is_unsupported_outside_slack_but_lists_work(sb, api):
    sb.add_account("teams", integration="msteams")
    channel = sb.add_channel("teams", name="general")
    assert api.channels(account="teams").json()["result_count"] == 1
    response = api.join(channel["id"], account="teams")
    assert response.status_code == 404
    assert "msteams" in response.json()["message"]
    assert "not supported" in response.json()["message"]


# -- get and join --------------------------------------------------------------------------------------------


def test_get_one_channel(sb, api):
    channel = sb.add_channel(
        ACCOUNT, name="general", description="all hands", created_at="2024-01-02T03:04:05Z"
    )
    response = api.get(f"{CHANNELS}/{channel['id']}")
    assert response.status_code == 200
    body = response.json()
    assert body == channel
    assert body["created_at"] == "2024-01-02T03:04:05.000Z"
    assert body["remote_data"]["created"] == 1704164645
    assert set(body) == {
        "id", "name", "description", "type", "status", "is_member", "created_at", "updated_at",
        "created_by", "workspace", "organization", "group", "remote_data",
    }  # fmt: skip


def test_get_an_unknown_channel_is_a_remote_404(api):
    response = api.get(f"{CHANNELS}/C000NOTHERE")
    assert response.status_code == 404
    assert response.json() == _error(
        404, "Not Found", "Channel not found", {"ok": False, "error": "channel_not_found"}
    )


def test_join_makes_the_app_a_member_and_counts(sb, api):
    channel = sb.add_channel(ACCOUNT, name="general", created_at="2024-01-01T00:00:00Z")
    response = api.join(channel["id"])
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == channel["id"]
    assert body["is_member"] is True
    assert body["remote_data"]["is_member"] is True
    assert body["updated_at"] > channel["updated_at"]
    assert sb.channels(ACCOUNT)[0]["is_member"] is True
    assert sb.join_counts(ACCOUNT) == {channel["id"]: 1}


def test_joining_again_is_a_counted_no_op_success(sb, api):
    channel = sb.add_channel(ACCOUNT, name="general", is_member=True)
    assert api.join(channel["id"]).status_code == 200
    assert api.join(channel["id"]).status_code == 200
    assert sb.join_counts() == {channel["id"]: 2}
    assert sb.stats()["joins"] == 2


@pytest.mark.parametrize(
    ("setup", "status", "code", "message"),
    [
        ({"status": "archived"}, 422, "is_archived", "Channel is archived"),
        ({"type": "private_channel"}, 422, "method_not_supported_for_channel_type", None),
        ({"type": "dm"}, 422, "method_not_supported_for_channel_type", None),
        ({"type": "group_dm"}, 422, "method_not_supported_for_channel_type", None),
    ],
)
def test_joins_slack_refuses(sb, api, setup, status, code, message):
    channel = sb.add_channel(ACCOUNT, name="x", **setup)
    response = api.join(channel["id"])
    assert response.status_code == status
    body = response.json()
    assert body["statusCode"] == status
    assert body["error"] == "Unprocessable Entity"
    assert body["truto_is_remote_error"] is True
    assert body["raw_response"] == {"ok": False, "error": code}
    if message:
        assert body["message"] == message
    assert sb.join_counts() == {}
    assert sb.channels(ACCOUNT)[0]["is_member"] is False


def test_joining_an_unknown_channel_is_a_remote_404(sb, api):
    response = api.join("C000NOTHERE")
    assert response.status_code == 404
    assert response.json()["raw_response"] == {"ok": False, "error": "channel_not_found"}
    assert sb.join_counts() == {}


def test_archive_and_remove_change_what_join_sees(sb, api):
    first = sb.add_channel(ACCOUNT, name="a")
    second = sb.add_channel(ACCOUNT, name="b")
    sb.archive_channel(ACCOUNT, first["id"])
    sb.remove_channel(ACCOUNT, second["id"])
    assert api.join(first["id"]).json()["raw_response"]["error"] == "is_archived"
    assert api.join(second["id"]).status_code == 404
    assert [c["id"] for c in sb.channels(ACCOUNT)] == [first["id"]]


@pytest.mark.parametrize(
    "body",
    [None, {}, {"channel": {}}, {"channel": {"id": ""}}, {"channel": {"id": 5}}, [], {"channel": "C1"}],
)
def test_join_without_a_channel_id_is_a_400_naming_it(sb, api, body):
    response = api.post(JOIN, body)
    assert response.status_code == 400
    assert "channel.id" in response.json()["message"]


def test_a_body_that_is_not_json_is_a_400(sb, api):
    response = api.session.post(
        sb.url + JOIN,
        params={"integrated_account_id": ACCOUNT},
        data="{not json",
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json()["message"] == "Request body is not valid JSON"
    assert sb.requests[-1].body == "{not json"


def test_join_passes_remote_data_and_can_wrap_its_result(sb, api):
    channel = sb.add_channel(ACCOUNT, name="general")
    sb.wrap_custom_method_results = True
    response = api.post(JOIN, {"channel": {"id": channel["id"]}, "remote_data": {"foo": 1}})
    assert response.status_code == 200
    assert set(response.json()) == {"result"}
    assert response.json()["result"]["is_member"] is True


# -- response options ----------------------------------------------------------------------------------------


def test_ignore_remote_data_and_exclude_fields(sb, api):
    sb.seed_channels(ACCOUNT, 3, seed=1)
    body = api.channels(
        truto_ignore_remote_data="true", **{"truto_exclude_fields[]": ["description", "workspace", "id"]}
    ).json()
    for channel in body["result"]:
        assert "remote_data" not in channel
        assert "description" not in channel
        assert "workspace" not in channel
        assert channel["id"].startswith("C")  # the id is never dropped


def test_raw_format_returns_slack_objects(sb, api):
    sb.seed_channels(ACCOUNT, 3, seed=1)
    listed = api.channels(truto_response_format="raw").json()
    assert listed["result"] == [c["remote_data"] for c in sb.channels(ACCOUNT)]
    channel = sb.channels(ACCOUNT)[0]
    one = api.get(f"{CHANNELS}/{channel['id']}", truto_response_format="raw").json()
    assert one == channel["remote_data"]


def test_raw_join_looks_like_slacks_answer(sb, api):
    channel = sb.add_channel(ACCOUNT, name="general", is_member=True)
    body = api.join(channel["id"], truto_response_format="raw").json()
    assert body["ok"] is True
    assert body["warning"] == "already_in_channel"
    assert body["channel"]["id"] == channel["id"]


def test_an_unknown_response_format_is_a_400(api):
    assert api.channels(truto_response_format="stream").status_code == 400


# -- idempotency ---------------------------------------------------------------------------------------------


def test_a_repeated_idempotency_key_replays_the_first_answer(sb, api):
    channel = sb.add_channel(ACCOUNT, name="general")
    first = api.join(channel["id"], headers={"Idempotency-Key": "k-1"})
    second = api.join(channel["id"], headers={"Idempotency-Key": "k-1"})
    assert first.status_code == second.status_code == 200
    assert first.content == second.content
    assert sb.join_counts() == {channel["id"]: 1}
    assert sb.stats()["idempotent_replays"] == 1
    api.join(channel["id"], headers={"Idempotency-Key": "k-2"})
    assert sb.join_counts() == {channel["id"]: 2}


def test_refusals_are_replayed_too(sb, api):
    channel = sb.add_channel(ACCOUNT, name="general", type="private_channel")
    first = api.join(channel["id"], headers={"Idempotency-Key": "k"})
    second = api.join(channel["id"], headers={"Idempotency-Key": "k"})
    assert first.status_code == second.status_code == 422
    assert first.json() == second.json()
    assert sb.stats()["idempotent_replays"] == 1


def test_injected_faults_are_not_cached_for_an_idempotency_key(sb, api):
    channel = sb.add_channel(ACCOUNT, name="general")
    sb.inject("POST", JOIN, 500, 503)
    statuses = [api.join(channel["id"], headers={"Idempotency-Key": "k"}).status_code for _ in range(4)]
    assert statuses == [500, 503, 200, 200]
    assert sb.join_counts() == {channel["id"]: 1}
    assert sb.stats()["idempotent_replays"] == 1


def test_unknown_routes_are_truto_404s(api):
    for response in (api.get("/unified/crm/contacts"), api.session.delete(api.sb.url + CHANNELS + "/C1")):
        assert response.status_code == 404
        assert response.json()["statusCode"] == 404
        assert response.json()["truto_is_remote_error"] is False


def test_a_chunked_body_is_read(sb, api):
    channel = sb.add_channel(ACCOUNT, name="general")
    payload = json.dumps({"channel": {"id": channel["id"]}}).encode()
    response = api.session.post(
        sb.url + JOIN,
        params={"integrated_account_id": ACCOUNT},
        data=iter([payload[:7], payload[7:]]),  # a generator body goes out chunked
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 200
    assert sb.requests[-1].headers["transfer-encoding"] == "chunked"
    assert sb.join_counts() == {channel["id"]: 1}
    assert api.channels().status_code == 200  # the connection is still in step


def test_concurrent_joins_are_all_counted(sb):
    import concurrent.futures

    channels = sb.seed_channels(ACCOUNT, 40, seed=9, mixed=False)

    def join_all(worker: int) -> list[int]:
        with requests.Session() as session:
            session.headers["Authorization"] = f"Bearer {TOKEN}"
            return [
                session.post(
                    sb.url + JOIN,
                    params={"integrated_account_id": ACCOUNT},
                    json={"channel": {"id": c["id"]}},
                    timeout=10,
                ).status_code
                for c in channels
            ]

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        statuses = [status for result in pool.map(join_all, range(8)) for status in result]
    assert statuses == [200] * 320
    assert sb.join_counts() == {c["id"]: 8 for c in channels}
    assert sb.stats()["joins"] == 320
    assert all(c["is_member"] for c in sb.channels(ACCOUNT))


def raw_exchange(sb, request: bytes) -> bytes:
    """Send ``request`` as is on a new connection; the whole answer until the sandbox closes it."""
    import socket

    host, port = sb.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


@pytest.mark.parametrize(
    ("framing", "status"),
    [
        (b"Content-Length: 1000000000000000\r\n\r\n{}", b"413"),
        (b"Transfer-Encoding: chunked\r\n\r\n8000000000000000\r\n{}", b"413"),
        (b"Transfer-Encoding: chunked\r\n\r\n-5\r\n{}", b"400"),
        (b"Content-Length: lots\r\n\r\n{}", b"400"),
    ],
    ids=["content-length-1e15", "chunk-of-2-to-the-63", "negative-chunk", "unreadable-length"],
)
def test_a_body_the_sandbox_will_not_read_is_answered_not_dropped(sb, framing, status):
    """Once, these dropped the connection without a word (an OverflowError or MemoryError in the handler)."""
    head = (
        f"POST {JOIN}?integrated_account_id={ACCOUNT} HTTP/1.1\r\n"
        f"Host: x\r\nAuthorization: Bearer {TOKEN}\r\n"
    )
    answer = raw_exchange(sb, head.encode() + framing)
    assert answer.split(b" ", 2)[1] == status
    assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["statusCode"] == int(status)


def test_json_nested_past_pythons_limit_is_a_400(sb, api):
    deep = "[" * 100_000 + "]" * 100_000
    response = api.session.post(
        sb.url + JOIN,
        params={"integrated_account_id": ACCOUNT},
        data=f'{{"channel": {deep}}}',
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    assert response.status_code == 400 and response.json()["message"] == "Request body is not valid JSON"
    assert api.channels().status_code == 200  # and the sandbox goes on

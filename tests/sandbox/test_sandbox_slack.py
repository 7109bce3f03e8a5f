"""The sandbox behaves like Slack behind Truto: the filters Slack honours, its page size, its list tier."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import pytest
import requests

from airflow_provider_truto.pacing.limits import SLACK_LIST_RATE_LIMIT
from airflow_provider_truto.testing import TrutoSandbox
from airflow_provider_truto.testing.slack import SLACK_LIST_TIER
from tests.support.helpers import ACCOUNT, Api

TYPES = "remote_query[types]"
EXCLUDE_ARCHIVED = "remote_query[exclude_archived]"


def walk(api: Api, **params: Any) -> tuple[list[dict[str, Any]], list[int]]:
    """Every channel of the list, and each page's size."""
    channels: list[dict[str, Any]] = []
    sizes: list[int] = []
    cursor: str | None = None
    while True:
        body = api.channels(**params, **({"next_cursor": cursor} if cursor else {})).json()
        assert body["result_count"] == len(body["result"])
        channels.extend(body["result"])
        sizes.append(len(body["result"]))
        cursor = body["next_cursor"]
        if cursor is None:
            return channels, sizes


# -- remote_query[types] -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("types", "unified"),
    [
        ("public_channel", {"channel"}),
        ("public_channel,private_channel", {"channel", "private_channel"}),
        ("im, mpim", {"dm", "group_dm"}),
        (["public_channel", "im"], {"channel", "dm"}),
    ],
)
def test_types_narrow_the_list_to_slacks_types(
    sb: TrutoSandbox, api: Api, types: Any, unified: set[str]
) -> None:
    sb.seed_channels(ACCOUNT, 300, seed=4)
    listed, _ = walk(api, limit=40, **{TYPES: types})
    expected = [c["id"] for c in sb.channels(ACCOUNT) if c["type"] in unified]
    assert [c["id"] for c in listed] == expected
    assert {c["type"] for c in listed} == unified  # each asked-for type is there, nothing else


def test_the_array_spelling_of_types_works_too(sb: TrutoSandbox, api: Api) -> None:
    sb.seed_channels(ACCOUNT, 100, seed=4)
    listed, _ = walk(api, **{TYPES + "[]": ["public_channel"]})
    assert listed and {c["type"] for c in listed} == {"channel"}


@pytest.mark.parametrize("types", ["public", "public_channel,channels", ","])
def test_an_unknown_type_is_slacks_invalid_types(sb: TrutoSandbox, api: Api, types: str) -> None:
    response = api.channels(**{TYPES: types})
    assert response.status_code == 400
    body = response.json()
    assert body["truto_is_remote_error"] is True
    assert body["raw_response"] == {"ok": False, "error": "invalid_types"}


def test_without_types_every_type_is_listed_as_before(sb: TrutoSandbox, api: Api) -> None:
    sb.seed_channels(ACCOUNT, 200, seed=4)
    listed, _ = walk(api, limit=1000)
    assert {c["type"] for c in listed} == {"channel", "private_channel", "dm", "group_dm"}
    assert len(listed) == 200


# -- remote_query[exclude_archived] ------------------------------------------------------------------------


def test_exclude_archived_drops_archived_channels_page_by_page(sb: TrutoSandbox, api: Api) -> None:
    sb.seed_channels(ACCOUNT, 300, seed=6)
    listed, sizes = walk(api, limit=50, **{EXCLUDE_ARCHIVED: "true"})
    expected = [c["id"] for c in sb.channels(ACCOUNT) if c["status"] == "active"]
    assert [c["id"] for c in listed] == expected and len(expected) < 300
    # Slack filters each page after reading it: pages come back short while the list goes on.
    assert len(sizes) == 6 and any(size < 50 for size in sizes[:-1])


@pytest.mark.parametrize(("value", "archived_listed"), [("false", True), ("0", True), ("1", False)])
def test_exclude_archived_reads_slacks_booleans(
    sb: TrutoSandbox, api: Api, value: str, archived_listed: bool
) -> None:
    sb.add_channel(ACCOUNT, name="old", status="archived")
    sb.add_channel(ACCOUNT, name="live")
    listed, _ = walk(api, **{EXCLUDE_ARCHIVED: value})
    assert ("old" in {c["name"] for c in listed}) is archived_listed


def test_a_non_boolean_exclude_archived_is_a_remote_400(api: Api) -> None:
    response = api.channels(**{EXCLUDE_ARCHIVED: "maybe"})
    assert response.status_code == 400
    assert response.json()["raw_response"] == {"ok": False, "error": "invalid_arguments"}


def test_types_and_exclude_archived_together_list_exactly_the_live_public_channels(
    sb: TrutoSandbox, api: Api
) -> None:
    sb.seed_channels(ACCOUNT, 500, seed=8)
    listed, _ = walk(api, limit=1000, **{TYPES: "public_channel", EXCLUDE_ARCHIVED: "true"})
    expected = [c["id"] for c in sb.channels(ACCOUNT) if c["type"] == "channel" and c["status"] == "active"]
    assert [c["id"] for c in listed] == expected


# -- the page size -----------------------------------------------------------------------------------------


def test_limit_is_clamped_to_slacks_1000(sb: TrutoSandbox, api: Api) -> None:
    sb.seed_channels(ACCOUNT, 1500, seed=1, mixed=False)
    _, sizes = walk(api, limit=5000)
    assert sizes == [1000, 500]


def test_max_page_size_caps_what_a_page_holds_whatever_limit_asks(sb: TrutoSandbox, api: Api) -> None:
    sb.seed_channels(ACCOUNT, 250, seed=1, mixed=False)
    sb.max_page_size = 100
    listed, sizes = walk(api, limit=1000)
    assert sizes == [100, 100, 50] and len({c["id"] for c in listed}) == 250
    with pytest.raises(ValueError, match="max_page_size"):
        TrutoSandbox(max_page_size=0)


# -- the list tier -----------------------------------------------------------------------------------------


def test_the_list_tier_is_off_by_default(sb: TrutoSandbox, api: Api) -> None:
    assert sb.slack_list_rate_limit is None
    assert [api.channels().status_code for _ in range(30)] == [200] * 30


def test_over_the_list_tier_slacks_429_passes_through_truto(sb: TrutoSandbox, api: Api) -> None:
    sb.add_account("other")
    sb.slack_list_rate_limit = (3, 60.0)
    statuses = [api.channels().status_code for _ in range(3)]
    limited = api.channels()

    assert statuses == [200, 200, 200]
    assert limited.status_code == 429
    body = limited.json()
    assert body["truto_is_remote_error"] is True
    assert body["raw_response"] == {"ok": False, "error": "ratelimited"}
    assert 55 <= int(limited.headers["Retry-After"]) <= 60  # Slack's own: until the window has room
    assert sb.requests[-1].remote_error is True and sb.requests[0].remote_error is False
    # Per workspace: another account lists on; joins and single channels are other methods.
    assert api.channels(account="other").status_code == 200
    channel = sb.add_channel(ACCOUNT, name="x")
    assert api.join(channel["id"]).status_code == 200
    assert api.get(f"/unified/instant-messaging/channels/{channel['id']}").status_code == 200


def test_after_slacks_retry_after_the_list_answers_again(sb: TrutoSandbox, api: Api) -> None:
    sb.slack_list_rate_limit = (2, 1.0)
    assert [api.channels().status_code for _ in range(2)] == [200, 200]
    limited = api.channels()
    assert limited.status_code == 429
    time.sleep(int(limited.headers["Retry-After"]))
    assert api.channels().status_code == 200


def test_a_call_slack_refuses_still_counts_against_trutos_limits() -> None:
    with TrutoSandbox(account_rate_limit=(4, 60.0), slack_list_rate_limit=(3, 60.0)) as sandbox:
        sandbox.add_account(ACCOUNT)
        with requests.Session() as session:
            session.headers["Authorization"] = "Bearer sandbox-token"
            api = Api(sandbox, session)
            answers = [api.channels() for _ in range(5)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429, 429]
    assert answers[3].json()["truto_is_remote_error"] is True  # Slack's
    assert answers[4].json()["truto_is_remote_error"] is False  # then Truto's own, per account


def test_only_slack_workspaces_have_slacks_tier(sb: TrutoSandbox, api: Api) -> None:
    sb.add_account("teams", integration="msteams")
    sb.slack_list_rate_limit = (1, 60.0)
    assert [api.channels(account="teams").status_code for _ in range(3)] == [200] * 3


def test_slacks_tier_is_about_20_a_minute_as_the_watcher_knows_it() -> None:
    # The sandbox states Slack's behaviour on its own (a fake shares no code with the client it tests);
    # the provider's pacing must agree with it.
    assert SLACK_LIST_TIER == (SLACK_LIST_RATE_LIMIT.requests, SLACK_LIST_RATE_LIMIT.seconds) == (20, 60.0)
    with TrutoSandbox(slack_list_rate_limit=SLACK_LIST_TIER) as sandbox:
        sandbox.add_account(ACCOUNT)
        with requests.Session() as session:
            session.headers["Authorization"] = "Bearer sandbox-token"
            statuses = Counter(Api(sandbox, session).channels().status_code for _ in range(25))
    assert statuses == {200: 20, 429: 5}


# -- workspaces connected while it serves ------------------------------------------------------------------


def test_a_workspace_connected_while_serving_is_listed_and_served_at_once(sb: TrutoSandbox, api: Api) -> None:
    before = [a["id"] for a in api.get("/integrated-account", account=None).json()["result"]]
    sb.add_account("late")
    sb.seed_channels("late", 30, seed=2)
    after = api.get("/integrated-account", account=None, status="active").json()["result"]
    assert before == [ACCOUNT] and [a["id"] for a in after] == [ACCOUNT, "late"]
    assert api.channels(account="late", limit=100).json()["result_count"] == 30

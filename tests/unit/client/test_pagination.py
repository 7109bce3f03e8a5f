"""The cursor walk both clients drive (airflow_provider_truto/pagination.py): through empty pages, up to
the page cap, never a cursor twice or one that is not text; items handed on before a bad cursor fails."""

from __future__ import annotations

import gc
from typing import Any

import pytest

from airflow_provider_truto.client.config import DEFAULT_PAGE_CAP, TrutoConfig
from airflow_provider_truto.client.pagination import CursorWalk
from airflow_provider_truto.exceptions import TrutoInputError, TrutoInvalidResponseError
from airflow_provider_truto.hooks.truto import TrutoHook
from airflow_provider_truto.testing import TrutoSandbox
from tests.support.helpers import ACCOUNT, CHANNELS, TOKEN, hostile_connection
from tests.support.hostile_servers import (
    HostileServer,
    endless_list,
)


def test_an_endless_list_stops_at_the_page_cap(list_unified: Any) -> None:
    with HostileServer(endless_list()) as server:
        with pytest.raises(TrutoInvalidResponseError, match="after 25 pages, the connection's page_cap"):
            list_unified(server.url, "instant-messaging", "channels", settings={"page_cap": 25})
        assert len(server.requests) == 25


def test_the_page_cap_is_a_connection_extra_with_a_generous_default(monkeypatch: pytest.MonkeyPatch) -> None:
    assert TrutoConfig(token=TOKEN).page_cap == DEFAULT_PAGE_CAP == 10_000
    with HostileServer(endless_list()) as server:
        hostile_connection(monkeypatch, server.url, page_cap=30)
        hook = TrutoHook("hostile")
        assert hook.config.page_cap == 30
        with pytest.raises(TrutoInvalidResponseError, match="page_cap"):
            list(hook.list_channels())
        assert len(server.requests) == 30


def test_a_cursor_that_is_not_text_is_an_invalid_answer(list_unified: Any) -> None:
    with (
        HostileServer(endless_list(lambda n: {"after": n})) as server,
        pytest.raises(TrutoInvalidResponseError, match="next_cursor that is dict"),
    ):
        list_unified(server.url, "instant-messaging", "channels")


def test_empty_pages_with_a_cursor_keep_the_walk_going(sandbox: TrutoSandbox, list_unified: Any) -> None:
    sandbox.empty_pages = True  # Slack sends an empty page with a cursor now and then
    items = list_unified(
        sandbox.url, "instant-messaging", "channels", limit=7, settings={"token": sandbox.token}
    )
    assert [c["id"] for c in items] == [c["id"] for c in sandbox.channels(ACCOUNT)]
    pages = [r for r in sandbox.requests if r.path == CHANNELS]
    assert len(pages) > 60 // 7 + 1 and all(r.query["limit"] == ["7"] for r in pages)


def page_of(*ids: str, cursor: Any = None) -> dict[str, Any]:
    return {"result": [{"id": i} for i in ids], "next_cursor": cursor}


def test_a_walk_asks_for_each_page_and_ends_with_the_cursor() -> None:
    walk = CursorWalk("/x", {"a": 1}, limit=2, max_pages=None, page_cap=10)
    assert walk.next_query() == {"a": 1, "limit": 2, "next_cursor": None}
    assert walk.take(page_of("1", "2", cursor="c1")) == [{"id": "1"}, {"id": "2"}]
    assert walk.next_query() == {"a": 1, "limit": 2, "next_cursor": "c1"}
    assert walk.take(page_of(cursor="c2")) == []  # an empty page with a cursor: go on
    assert walk.next_query() == {"a": 1, "limit": 2, "next_cursor": "c2"}
    assert walk.take(page_of("3", cursor="")) == [{"id": "3"}]
    assert walk.next_query() is None and walk.pages == 3


def test_a_walk_keeps_the_cursor_not_the_page_it_took() -> None:
    # A page of a thousand channels decodes to megabytes: held by the walk, every poll in flight would
    # keep its last page alive while it waits for the next one.
    walk = CursorWalk("/x", None, limit=None, max_pages=None, page_cap=10)
    walk.next_query()
    page = page_of("1", "2", cursor="c1")
    items = walk.take(page)
    holders = [*gc.get_referrers(page), *gc.get_referrers(items)]
    assert not any(holder is walk or holder is vars(walk) for holder in holders)
    assert walk.next_query() == {"limit": None, "next_cursor": "c1"}


def test_max_pages_stops_quietly_and_the_page_cap_loudly() -> None:
    walk = CursorWalk("/x", None, limit=None, max_pages=1, page_cap=10)
    walk.next_query()
    walk.take(page_of("1", cursor="more"))
    assert walk.next_query() is None
    capped = CursorWalk("/x", None, limit=None, max_pages=None, page_cap=1)
    capped.next_query()
    assert capped.take(page_of("1", cursor="more")) == [{"id": "1"}]  # handed on before the cap fails
    with pytest.raises(TrutoInvalidResponseError, match="after 1 pages"):
        capped.next_query()


@pytest.mark.parametrize(
    ("pages", "match"),
    [
        ([page_of(cursor="a"), page_of(cursor="a")], "the cursor 'a' twice"),
        ([page_of(cursor=3)], "next_cursor that is int"),
        ([{"results": [{"id": "1"}], "next_cursor": None}, None], None),  # an admin list's "results"
        (["not an envelope"], "returned str, not a list envelope"),
        ([{"result": "x"}], "no 'result' list"),
        ([{"result": [{"id": "1"}, 2]}], "a list holding int, not objects"),
    ],
)
def test_each_page_and_cursor_is_checked(pages: list[Any], match: str | None) -> None:
    walk = CursorWalk("/x", None, limit=None, max_pages=None, page_cap=10)
    if match is None:
        walk.next_query()
        assert walk.take(pages[0]) == [{"id": "1"}] and walk.next_query() is None
        return
    with pytest.raises(TrutoInvalidResponseError, match=match):
        for page in pages:
            assert walk.next_query() is not None
            walk.take(page)
        walk.next_query()


@pytest.mark.parametrize(("argument", "value"), [("limit", 0), ("max_pages", -1), ("limit", True)])
def test_a_bad_limit_or_max_pages_is_named(argument: str, value: Any) -> None:
    settings: dict[str, Any] = {"limit": None, "max_pages": None, argument: value}
    with pytest.raises(TrutoInputError) as caught:
        CursorWalk("/x", None, page_cap=10, **settings)
    assert caught.value.argument == argument

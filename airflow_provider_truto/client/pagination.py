"""The walk through a cursor-paginated list, one page at a time, for a sync and an async loop alike.

A :class:`CursorWalk` says which query to send next and takes each page it answered; the loop around it
only sends (``TrutoClient.paginate`` with requests, ``AsyncTrutoClient.paginate`` with httpx)::

    walk = CursorWalk(path, query, limit=100, max_pages=None, page_cap=config.page_cap)
    while (page_query := walk.next_query()) is not None:
        yield from walk.take(send("GET", path, page_query))

Every check of a list lives here: the envelope (a list of objects), the cursor (text, never twice), the
page cap (a list still going after ``page_cap`` pages is an error, not a loop).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_provider_truto.client.validation import optional_count
from airflow_provider_truto.exceptions import TrutoInvalidResponseError


class CursorWalk:
    """One walk through a list: keeps going while ``next_cursor`` is set, even past an empty page (Slack
    sends those), up to ``page_cap`` pages; ``max_pages`` instead stops early, quietly.

    :param limit: the page size asked for (Truto's ``limit``); ``None``: Truto's default.
    """

    def __init__(
        self,
        path: str,
        query: Mapping[str, Any] | None,
        *,
        limit: int | None,
        max_pages: int | None,
        page_cap: int,
    ) -> None:
        self.path = path
        self.query = dict(query or {})
        self.limit = optional_count("limit", limit)
        self.max_pages = optional_count("max_pages", max_pages)
        self.page_cap = page_cap
        self.pages = 0
        self._cursor: str | None = None
        self._seen: set[str] = set()
        # Only the cursor of the page last taken is kept, never the page: its items are the caller's to
        # drop, so a walk holds one page at most while the caller reads it, not while the next is fetched.
        self._answered_cursor: Any = None

    def next_query(self) -> dict[str, Any] | None:
        """The query of the next page, or ``None`` when the list has ended (or ``max_pages`` were read).

        The cursor of the page last taken is checked here, after its items were handed on, so a walk
        that fails on a bad cursor has yielded every item before it.
        """
        if self.pages:
            if self.max_pages is not None and self.pages >= self.max_pages:
                return None
            self._cursor = next_cursor(
                self._answered_cursor, self.path, pages=self.pages, page_cap=self.page_cap, seen=self._seen
            )
            if self._cursor is None:
                return None
        return {**self.query, "limit": self.limit, "next_cursor": self._cursor}

    def take(self, page: Any) -> list[dict[str, Any]]:
        """The items of the page just answered, its envelope checked."""
        items = page_items(page, self.path)
        self.pages += 1
        self._answered_cursor = page.get("next_cursor")
        return items


def page_items(page: Any, path: str) -> list[dict[str, Any]]:
    """The items of one list page, its envelope checked: a list of objects."""
    if not isinstance(page, dict):
        raise TrutoInvalidResponseError(f"{path} returned {type(page).__name__}, not a list envelope")
    # Truto's docs show "result"; one admin endpoint has been seen answering "results".
    items = page.get("result", page.get("results"))
    if not isinstance(items, list):
        raise TrutoInvalidResponseError(f"{path} returned no 'result' list")
    for item in items:
        if not isinstance(item, dict):
            raise TrutoInvalidResponseError(
                f"{path} returned a list holding {type(item).__name__}, not objects"
            )
    return items


def next_cursor(cursor: Any, path: str, *, pages: int, page_cap: int, seen: set[str]) -> str | None:
    """The cursor to ask for the next page with, from the ``next_cursor`` the last page answered; ``None``
    at the end.

    ``pages`` pages have been read; ``seen`` holds the cursors used so far and is updated. A cursor that
    is not a string, comes back, or is still there after ``page_cap`` pages is an invalid answer: a list
    that never ends is a fault upstream, and walking it would never finish.
    """
    if cursor is None or cursor == "":
        return None
    if not isinstance(cursor, str):
        raise TrutoInvalidResponseError(
            f"{path} returned a next_cursor that is {type(cursor).__name__}, not text"
        )
    if cursor in seen:
        raise TrutoInvalidResponseError(f"{path} returned the cursor {cursor!r} twice; stopping")
    if pages >= page_cap:
        raise TrutoInvalidResponseError(
            f"{path} still had a next page after {page_cap} pages, the connection's page_cap; a list that "
            "never ends is a fault upstream (raise the 'page_cap' extra if the list really is this long)"
        )
    seen.add(cursor)
    return cursor

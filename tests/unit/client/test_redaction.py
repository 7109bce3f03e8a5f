"""Keeping the token out of texts and values (airflow_provider_truto/redaction.py): every spelling a server
or a library may render it in, mixed too; decoded answers walked again; the token's own repr."""

from __future__ import annotations

import html
import json
import socket
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote

import pytest

from airflow_provider_truto.auto_join.planning import plan_auto_join
from airflow_provider_truto.client.config import TrutoConfig
from airflow_provider_truto.client.redaction import (
    MASK,
    Secret,
    contains_token,
    min_masked_chars,
    redact,
    redact_value,
)
from airflow_provider_truto.exceptions import TrutoAuthError, TrutoInvalidResponseError
from airflow_provider_truto.hooks.truto import TrutoHook
from airflow_provider_truto.testing import TrutoSandbox
from tests.support.helpers import (
    ACCOUNT,
    TOKEN,
    TRANSPORTS,
    assert_token_free,
    call_through,
    connection_json,
    leaks,
)
from tests.support.hostile_servers import (
    HostileServer,
    Request,
    channel,
    json_escaped,
    json_reply,
    page,
    reply,
)


@pytest.mark.parametrize(
    "spelled",
    [
        TOKEN,
        json_escaped(TOKEN)[1:-1],  # \u0074\u006f...
        repr(TOKEN.encode())[2:-1].replace("t", "\\x74"),  # repr-style \x escapes
        quote(TOKEN, safe="").replace("-", "%2D").replace("t", "%74"),  # percent-encoded, partly
        "".join(f"&#{ord(char)};" for char in TOKEN),  # HTML decimal references
        "".join(f"&#x{ord(char):X};" for char in TOKEN),  # HTML hex references, upper case
        TOKEN[:5] + json_escaped(TOKEN[5:9])[1:-1] + quote(TOKEN[9:], safe="").replace("s", "%73"),  # mixed
    ],
)
def test_every_spelling_of_the_token_is_masked(spelled: str) -> None:
    text = f"before {spelled} after"
    assert redact(text, TOKEN) == f"before {MASK} after"
    assert contains_token(text, TOKEN)


HTML_TOKEN = "tok&en<s3cr3t>'q\"9"


@pytest.mark.parametrize(
    "spelled",
    [
        html.escape(HTML_TOKEN),  # &amp; &lt; &gt; &#x27; &quot;
        HTML_TOKEN.replace("&", "&amp;").replace("'", "&apos;").replace('"', "&QUOT;"),
        HTML_TOKEN.replace("<", "&LT;").replace(">", "&#62;"),
    ],
    ids=["html-escape", "apos-and-upper-quot", "upper-lt"],
)
def test_a_token_echoed_with_named_html_entities_is_masked(spelled: str) -> None:
    assert redact(f"<p>bad token {spelled}</p>", HTML_TOKEN) == f"<p>bad token {MASK}</p>"


def test_a_token_echoed_html_escaped_in_an_error_body_is_redacted(unified: Callable[..., Any]) -> None:
    def echo(request: Request, sock: socket.socket) -> None:
        reply(sock, 401, f"<html><body>Invalid token {html.escape(HTML_TOKEN)}</body></html>")

    with HostileServer(echo) as server, pytest.raises(TrutoAuthError) as caught:
        unified(server.url, "instant-messaging", "channels", "list", settings={"token": HTML_TOKEN})
    assert caught.value.body is not None and f"Invalid token {MASK}" in caught.value.body
    assert html.escape(HTML_TOKEN) not in repr(vars(caught.value))


def test_other_text_is_left_alone() -> None:
    assert redact("nothing to see %41 &#65; \\u0041", TOKEN) == "nothing to see %41 &#65; \\u0041"
    assert redact("anything", "") == "anything" and not contains_token("anything", TOKEN)


def test_decoded_values_are_walked_and_returned_as_they_were_when_clean() -> None:
    answer = json.loads(json.dumps({"id": "C1", TOKEN: [1, {"note": f"is {TOKEN}"}]}))
    redacted, changed = redact_value(answer, TOKEN)
    assert changed and redacted == {"id": "C1", MASK: [1, {"note": f"is {MASK}"}]}
    clean = {"id": "C1", "list": [1, "two"]}
    assert redact_value(clean, TOKEN) == (clean, False) and redact_value(clean, TOKEN)[0] is clean


def test_the_token_s_repr_hides_it() -> None:
    secret = Secret(TOKEN)
    assert secret == TOKEN and repr(secret) == repr(MASK) and TOKEN not in repr([secret])
    assert TOKEN not in repr(TrutoConfig(token=TOKEN))


# -- redaction changes no value the provider decides with -------------------------------------------------

SEEDED_FROM = datetime(2024, 1, 1, tzinfo=timezone.utc)
SEEDED_UNTIL = datetime(2026, 1, 1, tzinfo=timezone.utc)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_short_token_changes_no_answer(
    transport: str,
    truto_sandbox_factory: Callable[..., TrutoSandbox],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The sandbox started with ``--token T`` (as the docs once showed): every "T" of an id, a created_at
    or a cursor stays as sent, so a whole list walk and the auto-join selection give exactly the answers
    they give with a realistic token."""
    seen: dict[str, Any] = {}
    for token in ("T", TOKEN):
        sandbox = truto_sandbox_factory(token=token)
        sandbox.add_account(ACCOUNT)
        sandbox.seed_channels(ACCOUNT, 300, seed=11, start=SEEDED_FROM, end=SEEDED_UNTIL)
        listed = call_through(
            transport,
            sandbox.url,
            lambda client: client.list_unified("instant-messaging", "channels", limit=7),
            {"token": token},
        )
        monkeypatch.setenv("AIRFLOW_CONN_TRUTO_DEFAULT", connection_json(sandbox))
        hook = TrutoHook()
        plan = plan_auto_join(hook, created_after="2025-01-01T00:00:00Z")
        hook.close()
        seen[token] = (listed, plan.batches, plan.accounts)
    assert seen["T"] == seen[TOKEN]
    listed, batches, accounts = seen["T"]
    assert len(listed) == 300  # every page
    # Something to join, and the cutoff read every created_at: none taken for new by mistake.
    assert sum(len(batch) for batch in batches) == accounts[ACCOUNT]["selected"] > 0
    assert accounts[ACCOUNT]["left_out"]["created before the cutoff"] > 0
    # The short token was all over the answers: in ids, in every created_at ("2025-03-04T..."), in cursors.
    assert any("T" in channel["id"] for channel in listed) and all("T" in c["created_at"] for c in listed)
    assert "***" not in repr(seen["T"]) and "held the API token" not in caplog.text


def test_a_long_token_echoed_beside_values_decided_with_is_redacted_around_them(
    list_unified: Callable[..., list[dict[str, Any]]], caplog: pytest.LogCaptureFixture
) -> None:
    """Shown strings lose the token; the id, created_at and cursor the provider acts on stay as sent."""

    def echo(request: Request, sock: socket.socket) -> None:
        cursor = request.query.get("next_cursor")
        if cursor is None:
            item = {"id": "C1TOK", "created_at": "2026-05-01T00:00:00Z", "name": TOKEN, "note": f"x {TOKEN}"}
            json_reply(sock, 200, page([item], "next-T-1"))
        else:
            json_reply(sock, 200, page([channel("C2")], None))

    with HostileServer(echo) as server:
        items = list_unified(server.url, "instant-messaging", "channels")
    assert items[0] == {"id": "C1TOK", "created_at": "2026-05-01T00:00:00Z", "name": MASK, "note": "x ***"}
    assert [item["id"] for item in items] == ["C1TOK", "C2"]
    assert server.requests[1].query["next_cursor"] == ["next-T-1"]
    assert "held the API token" in caplog.text and leaks(caplog.text) == []


@pytest.mark.parametrize("key", ["id", "created_at", "next_cursor"])
def test_a_value_decided_with_that_holds_the_token_is_refused_not_changed(
    list_unified: Callable[..., list[dict[str, Any]]], key: str
) -> None:
    def echo(request: Request, sock: socket.socket) -> None:
        item = channel("C1")
        answer = page([item], None)
        (answer if key == "next_cursor" else item)[key] = f"a-{TOKEN}"
        json_reply(sock, 200, answer)

    with HostileServer(echo) as server, pytest.raises(TrutoInvalidResponseError) as caught:
        list_unified(server.url, "instant-messaging", "channels")
    assert f"the API token in its {key!r}" in str(caught.value)
    assert_token_free(caught.value)


def test_airflows_minimum_length_decides_what_is_too_short(monkeypatch: pytest.MonkeyPatch) -> None:
    assert min_masked_chars() == 5  # Airflow's default, loaded with the test's Airflow
    assert redact("abcd at abcd", "abcd") == "abcd at abcd" and redact("abcde", "abcde") == MASK
    monkeypatch.setenv("AIRFLOW__LOGGING__MIN_LENGTH_MASKED_SECRET", "30")
    monkeypatch.setattr("airflow_provider_truto.client.redaction._read_setting", [None, 5])
    assert min_masked_chars() == 30 and not contains_token(TOKEN, TOKEN)

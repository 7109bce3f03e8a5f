"""What an error answer means for what was sent, and how to fix it.

Truto's error bodies say what failed in its own words (``Integrated account not found``, Slack's
``channel_not_found``), not which value the caller got wrong or what to do. :func:`explain` rebuilds the
message of an error answer to name what was sent (the integrated account, the channel) and the fix. It
reads what was sent from the prepared request (:func:`sent`), so every call gets it, sync or async.

The rules follow Truto's documented errors: Slack's codes in ``raw_response.error`` with
``truto_is_remote_error`` (the channel), Truto's own 404 (the account), 401 (the token, or with
``truto_is_remote_error`` an account to re-authorise) and 503 (a blocked account).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from airflow_provider_truto.client.request import PreparedRequest
from airflow_provider_truto.exceptions import (
    TrutoAccountBlockedError,
    TrutoAuthError,
    TrutoHTTPError,
    TrutoNotFoundError,
)

# A Slack channel id: C (public), G (private, older) or D (a direct message), then capitals and digits.
SLACK_CHANNEL_ID = re.compile(r"[CGD][A-Z0-9]{6,}")
ACCOUNT_PATH = re.compile(r"^/integrated-account/([^/]+)$")
CHANNEL_PATH = re.compile(r"^/unified/instant-messaging/channels/([^/]+)$")
FIND_ACCOUNT = (
    "Check the integrated account id (the task's integrated_account_id, else the connection's "
    "integrated_account_id extra): TrutoHook().list_integrated_accounts() lists the token's accounts"
)


@dataclass(frozen=True)
class Sent:
    """What one request named, as its error messages say it."""

    call: str
    account: str | None = None
    channel: str | None = None


def sent(request: PreparedRequest) -> Sent:
    """The account and the channel a prepared request names (in its query, path or body)."""
    path = urlsplit(request.url).path
    account = dict(request.params).get("integrated_account_id")
    if account is None and (match := ACCOUNT_PATH.match(path)):
        account = unquote(match.group(1))
    channel = None
    if (match := CHANNEL_PATH.match(path)) and match.group(1) != "join":
        channel = unquote(match.group(1))
    elif path.endswith("/instant-messaging/channels/join") and request.body:
        try:
            body = json.loads(request.body)
            channel = str(body["channel"]["id"])
        except (ValueError, KeyError, TypeError):
            channel = None
    return Sent(request.call, account=account, channel=channel)


def explain(error: TrutoHTTPError, what: Sent) -> TrutoHTTPError:
    """``error`` with a message that names what was sent and, when known, the fix (returned, to raise)."""
    truto_said = error.message.removeprefix(f"{what.call}: ")
    account = f"integrated account {what.account!r}" if what.account else "the integrated account"
    if what.channel and error.remote_error == "channel_not_found":
        error.explained(
            message=f"{what.call}: channel {what.channel!r} was not found in {account}",
            advice=_channel_not_found(what.channel),
        )
    elif what.channel and error.remote_error == "method_not_supported_for_channel_type":
        error.explained(
            message=f"{what.call}: channel {what.channel!r} in {account} is private or a direct message",
            advice="A bot cannot join those by itself: invite it in Slack (/invite @your-bot in the channel)",
        )
    elif what.channel and error.remote_error == "is_archived":
        error.explained(message=f"{what.call}: channel {what.channel!r} in {account} is archived")
    elif isinstance(error, TrutoNotFoundError) and not error.is_remote_error and what.account:
        error.explained(message=f"{what.call}: {account}: {truto_said}", advice=FIND_ACCOUNT)
    elif isinstance(error, TrutoAuthError) and error.status_code == 401 and error.is_remote_error:
        error.explained(
            message=f"{what.call}: {account} needs re-authorising: {truto_said}",
            advice="Reconnect the workspace in Truto; its status is needs_reauth until then",
        )
    elif isinstance(error, TrutoAuthError) and error.status_code == 401:
        error.explained(
            message=f"{what.call}: the API token was refused: {truto_said}",
            advice="Check the connection's password: the API token of the Truto environment the account "
            "belongs to",
        )
    elif isinstance(error, TrutoAccountBlockedError):
        error.explained(
            message=f"{what.call}: {account} is blocked in Truto: {truto_said}",
            advice="Unblock it in Truto; no retry mends this",
        )
    return error


def _channel_not_found(channel: str) -> str:
    if SLACK_CHANNEL_ID.fullmatch(channel):
        return "It may have been deleted, or belong to another workspace than this account's"
    return (
        f"Channel ids look like C061EG9SL, and {channel!r} looks like a name: "
        "TrutoHook().list_channels() lists each channel's id and name"
    )

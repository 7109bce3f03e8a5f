"""Truto's endpoints as the sandbox implements them: a parsed request in, a response out, no sockets.

Routes (all behind ``Authorization: Bearer``; the server checks the token and rate limits first):

- ``GET  /unified/instant-messaging/channels``        list, cursor-paginated
- ``GET  /unified/instant-messaging/channels/{id}``   one channel
- ``POST /unified/instant-messaging/channels/join``   Slack's ``conversations.join``
- ``GET  /integrated-account``                        list, filters ``status``, ``is_sandbox``, ``tenant_id``,
  ``integration[name]`` / ``integration.name``
- ``GET  /integrated-account/{id}``                   one account (admin API: ignores the account's status)
- ``POST /webhook``                                    register a webhook (``target_url``, ``event_types``,
  ``is_active``); the answer holds its ``secret``
- ``GET  /webhook``                                    the webhooks (without their secrets), paginated

The channel list IGNORES Truto-side filters such as ``type`` or ``created_at[gt]``, as many of Truto's
integrations do: a client has to filter what it gets back itself, and the sandbox makes sure it does. What
Slack itself honours does work, passed through as ``remote_query[types]`` and
``remote_query[exclude_archived]``, with Slack's page size (up to 1000) and, when switched on, its
per-workspace list tier (:mod:`airflow_provider_truto.testing.slack`).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from airflow_provider_truto.testing.phrases import phrase
from airflow_provider_truto.testing.slack import (
    SLACK_MAX_LIMIT,
    ListTier,
    SlackListError,
    archived_excluded,
    requested_types,
)
from airflow_provider_truto.testing.state import Account, Channel, ChannelError, SandboxState
from airflow_provider_truto.testing.webhooks import WebhookRegistry

__all__ = [
    "ApiOptions",
    "Request",
    "Response",
    "TrutoApi",
    "decode_cursor",
    "encode_cursor",
    "error_response",
    "json_response",
    "slack_rate_limited",
]

CHANNELS_PATH = "/unified/instant-messaging/channels"
ACCOUNTS_PATH = "/integrated-account"
WEBHOOK_PATH = "/webhook"
PAGE_SIZE_WITHOUT_LIMIT = 25
MAX_LIMIT = SLACK_MAX_LIMIT  # a larger limit is clamped to it, as Slack does
_SLACK_STATUS = {"channel_not_found": 404, "is_archived": 422, "method_not_supported_for_channel_type": 422}
_SLACK_MESSAGE = {
    "channel_not_found": "Channel not found",
    "is_archived": "Channel is archived",
    "method_not_supported_for_channel_type": "This method is not supported for this channel type",
}
_JOIN_INTEGRATIONS = frozenset({"slack"})
_FORMATS = frozenset({"unified", "normalized", "raw"})


@dataclass(frozen=True)
class Request:
    """A parsed HTTP request. ``body`` is the decoded JSON, or the raw text when ``body_is_json`` is False."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any = None
    body_is_json: bool = True

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None


@dataclass(frozen=True)
class Response:
    """What goes back on the wire; the server adds Content-Length."""

    status: int
    body: bytes
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()


@dataclass
class ApiOptions:
    """Behaviour switches a test may flip while the server runs.

    :param empty_pages: every other channel-list page comes back empty with a cursor, as Slack sometimes does.
    :param wrap_custom_method_results: answer custom methods (join) as ``{"result": channel}``.
    :param max_page_size: the most channels a list page holds, whatever ``limit`` asks (an integration
        that does not pass a large ``limit`` through).
    :param slack_list_tier: Slack's per-workspace limit on the channel list; ``None``: none.
    """

    empty_pages: bool = False
    wrap_custom_method_results: bool = False
    max_page_size: int = MAX_LIMIT
    slack_list_tier: ListTier | None = None


def json_response(status: int, payload: Any, headers: tuple[tuple[str, str], ...] = ()) -> Response:
    return Response(status, json.dumps(payload).encode(), "application/json", headers)


def error_response(
    status: int,
    message: str,
    *,
    raw_response: dict[str, Any] | None = None,
    headers: tuple[tuple[str, str], ...] = (),
) -> Response:
    """Truto's error body; a ``raw_response`` makes it a remote (provider) error."""
    payload: dict[str, Any] = {
        "statusCode": status,
        "error": phrase(status),
        "message": message,
        "truto_is_remote_error": raw_response is not None,
    }
    if raw_response is not None:
        payload["raw_response"] = raw_response
    return json_response(status, payload, headers)


def slack_error(code: str) -> Response:
    return error_response(
        _SLACK_STATUS.get(code, 400),
        _SLACK_MESSAGE.get(code, code),
        raw_response={"ok": False, "error": code},
    )


def slack_rate_limited(retry_after: int | str) -> Response:
    """Slack's own 429 passed through Truto: a remote error, with Slack's ``Retry-After``."""
    return error_response(
        429,
        "Rate limited by the provider",
        raw_response={"ok": False, "error": "ratelimited"},
        headers=(("Retry-After", str(retry_after)),),
    )


def encode_cursor(offset: int, empty: bool) -> str:
    raw = json.dumps({"o": offset, "e": empty}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, bool]:
    """Raises ValueError on anything the sandbox did not hand out."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise ValueError("invalid cursor") from exc
    if not isinstance(data, dict):
        raise ValueError("invalid cursor")
    offset, empty = data.get("o"), data.get("e")
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0 or not isinstance(empty, bool):
        raise ValueError("invalid cursor")
    return offset, empty


class _Problem(Exception):
    """Carries an error response up from helpers to the route."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


def _bad_request(message: str) -> _Problem:
    return _Problem(error_response(400, message))


def _flag(request: Request, name: str) -> bool | None:
    value = request.param(name)
    if value is None:
        return None
    if value.lower() in ("true", "1"):
        return True
    if value.lower() in ("false", "0"):
        return False
    raise _bad_request(f"{name} must be true or false")


def _paginate(
    items: list[Any], request: Request, *, empty_pages: bool, max_page_size: int = MAX_LIMIT
) -> dict[str, Any]:
    raw_limit = request.param("limit")
    limit = PAGE_SIZE_WITHOUT_LIMIT
    if raw_limit is not None:
        try:
            limit = int(raw_limit)
        except ValueError:
            raise _bad_request("limit must be a positive integer") from None
        if limit < 1:
            raise _bad_request("limit must be a positive integer")
    limit = min(limit, MAX_LIMIT, max_page_size)
    cursor = request.param("next_cursor")
    if cursor:
        try:
            offset, empty = decode_cursor(cursor)
        except ValueError:
            raise _bad_request("next_cursor is invalid") from None
    else:
        offset, empty = 0, True
    # An empty page only makes sense while there is something left to fetch after it.
    if empty_pages and empty and offset < len(items):
        return _envelope([], encode_cursor(offset, False))
    page = items[offset : offset + limit]
    after = offset + limit
    return _envelope(page, encode_cursor(after, True) if after < len(items) else None)


def _envelope(result: list[Any], next_cursor: str | None) -> dict[str, Any]:
    return {"result": result, "next_cursor": next_cursor, "prev_cursor": None, "result_count": len(result)}


class TrutoApi:
    """Routes authenticated requests to the sandbox's idea of Truto.

    :param state: the shared accounts and channels.
    :param options: switches read on every request.
    """

    def __init__(
        self, state: SandboxState, options: ApiOptions, webhooks: WebhookRegistry | None = None
    ) -> None:
        self.state = state
        self.options = options
        self.webhooks = webhooks if webhooks is not None else WebhookRegistry()

    def handle(self, request: Request) -> Response:
        path = request.path.rstrip("/") or "/"
        try:
            if request.body is not None and not request.body_is_json:
                raise _bad_request("Request body is not valid JSON")
            return self._route(request.method, path, request)
        except _Problem as problem:
            return problem.response

    def _route(self, method: str, path: str, request: Request) -> Response:
        if path == CHANNELS_PATH and method == "GET":
            return self._list_channels(request)
        if path == CHANNELS_PATH + "/join" and method == "POST":
            return self._join(request)
        if path.startswith(CHANNELS_PATH + "/") and method == "GET":
            channel_id = path[len(CHANNELS_PATH) + 1 :]
            if "/" not in channel_id:
                return self._get_channel(request, channel_id)
        if path == WEBHOOK_PATH and method == "POST":
            return self._register_webhook(request)
        if path == WEBHOOK_PATH and method == "GET":
            webhooks = [webhook.to_wire() for webhook in self.webhooks.all()]
            return json_response(200, _paginate(webhooks, request, empty_pages=False))
        if path == ACCOUNTS_PATH and method == "GET":
            return self._list_accounts(request)
        if path.startswith(ACCOUNTS_PATH + "/") and method == "GET":
            account_id = path[len(ACCOUNTS_PATH) + 1 :]
            if "/" not in account_id:
                return self._get_account(account_id)
        return error_response(404, f"No route for {method} {path}")

    # -- unified channels -----------------------------------------------------------------------------------

    def _unified_account(self, request: Request) -> Account:
        account_id = request.param("integrated_account_id")
        if not account_id:
            raise _bad_request("integrated_account_id is required")
        account = self.state.account(account_id)
        if account is None:
            raise _Problem(error_response(404, "Integrated account not found"))
        if account.blocked:
            raise _Problem(error_response(503, "The integrated account is blocked"))
        if account.status != "active":
            raise _Problem(
                error_response(
                    401,
                    f"The integrated account needs re-authentication (status: {account.status})",
                    raw_response={"ok": False, "error": "invalid_auth"},
                )
            )
        return account

    def _render(self, request: Request) -> tuple[str, bool, set[str]]:
        fmt = (request.param("truto_response_format") or "unified").lower()
        if fmt not in _FORMATS:
            raise _bad_request(f"truto_response_format {fmt!r} is not supported by the sandbox")
        excluded: set[str] = set()
        for key in ("truto_exclude_fields[]", "truto_exclude_fields"):
            for value in request.query.get(key, []):
                excluded.update(part.strip() for part in value.split(",") if part.strip())
        excluded.discard("id")  # Truto always returns the id
        return fmt, bool(_flag(request, "truto_ignore_remote_data")), excluded

    def _shape(self, channel: Channel, account: Account, request: Request) -> dict[str, Any]:
        fmt, ignore_remote, excluded = self._render(request)
        if fmt == "raw":
            return channel.to_raw()
        unified = channel.to_unified(account)
        if ignore_remote:
            unified.pop("remote_data")
        for name in excluded:
            unified.pop(name, None)
        return unified

    def _list_channels(self, request: Request) -> Response:
        account = self._unified_account(request)
        self._render(request)  # reject bad options even on an empty page
        tier = self.options.slack_list_tier
        if tier is not None and account.integration == "slack":
            retry_after = tier.acquire(account.id)
            if retry_after is not None:
                return slack_rate_limited(retry_after)
        try:
            types = requested_types(request.query)
            skip_archived = archived_excluded(request.query)
        except SlackListError as error:
            return error_response(400, error.message, raw_response={"ok": False, "error": error.code})
        channels = self.state.channels(account.id)
        if types is not None:
            channels = [channel for channel in channels if channel.type in types]
        envelope = _paginate(
            channels,
            request,
            empty_pages=self.options.empty_pages,
            max_page_size=self.options.max_page_size,
        )
        if skip_archived:  # Slack drops them from the page it read: the page may come back short
            envelope["result"] = [c for c in envelope["result"] if c.status != "archived"]
            envelope["result_count"] = len(envelope["result"])
        envelope["result"] = [self._shape(c, account, request) for c in envelope["result"]]
        return json_response(200, envelope)

    def _get_channel(self, request: Request, channel_id: str) -> Response:
        account = self._unified_account(request)
        channel = self.state.channel(account.id, channel_id)
        if channel is None:
            return slack_error("channel_not_found")
        return json_response(200, self._shape(channel, account, request))

    def _join(self, request: Request) -> Response:
        account = self._unified_account(request)
        if account.integration not in _JOIN_INTEGRATIONS:
            return error_response(
                404, f"The method join is not supported by the {account.integration} integration"
            )
        if account.is_sandbox:
            return error_response(405, "Sandbox integrated accounts are read-only")
        body = request.body
        channel_ref = body.get("channel") if isinstance(body, dict) else None
        channel_id = channel_ref.get("id") if isinstance(channel_ref, dict) else None
        if not isinstance(channel_id, str) or not channel_id:
            raise _bad_request("channel.id is required in the request body")
        try:
            channel, already = self.state.join(account.id, channel_id)
        except ChannelError as exc:
            return slack_error(exc.code)
        fmt, _, _ = self._render(request)
        payload: dict[str, Any]
        if fmt == "raw":
            payload = {"ok": True, "channel": channel.to_raw()}
            if already:
                payload["warning"] = "already_in_channel"
        else:
            payload = self._shape(channel, account, request)
            if self.options.wrap_custom_method_results:
                payload = {"result": payload}
        return json_response(200, payload)

    # -- admin: webhooks ------------------------------------------------------------------------------------

    def _register_webhook(self, request: Request) -> Response:
        body = request.body if isinstance(request.body, dict) else {}
        try:
            webhook = self.webhooks.register(
                body.get("target_url"), body.get("event_types"), body.get("is_active", True)
            )
        except ValueError as problem:
            raise _bad_request(str(problem)) from None
        return json_response(201, webhook.to_wire(with_secret=True))

    # -- admin: integrated accounts -------------------------------------------------------------------------

    def _get_account(self, account_id: str) -> Response:
        account = self.state.account(account_id)
        if account is None:
            return error_response(404, "Integrated account not found")
        return json_response(200, account.to_wire())

    def _list_accounts(self, request: Request) -> Response:
        status = request.param("status")
        tenant = request.param("tenant_id")
        integration = request.param("integration[name]") or request.param("integration.name")
        is_sandbox = _flag(request, "is_sandbox")
        matching = [
            account.to_wire()
            for account in self.state.accounts()
            if (status is None or account.status == status)
            and (tenant is None or account.tenant_id == tenant)
            and (integration is None or account.integration == integration)
            and (is_sandbox is None or account.is_sandbox == is_sandbox)
        ]
        return json_response(200, _paginate(matching, request, empty_pages=False))

"""The sandbox's HTTP side: a threaded loopback server, the per-request pipeline, and :class:`TrutoSandbox`.

Every request goes through the same steps, in Truto's order::

    latency -> injected fault? -> auth (401) -> rate limits (429) -> idempotency replay? -> route -> record

The request is recorded before its answer is written, so a client that has its response can already see the
request in :attr:`TrutoSandbox.requests`.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import socket
import struct
import threading
import time
import traceback
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from airflow_provider_truto.testing.faults import Fault, FaultBook, FaultItem
from airflow_provider_truto.testing.phrases import phrase
from airflow_provider_truto.testing.routes import (
    ApiOptions,
    Request,
    Response,
    TrutoApi,
    error_response,
    json_response,
    slack_rate_limited,
)
from airflow_provider_truto.testing.slack import SLACK_MAX_LIMIT, ListTier
from airflow_provider_truto.testing.sliding_windows import RateLimiter, SlidingWindow
from airflow_provider_truto.testing.state import (
    Account,
    CachedAnswer,
    Channel,
    SandboxState,
    parse_time,
)
from airflow_provider_truto.testing.timeline import NewAccount, NewChannel, Planned, Timeline
from airflow_provider_truto.testing.webhooks import (
    RETRY_DELAYS,
    Delivery,
    Webhook,
    WebhookRegistry,
    WebhookSender,
)

if TYPE_CHECKING:
    from collections.abc import Sequence
    from types import TracebackType

__all__ = ["RecordedRequest", "TrutoSandbox"]

_STATE_PATH = "/_sandbox/state"
# Loopback-only, unauthenticated controls for a sandbox run from the command line (they send webhooks).
_WORKSPACES_PATH = "/_sandbox/workspaces"
_CHANNELS_PATH = "/_sandbox/channels"
RECORD_CREATED = "record:created"
WORKSPACE_CREATED = "integrated_account:created"
_LOOPBACK = ("127.", "::1", "::ffff:127.")
_IDEMPOTENT_METHODS = frozenset({"POST", "PATCH"})
_REDACTED = "<redacted>"
_MAX_LINE = 65537
# The largest request body the sandbox reads (Truto's own limit is undocumented; no call needs more).
MAX_REQUEST_BODY_BYTES = 10 * 1024 * 1024


class _TooLarge(Exception):
    """A request body over MAX_REQUEST_BODY_BYTES, announced or sent."""


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the sandbox saw it. ``status`` is what was answered, 0 for a reset connection.

    The ``authorization`` header is redacted: the token never leaves the auth check. ``at`` is
    ``time.monotonic()`` when it arrived; ``remote_error`` says the answer was a provider's error passed
    through (``truto_is_remote_error``), such as Slack's own 429.
    """

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any
    status: int
    at: float
    remote_error: bool = False


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # Fast rebinding matters for tests that start many sandboxes.
    allow_reuse_address = True
    # The default backlog of 5 drops SYNs when a benchmark opens dozens of connections at once (1 s stalls).
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], sandbox: TrutoSandbox) -> None:
        self.sandbox = sandbox
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that time out or vanish are the point of the faults; only say so when asked to.
        if self.sandbox.verbose:
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; with Nagle on, delayed ACKs cost ~40 ms a request.
    disable_nagle_algorithm = True
    server: _Server

    def setup(self) -> None:
        super().setup()
        with self.server.connections_lock:
            self.server.connections.add(self.connection)

    def finish(self) -> None:
        with self.server.connections_lock:
            self.server.connections.discard(self.connection)
        # The socket may already be reset on purpose.
        with contextlib.suppress(OSError):
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.sandbox.verbose:
            super().log_message(format, *args)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """What the standard library's handler refuses itself (a request line or header too long, a
        method the sandbox has no route for) is answered as Truto answers: its error body and its phrase,
        not the library's HTML page and phrases."""
        self.close_connection = True
        self._send(error_response(code, message or phrase(code)))

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def _read_body(self) -> bytes:
        """The raw body; raises ValueError when its framing is broken, :class:`_TooLarge` when it is
        over :data:`MAX_REQUEST_BODY_BYTES` (announced or sent), before reading more of it."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            received = 0
            while True:
                size = int(self.rfile.readline(_MAX_LINE).split(b";")[0].strip() or b"x", 16)
                if size < 0:
                    raise ValueError("negative chunk size")
                if size == 0:
                    # Skip trailers up to the blank line that ends the message.
                    while self.rfile.readline(_MAX_LINE).strip():
                        pass
                    return b"".join(chunks)
                received += size
                if received > MAX_REQUEST_BODY_BYTES:  # a chunk size of 2**63 is not read, nor allocated
                    raise _TooLarge
                chunks.append(self.rfile.read(size))
                self.rfile.readline(_MAX_LINE)
        length = int(self.headers.get("Content-Length") or 0)
        if length < 0:
            raise ValueError("negative Content-Length")
        if length > MAX_REQUEST_BODY_BYTES:
            raise _TooLarge
        return self.rfile.read(length) if length else b""

    def _read(self, raw: bytes) -> Request:
        url = urlsplit(self.path)
        headers = {key.lower(): value for key, value in self.headers.items()}
        body: Any = None
        is_json = True
        if raw:
            text = raw.decode("utf-8", errors="replace")
            try:
                body = json.loads(text)
            except (ValueError, RecursionError):  # nested deeper than Python parses: not JSON to us
                body, is_json = text, False
        return Request(
            method=self.command.upper(),
            path=url.path,
            query=parse_qs(url.query, keep_blank_values=True),
            headers=headers,
            body=body,
            body_is_json=is_json,
        )

    def _dispatch(self) -> None:
        arrived = time.monotonic()
        sandbox = self.server.sandbox
        try:
            raw = self._read_body()
        except (ValueError, _TooLarge) as error:
            # The stream's framing is lost (or the rest of the body is not read), so this connection
            # cannot carry another request.
            self.close_connection = True
            request = self._read(b"")
            refusal = (
                error_response(413, f"Request body over {MAX_REQUEST_BODY_BYTES} bytes")
                if isinstance(error, _TooLarge)
                else error_response(400, "Malformed request body framing")
            )
            sandbox._record(request, refusal.status, arrived)
            self._send(refusal)
            return
        request = self._read(raw)
        if request.path == _STATE_PATH:
            # An observer's endpoint: kept out of faults, limits and the request log it reports on.
            self._send(sandbox._state_response(str(self.client_address[0])))
            return
        if request.path in (_WORKSPACES_PATH, _CHANNELS_PATH) and request.method == "POST":
            self._send(sandbox._control_response(request, str(self.client_address[0])))
            return
        if sandbox.latency_ms > 0:
            time.sleep(sandbox.latency_ms / 1000.0)
        fault = sandbox._faults.next_fault(request.method, request.path)
        if fault is not None and fault.kind == "delay":
            time.sleep(fault.seconds)
        if fault is not None and fault.kind == "reset":
            sandbox._record(request, 0, arrived)
            self._reset()
            return
        response = _fault_response(fault) if fault is not None else None
        if response is None:
            try:
                response = sandbox._process(request)
            except Exception:  # a request no route foresaw: answered, never a dropped connection
                if sandbox.verbose:
                    traceback.print_exc()
                response = error_response(500, "The sandbox could not handle this request")
        if fault is not None and fault.kind == "reset_after":
            sandbox._record(request, 0, arrived)
            self._reset()
            return
        sandbox._record(request, response.status, arrived, remote_error=_is_remote_error(response))
        self._send(response)

    def _send(self, response: Response) -> None:
        try:
            # Truto's name for the status, never the standard library's (which differs between Pythons).
            self.send_response(response.status, phrase(response.status))
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(response.body)))
            for name, value in response.headers:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(response.body)
            self.wfile.flush()
        except OSError:
            # The client gave up (e.g. its timeout fired during a delay fault); nothing to answer to.
            self.close_connection = True

    def _reset(self) -> None:
        # SO_LINGER with a zero timeout makes close() send RST instead of FIN: a "connection reset by peer".
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            # rfile holds a reference to the socket: the fd (and so the RST) only goes once it is closed too.
            self.rfile.close()
            self.connection.close()
        except OSError:
            pass


def _fault_response(fault: Fault) -> Response | None:
    """The canned answer a fault replaces the real one with; None when the request is handled normally."""
    if fault.kind == "status":
        return error_response(fault.status, f"Injected fault: {fault.status}")
    if fault.kind == "rate_limited":
        # Looks like Slack's own 429 passed through, as opposed to the sandbox's limiter (a Truto 429).
        return slack_rate_limited(fault.retry_after)
    if fault.kind == "bad_json":
        return Response(200, b"<html>oops</html>", "text/html")
    return None


def _is_remote_error(response: Response) -> bool:
    if response.status < 400 or response.content_type != "application/json":
        return False
    try:
        body = json.loads(response.body)
    except ValueError:
        return False
    return isinstance(body, dict) and body.get("truto_is_remote_error") is True


def _limit_spec(limit: tuple[int, float] | None) -> str:
    """``N/SECONDS`` as the connection's rate-limit extras read it: a plain decimal (``1e-05`` is not)."""
    if limit is None:
        return "off"
    seconds = f"{limit[1]:.6f}".rstrip("0").rstrip(".")
    return f"{limit[0]}/{seconds}"


def _scope(token: str) -> str:
    # Rate-limit and idempotency keys are per token; keep a digest rather than the token itself.
    return hashlib.sha256(token.encode()).hexdigest()[:16]


class TrutoSandbox:
    """A stateful local Truto on 127.0.0.1, for tests, demos and benchmarks (like moto for AWS).

    :param token: the API token the sandbox accepts.
    :param host: interface to bind; keep the loopback default.
    :param port: 0 picks a free port; read :attr:`url` after :meth:`start`.
    :param account_rate_limit: ``(requests, seconds)`` per integrated account, e.g. ``(50, 10.0)``.
    :param token_rate_limit: ``(requests, seconds)`` per API token, e.g. ``(500, 10.0)``. None: no limit.
    :param rate_limit_retry_after: the ``Retry-After`` of the limits' 429, in seconds, as Truto sends it
        (always 10); None: the seconds until the window has room (at least 1).
    :param latency_ms: sleep added to every request, to simulate a network.
    :param wrap_custom_method_results: answer join as ``{"result": channel}``.
    :param empty_pages: every other channel-list page is empty with a non-null cursor.
    :param slack_list_rate_limit: ``(calls, seconds)``: Slack's limit on listing channels, per workspace
        (its Tier 2 is about ``(20, 60.0)``); over it the list answers Slack's 429 passed through Truto
        (``truto_is_remote_error`` true, Slack's ``Retry-After``). None (the default): no such limit.
    :param max_page_size: the most channels one list page holds, whatever ``limit`` asks (at most 1000,
        Slack's maximum; a larger ``limit`` is clamped, never refused).
    :param request_log: a file to append one JSON line per request to (what :attr:`requests` holds, but
        the method, path, account, status, ``remote_error`` and arrival, ``time.time()``, only).
    :param verbose: log one line per request to stderr (never the token).
    :param webhook_retry_delays: the waits before each retry of a webhook delivery not answered 200.

    Worth knowing when writing tests against it:

    - The channel list ignores Truto-side filters (``type``, ``created_at[gt]``, ...), as many Truto
      integrations do: clients must filter what comes back. Slack's own ``remote_query[types]`` and
      ``remote_query[exclude_archived]`` are honoured (:mod:`airflow_provider_truto.testing.slack`). The
      integrated-account list honours its filters.
    - Accounts and channels can be added while it serves, by hand or on a schedule (:meth:`play`); the
      integrated-account list sees them at once.
    - Each request runs: latency, injected fault, auth (401), rate limits (429), idempotency replay, route.
      So faults fire even without a token, and a scripted 429 (``Fault.rate_limited``) looks like Slack's own
      (``truto_is_remote_error`` true) while the limiter's 429 is Truto's (false).
    - :attr:`requests` records every request except ``GET /_sandbox/state`` (the observers' endpoint), with
      the ``authorization`` header redacted; it is recorded before the answer is written.
    """

    def __init__(
        self,
        token: str = "sandbox-token",
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        account_rate_limit: tuple[int, float] | None = None,
        token_rate_limit: tuple[int, float] | None = None,
        rate_limit_retry_after: int | None = None,
        latency_ms: float = 0.0,
        wrap_custom_method_results: bool = False,
        empty_pages: bool = False,
        slack_list_rate_limit: tuple[int, float] | None = None,
        max_page_size: int = SLACK_MAX_LIMIT,
        request_log: str | None = None,
        verbose: bool = False,
        webhook_retry_delays: Sequence[float] = RETRY_DELAYS,
    ) -> None:
        if not token:
            raise ValueError("token must not be empty")
        if isinstance(max_page_size, bool) or not isinstance(max_page_size, int) or max_page_size < 1:
            raise ValueError(f"max_page_size must be a whole number >= 1, not {max_page_size!r}")
        self.token = token
        self.host = host
        self.port = port
        self.latency_ms = latency_ms
        self.rate_limit_retry_after = rate_limit_retry_after
        self.verbose = verbose
        #: The account :meth:`airflow_connection` uses when given none (the pytest fixture sets it).
        self.default_account_id: str | None = None
        self._state = SandboxState()
        self._options = ApiOptions(
            empty_pages=empty_pages,
            wrap_custom_method_results=wrap_custom_method_results,
            max_page_size=max_page_size,
        )
        self.slack_list_rate_limit = slack_list_rate_limit
        self.request_log = request_log
        self._request_log_file: Any = None
        self._timelines: list[Timeline] = []
        self._webhooks = WebhookRegistry()
        self._api = TrutoApi(self._state, self._options, self._webhooks)
        self._sender = WebhookSender(self._webhooks, retry_delays=webhook_retry_delays)
        self._faults = FaultBook()
        self._limiter = RateLimiter()
        self.account_rate_limit = account_rate_limit
        self.token_rate_limit = token_rate_limit
        self._account_window = SlidingWindow(*account_rate_limit) if account_rate_limit else None
        self._token_window = SlidingWindow(*token_rate_limit) if token_rate_limit else None
        self._log: list[RecordedRequest] = []
        self._log_lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------------------------

    def start(self) -> TrutoSandbox:
        if self._server is not None:
            raise RuntimeError("the sandbox is already running")
        if self.request_log is not None:
            self._request_log_file = open(self.request_log, "a", encoding="utf-8")  # noqa: SIM115
        self._server = _Server((self.host, self.port), self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.02},
            name="truto-sandbox",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._sender.stop()
        server, thread = self._server, self._thread
        if server is None:
            return
        self._server = self._thread = None
        for timeline in self._timelines:
            timeline.stop()
        server.shutdown()
        server.server_close()
        # Keep-alive connections would otherwise hold handler threads (and clients' pooled sockets) open.
        with server.connections_lock:
            open_connections = list(server.connections)
        for conn in open_connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        if thread is not None:
            thread.join(timeout=5)
        with self._log_lock:
            if self._request_log_file is not None:
                self._request_log_file.close()
                self._request_log_file = None

    def __enter__(self) -> TrutoSandbox:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the sandbox is not running; call start() first")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def account_id(self) -> str:
        """The default account's id (set by the pytest fixture); raises if there is none."""
        if self.default_account_id is None:
            raise AttributeError("this sandbox has no default_account_id")
        return self.default_account_id

    # -- switches -------------------------------------------------------------------------------------------

    @property
    def empty_pages(self) -> bool:
        return self._options.empty_pages

    @empty_pages.setter
    def empty_pages(self, value: bool) -> None:
        self._options.empty_pages = value

    @property
    def wrap_custom_method_results(self) -> bool:
        return self._options.wrap_custom_method_results

    @wrap_custom_method_results.setter
    def wrap_custom_method_results(self, value: bool) -> None:
        self._options.wrap_custom_method_results = value

    @property
    def slack_list_rate_limit(self) -> tuple[int, float] | None:
        """Slack's per-workspace limit on the channel list, ``(calls, seconds)``; ``None``: none.

        Setting it starts the count afresh.
        """
        tier = self._options.slack_list_tier
        return (tier.calls, tier.seconds) if tier is not None else None

    @slack_list_rate_limit.setter
    def slack_list_rate_limit(self, value: tuple[int, float] | None) -> None:
        self._options.slack_list_tier = ListTier(*value) if value is not None else None

    @property
    def max_page_size(self) -> int:
        return self._options.max_page_size

    @max_page_size.setter
    def max_page_size(self, value: int) -> None:
        self._options.max_page_size = value

    # -- accounts and channels ------------------------------------------------------------------------------

    def add_account(
        self,
        account_id: str | None = None,
        *,
        status: str = "active",
        integration: str = "slack",
        is_sandbox: bool = False,
        blocked: bool = False,
        tenant_id: str | None = None,
    ) -> Account:
        """Connect an account; the object is live: set ``status`` or ``blocked`` to change answers."""
        account = Account(
            id=account_id or str(uuid.uuid4()),
            status=status,
            integration=integration,
            is_sandbox=is_sandbox,
            blocked=blocked,
            tenant_id=tenant_id or "sandbox-tenant",
            last_error="invalid_auth" if status == "needs_reauth" else None,
        )
        return self._state.add_account(account)

    @property
    def accounts(self) -> list[Account]:
        return self._state.accounts()

    def seed_channels(
        self,
        account_id: str,
        count: int,
        *,
        seed: int = 0,
        mixed: bool = True,
        start: datetime | None = None,
        end: datetime | None = None,
        shared: float = 0.0,
        org_shared: float = 0.0,
    ) -> list[dict[str, Any]]:
        """Add ``count`` generated channels, the same ones for the same seed; returns them as unified dicts.

        ``mixed`` gives ~70% public channels, 15% private, 10% DMs, 5% group DMs, ~10% archived, ~30% already
        joined; without it every channel is public, active and joinable. ``created_at`` is uniform in
        ``[start, end]`` (default: the last 730 days).

        ``shared``: the share of channels shared with other organisations (Slack Connect: ``is_ext_shared``
        in ``remote_data``; one in five of them a pending invitation, ``is_pending_ext_shared``).
        ``org_shared``: the share shared across the Enterprise Grid organisation only (``is_org_shared``,
        internal). Sharing is drawn apart from the rest: the same seed gives the same channels either way.
        """
        end_at = parse_time(end) if end is not None else datetime.now(timezone.utc)
        start_at = parse_time(start) if start is not None else end_at - timedelta(days=730)
        created = self._state.seed_channels(
            account_id,
            count,
            seed=seed,
            mixed=mixed,
            start=start_at,
            end=end_at,
            shared=shared,
            org_shared=org_shared,
        )
        return self._unified(account_id, created)

    def add_channel(
        self,
        account_id: str,
        *,
        id: str | None = None,
        name: str | None = None,
        type: str = "channel",
        status: str = "active",
        is_member: bool = False,
        created_at: datetime | str | None = None,
        description: str = "",
        sharing: str = "none",
        notify: bool = True,
    ) -> dict[str, Any]:
        """Add one channel; returns it as a unified dict.

        ``sharing``, rendered as Slack's flags in ``remote_data``: ``none`` | ``org`` (Enterprise
        Grid-wide, internal) | ``external`` (Slack Connect) | ``pending`` (an invitation to share with
        another organisation, not yet accepted). With ``notify`` (the default), every webhook subscribed
        to ``record:created`` is sent the channel (see :meth:`register_webhook`).
        """
        channel_id = id or self._state.new_channel_id()
        channel = Channel(
            id=channel_id,
            name=name or f"channel-{channel_id.lower()}",
            type=type,
            status=status,
            is_member=is_member,
            created_at=parse_time(created_at) if created_at is not None else datetime.now(timezone.utc),
            description=description,
            sharing=sharing,
        )
        unified = self._unified(account_id, [self._state.add_channel(account_id, channel)])[0]
        if notify:
            self._sender.emit(RECORD_CREATED, channel_record(account_id, unified))
        return unified

    def connect_workspace(
        self,
        account_id: str | None = None,
        *,
        channels: int = 0,
        seed: int = 0,
        mixed: bool = True,
        **account: Any,
    ) -> Account:
        """A customer connects a workspace: the account, ``channels`` seeded channels (as
        :meth:`seed_channels`), then ``integrated_account:created`` to every webhook subscribed to it."""
        added = self.add_account(account_id, **account)
        if channels:
            self.seed_channels(added.id, channels, seed=seed, mixed=mixed)
        self._sender.emit(WORKSPACE_CREATED, added.to_wire())
        return added

    def archive_channel(self, account_id: str, channel_id: str) -> None:
        self._state.archive_channel(account_id, channel_id)

    def remove_channel(self, account_id: str, channel_id: str) -> None:
        self._state.remove_channel(account_id, channel_id)

    def channels(self, account_id: str) -> list[dict[str, Any]]:
        """The account's channels as unified dicts (copies), in list order."""
        return self._unified(account_id, self._state.channels(account_id))

    def _unified(self, account_id: str, channels: list[Channel]) -> list[dict[str, Any]]:
        account = self._state.account(account_id)
        if account is None:
            raise KeyError(f"unknown account {account_id!r}")
        return [channel.to_unified(account) for channel in channels]

    def join_counts(self, account_id: str | None = None) -> dict[str, int]:
        """Channel id -> joins the handler applied (rejoins included; replays and faults not)."""
        return self._state.join_counts(account_id)

    # -- webhooks -------------------------------------------------------------------------------------------

    def register_webhook(self, target_url: str, event_types: list[str], *, is_active: bool = True) -> Webhook:
        """Register a webhook, as ``POST /webhook`` does; its ``secret`` signs every delivery to it."""
        return self._webhooks.register(target_url, list(event_types), is_active)

    @property
    def webhooks(self) -> list[Webhook]:
        """Every registered webhook (live objects: set ``is_active`` to switch one off)."""
        return self._webhooks.all()

    def send_event(
        self,
        event: str,
        payload: Any,
        *,
        event_id: str | None = None,
        created_at: datetime | None = None,
        body: dict[str, Any] | None = None,
    ) -> list[Delivery]:
        """Send ``event`` to every active webhook subscribed to it, signed; returns the deliveries.

        ``created_at`` backdates the event (a stale one), ``event_id`` reuses an id, ``body`` replaces the
        whole envelope. Deliveries go out from a background thread; :meth:`wait_for_webhooks` waits.
        """
        return self._sender.emit(event, payload, event_id=event_id, created_at=created_at, body=body)

    def resend(self, delivery: Delivery) -> Delivery:
        """Send a delivery's exact bytes again (as Truto's retry does), signed the same."""
        webhook = self._webhooks.get(delivery.webhook_id)
        if webhook is None:
            raise KeyError(f"no webhook {delivery.webhook_id!r}")
        return self._sender.queue_body(
            webhook, delivery.body, event=delivery.event, event_id=delivery.event_id
        )

    @property
    def webhook_deliveries(self) -> list[Delivery]:
        """Every delivery so far, with each attempt's status (0: no answer)."""
        return self._sender.deliveries

    def wait_for_webhooks(self, timeout: float = 60.0) -> None:
        """Block until every delivery so far is done (answered 200, or given up after its retries)."""
        self._sender.wait(timeout)

    # -- the world changing on a schedule -------------------------------------------------------------------

    def play(self, plan: list[Planned]) -> Timeline:
        """Start a :class:`~airflow_provider_truto.testing.timeline.Timeline`: each planned channel is
        created, each planned workspace connected, at its moment (seconds from now) while the sandbox
        serves. Stopped with the sandbox."""
        timeline = Timeline(self._happen, plan)
        self._timelines.append(timeline)
        return timeline.start()

    def _happen(self, step: Planned) -> None:
        if isinstance(step, NewAccount):
            self.add_account(step.account_id)
            self.seed_channels(step.account_id, step.channels, seed=step.seed, mixed=step.mixed)
        elif isinstance(step, NewChannel):
            self.add_channel(step.account_id, id=step.id, name=step.name, sharing=step.sharing)

    # -- faults ---------------------------------------------------------------------------------------------

    def inject(self, method: str, path: str, *items: FaultItem, repeat: bool = False) -> None:
        """Script faults for requests to ``method path``.

        ``path`` ending in ``*`` is a prefix, method ``*`` matches any method.

        Each matching request takes the next item; afterwards requests pass, or the script restarts with
        ``repeat``. Items: an int status, or a :class:`Fault`.
        """
        self._faults.add(method, path, items, repeat=repeat)

    def inject_random(
        self, method: str, path: str, *, probability: float, items: list[FaultItem], seed: int = 0
    ) -> None:
        """Each matching request gets a random item with ``probability`` (seeded), else passes."""
        self._faults.add_random(method, path, items, probability=probability, seed=seed)

    def clear_faults(self) -> None:
        self._faults.clear()

    # -- observation ----------------------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._log_lock:
            return list(self._log)

    def clear_requests(self) -> None:
        with self._log_lock:
            self._log.clear()

    def stats(self) -> dict[str, Any]:
        with self._log_lock:
            by_status = Counter(str(entry.status) for entry in self._log)
            total = len(self._log)
        return {
            "requests": total,
            "by_status": dict(sorted(by_status.items())),
            "joins": sum(self._state.join_counts().values()),
            "idempotent_replays": self._state.idempotent_replays,
        }

    def airflow_connection(self, account_id: str | None = None) -> dict[str, Any]:
        """An Airflow connection dict pointing at this sandbox.

        The client's pacing (extras ``rate_limit`` / ``environment_rate_limit``) is set to this sandbox's
        limits, or ``off`` where it has none, so DAG tests run at loopback speed instead of at Truto's real
        pace.
        """
        extra: dict[str, Any] = {
            "rate_limit": _limit_spec(self.account_rate_limit),
            "environment_rate_limit": _limit_spec(self.token_rate_limit),
        }
        account = account_id or self.default_account_id
        if account:
            extra["integrated_account_id"] = account
        return {"conn_type": "truto", "host": self.url, "password": self.token, "extra": extra}

    def airflow_conn_env(self, account_id: str | None = None) -> str:
        """The value for ``AIRFLOW_CONN_TRUTO_DEFAULT``."""
        return json.dumps(self.airflow_connection(account_id))

    # -- the pipeline (called from handler threads) ---------------------------------------------------------

    def _record(self, request: Request, status: int, arrived: float, *, remote_error: bool = False) -> None:
        headers = dict(request.headers)
        if "authorization" in headers:
            headers["authorization"] = _REDACTED
        entry = RecordedRequest(
            method=request.method,
            path=request.path,
            query=request.query,
            headers=headers,
            body=request.body,
            status=status,
            at=arrived,
            remote_error=remote_error,
        )
        with self._log_lock:
            self._log.append(entry)
            if self._request_log_file is not None:
                line = {
                    "at": time.time() - (time.monotonic() - arrived),
                    "method": entry.method,
                    "path": entry.path,
                    "account": request.param("integrated_account_id"),
                    "status": status,
                    "remote_error": remote_error,
                }
                self._request_log_file.write(json.dumps(line) + "\n")
                self._request_log_file.flush()

    def _authenticated(self, request: Request) -> bool:
        scheme, _, presented = request.headers.get("authorization", "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            presented.strip().encode(), self.token.encode()
        )

    def _process(self, request: Request) -> Response:
        if not self._authenticated(request):
            return error_response(401, "Invalid API token")
        scope = _scope(self.token)
        checks: list[tuple[SlidingWindow, str]] = []
        if self._token_window is not None:
            checks.append((self._token_window, scope))
        account_id = request.param("integrated_account_id")
        if self._account_window is not None and account_id:
            checks.append((self._account_window, account_id))
        retry_after = self._limiter.acquire(checks) if checks else None
        if retry_after is not None:
            if self.rate_limit_retry_after is not None:
                retry_after = self.rate_limit_retry_after
            return error_response(
                429, "Rate limit exceeded, retry later", headers=(("Retry-After", str(retry_after)),)
            )
        key = request.headers.get("idempotency-key")
        if key and request.method in _IDEMPOTENT_METHODS:
            cached = self._state.replay(scope, key)
            if cached is not None:
                return Response(cached.status, cached.body, cached.content_type, cached.headers)
        try:
            response = self._api.handle(request)
        except Exception:
            # A sandbox bug must not look like a dropped connection (which tests treat as a fault).
            traceback.print_exc()
            return error_response(500, "The sandbox failed to handle this request (a sandbox bug)")
        # 5xx may be transient, so a retry with the same key must get a fresh try.
        if key and request.method in _IDEMPOTENT_METHODS and response.status < 500:
            answer = CachedAnswer(response.status, response.body, response.content_type, response.headers)
            self._state.remember(scope, key, answer)
        return response

    def _control_response(self, request: Request, client: str) -> Response:
        """``POST /_sandbox/workspaces`` ``{"id"?, "channels"?, "seed"?}`` connects a workspace;
        ``POST /_sandbox/channels`` ``{"integrated_account_id", "name"?}`` adds a channel. Both notify the
        webhooks, as :meth:`connect_workspace` and :meth:`add_channel` do."""
        if not client.startswith(_LOOPBACK):
            return error_response(403, "The sandbox controls are only served to loopback clients")
        body = request.body if isinstance(request.body, dict) else {}
        try:
            if request.path == _WORKSPACES_PATH:
                channels, seed = body.get("channels", 0), body.get("seed", 0)
                if not isinstance(channels, int) or not isinstance(seed, int) or channels < 0:
                    return error_response(400, "channels and seed must be whole numbers, channels >= 0")
                account = self.connect_workspace(body.get("id"), channels=channels, seed=seed)
                return json_response(201, account.to_wire())
            account_id = body.get("integrated_account_id")
            if not isinstance(account_id, str) or self._state.account(account_id) is None:
                return error_response(404, "integrated_account_id names no account of this sandbox")
            return json_response(201, self.add_channel(account_id, name=body.get("name")))
        except (TypeError, ValueError) as problem:
            return error_response(400, str(problem))

    def _state_response(self, client: str) -> Response:
        if not client.startswith(_LOOPBACK):
            return error_response(403, "The sandbox state is only served to loopback clients")
        joins = self._state.joins_by_account()
        accounts = []
        for account in self._state.accounts():
            channels = self._state.channels(account.id)
            accounts.append(
                {
                    "id": account.id,
                    "status": account.status,
                    "channels": len(channels),
                    "members": sum(1 for c in channels if c.is_member),
                }
            )
        timelines = {
            "happened": sum(len(timeline.happened) for timeline in self._timelines),
            "pending": sum(timeline.pending for timeline in self._timelines),
            "errors": [h.error for timeline in self._timelines for h in timeline.happened if h.error],
        }
        return json_response(
            200, {"stats": self.stats(), "accounts": accounts, "join_counts": joins, "timelines": timelines}
        )


def channel_record(account_id: str, channel: dict[str, Any]) -> dict[str, Any]:
    """The payload of a ``record:created`` the sandbox sends for a new channel (Truto's shape is unconfirmed;
    this is the one the receiver expects first: the model, resource and account named beside the record)."""
    return {
        "integrated_account_id": account_id,
        "unified_model": "instant-messaging",
        "unified_resource": "channels",
        "record": channel,
    }

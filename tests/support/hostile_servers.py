"""Misbehaving HTTP servers for the hostile-server tests: one server on 127.0.0.1 in a thread per behaviour.

A behaviour is a function of the parsed request and the socket; it writes whatever bytes it likes (or none)
and may take its time. The helpers below write the common replies. Every server records the requests it
got, answers HTTP/1.1 with ``Connection: close``, and stops when its ``with`` block ends.
"""

from __future__ import annotations

import contextlib
import gzip
import ipaddress
import json
import socket
import socketserver
import ssl
import struct
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes

    @property
    def path(self) -> str:
        return urlsplit(self.target).path

    @property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(urlsplit(self.target).query)

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


Behaviour = Callable[[Request, socket.socket], None]


@dataclass
class HostileServer:
    """Serve ``behaviour`` on a free port of 127.0.0.1 until closed.

    ``sent`` counts the bytes a behaviour reported writing (see :func:`stream_body`), so a test can tell
    whether a client stopped reading early.
    """

    behaviour: Behaviour
    requests: list[Request] = field(default_factory=list)
    sent: list[int] = field(default_factory=list)
    # Serve HTTPS with this context (see self_signed_certificate) instead of plain HTTP.
    tls: ssl.SSLContext | None = None

    def __post_init__(self) -> None:
        server_self = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                sock: socket.socket = self.request
                if server_self.tls is not None:
                    try:
                        sock = server_self.tls.wrap_socket(sock, server_side=True)
                    except (ssl.SSLError, OSError):  # a client that does not trust the certificate
                        return
                request = read_request(sock)
                if request is None:
                    return
                server_self.requests.append(request)
                # The client may hang up on a behaviour still writing: that is often the point.
                with contextlib.suppress(OSError):
                    server_self.behaviour(request, sock)

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self._server = Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"{'https' if self.tls else 'http'}://{host}:{port}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> HostileServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def read_request(sock: socket.socket) -> Request | None:
    sock.settimeout(10)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, target, _ = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return Request(method, target, headers, body)


def head(status: int, headers: dict[str, str] | None = None, *, length: int | None = None) -> bytes:
    lines = [f"HTTP/1.1 {status} Hostile", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    if length is not None:
        lines.append(f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def reply(
    sock: socket.socket, status: int, body: bytes | str = b"", headers: dict[str, str] | None = None
) -> None:
    data = body.encode() if isinstance(body, str) else body
    sock.sendall(
        head(status, {"Content-Type": "application/json", **(headers or {})}, length=len(data)) + data
    )


def json_reply(sock: socket.socket, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
    reply(sock, status, json.dumps(payload), headers)


def json_escaped(text: str) -> str:
    """``text`` as a JSON string literal with every character \\u-escaped (what some servers emit)."""
    return '"' + "".join(f"\\u{ord(char):04x}" for char in text) + '"'


def stream_body(
    server: HostileServer,
    sock: socket.socket,
    *,
    total: int,
    chunk: int = 65536,
    pause: float = 0.0,
    length: int | None = None,
) -> None:
    """Send a 200 whose body is ``total`` bytes of a JSON string, ``chunk`` bytes every ``pause`` seconds.

    With ``length`` the header announces that many bytes; without, the body ends when the socket closes.
    """
    sock.sendall(head(200, {"Content-Type": "application/json"}, length=length))
    sent = 0
    server.sent.append(0)
    while sent < total:
        piece = b"x" * min(chunk, total - sent)
        sock.sendall(piece)
        sent += len(piece)
        server.sent[-1] = sent
        if pause:
            time.sleep(pause)


def page(items: list[Any], cursor: Any) -> dict[str, Any]:
    return {"result": items, "next_cursor": cursor}


def channel(channel_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": channel_id,
        "name": channel_id.lower(),
        "type": "channel",
        "status": "active",
        "is_member": False,
        "created_at": "2030-01-01T00:00:00Z",
        **fields,
    }


def self_signed_certificate(directory: Path) -> tuple[Path, ssl.SSLContext]:
    """A certificate for 127.0.0.1 signed by itself: ``(its PEM file, a server context serving it)``.

    The PEM file is what a client must be told to trust (a CA bundle of one certificate).
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    return cert_file, context


# -- behaviours more than one test module serves ---------------------------------------------------------

DEAD = "http://127.0.0.1:9"  # the discard port: nothing listens, connections are refused


def one_page(request: Request, sock: socket.socket) -> None:
    json_reply(sock, 200, page([channel("C1")], None))


def redirect_to(target: str, status: int = 302) -> Any:
    def behaviour(request: Request, sock: socket.socket) -> None:
        reply(sock, status, headers={"Location": target + request.target})

    return behaviour


def gateway(status: int) -> Any:
    """A gateway that redirects every POST to itself; the GET a client then sends finds no channel.

    Same host and port, so requests would keep the Authorization header while following it, as it does
    from ``http://`` to ``https://`` behind a real gateway.
    """

    def behaviour(request: Request, sock: socket.socket) -> None:
        if request.method == "POST":
            reply(sock, status, headers={"Location": request.target + "&via=gateway"})
        else:
            error = {"statusCode": 404, "message": "channel_not_found", "truto_is_remote_error": True}
            json_reply(sock, 404, {**error, "raw_response": {"ok": False, "error": "channel_not_found"}})

    return behaviour


def padded_list(pages: int, per_page: int) -> Behaviour:
    """A legal channel list of ``pages`` pages of ``per_page`` new public channels, each padded to about
    1.5 KB as Slack's objects are: about 1.5 MB a page of 1,000, four times that once decoded."""
    body = json.dumps(
        page(
            [
                channel(
                    f"C{n:05d}",
                    created_at="2020-01-01T00:00:00Z",
                    remote_data={"is_ext_shared": False, "pad": "x" * 1400},
                )
                for n in range(per_page)
            ],
            "CURSOR",
        )
    )

    def behaviour(request: Request, sock: socket.socket) -> None:
        number = int((request.query.get("next_cursor") or ["0"])[0])
        cursor = json.dumps(str(number + 1)) if number + 1 < pages else "null"
        reply(sock, 200, body.replace('"CURSOR"', cursor))

    return behaviour


GIVE_UP_AFTER = 300  # the endless server's own backstop: a client without a cap fails, not hangs


def endless_list(cursor_of: Any = lambda n: f"cursor-{n}") -> Any:
    """A channel list whose every page names a new next cursor (a fault upstream)."""
    served = [0]

    def behaviour(request: Request, sock: socket.socket) -> None:
        served[0] += 1
        if served[0] > GIVE_UP_AFTER:
            json_reply(sock, 400, {"statusCode": 400, "message": "the endless server gave up"})
        else:
            json_reply(sock, 200, page([channel(f"C{served[0]}")], cursor_of(served[0])))

    return behaviour


def trickle_body(request: Request, sock: socket.socket) -> None:
    """A 200 that announces 400 bytes, then sends one every 25 ms (10 s in all)."""
    sock.sendall(head(200, {"Content-Type": "application/json"}, length=400))
    for _ in range(400):
        sock.sendall(b" ")
        time.sleep(0.025)


def trickle_headers(request: Request, sock: socket.socket) -> None:
    """The status line, then headers one byte every 25 ms (10 s in all)."""
    sock.sendall(b"HTTP/1.1 200 OK\r\n")
    for char in "X-Slow: " + "y" * 400:
        sock.sendall(char.encode())
        time.sleep(0.025)


def flood(total: int, *, announce: bool) -> Any:
    def behaviour(request: Request, sock: socket.socket) -> None:
        stream_body(servers[-1], sock, total=total, length=total if announce else None)

    servers: list[HostileServer] = []
    return behaviour, servers


class ChannelList:
    """A one-page channel list on ``path`` serving given dicts as they are (missing remote_data too).

    ``channels`` is what it serves to a request bearing ``token``, ``accounts[id]`` (when set) what it
    serves for that ``integrated_account_id``; ``queries`` what it was asked.
    """

    def __init__(self, *, token: str, path: str) -> None:
        self.channels: list[dict[str, Any]] = []
        self.accounts: dict[str, list[dict[str, Any]]] = {}
        self.queries: list[dict[str, list[str]]] = []
        self.token = token
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urlsplit(self.path)
                query = parse_qs(url.query)
                outer.queries.append(query)
                ok = url.path == path and self.headers.get("Authorization") == f"Bearer {token}"
                account = (query.get("integrated_account_id") or [""])[0]
                served = outer.accounts.get(account, outer.channels)
                body = json.dumps({"result": served, "next_cursor": None} if ok else {}).encode()
                self.send_response(200 if ok else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> ChannelList:
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.server.shutdown()
        self.server.server_close()


# -- odd data a buggy upstream sends -----------------------------------------------------------------------

# created_at values seen from misbehaving servers, none of them a time a channel was created at.
UNREADABLE_CREATED_AT = {
    "epoch-ms": 1_784_524_800_000,  # milliseconds: year 58,520 read as seconds
    "not-a-number": float("nan"),  # json.dumps writes NaN, and Python's JSON reader takes it
    "far-future-epoch": 1e20,
    "far-past-epoch": -1e15,
    "year-one": "0001-01-01T00:00:00Z",  # Go's zero time
    "year-one-east": "0001-01-01T00:00:00+01:00",  # before the first datetime once in UTC
    "redacted-text": "2026-07-20***04:03:46Z",
    "an-object": {"seconds": 1_784_524_800},
    "a-flag": True,
}


# -- compressed answers --------------------------------------------------------------------------------------

GIB = 1 << 30
_MIB_OF_ZEROS = bytes(1 << 20)
_CRC32_OF_A_GIB_OF_ZEROS = 0x5B64C2B0  # zlib.crc32 over 1 GiB of zeros: computing it takes seconds


def gzip_bomb() -> bytes:
    """A 2.5 KB body that ``Content-Encoding: gzip, gzip`` expands to 1 GiB of zeros.

    The inner gzip stream is one member (a decoder that stops after a member must still face the whole
    GiB): one compressed MiB of zeros, ended by a full flush so its bytes repeat exactly, 1024 times.
    """
    deflate = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    block = deflate.compress(_MIB_OF_ZEROS) + deflate.flush(zlib.Z_FULL_FLUSH)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
    trailer = struct.pack("<II", _CRC32_OF_A_GIB_OF_ZEROS, GIB & 0xFFFFFFFF)
    inner = header + block * 1024 + deflate.flush() + trailer
    return gzip.compress(inner, compresslevel=9, mtime=0)


def encoded_reply(body: bytes, encoding: str, status: int = 200) -> Behaviour:
    """Answer every request with ``body``, already encoded, under ``Content-Encoding: encoding``."""

    def behaviour(request: Request, sock: socket.socket) -> None:
        reply(sock, status, body, {"Content-Encoding": encoding})

    return behaviour


def deeply_nested(depth: int = 100_000) -> str:
    """A JSON channel whose ``remote_data`` nests ``depth`` lists: more than Python's parser can recurse."""
    return '{"id": "C1", "name": "deep", "remote_data": ' + "[" * depth + "]" * depth + "}"


# -- servers below HTTP ------------------------------------------------------------------------------------


@dataclass
class TcpServer:
    """A bare TCP server on 127.0.0.1: counts the connections it accepts and hands each socket to
    ``handle``, below HTTP (to play a server of the other scheme)."""

    handle: Callable[[socket.socket], None]
    connections: int = 0

    def __post_init__(self) -> None:
        server_self = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                server_self.connections += 1
                with contextlib.suppress(OSError):
                    server_self.handle(self.request)

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self._server = Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def address(self) -> str:
        host, port = self._server.server_address[:2]
        return f"{host}:{port}"

    def __enter__(self) -> TcpServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def plain_http_server(sock: socket.socket) -> None:
    """What a plain-HTTP server answers to whatever arrives (a TLS ClientHello): 400, then it closes."""
    sock.settimeout(5)
    sock.recv(65536)
    sock.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")


def tls_server(context: ssl.SSLContext) -> Callable[[socket.socket], None]:
    """A TLS server: a plain-HTTP request fails its handshake and it closes the connection without a
    word, as TLS servers do; over TLS it answers a one-page channel list."""

    def handle(sock: socket.socket) -> None:
        sock.settimeout(5)
        try:
            tls = context.wrap_socket(sock, server_side=True)
        except (ssl.SSLError, OSError):
            return
        request = read_request(tls)
        if request is not None:
            one_page(request, tls)

    return handle

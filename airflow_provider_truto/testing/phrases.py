"""The names the sandbox gives HTTP statuses, as Truto does: its error body's ``error`` and its status line.

Truto's error body names its status (``{"statusCode": 422, "error": "Unprocessable Entity", ...}`` in
Truto's error reference). Python's ``http.HTTPStatus`` phrases are not used for it: they change between
Python releases (3.13 took RFC 9110's names for 413, 414, 416 and 422, e.g. "Unprocessable Content"), and
the sandbox must answer as Truto does whatever Python serves it. The statuses Truto documents carry its
names; the others keep the names the sandbox has always given them (those of Python 3.10 to 3.12).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

__all__ = ["PHRASES", "phrase"]

UNNAMED = "Error"

PHRASES: Mapping[int, str] = MappingProxyType(
    {
        200: "OK",
        400: "Bad Request",
        401: "Unauthorized",
        402: "Payment Required",
        403: "Forbidden",
        404: "Not Found",
        405: "Method Not Allowed",
        406: "Not Acceptable",
        407: "Proxy Authentication Required",
        408: "Request Timeout",
        409: "Conflict",
        410: "Gone",
        411: "Length Required",
        412: "Precondition Failed",
        413: "Request Entity Too Large",
        414: "Request-URI Too Long",
        415: "Unsupported Media Type",
        416: "Requested Range Not Satisfiable",
        417: "Expectation Failed",
        418: "I'm a Teapot",
        421: "Misdirected Request",
        422: "Unprocessable Entity",
        423: "Locked",
        424: "Failed Dependency",
        425: "Too Early",
        426: "Upgrade Required",
        428: "Precondition Required",
        429: "Too Many Requests",
        431: "Request Header Fields Too Large",
        451: "Unavailable For Legal Reasons",
        500: "Internal Server Error",
        501: "Not Implemented",
        502: "Bad Gateway",
        503: "Service Unavailable",
        504: "Gateway Timeout",
        505: "HTTP Version Not Supported",
        506: "Variant Also Negotiates",
        507: "Insufficient Storage",
        508: "Loop Detected",
        510: "Not Extended",
        511: "Network Authentication Required",
    }
)


def phrase(status: int) -> str:
    """The name of ``status`` in the error body and the status line; ``"Error"`` for a status with none."""
    return PHRASES.get(status, UNNAMED)

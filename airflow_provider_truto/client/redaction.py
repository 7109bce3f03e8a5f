"""Keep the API token out of every text and value the provider hands on (messages, logs, results).

A server or a library may render the token in several ways: raw, ``repr``-escaped (``\\x74``, ``\\'``),
JSON-escaped (``\\u0074``, ``\\/``), URL-encoded (``%74``) or as an HTML character reference (``&#116;``),
and may mix them character by character. :func:`redact` matches every such spelling, so a token a server
echoes in any of them is replaced by ``***`` before decoding, and :func:`redact_value` checks the decoded
strings again.

Stdlib only: cheap to import from the trigger module.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

MASK = "***"
# The characters an escaped spelling starts with; text holding none of them can only show the raw token.
_ESCAPE_MARKS = ("\\", "%", "&")


class Secret(str):
    """A ``str`` whose ``repr`` is ``'***'``: the token as the client holds it.

    Tracebacks that print each frame's local variables (Airflow 3.0's console, ``rich``) show ``repr``;
    the value itself is unchanged for headers, hashing and redaction.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return repr(MASK)


def redact(text: str, token: str) -> str:
    """``text`` with every spelling of ``token`` replaced by ``***``."""
    if not token or not text:
        return text
    if not any(mark in text for mark in _ESCAPE_MARKS):
        return text.replace(token, MASK)
    return _pattern(token).sub(MASK, text)


def contains_token(text: str, token: str) -> bool:
    """Whether ``text`` shows ``token`` in any spelling :func:`redact` knows."""
    return bool(token) and redact(text, token) != text


def redact_value(value: Any, token: str) -> tuple[Any, bool]:
    """A decoded JSON value with the token redacted from every string in it (keys too).

    Returns ``(value, changed)``; an unchanged value is returned as is, not copied.
    """
    if isinstance(value, str):
        redacted = redact(value, token)
        return redacted, redacted != value
    if isinstance(value, dict):
        changed = False
        items = []
        for key, item in value.items():
            new_key, key_changed = redact_value(key, token)
            new_item, item_changed = redact_value(item, token)
            changed = changed or key_changed or item_changed
            items.append((new_key, new_item))
        return (dict(items), True) if changed else (value, False)
    if isinstance(value, list):
        results = [redact_value(item, token) for item in value]
        if any(item_changed for _, item_changed in results):
            return [item for item, _ in results], True
        return value, False
    return value, False


@lru_cache(maxsize=8)
def _pattern(token: str) -> re.Pattern[str]:
    return re.compile("".join(_spellings(char) for char in token))


def _spellings(char: str) -> str:
    """A regex for one character of the token, in any spelling; hex digits in either case."""
    code = ord(char)
    alternatives = [
        re.escape(char),
        r"\\" + re.escape(char),  # JSON's \/ and \", repr's \' and \\
        r"\\u" + _hex(code, 4),
        r"\\x" + _hex(code, 2),
        "%" + _hex(code, 2),
        f"&#0*{code};",
        "&#[xX]0*" + _hex(code, 0) + ";",
    ]
    return "(?:" + "|".join(alternatives) + ")"


def _hex(code: int, width: int) -> str:
    digits = f"{code:0{width}x}" if width else f"{code:x}"
    return "".join(f"[{d}{d.upper()}]" if d.isalpha() else d for d in digits)

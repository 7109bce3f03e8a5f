"""Keep the API token out of every text and value the provider hands on (messages, logs, results).

A server or a library may render the token in several ways: raw, ``repr``-escaped (``\\x74``, ``\\'``),
JSON-escaped (``\\u0074``, ``\\/``), URL-encoded (``%74``) or as an HTML reference (``&#116;``, ``&amp;``),
and may mix them character by character. :func:`redact` matches every such spelling in a text, and
:func:`redact_value` in every string of a decoded answer.

**What may be redacted: what is shown** (messages, logs, error bodies, a redirect's ``Location``, the
strings of an answer that are handed on), never a value the provider decides with (an id, a
``created_at``, a cursor: see :mod:`~airflow_provider_truto.client.response`).

**A token too short to redact is not redacted**, as Airflow's own secrets masker does: shorter than
Airflow's ``[logging] min_length_masked_secret`` (5 by default), a token is a few letters any text may
hold ("T" is in every timestamp), and replacing them would corrupt the text, not hide a secret.

Stdlib only: cheap to import from the trigger module. Airflow's setting is read only where Airflow's
configuration is already loaded (a task, the triggerer); elsewhere Airflow's default applies.
"""

from __future__ import annotations

import re
import sys
from functools import lru_cache
from typing import Any

MASK = "***"
# Airflow's default [logging] min_length_masked_secret: its masker leaves shorter secrets alone.
AIRFLOW_MIN_MASKED_CHARS = 5
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
    """``text`` with every spelling of ``token`` replaced by ``***`` (unchanged for a token too short to
    redact, :func:`is_redactable`)."""
    if not text or not is_redactable(token):
        return text
    return _redact_text(text, token)


def _redact_text(text: str, token: str) -> str:
    if not any(mark in text for mark in _ESCAPE_MARKS):
        return text.replace(token, MASK)
    return _pattern(token).sub(MASK, text)


def contains_token(text: str, token: str) -> bool:
    """Whether ``text`` shows ``token`` in any spelling :func:`redact` knows (a token too short to
    redact is never looked for)."""
    return is_redactable(token) and redact(text, token) != text


def is_redactable(token: str) -> bool:
    """Whether ``token`` is long enough to redact: at least Airflow's ``min_length_masked_secret``."""
    return bool(token) and len(token) >= min_masked_chars()


def min_masked_chars() -> int:
    """Airflow's ``[logging] min_length_masked_secret`` where its configuration is loaded, else 5.

    Read once per configuration object (every answer is redacted: the lookup must stay cheap).
    """
    for name in ("airflow.sdk.configuration", "airflow.configuration"):
        conf = getattr(sys.modules.get(name), "conf", None)
        if conf is None:
            continue
        if _read_setting[0] is not conf:
            try:
                setting = conf.getint(
                    "logging", "min_length_masked_secret", fallback=AIRFLOW_MIN_MASKED_CHARS
                )
            except Exception:  # unreadable: Airflow's masker falls back to its default too
                setting = AIRFLOW_MIN_MASKED_CHARS
            _read_setting[:] = [conf, int(setting)]
        return int(_read_setting[1])
    return AIRFLOW_MIN_MASKED_CHARS


_read_setting: list[Any] = [None, AIRFLOW_MIN_MASKED_CHARS]  # [the configuration read, its setting]


def redact_value(value: Any, token: str) -> tuple[Any, bool]:
    """A decoded JSON value with the token redacted from every string in it (keys too).

    Returns ``(value, changed)``; an unchanged value is returned as is, not copied.
    """
    if not is_redactable(token):
        return value, False
    return _redact_value(value, token)


def _redact_value(value: Any, token: str) -> tuple[Any, bool]:
    if isinstance(value, str):
        redacted = _redact_text(value, token) if value else value
        return redacted, redacted != value
    if isinstance(value, dict):
        changed = False
        items = []
        for key, item in value.items():
            new_key, key_changed = _redact_value(key, token)
            new_item, item_changed = _redact_value(item, token)
            changed = changed or key_changed or item_changed
            items.append((new_key, new_item))
        return (dict(items), True) if changed else (value, False)
    if isinstance(value, list):
        results = [_redact_value(item, token) for item in value]
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
        *(re.escape(entity) for entity in _NAMED_ENTITIES.get(char, ())),
    ]
    return "(?:" + "|".join(alternatives) + ")"


# HTML's named references for the characters an HTML-escaping server rewrites (HTML5 keeps the
# upper-case forms of the first four).
_NAMED_ENTITIES = {
    "&": ("&amp;", "&AMP;"),
    "<": ("&lt;", "&LT;"),
    ">": ("&gt;", "&GT;"),
    '"': ("&quot;", "&QUOT;"),
    "'": ("&apos;",),
}


def _hex(code: int, width: int) -> str:
    digits = f"{code:0{width}x}" if width else f"{code:x}"
    return "".join(f"[{d}{d.upper()}]" if d.isalpha() else d for d in digits)

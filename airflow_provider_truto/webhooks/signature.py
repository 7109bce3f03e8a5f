"""Truto's webhook signature: an HMAC-SHA256 of the raw body, keyed with the webhook's secret.

Truto sends ``X-Truto-Signature: format=sha256,v=<digest>``. The digest is hex as far as known; base64
(standard or URL-safe, padded or not) is accepted too. Verification runs over the bytes as they arrived,
before anything parses them, and compares digests in constant time.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

SIGNATURE_HEADER = "X-Truto-Signature"
ALGORITHM = "sha256"
_DIGEST_BYTES = hashlib.sha256().digest_size


def digest(secret: str, body: bytes) -> bytes:
    """The HMAC-SHA256 of ``body`` keyed with ``secret`` (whitespace around a pasted secret ignored)."""
    return hmac.new(secret.strip().encode("utf-8"), body, hashlib.sha256).digest()


def sign(secret: str, body: bytes) -> str:
    """The ``X-Truto-Signature`` value Truto sends for ``body`` (hex digest)."""
    return f"format={ALGORITHM},v={digest(secret, body).hex()}"


def presented_digests(header: str | None) -> list[bytes]:
    """The digests a signature header carries, decoded; empty when there is none usable.

    Liberal in what it reads: ``format=sha256,v=<hex>``, keys in any case, spaces around the parts,
    several ``v=`` (any may match), a bare digest without ``v=``. A ``format`` other than sha256 means no
    usable digest.
    """
    if not header:
        return []
    found: list[bytes] = []
    for part in header.split(","):
        key, separator, value = part.strip().partition("=")
        if not separator:
            key, value = "v", key  # a bare digest
        key, value = key.strip().lower(), value.strip()
        if key == "format" and value.lower() != ALGORITHM:
            return []
        if key == "v":
            decoded = _decode(value)
            if decoded is not None:
                found.append(decoded)
    return found


def signature_matches(secret: str, body: bytes, header: str | None) -> bool:
    """Whether ``header`` signs ``body`` with ``secret``: each presented digest compared in constant time."""
    if not secret or not secret.strip():
        return False
    expected = digest(secret, body)
    # Every presented digest is compared (no early exit), so the time taken says nothing of which matched.
    matched = False
    for presented in presented_digests(header):
        matched |= hmac.compare_digest(expected, presented)
    return matched


def _decode(value: str) -> bytes | None:
    """A 32-byte digest from hex or base64 text; ``None`` for anything else."""
    if len(value) == 2 * _DIGEST_BYTES:
        try:
            return bytes.fromhex(value)
        except ValueError:
            pass
    text = value.replace("-", "+").replace("_", "/")
    text += "=" * (-len(text) % 4)
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) == _DIGEST_BYTES else None

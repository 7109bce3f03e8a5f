"""Truto's signature header: HMAC-SHA256 of the raw body, hex or base64, any presented digest may match."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from airflow_provider_truto.webhooks.signature import digest, presented_digests, sign, signature_matches

SECRET = "5d3f0c2e-1b7a-4f7e-9a51-6a0c1f9b2e44"
BODY = b'{"id":"evt-1","event":"integrated_account:created","payload":{"id":"acct"}}'


def expected() -> bytes:
    return hmac.new(SECRET.encode(), BODY, hashlib.sha256).digest()


def test_sign_is_truto_s_header_with_the_hex_digest() -> None:
    assert sign(SECRET, BODY) == f"format=sha256,v={expected().hex()}"
    assert digest(SECRET, BODY) == expected()
    assert signature_matches(SECRET, BODY, sign(SECRET, BODY))


@pytest.mark.parametrize(
    "spelling",
    [
        lambda d: f"format=sha256,v={d.hex()}",
        lambda d: f"format=sha256,v={d.hex().upper()}",
        lambda d: f"format=sha256,v={base64.b64encode(d).decode()}",
        lambda d: f"format=sha256,v={base64.urlsafe_b64encode(d).decode().rstrip('=')}",
        lambda d: f" Format = SHA256 , V = {d.hex()} ",
        lambda d: f"v={d.hex()}",
        lambda d: d.hex(),  # a bare digest
        lambda d: f"format=sha256,v={'0' * 64},v={d.hex()}",  # one of several (a rotated secret)
    ],
)
def test_accepted_spellings(spelling: object) -> None:
    header = spelling(expected())  # type: ignore[operator]
    assert signature_matches(SECRET, BODY, header), header


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "format=sha256",
        "format=sha256,v=",
        "format=sha256,v=not-a-digest",
        f"format=sha256,v={'ab' * 31}",  # 31 bytes
        f"format=sha256,v={'ab' * 33}",  # 33 bytes
    ],
)
def test_missing_or_unreadable_signatures_do_not_match(header: str | None) -> None:
    assert not signature_matches(SECRET, BODY, header)


def test_another_algorithm_is_refused_even_with_the_right_digest() -> None:
    assert presented_digests(f"format=sha1,v={expected().hex()}") == []
    assert not signature_matches(SECRET, BODY, f"format=sha1,v={expected().hex()}")


def test_a_changed_byte_a_wrong_secret_or_no_secret_do_not_match() -> None:
    header = sign(SECRET, BODY)
    assert not signature_matches(SECRET, BODY.replace(b"acct", b"acc7"), header)
    assert not signature_matches(SECRET, BODY + b" ", header)  # verified over the raw bytes, not the JSON
    assert not signature_matches("another-secret", BODY, header)
    assert not signature_matches("", BODY, header)
    assert not signature_matches("   ", BODY, header)


def test_whitespace_around_a_pasted_secret_is_ignored() -> None:
    assert signature_matches(f"  {SECRET}\n", BODY, sign(SECRET, BODY))

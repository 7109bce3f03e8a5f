"""Keeping the token out of texts and values (airflow_provider_truto/redaction.py): every spelling a server
or a library may render it in, mixed too; decoded answers walked again; the token's own repr."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest

from airflow_provider_truto.client.config import TrutoConfig
from airflow_provider_truto.client.redaction import MASK, Secret, contains_token, redact, redact_value
from tests.support.helpers import TOKEN
from tests.support.hostile_servers import json_escaped


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

"""A list-taking templated field reads the list a rendered text spells; other text keeps its value."""

from __future__ import annotations

import pytest

from airflow_provider_truto.exceptions import TrutoInputError
from airflow_provider_truto.operators.rendered import rendered_list, rendered_patterns


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("['C061EG9SL', 'C061EG9SM']", ["C061EG9SL", "C061EG9SM"]),  # how Airflow renders a list param
        ('  ["C061EG9SL"]\n', ["C061EG9SL"]),  # JSON
        ("[{'id': 'C1', 'name': 'general'}]", [{"id": "C1", "name": "general"}]),  # channel objects
        ("[]", []),
        (["C1"], ["C1"]),  # a real list, as with render_template_as_native_obj
        ("C1", "C1"),  # not a list at all: the field's own check names it
        (None, None),
    ],
)
def test_a_rendered_list_is_read(value: object, expected: object) -> None:
    assert rendered_list(value, "channel_ids") == expected


@pytest.mark.parametrize("text", ["[C1, C2]", "['C1'", "[1, 2", "[" * 5000])
def test_text_that_opens_a_list_but_is_none_is_named(text: str) -> None:
    with pytest.raises(TrutoInputError) as caught:
        rendered_list(text, "channel_ids")
    assert caught.value.argument == "channel_ids" and "does not read as a list" in str(caught.value)


def test_a_glob_that_starts_with_a_bracket_stays_a_pattern() -> None:
    assert rendered_patterns("['eng-*', 'ops-*']") == ["eng-*", "ops-*"]
    assert rendered_patterns("[a-m]*") == "[a-m]*"
    assert rendered_patterns("[!0-9]*") == "[!0-9]*"
    assert rendered_patterns("[1, 2]") == "[1, 2]"  # not texts: left for the policy to refuse by name
    assert rendered_patterns(["eng-*"]) == ["eng-*"]

"""What a templated field holds once Airflow has rendered it.

Airflow renders a template to text unless the DAG sets ``render_template_as_native_obj=True``: a list
param given as ``channel_ids="{{ params.ids }}"`` arrives as ``"['C061EG9SL', 'C061EG9SM']"``. A field that
takes a list accepts that text and reads the list it spells (a Python literal, as Airflow writes it, or
JSON); anything else keeps its value, for the field's own checks to name.
"""

from __future__ import annotations

import ast
import json
from typing import Any

from airflow_provider_truto.exceptions import TrutoInputError


def rendered_list(value: Any, argument: str) -> Any:
    """``value``, or the list a rendered text spells (``"['a', 'b']"``, ``'["a", "b"]'``).

    Text that opens a list but does not read as one is refused by name: it came from a template that was
    meant to give a list.
    """
    if not isinstance(value, str) or not value.strip().startswith("["):
        return value
    text = value.strip()
    try:
        parsed = json.loads(text)
    except (ValueError, RecursionError):
        try:
            parsed = ast.literal_eval(text)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            parsed = None
    if not isinstance(parsed, list):
        shown = text if len(text) <= 80 else f"{text[:77]}..."
        raise TrutoInputError(
            argument,
            f"rendered as the text {shown!r}, which does not read as a list; give a list, or a template that "
            "renders one (such as '{{ params.ids }}' for a list param)",
        )
    return parsed


def rendered_patterns(value: Any) -> Any:
    """A policy's ``include`` / ``exclude`` as rendered: a list spelled as text is read as that list.

    A glob may start with ``[`` too (``[a-m]*``): text is only taken for a list when it reads as a list of
    texts, otherwise it stays one pattern.
    """
    if not isinstance(value, str) or not value.strip().startswith("["):
        return value
    try:
        parsed = rendered_list(value, "include")
    except TrutoInputError:
        return value
    return parsed if all(isinstance(item, str) for item in parsed) else value

"""The code snippets of the README and docs/, read the way tests/test_docs.py runs them.

A page is read as a user follows it: top to bottom, in one shell. Its fenced code blocks are snippets:

- ``python``: a DAG (it defines one with ``@dag`` or ``DAG(``) runs under ``airflow dags test``; a pytest
  module (it defines ``test_...`` functions) runs under pytest; any other block is executed as a script.
- ``console``: commands. Lines that start with ``$ `` are commands and the lines after them the output
  the page promises; without any ``$ `` every line is a command (``# ...`` comments are dropped).
- ``bash``: one shell script. The variables it exports stay set for the page's later snippets.
- Other languages (``text``, ``json``, ...) are not code: an output shown, a value to paste.

A snippet that is not meant to run says why in an HTML comment on the line before its fence:
``<!-- not run: reason -->``; one quoted from a file names it, ``<!-- from: path -->``, and is checked to
be in that file word for word (the file itself is run by its own test).

Placeholders a page asks the reader to fill in (``<your Truto API token>``) are filled with the test
sandbox's values before a snippet runs: see :data:`PLACEHOLDERS`.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CODE_LANGUAGES = frozenset({"python", "console", "bash", "sh", "shell", "dockerfile"})

_BLOCK = re.compile(
    r"^(?P<fence>```|~~~)(?P<language>[\w+-]*)[^\n]*\n(?P<text>.*?)^(?P=fence)[ \t]*$", re.M | re.S
)
_MARKER = re.compile(r"<!--\s*(?P<kind>not run|from)\s*:\s*(?P<value>.*?)\s*-->\s*$")
_DAG = re.compile(r"^\s*@dag\b|\bDAG\(", re.M)
_PYTEST = re.compile(r"^def test_\w+\(", re.M)
_DAG_CALL = re.compile(r"^(\w+)\(\)\s*$", re.M)
_DAG_ID = re.compile(r"\bdag_id\s*=\s*[\"']([\w.-]+)[\"']")

# What a page asks the reader to fill in, and the test-run stand-in (a key of the runner's values).
PLACEHOLDERS = {
    "<your Truto API token>": "token",
    "<API token>": "token",
    "<your integrated account id>": "account",
}


@dataclass(frozen=True)
class Snippet:
    """One fenced code block of a page."""

    page: Path
    line: int  # of the opening fence, 1-based
    language: str
    text: str
    marker: tuple[str, str] | None  # ("not run", reason) or ("from", path)

    @property
    def name(self) -> str:
        return f"{self.page.relative_to(ROOT).as_posix()}:{self.line}"

    @property
    def is_code(self) -> bool:
        return self.language in CODE_LANGUAGES

    @property
    def runs(self) -> bool:
        return self.is_code and self.marker is None

    @property
    def kind(self) -> str:
        """``dag``, ``pytest``, ``script`` (Python), ``commands`` (console), ``shell`` (bash) or ``data``."""
        if self.language == "python":
            if _PYTEST.search(self.text):
                return "pytest"
            return "dag" if _DAG.search(self.text) else "script"
        if self.language == "console":
            return "commands"
        return "shell" if self.is_code else "data"

    @property
    def dag_id(self) -> str:
        """The id of the DAG a ``dag`` snippet defines: its ``dag_id=``, else the decorated function's."""
        found = _DAG_ID.search(self.text) or _DAG_CALL.search(self.text)
        if found is None:
            raise ValueError(f"{self.name}: cannot tell which DAG this snippet defines")
        return found.group(1)

    def commands(self) -> list[tuple[str, list[str]]]:
        """A console snippet's commands, each with the output lines the page shows after it."""
        lines = self.text.splitlines()
        if not any(line.startswith("$ ") for line in lines):
            commands = [line.split(" #")[0].strip() for line in lines]
            return [(command, []) for command in commands if command and not command.startswith("#")]
        steps: list[tuple[str, list[str]]] = []
        for line in lines:
            if line.startswith("$ "):
                steps.append((line[2:].strip(), []))
            elif steps:
                steps[-1][1].append(line)
        return steps


def pages() -> list[Path]:
    """The user documentation: the README and every page under docs/."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def snippets(page: Path) -> list[Snippet]:
    text = page.read_text(encoding="utf-8")
    found = []
    for block in _BLOCK.finditer(text):
        before = text[: block.start()].rstrip("\n").rsplit("\n", 1)[-1]
        marker = _MARKER.search(before)
        found.append(
            Snippet(
                page=page,
                line=text.count("\n", 0, block.start()) + 1,
                language=block.group("language").lower(),
                text=block.group("text"),
                marker=(marker.group("kind"), marker.group("value")) if marker else None,
            )
        )
    return found


def all_snippets() -> list[Snippet]:
    return [snippet for page in pages() for snippet in snippets(page)]


def fill_placeholders(text: str, values: dict[str, str]) -> str:
    """``text`` with each placeholder of :data:`PLACEHOLDERS` replaced by its test-run value."""
    for placeholder, key in PLACEHOLDERS.items():
        text = text.replace(placeholder, values[key])
    return text


def quoted_in(snippet: Snippet, source: Path) -> bool:
    """Whether a ``from:`` snippet is in its source file word for word (indentation aside)."""
    wanted = textwrap.dedent(snippet.text).strip()
    body = source.read_text(encoding="utf-8")
    if wanted in body:
        return True
    # A quoted function may sit indented in the file (inside a DAG function): compare dedented windows.
    lines, size = body.splitlines(), len(wanted.splitlines())
    return any(
        textwrap.dedent("\n".join(lines[start : start + size])).strip() == wanted
        for start in range(len(lines) - size + 1)
    )

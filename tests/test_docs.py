"""The docs hold together: every relative link reaches a file (and heading), and the README shows set-up."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted([ROOT / "README.md", ROOT / "CONTRIBUTING.md", *(ROOT / "docs").glob("*.md")])

_FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
_INLINE_CODE = re.compile(r"`[^`\n]*`")
# [text](target) and ![alt](target); the target ends at whitespace (a title may follow) or ")".
_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)


def _prose(text: str) -> str:
    """The text without code blocks, where a link or a heading is only an example."""
    return _FENCE.sub("", text)


def github_slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading keeps its text
    text = text.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    found: set[str] = set()
    for heading in _HEADING.findall(_prose(page.read_text(encoding="utf-8"))):
        slug = github_slug(heading)
        candidate, n = slug, 1
        while candidate in found:  # GitHub numbers repeated headings: slug, slug-1, slug-2
            candidate, n = f"{slug}-{n}", n + 1
        found.add(candidate)
    return found


def relative_links(page: Path) -> list[str]:
    text = _INLINE_CODE.sub("", _prose(page.read_text(encoding="utf-8")))
    return [t for t in _LINK.findall(text) if not re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", t)]


def broken_links(page: Path) -> list[str]:
    broken = []
    for target in relative_links(page):
        path_part, _, anchor = target.partition("#")
        destination = (page.parent / path_part).resolve() if path_part else page
        if not destination.exists():
            broken.append(f"{target}: no file {destination}")
        elif anchor:
            if destination.is_dir() or destination.suffix != ".md":
                broken.append(f"{target}: an anchor into a file that is not Markdown")
            elif anchor not in anchors(destination):
                broken.append(f"{target}: no heading #{anchor} in {destination.name}")
    return broken


def test_the_pages_exist() -> None:
    names = {page.relative_to(ROOT).as_posix() for page in PAGES}
    expected = {
        "README.md",
        "CONTRIBUTING.md",
        "docs/connection.md",
        "docs/operators.md",
        "docs/sensor-and-trigger.md",
        "docs/auto-join.md",
        "docs/errors-and-retries.md",
        "docs/rate-limits.md",
        "docs/sandbox.md",
        "docs/reliability-and-security.md",
        "docs/benchmarks.md",
    }
    assert expected <= names, expected - names


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.relative_to(ROOT).as_posix())
def test_every_relative_link_reaches_a_file_and_heading(page: Path) -> None:
    assert broken_links(page) == []


def test_every_docs_page_is_linked_from_the_readme() -> None:
    linked = {(ROOT / target.partition("#")[0]).resolve() for target in relative_links(ROOT / "README.md")}
    missing = [page.name for page in PAGES if page.parent == ROOT / "docs" and page.resolve() not in linked]
    assert missing == []


def test_the_readme_shows_the_two_set_up_commands() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    commands = re.findall(r"^```console\n(.*?)^```", text, re.MULTILINE | re.DOTALL)
    lines = [line.split("#")[0].strip() for block in commands for line in block.splitlines()]
    assert "make demo" in lines
    assert "make test" in lines
    assert {line for line in lines if line.startswith("make ")} == {"make demo", "make test"}


def test_the_checker_finds_a_broken_link_and_a_missing_heading(tmp_path: Path) -> None:
    (tmp_path / "other.md").write_text("# A `Title`: here\n\n## Same\n\n## Same\n", encoding="utf-8")
    page = tmp_path / "page.md"
    page.write_text(
        "[ok](other.md#a-title-here) [ok](other.md#same-1) [gone](missing.md) [bad](other.md#nowhere)\n"
        "[web](https://example.com) `[code](nowhere.md)`\n\n```text\n[fenced](nowhere.md)\n```\n",
        encoding="utf-8",
    )
    assert [problem.split(":")[0] for problem in broken_links(page)] == ["missing.md", "other.md#nowhere"]

"""The docs hold together and hold true.

Every relative link reaches a file (and heading); the README shows set-up; every code snippet of the
README and docs/ runs as written, against a sandbox, in a real Airflow where it is a DAG, or says why it
does not (see :mod:`tests.support.docs_snippets` for how a page is read and run).
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from airflow_provider_truto.testing import TrutoSandbox
from tests.support.airflow_home import AIRFLOW, airflow_env
from tests.support.docs_snippets import Snippet, all_snippets, fill_placeholders, quoted_in, snippets
from tests.support.helpers import ACCOUNT, TOKEN

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


# -- every snippet runs, or says why not ---------------------------------------------------------------

SNIPPETS = all_snippets()
RUN = [snippet for snippet in SNIPPETS if snippet.runs]
OTHER_ACCOUNT = "acct-2"  # the second account the operators page names
# The channel ids the pages use, per account (a channel id is unique across accounts).
DOC_CHANNELS = {ACCOUNT: ("C061EG9SL", "C061EG9SM"), OTHER_ACCOUNT: ("C07QF3B2T",)}
NEW_CHANNEL = "eng-brand-new"  # created "in the future": the sensor page's sensor finds it at once
PAGE_PORT = "8080"  # a port a page uses; a free one stands in for it


def by_kind(kind: str) -> list[Snippet]:
    return [snippet for snippet in RUN if snippet.kind == kind]


def test_every_code_snippet_runs_or_says_why_not() -> None:
    """A marker names a reason, or a file that holds the snippet word for word."""
    problems = []
    for snippet in SNIPPETS:
        if snippet.marker is None:
            continue
        kind, value = snippet.marker
        if not snippet.is_code:
            problems.append(
                f"{snippet.name}: a marker on a {snippet.language or 'plain'} block, which never runs"
            )
        elif kind == "not run" and len(value) < 10:
            problems.append(f"{snippet.name}: 'not run' needs a reason, got {value!r}")
        elif kind == "from" and not (ROOT / value).is_file():
            problems.append(f"{snippet.name}: quoted from {value}, which does not exist")
        elif kind == "from" and not quoted_in(snippet, ROOT / value):
            problems.append(f"{snippet.name}: not found word for word in {value}")
    assert problems == []
    assert {snippet.kind for snippet in RUN} >= {"dag", "script", "commands", "shell", "pytest"}


def test_json_blocks_parse() -> None:
    blocks = [s for s in SNIPPETS if s.language == "json"]
    for snippet in blocks:
        json.loads(snippet.text)
    assert blocks


def test_the_reader_finds_snippets_markers_and_commands(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "Intro.\n\n```python\nprint(1)\n```\n\n<!-- not run: needs a real Slack workspace -->\n"
        "```console\nairflow dags list   # all of them\n```\n\n"
        "```console\n$ echo hi\nhi\n$ true\n```\n\n```text\nplain\n```\n",
        encoding="utf-8",
    )
    found = [(s.line, s.language, s.kind, s.marker) for s in snippets(page)]
    assert found == [
        (3, "python", "script", None),
        (8, "console", "commands", ("not run", "needs a real Slack workspace")),
        (12, "console", "commands", None),
        (18, "text", "data", None),
    ]
    assert snippets(page)[1].commands() == [("airflow dags list", [])]
    assert snippets(page)[2].commands() == [("echo hi", ["hi"]), ("true", [])]


@pytest.fixture(scope="module")
def docs_sandbox() -> Iterator[TrutoSandbox]:
    """The Truto the pages talk to: their accounts and channel ids, and a channel created "later"."""
    with TrutoSandbox(token=TOKEN) as sandbox:
        for seed, (account, channel_ids) in enumerate(DOC_CHANNELS.items()):
            sandbox.add_account(account)
            sandbox.seed_channels(account, 30, seed=5 + seed)
            for channel_id in channel_ids:
                sandbox.add_channel(account, id=channel_id, name=f"general-{channel_id[-2:].lower()}")
        sandbox.add_channel(ACCOUNT, name=NEW_CHANNEL, created_at="2100-01-01T00:00:00Z")
        sandbox.default_account_id = ACCOUNT
        yield sandbox


@pytest.fixture(scope="module")
def values(docs_sandbox: TrutoSandbox) -> dict[str, str]:
    """What a page's placeholders become for the test run."""
    return {"token": TOKEN, "account": ACCOUNT, "url": docs_sandbox.url}


@pytest.fixture(scope="module")
def docs_dags(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A DAG folder holding every DAG snippet, each in a file of its own."""
    folder = tmp_path_factory.mktemp("docs-dags")
    for index, snippet in enumerate(by_kind("dag")):
        (folder / f"snippet_{index}.py").write_text(snippet.text, encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def base_env(airflow_home: Path, docs_dags: Path) -> dict[str, str]:
    """A reader's shell: this venv first on PATH and an Airflow home with every DAG snippet."""
    bin_dir = str(Path(sys.executable).parent)
    return airflow_env(
        airflow_home, dags_folder=docs_dags, PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"
    )


class Pages:
    """Each page as one reader at one shell: its snippets run in page order, each once, in processes of
    their own; a snippet sees what the page's earlier ``bash`` snippets exported.

    A page that makes ``truto_default`` itself (``airflow connections add truto_default``, or an exported
    ``AIRFLOW_CONN_TRUTO_DEFAULT``) uses its own; every other page finds the sandbox as ``truto_default``.
    """

    def __init__(self, base: dict[str, str], values: dict[str, str], sandbox: TrutoSandbox) -> None:
        self.base = base
        self.values = values
        self.sandbox = sandbox
        self.exports: dict[Path, dict[str, str]] = {}
        self.results: dict[str, str | None] = {}  # snippet name -> None (it ran) or what went wrong

    def result(self, snippet: Snippet) -> str | None:
        """Run the page up to ``snippet`` (what has not run yet) and say how ``snippet`` went."""
        for step in snippets(snippet.page):
            if step.runs and step.name not in self.results:
                try:
                    self.results[step.name] = self.run(step)
                except Exception as error:  # reported against the snippet
                    self.results[step.name] = f"{type(error).__name__}: {error}"
            if step.line == snippet.line:
                break
        return self.results[snippet.name]

    def env(self, page: Path) -> dict[str, str]:
        env = dict(self.base)
        text = page.read_text(encoding="utf-8")
        if "connections add truto_default" not in text:
            env["AIRFLOW_CONN_TRUTO_DEFAULT"] = self.sandbox.airflow_conn_env(ACCOUNT)
        env.update(self.exports.get(page, {}))
        return env

    def fill(self, text: str, *, shell: bool) -> str:
        """A snippet as run: placeholders filled; in shell, Truto's address is the sandbox's."""
        text = fill_placeholders(text, self.values)
        return text.replace("https://api.truto.one", self.values["url"]) if shell else text

    def run(self, snippet: Snippet) -> str | None:
        env = self.env(snippet.page)
        if snippet.kind == "shell":
            return self.run_shell(snippet, env)
        if snippet.kind == "commands":
            port = free_port()
            for command, expected in snippet.commands():
                command = self.fill(command, shell=True).replace(PAGE_PORT, port)
                shown = [line.replace(PAGE_PORT, port) for line in expected]
                failure = run_command(command, shown, env, dag_run=command.startswith("airflow dags test"))
                if failure:
                    return failure
            return None
        if snippet.kind == "dag":
            if f"airflow dags test {snippet.dag_id}" in snippet.page.read_text(encoding="utf-8"):
                return None  # the page runs it itself, a few lines down
            return run_process([str(AIRFLOW), "dags", "test", snippet.dag_id], env, dag_run=True)
        with tempfile.TemporaryDirectory(prefix="truto-docs-") as workdir:
            module = Path(workdir) / ("test_from_the_docs.py" if snippet.kind == "pytest" else "snippet.py")
            module.write_text(self.fill(snippet.text, shell=False), encoding="utf-8")
            if snippet.kind == "pytest":
                command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(module)]
                return run_process(command, env, cwd=Path(workdir))
            return run_process([sys.executable, str(module)], env, cwd=Path(workdir))

    def run_shell(self, snippet: Snippet, env: dict[str, str]) -> str | None:
        """Run a ``bash`` snippet; what it exports stays set for the rest of the page."""
        script = self.fill(snippet.text, shell=True) + "\nenv -0\n"
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script], env=env, capture_output=True, text=True, timeout=300
        )
        if done.returncode != 0:
            return f"exited {done.returncode}:\n{done.stdout[-2000:]}{done.stderr[-2000:]}"
        after = dict(item.split("=", 1) for item in done.stdout.split("\0") if "=" in item)
        exported = {k: v for k, v in after.items() if env.get(k) != v and k not in ("_", "SHLVL")}
        for name, value in exported.items():
            if name.startswith("AIRFLOW_CONN_"):  # a connection a page defines must be one Airflow can read
                json.loads(value)
        self.exports.setdefault(snippet.page, {}).update(exported)
        return None


def run_process(
    command: list[str], env: dict[str, str], *, cwd: Path = ROOT, dag_run: bool = False
) -> str | None:
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    output = done.stdout + done.stderr
    if done.returncode != 0:
        return f"{' '.join(command[:4])} exited {done.returncode}:\n{output[-4000:]}"
    if dag_run and ("state=failed" in output or "Traceback" in output):
        return f"{' '.join(command[:4])}: a task failed:\n{output[-4000:]}"
    return None


def free_port() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return str(sock.getsockname()[1])


def shown_line(expected: str) -> re.Pattern[str]:
    """A line as a page shows it: ``...`` / ``…`` stand for anything."""
    parts = re.split(r"\.\.\.|…", expected.rstrip())
    return re.compile("^" + ".*".join(re.escape(part) for part in parts) + "$")


def run_command(
    command: str, expected: list[str], env: dict[str, str], *, dag_run: bool = False
) -> str | None:
    """Run one command; with output to show, wait for those lines (a server keeps running: it is stopped)."""
    process = subprocess.Popen(
        ["bash", "-c", command], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert process.stdout is not None
    try:
        if not expected:
            output, _ = process.communicate(timeout=600)
            if process.returncode != 0:
                return f"{command!r} exited {process.returncode}:\n{output[-3000:]}"
            if dag_run and ("state=failed" in output or "Traceback" in output):
                return f"{command!r}: a task failed:\n{output[-3000:]}"
            return None
        seen: list[str] = []
        deadline = time.monotonic() + 120
        while len(seen) < len(expected) and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            seen.append(line.rstrip("\n"))
        for want, got in zip(expected, seen + [""] * len(expected), strict=False):
            if not shown_line(want).match(got):
                return f"{command!r}: the page shows {want!r}, the command printed {got!r}"
        return None
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=10)


@pytest.fixture(scope="module")
def reader(base_env: dict[str, str], values: dict[str, str], docs_sandbox: TrutoSandbox) -> Pages:
    return Pages(base_env, values, docs_sandbox)


@pytest.mark.integration
@pytest.mark.parametrize("snippet", RUN, ids=lambda s: f"{s.name} ({s.kind})")
def test_snippet_runs_as_written(snippet: Snippet, reader: Pages) -> None:
    assert reader.result(snippet) is None, reader.result(snippet)

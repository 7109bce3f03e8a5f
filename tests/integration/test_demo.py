"""``make demo`` prints what the README says it prints, and its runs log no error.

The demo runs here as ``make demo`` runs it (``scripts/demo.py``: the sandbox, then ``airflow dags test`` of
the auto-join DAG twice), in an Airflow home of its own; its output must be the README's quoted block line
for line, the sandbox's port and the run times aside.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.helpers import AIRFLOW_VERSION, REPO

# The release `make demo` installs (the Makefile's AIRFLOW_VERSION), as major and minor.
MAKE_DEMO_AIRFLOW = tuple(
    int(part)
    for part in re.findall(r"^AIRFLOW_VERSION \?= (\d+)\.(\d+)", (REPO / "Makefile").read_text(), re.M)[0]
)
pytestmark = [
    pytest.mark.integration,
    # The README quotes what the demo prints on that release; the matrix's others run its DAG in their tests.
    pytest.mark.skipif(AIRFLOW_VERSION != MAKE_DEMO_AIRFLOW, reason="the README quotes make demo's Airflow"),
]

# What changes from one run to the next, and the stand-in both sides are compared with.
VARYING = (
    (re.compile(r"127\.0\.0\.1:\d+"), "127.0.0.1:<port>"),
    (re.compile(r"finished in \d+s"), "finished in <n>s"),
    (re.compile(r"\(full log: [^)]*/(demo-[\w-]+\.log)\)"), r"(full log: \1)"),
)
FIRST_RUN_ONLY = "Creating the Airflow metadata database"


def normalised(lines: list[str]) -> list[str]:
    out = []
    for line in lines:
        for pattern, stand_in in VARYING:
            line = pattern.sub(stand_in, line)
        out.append(line.rstrip())
    return out


def readme_demo_output() -> list[str]:
    """The block the README introduces as what ``make demo`` prints."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    intro = text.index("What `make demo` prints")
    block = re.compile(r"^```text\n(.*?)^```", re.M | re.S).search(text, intro)
    assert block is not None, "the README quotes no output of make demo"
    return block.group(1).splitlines()


def test_make_demo_prints_what_the_readme_quotes_and_logs_no_error(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_", "TRUTO_"))}
    env["TRUTO_DEMO_AIRFLOW_HOME"] = str(tmp_path / "airflow")
    done = subprocess.run(
        [sys.executable, "scripts/demo.py"], cwd=REPO, env=env, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    def shown(lines: list[str]) -> list[str]:  # the first line of a first run only, on either side
        return normalised([line for line in lines if not line.startswith(FIRST_RUN_ONLY)])

    assert shown(done.stdout.splitlines()) == shown(readme_demo_output())

    for log in ("demo-dry-run.log", "demo-run.log"):
        errors = [
            line
            for line in (tmp_path / "airflow" / log).read_text(errors="replace").splitlines()
            if re.search(r"\[(error|critical)\s*\]|\bERROR\b|Traceback", line)
        ]
        assert errors == [], f"{log}: {errors[:5]}"

"""DAG parse cost: what importing the provider's operator modules adds over ``from airflow.sdk import ...``.

Each sample is a fresh interpreter, started outside the source tree. ``--against REF`` also times the
same modules of git revision REF (extracted into a temporary directory and put first on ``PYTHONPATH``),
alternating sample by sample with this tree, so machine noise hits both alike; the figures are their
medians and the ratio. Goal: at most 30 ms added, no HTTP stack (requests, tenacity, httpx) newly loaded
at parse time (the Task SDK itself already loads httpx and tenacity), and no worse than REF.

    .venv/bin/python benchmarks/bench_import.py --against main
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from _common import REPO, median

BASELINE = "from airflow.sdk import BaseOperator, BaseSensorOperator, dag, task"
MODULES = [
    "airflow_provider_truto.operators.instant_messaging",
    "airflow_provider_truto.operators.unified",
    "airflow_provider_truto.sensors.truto",
    "airflow_provider_truto.triggers.truto",
]
HEAVY = ("requests", "tenacity", "httpx", "urllib3", "redis")
PROBE = """
import sys, time
{baseline}
before = set(sys.modules)
started = time.perf_counter()
{imports}
elapsed = time.perf_counter() - started
heavy = sorted(m for m in {heavy!r} if m in sys.modules and m not in before)
print(elapsed * 1000, ",".join(heavy))
"""


def sample(imports: str, tree: Path | None, cwd: str) -> tuple[float, str]:
    """One fresh interpreter's import time; ``tree``: the source tree put first on the path."""
    code = PROBE.format(baseline=BASELINE, imports=imports or "pass", heavy=HEAVY)
    env = {**os.environ, "PYTHONPATH": str(tree)} if tree else dict(os.environ)
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=cwd, env=env
    )
    out = done.stdout.split()
    return float(out[0]), (out[1] if len(out) > 1 else "")


def extract(ref: str, directory: Path) -> Path:
    """The package as it is at git revision ``ref``, in ``directory``."""
    archive = directory / "tree.tar"
    with archive.open("wb") as out:
        subprocess.run(["git", "archive", ref, "airflow_provider_truto"], cwd=REPO, stdout=out, check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(directory / "tree", filter="data")
    return directory / "tree"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--against", metavar="REF", help="also time git revision REF, side by side")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("modules", nargs="*", default=MODULES, help="default: the operator modules")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="truto-bench-import-") as scratch:
        other = extract(args.against, Path(scratch)) if args.against else None
        trees: list[tuple[str, Path | None]] = [("this tree", None)]
        if other is not None:
            trees.insert(0, (args.against, other))
        for _, tree in trees:  # compile each tree's bytecode before anything is timed
            sample("\n".join(f"import {module}" for module in args.modules), tree, scratch)
        print(f"Import cost over `{BASELINE}` (median of {args.rounds} fresh interpreters each):")
        for module in args.modules:
            added: dict[str, list[float]] = {name: [] for name, _ in trees}
            heavy_seen: set[str] = set()
            for _ in range(args.rounds):
                sample("", None, scratch)  # warm the page cache alike for both
                for name, tree in trees:
                    ms, heavy = sample(f"import {module}", tree, scratch)
                    added[name].append(ms)
                    if tree is None:
                        heavy_seen.update(filter(None, heavy.split(",")))
            mine = median(added["this tree"])
            verdict = "OK" if mine <= 30 and not heavy_seen else "OVER GOAL"
            figures = "  ".join(f"{name} +{median(times):5.1f} ms" for name, times in added.items())
            if other is not None:
                figures += f"  ratio {mine / median(added[args.against]):.2f}"
            heavy_text = ", ".join(sorted(heavy_seen)) or "none"
            print(f"  {module:52s} {figures}  new HTTP modules: {heavy_text} {verdict}")


if __name__ == "__main__":
    main()

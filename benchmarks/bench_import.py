"""DAG parse cost: what importing the provider's operator modules adds over ``from airflow.sdk import ...``.

Each sample is a fresh interpreter; the two variants alternate so machine noise hits both alike.
Goal (issue 2): at most 30 ms added, and no HTTP stack (requests, tenacity, httpx) newly loaded at parse
time (the Task SDK itself already loads httpx and tenacity).
"""

from __future__ import annotations

import subprocess
import sys

from _common import median

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


def sample(imports: str) -> tuple[float, str]:
    code = PROBE.format(baseline=BASELINE, imports=imports or "pass", heavy=HEAVY)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    out = done.stdout.split()
    return float(out[0]), (out[1] if len(out) > 1 else "")


def available(module: str) -> bool:
    return subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True).returncode == 0


def main(rounds: int = 15) -> None:
    modules = [m for m in MODULES if available(m)]
    print(f"Import cost over `{BASELINE}` (median of {rounds} fresh interpreters):")
    for module in modules:
        added, heavy_seen = [], set()
        for _ in range(rounds):
            sample("")  # warm the page cache alike for both
            ms, heavy = sample(f"import {module}")
            added.append(ms)
            heavy_seen.update(filter(None, heavy.split(",")))
        verdict = "OK" if median(added) <= 30 and not heavy_seen else "OVER GOAL"
        heavy_text = ", ".join(sorted(heavy_seen)) or "none"
        print(f"  {module:52s} +{median(added):5.1f} ms  new HTTP modules: {heavy_text:6s} {verdict}")


if __name__ == "__main__":
    main()

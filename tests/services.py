"""Services a test starts from the machine's packages (PostgreSQL, Redis, Chromium).

On a bare machine (``make test`` with nothing but Python and make) a test whose service is not installed
is skipped with the package to install. CI installs every package (``scripts/install_services.sh``) and
sets ``TRUTO_REQUIRE_SERVICES=1``, which turns such a skip into a failure: a test CI must run never
silently vanishes.
"""

from __future__ import annotations

import glob
import os
import shutil

import pytest

REQUIRE_SERVICES_ENV = "TRUTO_REQUIRE_SERVICES"


def services_required() -> bool:
    return os.environ.get(REQUIRE_SERVICES_ENV) == "1"


def require_binary(name: str, *, debian_package: str, search: str | None = None) -> str:
    """The path of ``name`` (on PATH, else the first match of the ``search`` glob), or skip / fail."""
    path = shutil.which(name)
    if path is None and search:
        path = next(iter(sorted(glob.glob(search))), None)
    if path:
        return path
    message = f"{name} is not installed: apt-get install {debian_package} (or scripts/install_services.sh)"
    if services_required():
        pytest.fail(f"{message}; {REQUIRE_SERVICES_ENV}=1 requires it")
    pytest.skip(message)

"""What a test needs beyond the dev install, and what happens when the machine lacks it.

A test that needs something `pip install -e '.[dev]'` cannot bring (a Debian package, the docs extra,
the package index) calls `missing()` when it is not there: the test is skipped, and the end of the run
says in one line, for all the tests it skipped, what to install (tests/conftest.py's summary).
`.ci/run` runs with `--require-all` (or KELLY_REQUIRE_ALL=1 in the environment), which turns each of
these skips into a failure: CI installs everything and runs every test.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import NoReturn

import pytest

ROOT = Path(__file__).resolve().parent.parent
REQUIRE_ALL_OPTION = "--require-all"
REQUIRE_ALL_ENV = "KELLY_REQUIRE_ALL"

_required_by_option = False


def require_all(on: bool) -> None:
    """Set by tests/conftest.py from `--require-all`."""
    global _required_by_option
    _required_by_option = on


def everything_required() -> bool:
    """Whether this run must skip nothing for a missing tool (`--require-all` or KELLY_REQUIRE_ALL=1)."""
    return _required_by_option or os.environ.get(REQUIRE_ALL_ENV, "") not in ("", "0")


def missing(reason: str) -> NoReturn:
    """Skip the test, saying in one line what to install; fail it instead when everything is required."""
    if everything_required():
        pytest.fail(f"{reason} ({REQUIRE_ALL_OPTION} / {REQUIRE_ALL_ENV}=1: nothing may be skipped)", pytrace=False)
    pytest.skip(reason)


def debian_program(program: str, package: str | None = None) -> str:
    """The path of `program` on the PATH, or `missing()` naming the Debian package that installs it (by default
    the program's name)."""
    found = shutil.which(program)
    if found is None:
        package = package or program
        missing(f"needs {program}: install Debian's {package} package (apt-get install {package})")
    return found


def wheels_or_index(wheelhouse: Path, probe: str, what: str, scratch: Path) -> list[str]:
    """pip's options to install `what` into a fresh venv: offline from `wheelhouse` when `.ci/run` filled it,
    else from the package index, if pip reaches it (tried by downloading `probe`); else `missing()`."""
    if wheelhouse.is_dir():
        return ["--no-index", "--find-links", str(wheelhouse)]
    download = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--retries", "0", "--timeout", "15"]
    tried = subprocess.run([*download, "-d", str(scratch), probe], capture_output=True, text=True, timeout=120)
    if tried.returncode != 0:
        missing(
            f"needs {what} from the package index, which pip could not reach, or its wheels in"
            f" {wheelhouse.relative_to(ROOT)} (bash .ci/run downloads them there)"
        )
    return []

"""The floors pyproject.toml declares are the versions .ci/run tests in its second venv (.ci/floors.txt)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def declared_floors() -> dict[str, str]:
    """The runtime dependencies' floors, and the redis extra's (its RedisLimiter runs in the floors venv too)."""
    text = (ROOT / "pyproject.toml").read_text()
    block = text.split("\ndependencies = [", 1)[1].split("]", 1)[0]
    extra = re.search(r"^redis = \[(.*)\]$", text, re.M)
    assert extra is not None, "pyproject.toml has a redis extra"
    return dict(re.findall(r'"([A-Za-z0-9_.-]+)>=([0-9.]+)"', block + extra.group(1)))


def pinned_floors() -> dict[str, str]:
    lines = (ROOT / ".ci" / "floors.txt").read_text().splitlines()
    pins = [line.split("#", 1)[0].strip() for line in lines]
    return dict(pin.split("==", 1) for pin in pins if pin)


def test_every_runtime_floor_is_the_version_ci_pins() -> None:
    declared = declared_floors()
    assert set(declared) == {"aiohttp", "attrs", "urllib3", "yarl", "redis"}
    assert {name: version.removesuffix(".0") for name, version in declared.items()} == {
        name: version.removesuffix(".0") for name, version in pinned_floors().items()
    }

"""The floors pyproject.toml declares are the versions .ci/run tests in its second venv (.ci/floors.txt)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def declared_floors() -> dict[str, str]:
    text = (ROOT / "pyproject.toml").read_text()
    block = text.split("\ndependencies = [", 1)[1].split("]", 1)[0]
    return dict(re.findall(r'"([A-Za-z0-9_.-]+)>=([0-9.]+)"', block))


def pinned_floors() -> dict[str, str]:
    lines = (ROOT / ".ci" / "floors.txt").read_text().splitlines()
    pins = [line.split("#", 1)[0].strip() for line in lines]
    return dict(pin.split("==", 1) for pin in pins if pin)


def test_every_runtime_floor_is_the_version_ci_pins() -> None:
    declared = declared_floors()
    assert set(declared) == {"aiohttp", "attrs", "urllib3", "yarl"}
    assert {name: version.removesuffix(".0") for name, version in declared.items()} == {
        name: version.removesuffix(".0") for name, version in pinned_floors().items()
    }

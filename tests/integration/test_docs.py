"""The documentation site builds as CI builds it (`mkdocs build --strict`), and its reference, generated from
the code, names the whole public API: every public name of `kellyapi`, every error class, every method and
constructor option of both clients, the pytest fixtures, every command and every fault kind.

Needs the `docs` extra (`pip install -e '.[docs]'`); without it the tests are skipped saying so.
"""

from __future__ import annotations

import html
import importlib.util
import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest

import kellyapi
from kellyapi import KellyAPI, SyncKellyAPI, errors
from kellyapi.cli import EPILOG, build_parser
from kellyapi.sandbox.faults import KINDS
from tests import needs

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ("kelly_sandbox", "kelly_client", "kelly_async_client")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site, built strictly (a warning fails the build) into a temporary folder."""
    if importlib.util.find_spec("mkdocs") is None or importlib.util.find_spec("mkdocstrings_handlers") is None:
        needs.missing("needs the docs extra to build the documentation site: pip install -e '.[docs]'")
    folder = tmp_path_factory.mktemp("site")
    built = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(folder)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={"NO_MKDOCS_2_WARNING": "1", "PATH": "/usr/bin:/bin", "HOME": str(folder)},
    )
    assert built.returncode == 0, built.stdout + built.stderr
    return folder


def page(site: Path, name: str) -> str:
    """A built page's HTML."""
    return (site / name / "index.html").read_text(encoding="utf-8")


def anchors(text: str) -> set[str]:
    return set(re.findall(r'id="([^"]+)"', text))


def section(text: str, anchor: str, next_anchor: str | None) -> str:
    """The HTML from one object's heading to the next one's."""
    start = text.index(f'id="{anchor}"')
    return text[start : text.index(f'id="{next_anchor}"', start) if next_anchor else len(text)]


def public_members(client: type) -> set[str]:
    return {name for name in dir(client) if not name.startswith("_")}


def test_every_public_name_of_kellyapi_has_an_entry(site: Path) -> None:
    documented = set().union(*(anchors(page(site, f"reference/{name}")) for name in ("clients", "errors", "limiters")))
    for name in kellyapi.__all__:
        assert f"kellyapi.{name}" in documented, name


def test_every_error_class_has_an_entry_and_a_row_of_the_errors_table(site: Path) -> None:
    text = page(site, "reference/errors")
    table = text[text.index("<table>") : text.index("</table>")]
    for name in errors.__all__:
        assert f"kellyapi.errors.{name}" in anchors(text), name
        assert f'href="#kellyapi.errors.{name}"' in table, name


@pytest.mark.parametrize(("client", "following"), [(KellyAPI, "kellyapi.SyncKellyAPI"), (SyncKellyAPI, None)])
def test_every_method_and_constructor_option_of_both_clients_is_documented(
    site: Path, client: type, following: str | None
) -> None:
    text = page(site, "reference/clients")
    documented = anchors(text)
    name = f"kellyapi.{client.__name__}"
    for member in public_members(client):
        assert f"{name}.{member}" in documented, member
    assert {"generate", "with_options", "with_raw_response", "request", "paced_rate"} <= public_members(client)
    own = html.unescape(section(text, name, following))
    for option in inspect.signature(client).parameters:
        assert f"<code>{option}</code>" in own, f"{name}({option}=...) has no row in its parameter table"


def test_the_three_pytest_fixtures_and_the_sandbox_are_documented(site: Path) -> None:
    documented = anchors(page(site, "reference/testing"))
    for fixture in FIXTURES:
        assert f"kellyapi.testing.{fixture}" in documented, fixture
    assert "kellyapi.testing.KellySandbox.fail" in documented
    sandbox = page(site, "reference/sandbox")
    assert "kellyapi.sandbox.Sandbox" in anchors(sandbox)
    for kind in KINDS:
        assert f"<code>{html.escape(kind)}</code>" in sandbox, kind


def test_the_command_line_reference_is_every_command_s_help(site: Path) -> None:
    text = html.unescape(re.sub(r"<[^>]+>", "", page(site, "reference/cli")))
    commands = next(action for action in build_parser()._actions if action.dest == "command").choices
    assert commands is not None
    for command in commands:
        assert f"usage: kellyapi {command} " in text, command
    for line in EPILOG.splitlines()[1:]:
        assert " ".join(line.split()) in " ".join(text.split()), line


def test_the_performance_page_shows_the_benchmarks_as_written(site: Path) -> None:
    text = html.unescape(re.sub(r"<[^>]+>", "", page(site, "performance")))
    first_row = next(line for line in (ROOT / "BENCHMARKS.md").read_text().splitlines() if line.startswith("| Kelly"))
    assert first_row.split("|")[2].strip() in text

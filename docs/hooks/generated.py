"""mkdocs hook: text the site takes from the code, so that it cannot drift from it.

A page holding a marker `<!-- generated: NAME -->` gets it replaced by:

- `cli`: every `kellyapi` command's `--help`, from the parsers kellyapi.cli builds from the endpoint table;
- `sandbox-cli`: `python -m kellyapi.sandbox --help`;
- `errors`: the table of the classes in kellyapi.errors, from their docstrings;
- `fault-kinds`: the table of the sandbox's fault kinds, from kellyapi.sandbox.faults;
- `fixtures`: the table of the pytest fixtures of kellyapi.testing, from their docstrings;
- `benchmarks`: BENCHMARKS.md, as `python -m bench` wrote it, its headings one level down.

An unknown marker fails the build.
"""

from __future__ import annotations

import argparse
import inspect
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]

MARKER = re.compile(r"<!-- generated: ([\w-]+) -->")
HELP_WIDTH = "100"  # argparse wraps help to the terminal's width: the site's is fixed


@contextmanager
def _help_width() -> Iterator[None]:
    before = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = HELP_WIDTH
    try:
        yield
    finally:
        if before is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = before


def _help_block(parser: argparse.ArgumentParser) -> str:
    with _help_width():
        text = parser.format_help()
    return f"```text\n{text.rstrip()}\n```\n"


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def cli() -> str:
    """`kellyapi --help`, then each command's help under a heading of its own."""
    from kellyapi.cli import build_parser

    parser = build_parser()
    parts = ["## kellyapi\n", _help_block(parser)]
    for name, command in _subcommands(parser).items():
        parts += [f"## kellyapi {name}\n", _help_block(command)]
    return "\n".join(parts)


def sandbox_cli() -> str:
    """`python -m kellyapi.sandbox --help`."""
    from kellyapi.sandbox.__main__ import build_parser

    return _help_block(build_parser())


def _first_paragraph(thing: object) -> str:
    return " ".join((inspect.getdoc(thing) or "").split("\n\n")[0].split())


def errors() -> str:
    """A row per class of kellyapi.errors, in the module's order: what it derives from, and when it is raised."""
    from kellyapi import errors as module

    rows = ["| error | derives from | raised when |", "|---|---|---|"]
    classes = [value for name, value in vars(module).items() if name in module.__all__]
    for error in classes:
        bases = ", ".join(
            f"[`{base.__name__}`][kellyapi.errors.{base.__name__}]"
            if base.__module__ == module.__name__
            else f"builtin `{base.__name__}`"
            for base in error.__bases__
        )
        reference = f"[`{error.__name__}`][kellyapi.errors.{error.__name__}]"
        rows.append(f"| {reference} | {bases} | {_first_paragraph(error)} |")
    return "\n".join(rows) + "\n"


def fault_kinds() -> str:
    """A row per named fault of the sandbox."""
    from kellyapi.sandbox.faults import DESCRIPTIONS, KINDS, RANDOM_KINDS

    missing = set(KINDS) ^ set(DESCRIPTIONS)
    if missing:
        raise ValueError(f"kellyapi.sandbox.faults: KINDS and DESCRIPTIONS differ on {sorted(missing)}")
    rows = ["| kind | what the client gets | drawn by the random mode |", "|---|---|---|"]
    for kind in KINDS:
        rows.append(f"| `{kind}` | {DESCRIPTIONS[kind]} | {'yes' if kind in RANDOM_KINDS else 'no'} |")
    return "\n".join(rows) + "\n"


def fixtures() -> str:
    """A row per fixture a user's test names (not the session's server behind them)."""
    from kellyapi import testing

    rows = ["| fixture | what the test gets |", "|---|---|"]
    for name in ("kelly_sandbox", "kelly_client", "kelly_async_client"):
        rows.append(f"| [`{name}`][kellyapi.testing.{name}] | {_first_paragraph(getattr(testing, name))} |")
    return "\n".join(rows) + "\n"


def benchmarks() -> str:
    """BENCHMARKS.md, whose own title becomes a section of the page that includes it."""
    text = (ROOT / "BENCHMARKS.md").read_text(encoding="utf-8")
    return re.sub(r"^(#+) ", r"#\1 ", text, flags=re.M)


GENERATORS: dict[str, Callable[[], str]] = {
    "cli": cli,
    "sandbox-cli": sandbox_cli,
    "errors": errors,
    "fault-kinds": fault_kinds,
    "fixtures": fixtures,
    "benchmarks": benchmarks,
}


def on_page_markdown(markdown: str, page: Any, **kwargs: Any) -> str:
    """Replace each marker of the page with what its generator makes."""

    def generated(found: re.Match[str]) -> str:
        name = found.group(1)
        if name not in GENERATORS:
            raise ValueError(f"{page.file.src_path}: no generator for <!-- generated: {name} -->")
        return GENERATORS[name]()

    return MARKER.sub(generated, markdown)

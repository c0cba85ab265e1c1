"""A griffe extension (loaded by mkdocstrings, see mkdocs.yml) for the reference's parameter tables.

- Docstrings that list a function's parameters as plain `name: text` lines, as the clients' constructor and
  `request()` do, get those lines as a Google `Args:` section, so each parameter shows in its table with
  its type and default. A line starting with a parameter's name and a colon starts its entry; indented
  lines continue it; `; name:` inside an entry starts the next parameter's; other lines stay as text
  after the parameters.
- A default that names a module constant (`timeout=DEFAULT_TIMEOUT`) shows the constant's value, when it
  is short (`60.0`); a long one (DEFAULT_NEGATIVE_PROMPT) keeps its name.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import griffe


def as_google_args(docstring: str, names: list[str]) -> str:
    """The docstring with its `name: text` lines gathered into an `Args:` section; unchanged if it has none."""
    if not names or re.search(r"^(Args|Arguments|Parameters):$", docstring, re.M):
        return docstring
    starts = re.compile(rf"^({'|'.join(map(re.escape, names))}): (.*)$")
    summary, _, body = docstring.partition("\n\n")
    entries: list[list[str]] = []
    prose: list[str] = []
    for line in body.splitlines():
        found = starts.match(line)
        if found:
            entries.append([found.group(1), found.group(2)])
        elif entries and line.startswith(" ") and line.strip():
            entries[-1][1] += " " + line.strip()
        else:
            prose.append(line)
    if not entries:
        return docstring
    split = re.compile(rf"; ({'|'.join(map(re.escape, names))}): ")
    lines = ["Args:"]
    for name, text in entries:
        pieces = split.split(text)  # [text, name, text, name, text...]
        lines.append(f"    {name}: {pieces[0]}")
        lines += [f"    {pieces[i]}: {pieces[i + 1]}" for i in range(1, len(pieces), 2)]
    rest = "\n".join(prose).strip()
    return "\n\n".join(part for part in (summary, "\n".join(lines), rest) if part)


SHORT_VALUE = 40  # characters: longer constants are shown by name


def _constant_value(func: griffe.Function, name: str) -> str | None:
    member = func.module.members.get(name)
    try:
        target = member.final_target if isinstance(member, griffe.Alias) else member
    except griffe.AliasResolutionError:
        return None
    if isinstance(target, griffe.Attribute) and target.value is not None and len(str(target.value)) <= SHORT_VALUE:
        return str(target.value)
    return None


def _functions(obj: griffe.Object | griffe.Alias) -> Iterator[griffe.Function]:
    for member in obj.members.values():
        if member.is_alias:
            continue
        if isinstance(member, griffe.Function):
            yield member
        elif isinstance(member, (griffe.Module, griffe.Class)):
            yield from _functions(member)


class PlainArgs(griffe.Extension):
    """Turns plain `name: text` parameter lines into an `Args:` section, and shows short constants' values."""

    def on_function_instance(self, *, func: griffe.Function, **kwargs: Any) -> None:
        if func.docstring is None:
            return
        names = [parameter.name for parameter in func.parameters if parameter.name not in ("self", "cls")]
        func.docstring.value = as_google_args(func.docstring.value, names)

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        for func in _functions(pkg):
            for parameter in func.parameters:
                default = parameter.default
                if isinstance(default, griffe.ExprName) or (isinstance(default, str) and default.isidentifier()):
                    value = _constant_value(func, str(default))
                    if value is not None:
                        parameter.default = value

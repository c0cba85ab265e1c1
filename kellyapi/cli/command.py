"""The shape of a CLI command; one instance per endpoint is generated from the spec into `commands.py`."""

from __future__ import annotations

from typing import Literal

import attrs

ArgumentKind = Literal["str", "int", "media"]
ResultKind = Literal["bytes", "str", "json"]


@attrs.frozen
class Argument:
    """One argument of an endpoint command: positional when required, else a `--long-option`."""

    name: str  # the SDK parameter; `--negative-prompt` for `negative_prompt`
    kind: ArgumentKind
    required: bool
    help: str
    default: str | int | None = None
    media_type: str | None = None  # for media: what the file holds, e.g. image/png

    @property
    def flag(self) -> str:
        """The option spelling, e.g. `--negative-prompt`."""
        return "--" + self.name.replace("_", "-")


@attrs.frozen
class Command:
    """One endpoint as a `kellyapi` command."""

    name: str
    help: str
    arguments: tuple[Argument, ...]
    result_kind: ResultKind
    result_media_type: str | None = None

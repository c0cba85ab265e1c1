"""One endpoint as a command: its parser built from the endpoint table, the call, and where the result goes."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

from kellyapi._core.endpoint import Endpoint, Param
from kellyapi.cli import connection, files
from kellyapi.cli.exits import OK, CommandError
from kellyapi.cli.progress import spinner

_DEFAULT_SHOWN = 40  # longer defaults (the negative prompt) are cut short in --help


def _shown_default(default: str | int | None) -> str:
    text = str(default)
    return text if len(text) <= _DEFAULT_SHOWN else text[: _DEFAULT_SHOWN - 3] + "..."


def _help(param: Param) -> str:
    """What an argument is, from the spec, and for the texts and files a user types how else to give them."""
    if param.kind == "media":
        return f"An {param.media} file; - reads it from standard input."
    if _reads_input(param):
        return f"{param.description} - reads it from standard input, @FILE from a file (less its final newline)."
    return f"{param.description} (default: {_shown_default(param.default)})"


def add_arguments(parser: argparse.ArgumentParser, params: tuple[Param, ...]) -> None:
    """Add `params` to `parser`: required ones positional, the others `--long-options` showing their default."""
    for param in params:
        kind = int if param.kind == "int" else str
        if param.required:
            metavar = param.name.removesuffix("_data").upper()
            parser.add_argument(param.name, type=kind, metavar=metavar, help=_help(param))
        else:
            parser.add_argument(
                param.flag,
                dest=param.name,
                type=kind,
                default=None,  # not given: the SDK's default, which --help shows
                metavar=param.name.upper(),
                help=_help(param),
            )


def _json_help(command: Endpoint[Any]) -> str:
    if command.result_kind == "bytes":
        fields = "command, model, path, bytes, seconds" if _has_model(command) else "command, path, bytes, seconds"
    else:
        fields = "command, model, result, seconds" if _has_model(command) else "command, result, seconds"
    return f"print one JSON line instead: {fields}"


def _has_model(command: Endpoint[Any]) -> bool:
    return any(param.name == "model" for param in command.params)


def add_parser(commands: Any, command: Endpoint[Any], parents: list[argparse.ArgumentParser]) -> None:
    """Add the subcommand of one endpoint."""
    parser = commands.add_parser(command.name, help=command.summary, description=command.summary, parents=parents)
    add_arguments(parser, command.params)
    if command.result_kind == "bytes":
        suffix = files.suffix_for(command.result_media_type)
        parser.add_argument(
            "-o",
            "--output",
            metavar="FILE",
            help=f"where to save the {suffix[1:].upper()}; - for standard output"
            f" (default: a name made from the {_name_source(command) or 'command'}, in this folder)",
        )
    parser.add_argument("--json", action="store_true", help=_json_help(command))
    parser.set_defaults(handler=lambda args: run(command, args))


def _name_source(command: Endpoint[Any]) -> str | None:
    """The argument a result's file name is made from: the first text (prompt, text), else the input file."""
    texts = [a.name for a in command.params if a.required and a.kind == "str"]
    media = [a.name for a in command.params if a.kind == "media"]
    return next(iter(texts + media), None)


def call_arguments(command: Endpoint[Any], args: argparse.Namespace) -> dict[str, object]:
    """The SDK keyword arguments given on the command line: media files read, `-` and `@path` texts read."""
    given: dict[str, object] = {}
    from_stdin = [a.name for a in command.params if getattr(args, a.name) == files.STDIO and _reads_input(a)]
    if len(from_stdin) > 1:
        raise CommandError(f"only one argument can read standard input; {' and '.join(from_stdin)} both ask to")
    for param in command.params:
        value = getattr(args, param.name)
        if value is None:
            continue
        if param.kind == "media":
            given[param.name] = files.read_media(value)
        elif _reads_input(param):
            given[param.name] = files.read_text(value)
        else:
            given[param.name] = value
    return given


def _reads_input(param: Param) -> bool:
    """A media argument, or a text the user writes (a prompt, a text, some code): `-` and `@path` read it."""
    return param.kind == "media" or (param.kind == "str" and param.required)


def output_path(command: Endpoint[Any], args: argparse.Namespace, arguments: dict[str, object]) -> Path | None:
    """Where a media result goes: -o FILE, None for standard output, else a new file named after the input."""
    if args.output == files.STDIO:
        return None
    if args.output:
        return files.checked_output(args.output)
    source = _name_source(command)
    value = getattr(args, source) if source else None
    argument = next((a for a in command.params if a.name == source), None)
    if argument is not None and argument.kind == "str":
        value = str(arguments.get(argument.name, value))  # the text itself, when it came from - or @path
    if value is None or value == files.STDIO:
        stem = command.name
    elif argument is not None and argument.kind == "media":
        stem = f"{files.slug(Path(value).stem) or 'input'}-{command.name}"
    else:
        stem = files.slug(value) or command.name
    return files.unused_path(Path(), stem, files.suffix_for(command.result_media_type))


def _model(command: Endpoint[Any], arguments: dict[str, object]) -> object:
    for argument in command.params:
        if argument.name == "model":
            return arguments.get("model", argument.default)
    return None


async def _call(command: Endpoint[Any], args: argparse.Namespace, arguments: dict[str, object]) -> Any:
    with connection.target(args) as where:
        async with connection.client(args, where) as api:
            async with spinner(command.name):
                return await getattr(api, command.name)(**arguments)


def run(command: Endpoint[Any], args: argparse.Namespace) -> int:
    """Run one endpoint command: call, then save or print the result."""
    if command.result_kind == "bytes" and args.json and args.output == files.STDIO:
        raise CommandError("--json and -o - both write to standard output; choose one")
    arguments = call_arguments(command, args)
    # Every local check before the call is paid for: the output must be writable, the inputs readable.
    path = output_path(command, args, arguments) if command.result_kind == "bytes" else None
    started = time.monotonic()
    result = asyncio.run(_call(command, args, arguments))
    summary: dict[str, object] = {"command": command.name}
    if _has_model(command):
        summary["model"] = _model(command, arguments)
    if command.result_kind == "bytes":
        if path is None:
            sys.stdout.buffer.write(result)
            sys.stdout.buffer.flush()
        else:
            files.save(path, result)
        summary.update(path=None if path is None else str(path), bytes=len(result))
        shown = None if path is None else str(path)
    else:
        summary["result"] = result
        shown = result if command.result_kind == "str" else json.dumps(result, indent=2, ensure_ascii=False)
    summary["seconds"] = round(time.monotonic() - started, 3)
    if args.json:
        print(json.dumps(summary, ensure_ascii=False))
    elif shown is not None:
        print(shown)
    return OK

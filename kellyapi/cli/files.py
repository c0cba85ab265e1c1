"""Where the command's inputs come from and its results go: files, standard input, derived names."""

from __future__ import annotations

import mimetypes
import os
import re
import sys
from pathlib import Path

from kellyapi.cli.exits import FAILED, CommandError

STDIO = "-"
_NAME_LIMIT = 48


def read_media(source: str) -> bytes:
    """The bytes of a media argument: a file path, or `-` for standard input."""
    if source == STDIO:
        return sys.stdin.buffer.read()
    try:
        return Path(source).read_bytes()
    except OSError as exc:
        raise CommandError(f"cannot read {source}: {exc.strerror or exc}") from None


_SUFFIXES = {"image/png": ".png", "audio/wav": ".wav"}  # not every system's mimetypes knows audio/wav


def suffix_for(media_type: str | None) -> str:
    """The file suffix for a result's media type: `.png`, `.wav`, else `.bin`."""
    if media_type is None:
        return ".bin"
    return _SUFFIXES.get(media_type) or mimetypes.guess_extension(media_type) or ".bin"


def slug(text: str) -> str:
    """A file-name stem from free text: `A lighthouse, at dawn!` -> `a-lighthouse-at-dawn`."""
    words = re.findall(r"[a-z0-9]+", text.lower())
    stem = ""
    for word in words:
        candidate = f"{stem}-{word}" if stem else word
        if len(candidate) > _NAME_LIMIT:
            break
        stem = candidate
    return stem or (words[0][:_NAME_LIMIT] if words else "")


def unused_path(folder: Path, stem: str, suffix: str) -> Path:
    """`folder/stem.suffix`, or `stem-2.suffix`, `stem-3.suffix`... whichever does not exist yet."""
    path, number = folder / f"{stem}{suffix}", 1
    while path.exists():
        number += 1
        path = folder / f"{stem}-{number}{suffix}"
    return path


def write_atomically(path: Path, data: bytes) -> None:
    """Write `data` to `path` so that an interrupted write never leaves a partial file under that name."""
    partial = path.with_name(f".{path.name}.part")
    try:
        partial.write_bytes(data)
        os.replace(partial, path)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise CommandError(f"cannot write {path}: {exc.strerror or exc}", FAILED) from None

"""Where the command's inputs come from and its results go: files, standard input, derived names."""

from __future__ import annotations

import mimetypes
import os
import re
import sys
import unicodedata
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


def read_text(source: str) -> str:
    """The text of a text argument: itself, `-` for standard input, `@path` for a file's text (`@@` for a literal @).

    Read text loses its final line ending, as the shell's `$(cat FILE)` would drop it: `echo hi > q.txt`
    asks `hi`, not `hi` and a newline.
    """
    if source == STDIO:
        data, where = sys.stdin.buffer.read(), "standard input"
    elif source.startswith("@@"):
        return source[1:]
    elif source.startswith("@") and len(source) > 1:
        try:
            data, where = Path(source[1:]).read_bytes(), source[1:]
        except OSError as exc:
            raise CommandError(f"cannot read {source[1:]}: {exc.strerror or exc}") from None
    else:
        return source
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise CommandError(f"{where} is not UTF-8 text") from None
    return text.removesuffix("\n").removesuffix("\r")


_SUFFIXES = {"image/png": ".png", "audio/wav": ".wav"}  # not every system's mimetypes knows audio/wav


def suffix_for(media_type: str | None) -> str:
    """The file suffix for a result's media type: `.png`, `.wav`, else `.bin`."""
    if media_type is None:
        return ".bin"
    return _SUFFIXES.get(media_type) or mimetypes.guess_extension(media_type) or ".bin"


def slug(text: str) -> str:
    """A file-name stem from free text, in any script: `A lighthouse, at dawn!` -> `a-lighthouse-at-dawn`.

    Letters and digits of every script are kept (`Café au lait` -> `café-au-lait`); everything else,
    the path separators, dots and control characters among it, only separates words.
    """
    words = re.findall(r"[^\W_]+", unicodedata.normalize("NFC", text).lower())
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


def checked_output(target: str) -> Path:
    """The file `-o` names, checked before any call is paid for: CommandError (exit 2) if it cannot be written."""
    path = Path(target)
    if target.endswith(("/", os.sep)) or path.is_dir():
        raise CommandError(f"-o {target}: is a folder; name a file in it")
    resolved = Path(os.path.realpath(path))  # through any symlink: its target is what gets written
    if resolved.exists() and not resolved.is_file():  # a FIFO or a device, written to as a shell would
        if not os.access(resolved, os.W_OK):
            raise CommandError(f"-o {target}: no permission to write it")
        return path
    folder = resolved.parent
    if not folder.is_dir():
        raise CommandError(f"-o {target}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise CommandError(f"-o {target}: no permission to write in {folder}")
    return path


def save(path: Path, data: bytes) -> None:
    """Put a result where `-o` points, as shell redirection would put the bytes.

    A FIFO, a character device or any other file that is not a regular one is opened and written,
    never replaced; a symlink stays a symlink and its target receives the result; a regular file (or
    a new one) is replaced atomically.
    """
    target = Path(os.path.realpath(path))
    if target.exists() and not target.is_file():
        try:
            with open(target, "wb") as out:
                out.write(data)
        except OSError as exc:
            raise CommandError(f"cannot write {path}: {exc.strerror or exc}", FAILED) from None
        return
    write_atomically(target, data)


def write_atomically(path: Path, data: bytes) -> None:
    """Write `data` to `path` so that an interrupted write never leaves a partial file under that name."""
    partial = path.with_name(f".{path.name}.part")
    try:
        partial.write_bytes(data)
        os.replace(partial, path)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise CommandError(f"cannot write {path}: {exc.strerror or exc}", FAILED) from None

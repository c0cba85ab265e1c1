"""`-o` writes the bytes as shell redirection would, and is checked before the call is paid for.

Every special file here (a FIFO, a symlink, a character device) is made in the test's own temporary
folder; the machine's own /dev entries are never touched.
"""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest

from kellyapi.cli import exits, main
from kellyapi.sandbox import media
from kellyapi.testing import KellySandbox
from tests import needs


def generate(sandbox: KellySandbox, output: str | Path) -> int:
    return main(
        ["generate", "a lighthouse", "--width", "64", "--height", "80", "--api", sandbox.url, "-o", str(output)]
    )


def test_a_fifo_is_written_to_not_replaced(kelly_sandbox: KellySandbox, tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    assert generate(kelly_sandbox, fifo) == exits.OK
    reader.join(timeout=30)
    assert stat.S_ISFIFO(fifo.lstat().st_mode)
    assert media.png_size(received[0]) == (64, 80)


def test_a_symlink_stays_a_link_and_its_target_gets_the_result(kelly_sandbox: KellySandbox, tmp_path: Path) -> None:
    target = tmp_path / "images" / "latest.png"
    target.parent.mkdir()
    target.write_bytes(b"old")
    link = tmp_path / "link.png"
    link.symlink_to(target)
    assert generate(kelly_sandbox, link) == exits.OK
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert media.png_size(target.read_bytes()) == (64, 80)
    dangling = tmp_path / "dangling.png"
    dangling.symlink_to(tmp_path / "images" / "new.png")
    assert generate(kelly_sandbox, dangling) == exits.OK
    assert dangling.is_symlink() and media.png_size((tmp_path / "images" / "new.png").read_bytes()) == (64, 80)


def test_a_character_device_is_written_to_not_replaced(kelly_sandbox: KellySandbox, tmp_path: Path) -> None:
    if os.geteuid() != 0:
        needs.missing("making a device node needs root (CI runs as root)")
    device = tmp_path / "null"
    os.mknod(device, stat.S_IFCHR | 0o666, os.makedev(1, 3))  # a null device of our own, in our folder
    assert generate(kelly_sandbox, device) == exits.OK
    assert stat.S_ISCHR(device.lstat().st_mode)
    assert os.major(device.lstat().st_rdev) == 1 and os.minor(device.lstat().st_rdev) == 3


def test_a_regular_file_is_replaced_whole(kelly_sandbox: KellySandbox, tmp_path: Path) -> None:
    existing = tmp_path / "out.png"
    existing.write_bytes(b"x" * 100_000)
    assert generate(kelly_sandbox, existing) == exits.OK
    assert media.png_size(existing.read_bytes()) == (64, 80)
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]  # no partial file left behind


@pytest.mark.parametrize("where", ["missing/folder/x.png", "a-folder", "a-folder/"])
def test_an_output_that_cannot_be_written_fails_before_any_call(
    kelly_sandbox: KellySandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str], where: str
) -> None:
    (tmp_path / "a-folder").mkdir()
    code = generate(kelly_sandbox, str(tmp_path / where) + ("/" if where.endswith("/") else ""))
    assert code == exits.USAGE
    err = capsys.readouterr().err
    assert err.startswith("kellyapi: ") and err.count("\n") == 1
    assert kelly_sandbox.requests == []

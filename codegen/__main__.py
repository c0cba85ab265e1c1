"""`python -m codegen [--check]`: write every generated file, or fail naming the ones that drifted."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from codegen import render, spec, unasync_step

ROOT = Path(__file__).resolve().parent.parent


def _read_sources(folder: str, overlay: dict[str, str]) -> dict[str, str]:
    sources = {
        path.relative_to(ROOT).as_posix(): path.read_text(encoding="utf-8")
        for path in sorted((ROOT / folder).rglob("*.py"))
    }
    sources.update({name: text for name, text in overlay.items() if name.startswith(folder + "/")})
    return sources


def expected_files(spec_path: Path = spec.SPEC_PATH) -> tuple[dict[str, str], list[str]]:
    """Every generated file as the spec and the async sources make it, and the unused unasync rules."""
    operations = spec.load(spec_path)
    generated = {
        "kellyapi/_core/api_spec.py": render.render_api_spec(operations),
        "kellyapi/_async/api.py": render.render_api(operations),
        "tests/cli/test_commands.py": render.render_cli_tests(operations),
        "README.md": render.render_readme(operations, (ROOT / "README.md").read_text(encoding="utf-8")),
    }
    async_sources: dict[str, str] = {}
    for async_folder, _ in unasync_step.TWIN_FOLDERS:
        async_sources.update(_read_sources(async_folder, generated))
    generated.update(unasync_step.unasync_sources(async_sources))
    return generated, unasync_step.unused_replacements(async_sources)


def _stale_files(expected: dict[str, str]) -> list[Path]:
    stale = []
    for _, sync_folder in unasync_step.TWIN_FOLDERS:
        for path in (ROOT / sync_folder).rglob("*.py"):
            if path.relative_to(ROOT).as_posix() not in expected:
                stale.append(path)
    return stale


def main(argv: list[str] | None = None) -> int:
    """Generate, or with --check verify, every generated file."""
    parser = argparse.ArgumentParser(prog="python -m codegen", description=__doc__)
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if any file would change")
    args = parser.parse_args(argv)

    expected, unused = expected_files()
    problems = [f"unasync replacement {name!r} is used by no async source" for name in unused]
    for relative, text in expected.items():
        path = ROOT / relative
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == text:
            continue
        if args.check:
            problems.append(f"{relative}: {'missing' if current is None else 'differs from what the spec makes'}")
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            print(f"wrote {relative}")
    for path in _stale_files(expected):
        if args.check:
            problems.append(f"{path.relative_to(ROOT).as_posix()}: has no async source")
        else:
            path.unlink()
            print(f"removed {path.relative_to(ROOT).as_posix()}")
    for problem in problems:
        print(f"codegen: {problem}", file=sys.stderr)
    if problems and args.check:
        print("codegen: run `python -m codegen` and commit the result", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

"""`kellyapi demo`: every endpoint through both clients, results saved; without a key, against the sandbox."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kellyapi import SyncKellyAPI
from kellyapi._core.config import API_KEY_ENV, BASE_URL_ENV, DEFAULT_BASE_URL
from kellyapi.cli import connection, exits
from kellyapi.cli.exits import CommandError

IMAGE, AUDIO = "<the generated image>", "<the generated speech>"

# In call order: later calls take the image and the speech that earlier ones returned.
DEMO_CALLS: tuple[tuple[str, Mapping[str, object]], ...] = (
    ("sd_models", {}),
    ("sdxl_models", {}),
    ("llm_models", {}),
    ("voice_models", {}),
    ("generate", {"prompt": "a lighthouse on a cliff at dawn, oil painting", "width": 512, "height": 384}),
    ("img2img", {"prompt": "the same lighthouse in winter", "image_data": IMAGE, "width": 512, "height": 384}),
    ("img2text", {"prompt": "Describe this picture", "image_data": IMAGE}),
    ("llm", {"prompt": "Say hello to a new user of the Kelly AI SDK"}),
    ("upscale", {"image_data": IMAGE}),
    ("removebg", {"image_data": IMAGE}),
    ("text2voice", {"text": "Hello from the Kelly AI Python SDK"}),
    ("voice2text", {"audio": AUDIO}),
    ("text2write", {"text": "Dear diary,\nthe demo ran end to end."}),
    ("code2image", {"text": "from kellyapi import SyncKellyAPI\n\napi = SyncKellyAPI()\nprint(api.llm('Hi'))\n"}),
)


def _arguments(template: Mapping[str, object], results: Mapping[str, Any]) -> dict[str, object]:
    stand_ins = {IMAGE: results.get("generate"), AUDIO: results.get("text2voice")}
    return {name: stand_ins.get(value, value) if isinstance(value, str) else value for name, value in template.items()}


def _run_sync(api: SyncKellyAPI) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for name, template in DEMO_CALLS:
        results[name] = getattr(api, name)(**_arguments(template, results))
    return results


async def _run_async(args: argparse.Namespace, where: connection.Target) -> dict[str, Any]:
    results: dict[str, Any] = {}
    async with connection.client(args, where) as api:
        for name, template in DEMO_CALLS:
            results[name] = await getattr(api, name)(**_arguments(template, results))
    return results


def _save(folder: Path, name: str, result: Any) -> tuple[Path, str]:
    if isinstance(result, bytes):
        suffix = ".png" if result.startswith(b"\x89PNG") else ".wav" if result.startswith(b"RIFF") else ".bin"
        path, summary = folder / f"{name}{suffix}", f"{len(result):,} bytes of {suffix[1:].upper()}"
        path.write_bytes(result)
    elif isinstance(result, str):
        path, summary = folder / f"{name}.txt", repr(result if len(result) < 60 else result[:57] + "...")
        path.write_text(result + "\n", encoding="utf-8")
    else:
        path, summary = folder / f"{name}.json", json.dumps(result)[:60]
        path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return path, summary


def _confirm_real_calls(args: argparse.Namespace, url: str) -> None:
    """With a key and no --sandbox the demo pays for real calls: say how many, and ask (or want --yes)."""
    calls = 2 * len(DEMO_CALLS)
    what = f"the demo makes {calls} real calls to {url} with your key ($" + API_KEY_ENV + ")"
    if args.yes:
        return
    if not sys.stdin.isatty():
        raise CommandError(f"{what}; add --yes to make them, or --sandbox to try the built-in sandbox")
    print(f"{what[0].upper()}{what[1:]}. Continue? [y/N] ", end="", file=sys.stderr, flush=True)
    if sys.stdin.readline().strip().lower() not in ("y", "yes"):
        raise CommandError("demo cancelled: no call was made", exits.FAILED)


def demo(args: argparse.Namespace) -> int:
    """Call every endpoint with SyncKellyAPI and KellyAPI; without a key (or with --sandbox), against the sandbox."""
    if not args.sandbox and not os.environ.get(API_KEY_ENV) and args.api is None:
        args = argparse.Namespace(**{**vars(args), "sandbox": True})
        print(f"{API_KEY_ENV} is not set: using the built-in sandbox")
    out: Path = args.out
    with connection.target(args) as where:
        url = where.api or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL
        if not where.local:
            _confirm_real_calls(args, url)
        options = {"timeout": args.timeout, "max_retries": args.max_retries, "trust_env": not where.local}
        with SyncKellyAPI(where.api_key, where.api, allow_insecure_http=args.allow_insecure_http, **options) as api:
            print(f"Calling {len(DEMO_CALLS)} endpoints at {api.api}")
            runs = {"sync": _run_sync(api)}
        runs["async"] = asyncio.run(_run_async(args, where))
    for twin, results in runs.items():
        folder = out / twin
        folder.mkdir(parents=True, exist_ok=True)
        for name, result in results.items():
            path, summary = _save(folder, name, result)
            print(f"{twin:5}  {name:12}  {summary:44}  {path}")
    print(f"Done: {len(DEMO_CALLS)} endpoints x 2 clients, results in {out}/")
    return 0

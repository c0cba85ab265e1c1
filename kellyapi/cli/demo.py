"""`kellyapi demo`: every endpoint through both clients, results saved; without a key, against the sandbox."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kellyapi import KellyAPI, SyncKellyAPI
from kellyapi._core.config import API_KEY_ENV

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


async def _run_async(api_key: str, api_url: str | None, trust_env: bool) -> dict[str, Any]:
    results: dict[str, Any] = {}
    async with KellyAPI(api_key, api_url, trust_env=trust_env) as api:
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


def demo(out: Path) -> int:
    """Call every endpoint with SyncKellyAPI and KellyAPI; without KELLY_API_KEY, against the built-in sandbox."""
    api_key = os.environ.get(API_KEY_ENV)
    api_url = None
    with contextlib.ExitStack() as stack:
        if not api_key:
            from kellyapi.sandbox import Sandbox  # only the demo needs the server side

            sandbox = stack.enter_context(Sandbox())
            api_key, api_url = sandbox.api_key, sandbox.url
            print(f"{API_KEY_ENV} is not set: using the built-in sandbox at {sandbox.url}")
        trust_env = api_url is None  # the real API: through the proxy environment; the local sandbox: directly
        with SyncKellyAPI(api_key, api_url, trust_env=trust_env) as api:
            print(f"Calling {len(DEMO_CALLS)} endpoints at {api.api}")
            runs = {"sync": _run_sync(api)}
        runs["async"] = asyncio.run(_run_async(api_key, api_url, trust_env))
    for twin, results in runs.items():
        folder = out / twin
        folder.mkdir(parents=True, exist_ok=True)
        for name, result in results.items():
            path, summary = _save(folder, name, result)
            print(f"{twin:5}  {name:12}  {summary:44}  {path}")
    print(f"Done: {len(DEMO_CALLS)} endpoints x 2 clients, results in {out}/")
    return 0

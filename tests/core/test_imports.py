"""What `import kellyapi` loads: the async client, not the blocking twin's urllib3, nor codegen or YAML."""

from __future__ import annotations

import subprocess
import sys


def modules_after(code: str) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-c", f"import sys; {code}; print(' '.join(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
    )
    return set(done.stdout.split())


def test_importing_the_sdk_leaves_urllib3_codegen_and_yaml_unloaded() -> None:
    loaded = modules_after("import kellyapi; kellyapi.KellyAPI")
    assert "aiohttp" in loaded
    assert not {"urllib3", "kellyapi._sync", "yaml", "codegen", "kellyapi.sandbox"} & loaded


def test_the_blocking_client_loads_on_first_use() -> None:
    loaded = modules_after("from kellyapi import SyncKellyAPI")
    assert {"urllib3", "kellyapi._sync.api"} <= loaded

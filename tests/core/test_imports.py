"""What `import kellyapi` loads: the async client, not the blocking twin's urllib3, nor codegen or YAML."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import kellyapi


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


def test_making_a_client_leaves_redis_unloaded_unless_kelly_redis_url_asks_for_it() -> None:
    loaded = modules_after("import kellyapi; kellyapi.KellyAPI('k'); kellyapi.SyncKellyAPI('k')")
    assert not {"redis", "kellyapi._transport.redis"} & loaded


def _imports(path: Path, module: str) -> set[str]:
    """The kellyapi modules `module` imports, at import time or inside a function (not for type checking)."""
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            node.body = []
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            found |= {f"{base}.{alias.name}" for alias in node.names} | {base}
    return {name for name in found if name.startswith("kellyapi")}


def test_the_package_imports_no_module_in_a_circle() -> None:
    """Each module can be read from the ones it imports: no circle, not even through a deferred import
    (a package's own `__init__`, which its modules import through, does not count)."""
    root = Path(kellyapi.__file__).parent
    modules = {}
    for path in root.rglob("*.py"):
        name = ".".join(path.relative_to(root.parent).with_suffix("").parts).removesuffix(".__init__")
        modules[name] = path
    graph = {
        name: {
            target
            for target in _imports(path, name)
            if target in modules and target != name and not name.startswith(target + ".")
        }
        for name, path in modules.items()
    }
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> None:
        assert name not in path, "import circle: " + " -> ".join([*path[path.index(name) :], name])
        if name in done:
            return
        for target in sorted(graph[name]):
            visit(target, [*path, name])
        done.add(name)

    for name in sorted(graph):
        visit(name, [])
    assert not any(
        target.startswith("kellyapi._transport") for name in graph if name.startswith("kellyapi._core")
        for target in graph[name]
    ), "the shared logic (_core) touches no transport"

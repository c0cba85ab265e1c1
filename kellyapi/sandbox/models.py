"""The model names the sandbox knows: the spec's example lists (every default of the client among them),
plus any a user adds for code that calls newer models."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping

from kellyapi._core.api_spec import ENDPOINTS

KINDS = ("image", "chat", "voice")


def _spec_models() -> dict[str, list[str]]:
    listed: dict[str, list[str]] = {kind: [] for kind in KINDS}
    for endpoint in ENDPOINTS.values():
        if endpoint.models is not None:
            listed[endpoint.models] += [
                name for name in endpoint.example["models"] if name not in listed[endpoint.models]
            ]
    return listed


def parse_models(rules: Iterable[str]) -> dict[str, list[str]]:
    """`["chat=gpt-9,claude", "image=Flux"]` as {kind: names}; ValueError naming the kinds for a bad rule."""
    added: dict[str, list[str]] = {}
    for rule in rules:
        kind, _, names = rule.partition("=")
        chosen = [name.strip() for name in names.split(",") if name.strip()]
        if kind.strip() not in KINDS or not chosen:
            raise ValueError(f"models rule {rule!r} must be KIND=NAME[,NAME...] with KIND one of {', '.join(KINDS)}")
        added.setdefault(kind.strip(), []).extend(chosen)
    return added


class ModelLists:
    """The image, chat and voice models a sandbox accepts; thread-safe, since tests add models while it serves."""

    def __init__(self, extra: Mapping[str, Iterable[str]] | None = None) -> None:
        """The spec's lists plus `extra` ({kind: names}), which stay after `reset()`."""
        self._lock = threading.Lock()
        self._spec = _spec_models()
        self._base = {kind: list(names) for kind, names in self._spec.items()}
        for kind, names in self._checked(extra or {}).items():
            self._base[kind] += [name for name in names if name not in self._base[kind]]
        self._lists = {kind: list(names) for kind, names in self._base.items()}

    @staticmethod
    def _checked(models: Mapping[str, Iterable[str]]) -> dict[str, list[str]]:
        if isinstance(models, (str, bytes)) or not isinstance(models, Mapping):
            raise ValueError(f"models must map a kind ({', '.join(KINDS)}) to names, e.g. {{'chat': ['gpt-9']}}")
        checked = {}
        for kind, names in models.items():
            if kind not in KINDS:
                raise ValueError(f"unknown model kind {kind!r}; the kinds are: {', '.join(KINDS)}")
            listed = [names] if isinstance(names, str) else list(names)
            if not all(isinstance(name, str) and name for name in listed):
                raise ValueError(f"models[{kind!r}] must be model names (non-empty strings)")
            checked[kind] = listed
        return checked

    def add(self, models: Mapping[str, Iterable[str]]) -> None:
        """Accept more models until the next `reset()`: `add({"chat": ["gpt-9"]})`."""
        with self._lock:
            for kind, names in self._checked(models).items():
                self._lists[kind] += [name for name in names if name not in self._lists[kind]]

    def reset(self) -> None:
        """Back to the spec's lists and the ones given when the sandbox was made."""
        with self._lock:
            self._lists = {kind: list(names) for kind, names in self._base.items()}

    def accepts(self, kind: str, name: str) -> bool:
        """Whether `name` is a known model of `kind`."""
        return name in self._lists[kind]

    def listing(self, kind: str, first: Iterable[str]) -> list[str]:
        """A model-list answer: the route's own example names, then every other model of `kind` added since."""
        names = list(first)
        with self._lock:
            added = [name for name in self._lists[kind] if name not in self._spec[kind]]
        return names + [name for name in added if name not in names]

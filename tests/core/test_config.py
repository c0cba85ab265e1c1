"""Client configuration: environment fallbacks, validation, and a repr that never shows the key."""

from __future__ import annotations

import pytest

from kellyapi import KellyAPI, SyncKellyAPI, errors
from kellyapi._core.config import ClientConfig


def test_environment_fallbacks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KELLY_API_KEY", "env-key")
    monkeypatch.setenv("KELLY_API_URL", "http://127.0.0.1:9999")
    config = ClientConfig.create(None, None, 60, 2)
    assert config.base_url == "http://127.0.0.1:9999/"
    assert config.headers["Authorization"] == "Bearer env-key"


def test_arguments_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KELLY_API_KEY", "env-key")
    monkeypatch.setenv("KELLY_API_URL", "http://127.0.0.1:9999/")
    config = ClientConfig.create("arg-key", "https://example.test/v1", 60, 2)
    assert config.base_url == "https://example.test/v1/"
    assert config.headers["Authorization"] == "Bearer arg-key"


def test_default_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KELLY_API_URL", raising=False)
    assert ClientConfig.create("k", None, 60, 2).base_url == "https://api.kellyai.pro/"


@pytest.mark.parametrize(
    ("kwargs", "error_class"),
    [
        ({"api": "ftp://x/"}, errors.InvalidRequest),
        ({"api": "not a url"}, errors.InvalidRequest),
        ({"api": 5}, errors.InvalidRequest),
        ({"timeout": 0}, errors.InvalidRequest),
        ({"timeout": -1}, errors.InvalidRequest),
        ({"timeout": float("inf")}, errors.InvalidRequest),
        ({"timeout": "60"}, errors.InvalidRequest),
        ({"max_retries": -1}, errors.InvalidRequest),
        ({"max_retries": 1.5}, errors.InvalidRequest),
        ({"api_key": "two words"}, errors.InvalidApiKey),
        ({"api_key": "line\nbreak"}, errors.InvalidApiKey),
        ({"api_key": 1234}, errors.InvalidApiKey),
        ({"session": 42}, errors.InvalidRequest),
    ],
)
@pytest.mark.parametrize("client_class", [KellyAPI, SyncKellyAPI])
def test_bad_configuration_is_refused(
    client_class: type[KellyAPI] | type[SyncKellyAPI], kwargs: dict[str, object], error_class: type[Exception]
) -> None:
    with pytest.raises(error_class):
        client_class(**{"api_key": "k", **kwargs})  # type: ignore[arg-type]


@pytest.mark.parametrize("client_class", [KellyAPI, SyncKellyAPI])
def test_repr_never_shows_the_key(client_class: type[KellyAPI] | type[SyncKellyAPI]) -> None:
    client = client_class(api_key="sk-very-secret", api="http://127.0.0.1:1/", timeout=5, max_retries=1)
    text = repr(client)
    assert "sk-very-secret" not in text
    assert text == f"{client_class.__name__}(api='http://127.0.0.1:1/', api_key=<set>, timeout=5, max_retries=1)"
    assert client.api == "http://127.0.0.1:1/"

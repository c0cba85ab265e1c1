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


@pytest.mark.parametrize("url", ["http://api.kellyai.pro/", "http://10.0.0.5:8000/", "http://sandbox.internal/"])
def test_plain_http_to_another_machine_is_refused(url: str) -> None:
    with pytest.raises(errors.InvalidRequest) as caught:
        ClientConfig.create("secret-key", url, 60, 2)
    assert "would send the API key unencrypted" in str(caught.value)
    assert "allow_insecure_http=True" in str(caught.value)
    assert "secret-key" not in str(caught.value)


def test_plain_http_from_the_environment_is_refused_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KELLY_API_URL", "http://api.kellyai.pro/")
    with pytest.raises(errors.InvalidRequest):
        ClientConfig.create("k", None, 60, 2)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8000/", "http://127.8.9.10/", "http://localhost:8000", "http://[::1]:8000/"]
)
def test_plain_http_to_loopback_is_allowed_for_the_sandbox(url: str) -> None:
    assert ClientConfig.create("k", url, 60, 2).base_url.startswith("http://")


def test_plain_http_elsewhere_is_allowed_when_asked_for() -> None:
    config = ClientConfig.create("k", "http://sandbox.internal:8000", 60, 2, allow_insecure_http=True)
    assert config.base_url == "http://sandbox.internal:8000/"


@pytest.mark.parametrize("limit", [0, -1, 1.5, True, "64MB", None])
def test_max_response_bytes_must_be_a_positive_int(limit: object) -> None:
    with pytest.raises(errors.InvalidRequest, match="max_response_bytes must be an int >= 1"):
        ClientConfig.create("k", None, 60, 2, max_response_bytes=limit)  # type: ignore[arg-type]


def test_the_default_body_cap_is_64_mib() -> None:
    assert ClientConfig.create("k", None, 60, 2).max_response_bytes == 64 * 1024 * 1024

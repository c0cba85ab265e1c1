"""Which proxy the environment names for the API, and what `proxy=`, `trust_env=` and `verify=` accept."""

from __future__ import annotations

import ssl

import pytest

from kellyapi import errors
from kellyapi._core.config import ClientConfig
from kellyapi._core.network import Proxy, parse_proxy, proxy_from_environment, ssl_context_for

API = "https://api.kellyai.pro/"


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, None),
        ({"HTTPS_PROXY": "http://proxy:3128"}, "http://proxy:3128"),
        ({"https_proxy": "http://lower:1", "HTTPS_PROXY": "http://upper:2"}, "http://lower:1"),
        ({"HTTP_PROXY": "http://plain:3128"}, None),  # the API is https://
        ({"ALL_PROXY": "http://every:3128"}, "http://every:3128"),
        ({"HTTPS_PROXY": "proxy.corp:8080"}, "http://proxy.corp:8080"),  # bare host:port means http://, as in curl
        ({"HTTPS_PROXY": "http://proxy:3128", "NO_PROXY": "*"}, None),
        ({"HTTPS_PROXY": "http://proxy:3128", "NO_PROXY": "kellyai.pro"}, None),
        ({"HTTPS_PROXY": "http://proxy:3128", "no_proxy": ".kellyai.pro"}, None),
        ({"HTTPS_PROXY": "http://proxy:3128", "NO_PROXY": "api.kellyai.pro:443"}, None),
        ({"HTTPS_PROXY": "http://proxy:3128", "NO_PROXY": "api.kellyai.pro:8443"}, "http://proxy:3128"),
        ({"HTTPS_PROXY": "http://proxy:3128", "NO_PROXY": "ellyai.pro"}, "http://proxy:3128"),
        ({"HTTPS_PROXY": "http://proxy:3128", "NO_PROXY": "example.com, other.test"}, "http://proxy:3128"),
    ],
)
def test_the_proxy_the_environment_names(environ: dict[str, str], expected: str | None) -> None:
    found = proxy_from_environment(API, environ)
    assert (found.url if found else None) == expected


@pytest.mark.parametrize(
    ("no_proxy", "bypassed"), [("10.0.0.0/8", True), ("10.1.2.3", True), ("11.0.0.0/8", False), ("[::1]", False)]
)
def test_no_proxy_takes_addresses_and_networks(no_proxy: str, bypassed: bool) -> None:
    environ = {"HTTP_PROXY": "http://proxy:3128", "NO_PROXY": no_proxy}
    assert (proxy_from_environment("http://10.1.2.3:8000/", environ) is None) == bypassed


def test_under_cgi_an_upper_case_http_proxy_is_a_request_header_and_ignored() -> None:
    environ = {"REQUEST_METHOD": "GET", "HTTP_PROXY": "http://attacker:1"}
    assert proxy_from_environment("http://api.test/", environ) is None
    assert proxy_from_environment("http://api.test/", {**environ, "http_proxy": "http://mine:2"}) == Proxy(
        "http://mine:2"
    )


def test_credentials_are_kept_apart_and_never_in_a_repr() -> None:
    proxy = parse_proxy("http://me%40corp:p%3Ass@proxy:3128")
    assert proxy == Proxy("http://proxy:3128", "me@corp:p:ss")
    assert repr(proxy) == "'http://***@proxy:3128'"
    config = ClientConfig.create("k", None, 60, 2, proxy="http://me:secret@proxy:3128")
    assert "secret" not in repr(config)


@pytest.mark.parametrize("url", ["socks5://proxy:1080", "", "ftp://x", 3])
def test_a_proxy_that_cannot_be_used_is_refused(url: object) -> None:
    with pytest.raises(errors.InvalidRequest, match="proxy"):
        parse_proxy(url)


def test_an_unusable_proxy_in_the_environment_is_refused_naming_the_variable() -> None:
    with pytest.raises(errors.InvalidRequest, match="ALL_PROXY"):
        proxy_from_environment(API, {"ALL_PROXY": "socks5://proxy:1080"})


def test_verify_true_leaves_the_library_default_and_false_turns_checks_off() -> None:
    assert ssl_context_for(True) is None
    context = ssl_context_for(False)
    assert context is not None and context.verify_mode == ssl.CERT_NONE and not context.check_hostname
    mine = ssl.create_default_context()
    assert ssl_context_for(mine) is mine


def test_trust_env_must_be_a_bool() -> None:
    with pytest.raises(errors.InvalidRequest, match="trust_env"):
        ClientConfig.create("k", None, 60, 2, trust_env="no")  # type: ignore[arg-type]

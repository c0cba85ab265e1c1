"""Proxies (real forward proxies, proxy.py and tinyproxy: plain HTTP, HTTPS through CONNECT, credentials, the
environment, NO_PROXY) and TLS verification (`verify=` as a CA file, an SSLContext with a client certificate,
or False)."""

from __future__ import annotations

import logging
import ssl

import pytest

from kellyapi import KellyAPI, errors
from kellyapi.testing import KellySandbox
from tests.conftest import Certificates, ForwardProxy
from tests.hostile_server import API_KEY, hostile, serve_forever

pytestmark = pytest.mark.usefixtures("no_proxy_environment")


async def test_plain_http_goes_through_the_proxy_given(
    kelly_sandbox: KellySandbox, forward_proxy: ForwardProxy
) -> None:
    async with KellyAPI(kelly_sandbox.api_key, kelly_sandbox.url, proxy=forward_proxy.url) as api:
        assert "'through the proxy'" in await api.llm("through the proxy")
    assert forward_proxy.forwarded("/chat/chatgpt")


async def test_https_goes_through_the_proxy_with_connect(
    forward_proxy: ForwardProxy, certificates: Certificates
) -> None:
    with hostile(serve_forever, tls=certificates.server_context) as server:
        async with KellyAPI(API_KEY, server.url, proxy=forward_proxy.url, verify=certificates.ca_file) as api:
            assert await api.llm("tunnelled") == "tunnelled"
    assert forward_proxy.forwarded(f"CONNECT localhost:{server.port}")


async def test_proxy_credentials_work_and_are_never_shown(
    kelly_sandbox: KellySandbox,
    forward_proxy_with_login: ForwardProxy,
    certificates: Certificates,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    proxy = forward_proxy_with_login
    async with KellyAPI(kelly_sandbox.api_key, kelly_sandbox.url, proxy=proxy.url_with_credentials) as api:
        assert "'let me in'" in await api.llm("let me in")
        shown = repr(api)
    with hostile(serve_forever, tls=certificates.server_context) as server:
        async with KellyAPI(API_KEY, server.url, proxy=proxy.url_with_credentials, verify=certificates.ca_file) as api:
            assert await api.llm("tunnelled with a login") == "tunnelled with a login"
        async with KellyAPI(API_KEY, server.url, proxy=proxy.url, verify=certificates.ca_file, max_retries=0) as api:
            with pytest.raises(errors.ConnectionError) as refused:
                await api.llm("no login")
    assert "s3cret" not in shown and "***@127.0.0.1" in shown
    assert "s3cret" not in str(refused.value)
    assert all("s3cret" not in record.getMessage() for record in caplog.records)


@pytest.mark.parametrize("variable", ["HTTP_PROXY", "http_proxy", "ALL_PROXY"])
async def test_the_proxy_comes_from_the_environment(
    kelly_sandbox: KellySandbox, forward_proxy: ForwardProxy, monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    monkeypatch.setenv(variable, forward_proxy.url)
    for name in ("no_proxy", "NO_PROXY"):  # kelly_sandbox lists loopback there: this test means to go through
        monkeypatch.delenv(name, raising=False)
    async with KellyAPI(kelly_sandbox.api_key, kelly_sandbox.url) as api:
        assert "'from the environment'" in await api.llm("from the environment")
    assert forward_proxy.forwarded("/chat/chatgpt")


async def test_https_proxy_from_the_environment(
    forward_proxy: ForwardProxy, certificates: Certificates, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", forward_proxy.url)
    with hostile(serve_forever, tls=certificates.server_context) as server:
        async with KellyAPI(API_KEY, server.url, verify=certificates.ca_file) as api:
            assert await api.llm("via HTTPS_PROXY") == "via HTTPS_PROXY"
    assert forward_proxy.forwarded(f"CONNECT localhost:{server.port}")


@pytest.mark.parametrize("bypass", ["NO_PROXY", "trust_env"])
async def test_no_proxy_and_trust_env_false_go_direct(
    kelly_sandbox: KellySandbox, closed_port: int, monkeypatch: pytest.MonkeyPatch, bypass: str
) -> None:
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{closed_port}")  # a proxy that is not there
    if bypass == "NO_PROXY":
        monkeypatch.setenv("NO_PROXY", "example.test,127.0.0.0/8")
    async with KellyAPI(kelly_sandbox.api_key, kelly_sandbox.url, trust_env=bypass != "trust_env") as api:
        assert "'straight there'" in await api.llm("straight there")


async def test_an_explicit_proxy_wins_over_the_environment(
    kelly_sandbox: KellySandbox, forward_proxy: ForwardProxy, closed_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{closed_port}")
    monkeypatch.setenv("NO_PROXY", "*")
    async with KellyAPI(kelly_sandbox.api_key, kelly_sandbox.url, proxy=forward_proxy.url) as api:
        assert "'explicitly'" in await api.llm("explicitly")
    assert forward_proxy.forwarded("/chat/chatgpt")


@pytest.mark.parametrize("how", ["path", "context"])
async def test_verify_takes_a_ca_file_or_a_context(certificates: Certificates, how: str) -> None:
    verify = certificates.ca_file if how == "path" else ssl.create_default_context(cafile=str(certificates.ca_file))
    with hostile(serve_forever, tls=certificates.server_context) as server:
        async with KellyAPI(API_KEY, server.url, verify=verify) as api:
            assert await api.llm("verified") == "verified"


async def test_a_client_certificate_goes_through_the_context(certificates: Certificates) -> None:
    server_context = certificates.server_context
    server_context.verify_mode = ssl.CERT_REQUIRED
    certificates.authority.configure_trust(server_context)
    client_context = ssl.create_default_context(cafile=str(certificates.ca_file))
    certificates.authority.issue_cert("client.kelly.test").configure_cert(client_context)
    with hostile(serve_forever, tls=server_context) as server:
        async with KellyAPI(API_KEY, server.url, verify=client_context) as api:
            assert await api.llm("it is me") == "it is me"
        async with KellyAPI(API_KEY, server.url, verify=certificates.ca_file, max_retries=0) as api:
            with pytest.raises(errors.ConnectionError):
                await api.llm("no certificate")


async def test_verify_false_is_allowed_when_asked_with_one_warning(
    certificates: Certificates, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="kellyapi")
    with hostile(serve_forever, tls=certificates.server_context) as server:
        async with KellyAPI(API_KEY, server.url, verify=False) as api:
            assert await api.llm("unchecked") == "unchecked"
            assert await api.llm("still unchecked") == "still unchecked"
    warnings = [record for record in caplog.records if record.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "verify=False" in warnings[0].getMessage()


@pytest.mark.parametrize("verify", ["/no/such/ca.pem", 3, "yes"])
async def test_a_bad_verify_is_refused_before_anything_is_sent(verify: object) -> None:
    with pytest.raises(errors.InvalidRequest, match="verify"):
        KellyAPI(API_KEY, "https://api.kellyai.pro/", verify=verify)  # type: ignore[arg-type]

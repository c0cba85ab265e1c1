"""`with_options(...)`: a copy with some options changed, on the original's connections; the original unchanged."""

from __future__ import annotations

from pathlib import Path

import pytest
import trustme

from kellyapi import KellyAPI, errors
from kellyapi.testing import KellySandbox
from tests.conftest import Certificates, ForwardProxy
from tests.hostile_server import API_KEY, hostile, serve_forever


async def test_the_copy_changes_only_what_it_is_given_and_shares_the_connections(kelly_sandbox: KellySandbox) -> None:
    async with KellyAPI(timeout=30, max_retries=3) as api:
        quick = api.with_options(timeout=5, max_retries=0)

        assert type(quick) is KellyAPI
        assert "timeout=5, max_retries=0" in repr(quick)
        assert "timeout=30, max_retries=3" in repr(api), "the original is unchanged"
        assert quick.api == api.api

        assert await quick.sd_models()
        assert await api.sd_models()
        assert await quick.llm("hello")
        assert kelly_sandbox.connections == 1, "one pool: the copy's calls reuse the original's connection"


async def test_the_copy_s_options_govern_its_calls(kelly_sandbox: KellySandbox) -> None:
    async with KellyAPI() as api:
        no_retries = api.with_options(max_retries=0)
        kelly_sandbox.fail("sd/models", "503", times=1)
        with pytest.raises(errors.GenericApiError) as caught:
            await no_retries.sd_models()
        assert caught.value.attempts == 1

        kelly_sandbox.fail("sd/models", "503", times=1)
        assert await api.sd_models(), "the original still retries"
        assert [r.status for r in kelly_sandbox.requests] == [503, 503, 200]


async def test_the_key_and_url_can_change_and_closing_the_copy_leaves_the_original_open(
    kelly_sandbox: KellySandbox,
) -> None:
    async with KellyAPI() as api:
        other = api.with_options(api_key="another-key")
        async with other:
            assert await other.sd_models()
        assert await api.sd_models(), "closing the copy closed nothing of the original's"
        assert kelly_sandbox.connections == 1


async def test_unknown_options_and_session_are_refused_before_any_request(kelly_sandbox: KellySandbox) -> None:
    async with KellyAPI() as api:
        with pytest.raises(errors.InvalidRequest, match="session") as caught:
            api.with_options(session=None)
        assert isinstance(caught.value, TypeError)
        with pytest.raises(errors.InvalidRequest, match="timout"):
            api.with_options(timout=5)
        with pytest.raises(errors.InvalidRequest) as bad_value:
            api.with_options(max_retries=-1)
        assert isinstance(bad_value.value, ValueError)
    assert kelly_sandbox.requests == []


@pytest.mark.usefixtures("no_proxy_environment")
async def test_a_copy_with_another_proxy_goes_through_it(forward_proxy: ForwardProxy) -> None:
    with hostile(serve_forever) as server:
        async with KellyAPI(API_KEY, server.url) as api:
            assert await api.llm("direct") == "direct"
            proxied = api.with_options(proxy=forward_proxy.url)
            assert await proxied.llm("through the proxy") == "through the proxy"
            assert await api.llm("direct again") == "direct again"
    assert forward_proxy.forwarded("/chat/chatgpt")
    assert forward_proxy.log.read_text(errors="replace").count("/chat/chatgpt") == 1  # the copy's call only


async def test_a_copy_with_another_verify_checks_certificates_its_own_way(
    certificates: Certificates, tmp_path: Path
) -> None:
    stranger = tmp_path / "another-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(stranger))
    with hostile(serve_forever, tls=certificates.server_context) as server:
        async with KellyAPI(API_KEY, server.url, verify=certificates.ca_file, max_retries=0) as api:
            assert await api.llm("trusted") == "trusted"
            with pytest.raises(errors.ConnectionError, match=r"CERTIFICATE_VERIFY_FAILED|certificate verify failed"):
                await api.with_options(verify=stranger).llm("not by that CA")
            assert await api.with_options(verify=False).llm("unchecked") == "unchecked"

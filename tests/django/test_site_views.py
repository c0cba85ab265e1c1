"""The example site's two views through Django's test clients, on both paths, replaying cassettes.

`client` is the WSGI path: the async chat view runs in a fresh event loop per request, so the
module-level KellyAPI crosses loops. `async_client` is the ASGI path: the sync image view runs in a
worker thread, the async view in the test's loop. Warnings fail the test (ResourceWarning is an error
suite-wide), so an unclosed session or socket anywhere shows up here.
"""

from __future__ import annotations

import base64
import gc
import re
import warnings
from collections.abc import Iterator

import aiohttp
import pytest
from django.test import AsyncClient, Client

from kellyapi.sandbox.media import png_size
from tests.conftest import CassetteTarget

REQUESTS = 20
IMAGE = re.compile(r'<img id="result" src="data:image/png;base64,([A-Za-z0-9+/=]+)"')


@pytest.fixture(autouse=True)
def no_warnings() -> Iterator[None]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
        gc.collect()  # an unclosed session or socket warns when it is collected: make that happen now
    assert [str(w.message) for w in caught] == []


def prompt(n: int) -> str:
    return f"a paper kite number {n} over the dunes"


def assert_image_page(html: str, n: int) -> None:
    match = IMAGE.search(html)
    assert match, html[:500]
    assert png_size(base64.b64decode(match.group(1))) == (512, 512)
    assert f'value="{prompt(n)}"' in html


def assert_chat_page(html: str, n: int) -> None:
    assert f"you said &#x27;question {n}?&#x27;</p>" in html, html[-500:]


def test_the_sync_image_view_on_the_wsgi_path(client: Client, site_cassette: CassetteTarget) -> None:
    for n in range(REQUESTS):
        response = client.get("/", {"prompt": prompt(n)})
        assert response.status_code == 200
        assert_image_page(response.content.decode(), n)


def open_sessions() -> list[aiohttp.ClientSession]:
    # type(), not isinstance(): isinstance would wake Django's lazy objects among the gc's objects.
    return [o for o in gc.get_objects() if type(o) is aiohttp.ClientSession and not o.closed]


def test_the_async_chat_view_on_the_wsgi_path_in_a_fresh_loop_per_request(
    client: Client, site_cassette: CassetteTarget
) -> None:
    for n in range(REQUESTS):
        response = client.post("/chat/", {"prompt": f"question {n}?"})
        assert response.status_code == 200
        assert_chat_page(response.content.decode(), n)
        assert open_sessions() == [], "each request's loop closes the pool it opened"


async def test_the_sync_image_view_on_the_asgi_path(async_client: AsyncClient, site_cassette: CassetteTarget) -> None:
    for n in range(REQUESTS):
        response = await async_client.get("/", {"prompt": prompt(n)})
        assert response.status_code == 200
        assert_image_page(response.content.decode(), n)


async def test_the_async_chat_view_on_the_asgi_path(async_client: AsyncClient, site_cassette: CassetteTarget) -> None:
    for n in range(REQUESTS):
        response = await async_client.post("/chat/", {"prompt": f"question {n}?"})
        assert response.status_code == 200
        assert_chat_page(response.content.decode(), n)


def test_a_rate_limit_becomes_a_503_with_the_api_s_retry_after(client: Client, site_cassette: CassetteTarget) -> None:
    site_cassette.fail("image/generate", status=429, retry_after=120)

    response = client.get("/", {"prompt": "a busy afternoon"})

    assert response.status_code == 503
    assert response["Retry-After"] == "120"
    assert "The image service is busy" in response.content.decode()


async def test_an_empty_question_is_a_400_and_never_reaches_the_api(
    async_client: AsyncClient, site_cassette: CassetteTarget
) -> None:
    response = await async_client.post("/chat/", {"prompt": "   "})

    assert response.status_code == 400
    assert "Please type a question." in response.content.decode()


def test_kellyapi_never_imports_django() -> None:
    import subprocess
    import sys

    code = "import sys, kellyapi, kellyapi.cli, kellyapi.sandbox; kellyapi.SyncKellyAPI; print('django' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "False\n"

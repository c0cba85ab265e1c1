"""Every sandbox fault kind against a live client: the typed error, the attempts the server saw, the time it took,
and a client that still works afterwards."""

from __future__ import annotations

import time

import attrs
import pytest

from kellyapi import KellyAPI, errors
from kellyapi.sandbox import Sandbox
from kellyapi.sandbox.faults import HUGE_IMAGE_BYTES, huge_image
from kellyapi.sandbox.media import png_size
from kellyapi.testing import KellySandbox
from tests._async.helpers import recording_sleeps

ROUTE = "image/generate"
MARGIN = 1.0  # seconds a call may run past its timeout on a busy machine


@attrs.frozen
class Expected:
    """What a client with max_retries=2 must raise when every attempt meets the fault."""

    kind: str
    error: type[errors.BaseError]
    status_code: int | None
    message: str
    attempts: int


PERSISTENT = [
    Expected("429", errors.RateLimitError, 429, "POST image/generate failed with HTTP 429: Too many requests", 3),
    Expected("429-date", errors.RateLimitError, 429, "POST image/generate failed with HTTP 429: Too many requests", 3),
    Expected("500", errors.GenericApiError, 500, "POST image/generate failed with HTTP 500: Internal error", 3),
    Expected(
        "500-plain", errors.GenericApiError, 500, "POST image/generate failed with HTTP 500: Internal Server Error", 3
    ),
    Expected("503", errors.GenericApiError, 503, "POST image/generate failed with HTTP 503: Overloaded", 3),
    Expected(
        "503-plain", errors.GenericApiError, 503, "POST image/generate failed with HTTP 503: Service Unavailable", 3
    ),
    Expected(
        "502-html",
        errors.ConnectionError,
        502,
        "POST image/generate failed with HTTP 502: <html> <head><title>502 Bad Gateway",
        3,
    ),
    Expected("reset", errors.ConnectionError, None, "POST image/generate: ", 3),
    Expected("reset-mid-body", errors.ConnectionError, None, "POST image/generate: ", 3),
    Expected("short-body", errors.ConnectionError, None, "POST image/generate: ", 3),
    Expected("invalid-json", errors.InvalidContent, 200, "POST image/generate answered application/json, not JSON", 1),
    Expected(
        "missing-field", errors.InvalidContent, 200, "POST image/generate: the response field 'image' is missing", 1
    ),
    Expected(
        "invalid-base64",
        errors.InvalidContent,
        200,
        "POST image/generate: the response field 'image' is not valid base64",
        1,
    ),
]
RETRYABLE = [expected.kind for expected in PERSISTENT if expected.attempts > 1]


def attempts(sandbox: KellySandbox) -> int:
    return len(sandbox.requests_to(ROUTE))


async def still_works(api: KellyAPI, sandbox: KellySandbox) -> None:
    sandbox.faults.clear()
    image = await api.generate("after the storm", width=96, height=64)
    assert png_size(image) == (96, 64)


@pytest.mark.parametrize("expected", PERSISTENT, ids=lambda expected: expected.kind)
async def test_a_persistent_fault_ends_in_its_typed_error_after_the_policy_s_attempts(
    kelly_sandbox: KellySandbox, expected: Expected, monkeypatch: pytest.MonkeyPatch
) -> None:
    kelly_sandbox.faults.add(ROUTE, expected.kind, times=3)
    async with KellyAPI(kelly_sandbox.api_key, kelly_sandbox.url, max_retries=2) as api:
        sleeps = recording_sleeps(api, monkeypatch)
        with pytest.raises(expected.error) as caught:
            await api.generate("a storm", width=64, height=64)
        assert type(caught.value) is expected.error
        assert caught.value.status_code == expected.status_code
        assert str(caught.value).startswith(expected.message)
        assert attempts(kelly_sandbox) == expected.attempts
        assert len(sleeps.waits) == expected.attempts - 1
        await still_works(api, kelly_sandbox)


@pytest.mark.parametrize("kind", RETRYABLE)
async def test_a_passing_fault_is_retried_once_and_the_call_succeeds(
    kelly_sandbox: KellySandbox, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    kelly_sandbox.faults.add(ROUTE, kind)
    async with KellyAPI(kelly_sandbox.api_key, kelly_sandbox.url, max_retries=2) as api:
        sleeps = recording_sleeps(api, monkeypatch)
        image = await api.generate("a passing cloud", width=80, height=72)
    assert png_size(image) == (80, 72)
    assert attempts(kelly_sandbox) == 2
    assert len(sleeps.waits) == 1


async def test_planned_faults_meet_the_next_calls_in_order_however_many_are_planned(
    kelly_sandbox: KellySandbox,
) -> None:
    """A quota used up for good is planned as a fault for ever more calls: that costs the sandbox one entry,
    not one per call."""
    kelly_sandbox.faults.add(ROUTE, "500", times=2)
    kelly_sandbox.faults.add(ROUTE, "503")
    kelly_sandbox.faults.add("chat/{model}", "500", times=10**15)
    async with KellyAPI(kelly_sandbox.api_key, kelly_sandbox.url, max_retries=0) as api:
        for _ in range(3):
            with pytest.raises(errors.GenericApiError):
                await api.generate("in turn", width=64, height=64)
        assert await api.generate("in turn", width=64, height=64)
        for _ in range(2):
            with pytest.raises(errors.GenericApiError):
                await api.llm("still refused")
    assert [request.status for request in kelly_sandbox.requests] == [500, 500, 503, 200, 500, 500]


@pytest.mark.parametrize(("kind", "least", "most"), [("429", 1.0, 1.0 + MARGIN), ("429-date", 0.9, 2.0 + MARGIN)])
async def test_retry_after_is_waited_for_in_seconds_and_as_an_http_date(
    kelly_sandbox: KellySandbox, kind: str, least: float, most: float
) -> None:
    kelly_sandbox.faults.add(ROUTE, kind)
    async with KellyAPI(kelly_sandbox.api_key, kelly_sandbox.url) as api:
        started = time.monotonic()
        image = await api.generate("patience", width=64, height=64)
        elapsed = time.monotonic() - started
    assert image.startswith(b"\x89PNG")
    assert least <= elapsed <= most
    assert attempts(kelly_sandbox) == 2


@pytest.mark.parametrize(
    ("headers", "least", "most"),
    [
        ({"retry-after-ms": "700", "Retry-After": "30"}, 0.7, 0.7),
        ({"Retry-After": "0.4"}, 0.4, 0.4),
        ({"Retry-After": "soon"}, 0.0, 0.5),
        ({"Retry-After": "-3"}, 0.0, 0.5),
    ],
    ids=["retry-after-ms wins", "seconds", "garbage means the backoff", "negative means the backoff"],
)
async def test_every_form_of_retry_after_is_read_and_garbage_means_the_backoff(
    kelly_sandbox: KellySandbox, monkeypatch: pytest.MonkeyPatch, headers: dict[str, str], least: float, most: float
) -> None:
    kelly_sandbox.faults.add(ROUTE, status=429, detail="slow down", headers=headers)
    async with KellyAPI(kelly_sandbox.api_key, kelly_sandbox.url) as api:
        sleeps = recording_sleeps(api, monkeypatch)
        assert await api.generate("patience", width=64, height=64)
    assert len(sleeps.waits) == 1 and least <= sleeps.waits[0] <= most
    assert attempts(kelly_sandbox) == 2


async def test_retry_after_beyond_the_cap_or_the_deadline_raises_at_once(kelly_sandbox: KellySandbox) -> None:
    kelly_sandbox.faults.add(ROUTE, "429", retry_after=61)
    kelly_sandbox.faults.add(ROUTE, "429", retry_after=5)
    for wait in (61.0, 5.0):
        async with KellyAPI(kelly_sandbox.api_key, kelly_sandbox.url, timeout=3) as api:
            started = time.monotonic()
            with pytest.raises(errors.RateLimitError) as caught:
                await api.generate("impatience", width=64, height=64)
            assert time.monotonic() - started < MARGIN
            assert caught.value.retry_after == wait
            assert caught.value.attempts == 1

            if wait > 60:  # past the cap: the client stays usable, its next call goes
                assert await api.llm("meanwhile")
            else:  # the whole client keeps the pause the API asked for: its next call is not sent at all
                with pytest.raises(errors.RateLimitError) as paused:
                    await api.llm("meanwhile")
                assert paused.value.attempts == 0 and 0 < (paused.value.retry_after or 0) <= wait
    assert attempts(kelly_sandbox) == 2, "one attempt each: neither wait was slept"
    async with KellyAPI(kelly_sandbox.api_key, kelly_sandbox.url) as api:
        await still_works(api, kelly_sandbox)


@pytest.mark.parametrize("kind", ["hang", "drip"])
async def test_a_hang_or_a_drip_ends_at_the_per_call_timeout(kelly_sandbox: KellySandbox, kind: str) -> None:
    kelly_sandbox.faults.add(ROUTE, kind)
    async with KellyAPI(kelly_sandbox.api_key, kelly_sandbox.url, timeout=60) as api:
        started = time.monotonic()
        with pytest.raises(errors.TimeoutError) as caught:
            await api.generate("a long wait", width=64, height=64, timeout=1.0)
        elapsed = time.monotonic() - started
        assert 1.0 <= elapsed <= 1.0 + MARGIN
        assert str(caught.value) == "POST image/generate: no complete answer within 1 s"
        assert caught.value.status_code is None
        assert attempts(kelly_sandbox) == 1
        await still_works(api, kelly_sandbox)


@pytest.mark.parametrize("kind", ["hang", "drip"])
async def test_the_client_timeout_bounds_a_call_and_its_retries(kelly_sandbox: KellySandbox, kind: str) -> None:
    kelly_sandbox.faults.add(ROUTE, "503")
    kelly_sandbox.faults.add(ROUTE, kind)
    async with KellyAPI(kelly_sandbox.api_key, kelly_sandbox.url, timeout=1.5) as api:
        started = time.monotonic()
        with pytest.raises(errors.TimeoutError):
            await api.generate("a long wait", width=64, height=64)
        elapsed = time.monotonic() - started
        assert 1.5 <= elapsed <= 1.5 + MARGIN
        assert attempts(kelly_sandbox) == 2
        await still_works(api, kelly_sandbox)


async def test_a_slow_drip_within_the_timeout_is_a_complete_answer(kelly_sandbox: KellySandbox) -> None:
    kelly_sandbox.faults.add(ROUTE, "drip", drip_interval=0.0005)
    async with KellyAPI(kelly_sandbox.api_key, kelly_sandbox.url, timeout=30) as api:
        image = await api.generate("slowly", width=64, height=64)
    assert png_size(image) == (64, 64)


async def test_a_30_mib_image_arrives_whole(kelly_sandbox: KellySandbox) -> None:
    kelly_sandbox.faults.add(ROUTE, "huge")
    async with KellyAPI(kelly_sandbox.api_key, kelly_sandbox.url) as api:
        image = await api.generate("a big one", width=64, height=64)
    assert len(image) == HUGE_IMAGE_BYTES
    assert image == huge_image()


async def test_a_body_over_max_response_bytes_is_refused_without_a_retry(kelly_sandbox: KellySandbox) -> None:
    kelly_sandbox.faults.add(ROUTE, "huge")
    limit = 1024 * 1024
    async with KellyAPI(kelly_sandbox.api_key, kelly_sandbox.url, max_response_bytes=limit) as api:
        with pytest.raises(errors.InvalidContent) as caught:
            await api.generate("too big", width=64, height=64)
        assert (
            str(caught.value) == "POST image/generate: the response is larger than max_response_bytes (1,048,576 bytes)"
        )
        assert attempts(kelly_sandbox) == 1
        await still_works(api, kelly_sandbox)


async def test_a_redirect_is_not_followed_and_the_key_stays_home(kelly_sandbox: KellySandbox) -> None:
    secret = "sk-never-elsewhere-42"
    with Sandbox() as elsewhere:
        kelly_sandbox.faults.add(ROUTE, status=307, headers={"Location": elsewhere.url + ROUTE}, body="")
        async with KellyAPI(secret, kelly_sandbox.url) as api:
            with pytest.raises(errors.GenericApiError) as caught:
                await api.generate("follow me", width=64, height=64)
        assert elsewhere.state.connections == 0
        assert elsewhere.state.requests == []
    assert caught.value.status_code == 307
    assert f"unexpected redirect to {elsewhere.url}{ROUTE}" in str(caught.value)
    assert secret not in str(caught.value)


async def test_no_fault_puts_the_key_in_an_error_a_repr_or_a_debug_log(
    kelly_sandbox: KellySandbox, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "sk-hush-0123456789"
    caplog.set_level("DEBUG", logger="kellyapi")
    shown: list[str] = []
    # Each call on its own retries (adaptive_rate=False), so that every persistent fault ends in its error.
    async with KellyAPI(secret, kelly_sandbox.url, max_retries=1, timeout=5, adaptive_rate=False) as api:
        shown += [repr(api), str(api)]
        kinds = [expected.kind for expected in PERSISTENT] + ["hang"]
        for kind in kinds:
            kelly_sandbox.faults.clear()
            kelly_sandbox.faults.add(ROUTE, kind, times=3)
            with pytest.raises(errors.BaseError) as caught:
                await api.generate("a secret storm", width=64, height=64, timeout=0.5 if kind == "hang" else None)
            shown += [str(caught.value), repr(caught.value), repr(caught.value.detail), repr(vars(caught.value))]
        kelly_sandbox.faults.clear()
        kelly_sandbox.faults.add(ROUTE, status=401, detail=f"Invalid key {secret}; the key {secret} is revoked")
        with pytest.raises(errors.InvalidApiKey) as echoed:
            await api.generate("an echo", width=64, height=64)
        shown += [str(echoed.value), repr(echoed.value.detail)]
    assert echoed.value.detail == "Invalid key <redacted>; the key <redacted> is revoked"
    records = [record for record in caplog.records if record.name == "kellyapi"]
    messages = [record.getMessage() for record in records]
    # The "reset" comes on the connection the previous answer left open: as the server may have read the
    # POST, it is resent only as a counted retry (Go's rule), never at once on the side.
    stale_resends = 0
    attempts_made = sum(min(expected.attempts, 2) for expected in PERSISTENT) + stale_resends + 1 + 1  # hang, echo
    assert len([m for m in messages if m.startswith("POST image/generate -> ")]) == attempts_made
    assert any(m.startswith("POST image/generate -> ConnectionError (attempt 2, ") for m in messages)
    assert any(m.startswith("POST image/generate -> 503 (attempt 1, ") for m in messages)
    shown += messages + [repr(record.args) for record in records]
    assert all(secret not in text for text in shown)


async def test_every_attempt_a_429_included_counts_toward_max_retries(kelly_sandbox: KellySandbox) -> None:
    kelly_sandbox.faults.add(ROUTE, "429", retry_after=0.2, times=2)
    async with KellyAPI(kelly_sandbox.api_key, kelly_sandbox.url, max_retries=1) as api:
        with pytest.raises(errors.RateLimitError) as caught:
            await api.generate("patience", width=64, height=64)
        assert caught.value.attempts == 2
        assert [r.status for r in kelly_sandbox.requests] == [429, 429]
        assert await api.generate("patience", width=64, height=64, timeout=5), "the client stays usable"

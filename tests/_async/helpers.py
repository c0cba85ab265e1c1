"""Helpers shared by the async tests (and, through unasync, by their sync twins)."""

from __future__ import annotations

import time

import pytest

from kellyapi import KellyAPI
from kellyapi._async import client as client_module
from kellyapi._core.http import Request, Response
from kellyapi._core.policy import limiter as limiter_module


class SleepRecorder:
    """A fake clock: stands in for the transport's sleep, recording each wait and moving the client's clock on
    by it instead of waiting."""

    def __init__(self) -> None:
        self.waits: list[float] = []
        self.slept = 0.0

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.slept += seconds

    def monotonic(self) -> float:
        """The real clock, plus every wait recorded so far."""
        return time.monotonic() + self.slept

    def sleep(self, seconds: float) -> None:
        """The blocking pace's own waits for a turn: the clock moves on by them too (they are not retries)."""
        self.slept += seconds


def recording_sleeps(api: KellyAPI, monkeypatch: pytest.MonkeyPatch) -> SleepRecorder:
    """Make `api` record its waits instead of sleeping, its clock moving on by each (for this test only)."""
    recorder = SleepRecorder()
    monkeypatch.setattr(api._transport, "sleep", recorder)
    monkeypatch.setattr(client_module, "time", recorder)
    monkeypatch.setattr(limiter_module, "time", recorder)  # the pace's clock too: a Retry-After's pause
    return recorder


class RecordingTransport:
    """Stands in for the HTTP transport: keeps every request it is given and answers each with `answer`."""

    def __init__(self, answer: Response) -> None:
        self.answer = answer
        self.sent: list[Request] = []

    async def send(self, request: Request, timeout: float, fresh_connection: bool = False) -> Response:
        self.sent.append(request)
        return self.answer

    async def sleep(self, seconds: float) -> None:
        pass

    async def aclose(self) -> None:
        pass


def recording_requests(api: KellyAPI, answer: Response) -> RecordingTransport:
    """Make `api` hand its requests to a RecordingTransport instead of the network."""
    transport = RecordingTransport(answer)
    api._transport = transport  # type: ignore[assignment]
    return transport

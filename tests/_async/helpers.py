"""Helpers shared by the async tests (and, through unasync, by their sync twins)."""

from __future__ import annotations

from kellyapi import KellyAPI
from kellyapi._core.http import Request, Response


class SleepRecorder:
    """Stands in for the transport's sleep: records the waits instead of waiting."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def recording_sleeps(api: KellyAPI) -> SleepRecorder:
    """Make `api` record its waits between attempts instead of sleeping."""
    recorder = SleepRecorder()
    api._transport.sleep = recorder  # type: ignore[method-assign]
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

"""Helpers shared by the async tests (and, through unasync, by their sync twins)."""

from __future__ import annotations

from kellyapi import KellyAPI


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

"""One blocking client shared by many threads."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from kellyapi import SyncKellyAPI
from kellyapi.sandbox import Sandbox


def test_16_threads_share_one_sync_client(live_sandbox: Sandbox) -> None:
    with SyncKellyAPI(live_sandbox.api_key, live_sandbox.url) as api:

        def worker(thread: int) -> list[str]:
            return [api.llm(f"thread {thread} call {call}") for call in range(25)]

        with ThreadPoolExecutor(16) as pool:
            results = list(pool.map(worker, range(16)))
    for thread, answers in enumerate(results):
        assert len(answers) == 25
        assert all(f"'thread {thread} call {call}'" in answer for call, answer in enumerate(answers))
    assert len(live_sandbox.state.requests) == 400
    assert live_sandbox.state.connections <= 16

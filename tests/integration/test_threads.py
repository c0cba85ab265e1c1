"""One blocking client shared by many threads."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from kellyapi import SyncKellyAPI
from kellyapi.testing import KellySandbox


def test_16_threads_share_one_sync_client(kelly_sandbox: KellySandbox) -> None:
    with SyncKellyAPI(kelly_sandbox.api_key, kelly_sandbox.url) as api:

        def worker(thread: int) -> list[str]:
            return [api.llm(f"thread {thread} call {call}") for call in range(25)]

        with ThreadPoolExecutor(16) as pool:
            results = list(pool.map(worker, range(16)))
    for thread, answers in enumerate(results):
        assert len(answers) == 25
        assert all(f"'thread {thread} call {call}'" in answer for call, answer in enumerate(answers))
    assert len(kelly_sandbox.requests) == 400
    assert kelly_sandbox.connections <= 16

"""Clients used before fork() (gunicorn --preload, Celery prefork, multiprocessing): each process gets its own
pools, no child touches a socket its parent opened, and every answer is the answer to its own request."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
from typing import Any

from kellyapi import KellyAPI, SyncKellyAPI
from tests.hostile_server import API_KEY, hostile, serve_forever

CALLS = 30
CHILDREN = 4
FORK = multiprocessing.get_context("fork")


def ask_many(api: SyncKellyAPI, tag: str) -> bool:
    return all(api.llm(f"{tag} call {number}") == f"{tag} call {number}" for number in range(CALLS))


def child_calls(api: SyncKellyAPI, start: Any, number: int) -> None:
    start.wait()
    os._exit(0 if ask_many(api, f"child {number}") else 1)


def test_a_sync_client_used_before_fork_serves_the_parent_and_every_child_at_once() -> None:
    with hostile(serve_forever) as server:  # answers each llm call with its own prompt
        with SyncKellyAPI(API_KEY, server.url, max_retries=0, timeout=20) as api:
            assert api.llm("before the fork") == "before the fork"  # the pool now holds an open connection
            start = FORK.Barrier(CHILDREN + 1)
            children = [FORK.Process(target=child_calls, args=(api, start, n)) for n in range(CHILDREN)]
            for child in children:
                child.start()
            start.wait()
            parent_ok = ask_many(api, "parent")
            for child in children:
                child.join(timeout=60)
        assert parent_ok
        assert [child.exitcode for child in children] == [0] * CHILDREN
        lines = [request.request_line for request in server.requests]
        assert lines == ["POST /chat/chatgpt HTTP/1.1"] * (1 + (CHILDREN + 1) * CALLS)


def async_child(api: KellyAPI) -> None:
    async def ask() -> bool:
        answer = await api.llm("in the child")
        return answer == "in the child" and len(api._transport._pools) == 1  # its own pool, none of the parent's

    os._exit(0 if asyncio.run(ask()) else 1)


def test_an_async_client_s_pools_stay_with_the_parent() -> None:
    with hostile(serve_forever) as server:
        api = KellyAPI(API_KEY, server.url, max_retries=0)
        loop = asyncio.new_event_loop()  # stays open across the fork, its pool with it
        try:
            assert loop.run_until_complete(api.llm("in the parent")) == "in the parent"
            child = FORK.Process(target=async_child, args=(api,))
            child.start()
            child.join(timeout=60)
            assert child.exitcode == 0
            assert loop.run_until_complete(api.llm("the parent again")) == "the parent again"
            loop.run_until_complete(api.aclose())
        finally:
            loop.close()

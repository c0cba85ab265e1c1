"""A fleet through a real Redis: the Lua rules agree with their pure reference, processes sharing a key keep to
its limit together, and Redis killed or restarted mid-run costs no call (sizes reduced for CI; the 4, 16 and
32-process figures are in `python -m bench.rate_limits`)."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import threading
import time

import pytest
import redis

from kellyapi._core.policy import fleet
from kellyapi.sandbox import Sandbox
from tests.redis_server import RedisServer

NAME = "kellyapi:test"
KEYS = [f"{NAME}:{suffix}" for suffix in fleet.KEY_SUFFIXES]


def _turn(client: redis.Redis, max_wait: float, max_rate: float) -> tuple[float, int, float]:
    wait, seq, now = client.eval(fleet.TURN_SCRIPT, len(KEYS), *KEYS, *fleet.turn_arguments(max_wait, max_rate))
    return float(wait), int(seq), float(now)


def _refused(client: redis.Redis, seq: int, retry_after_ms: float, proven: bool) -> float:
    arguments = fleet.refused_arguments(seq, None if retry_after_ms < 0 else retry_after_ms, proven, 0)
    return float(client.eval(fleet.REFUSED_SCRIPT, len(KEYS), *KEYS, *arguments))


@pytest.mark.parametrize("seed", range(4))
def test_the_lua_rules_agree_with_the_pure_reference_at_the_servers_times(redis_server: RedisServer, seed: int) -> None:
    """Each script answers with the server time it acted at; the reference, run at those times, decides alike."""
    client = redis.Redis.from_url(redis_server.url)
    client.flushdb()
    chance = random.Random(seed)
    state = fleet.FleetState()
    booked: list[int] = []
    for _ in range(160):
        action = chance.choice(["turn", "turn", "turn", "refused"])
        if action == "turn" or not booked:
            max_wait = chance.choice([0.0, 50.0, 5000.0])
            wait, seq, now = _turn(client, max_wait, 0.0)
            expected_wait, expected_seq = fleet.turn(state, now, max_wait, 0.0)
            assert seq == expected_seq
            assert wait == pytest.approx(expected_wait, abs=0.1)  # Lua prints 14 digits: 0.1 ms of 1.7e12
            if seq != fleet.NOT_BOOKED:
                booked.append(seq)
        else:
            seq = chance.choice(booked)
            retry_after = chance.choice([-1.0, 0.0, 300.0])
            proven = chance.random() < 0.5
            now = _refused(client, seq, retry_after, proven)
            fleet.refused(state, now, seq, retry_after, proven, 0.0)
        pace = client.hgetall(KEYS[2])
        if state.w_max is None:
            assert b"w_max" not in pace
        else:
            assert float(pace[b"w_max"]) == pytest.approx(state.w_max, rel=1e-4, abs=1e-6)  # (14 digits again)
        time.sleep(chance.uniform(0, 0.01))
    client.close()


CLIENT = """
import asyncio, json, sys, time
from kellyapi import KellyAPI, SyncKellyAPI, RedisLimiter, errors
url, redis_url, mode, calls = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
limiter = RedisLimiter(redis_url)

async def tasks():
    async with KellyAPI("fleet-key", url, limiter=limiter, timeout=60) as api:
        results = await asyncio.gather(*(api.llm(f"call {i}") for i in range(calls)), return_exceptions=True)
    await limiter.aclose()
    return results

def sequential():
    with SyncKellyAPI("fleet-key", url, limiter=limiter, timeout=60) as api:
        results = []
        for i in range(calls):
            try:
                results.append(api.llm(f"call {i}"))
            except errors.BaseError as error:
                results.append(error)
    limiter.close()
    return results

results = asyncio.run(tasks()) if mode == "tasks" else sequential()
print(json.dumps({"failed": [repr(r) for r in results if isinstance(r, BaseException)]}))
"""


def run_fleet(sandbox_url: str, redis_url: str, processes: int, calls: int) -> list[str]:
    modes = ["tasks", "sequential"] * (processes // 2)  # half each twin
    running = [
        subprocess.Popen(
            [sys.executable, "-c", CLIENT, sandbox_url, redis_url, mode, str(calls)], stdout=subprocess.PIPE, text=True
        )
        for mode in modes
    ]
    failed: list[str] = []
    for process in running:
        failed += json.loads(process.communicate(timeout=300)[0])["failed"]
    return failed


def test_processes_sharing_a_key_keep_to_its_limit_together(redis_server: RedisServer) -> None:
    processes, calls = 8, 20
    with Sandbox(rate_limit=20, latency=0.1) as sandbox:
        failed = run_fleet(sandbox.url, redis_server.url, processes=processes, calls=calls)
        statuses = [request.status for request in sandbox.state.requests]
    assert failed == []
    # Before the first refusal nothing is paced, as with no controller: at worst every process's first calls
    # go at once (the async ones all theirs, the blocking ones one each), and the sandbox's burst of 20 lets
    # some through. Past that wave, the fleet's shared pace keeps their refusals from adding up.
    first_wave = processes // 2 * calls + processes // 2 - 20
    refused = statuses.count(429) - first_wave
    assert refused <= 0.1 * (len(statuses) - first_wave), "their refusals do not add up"


@pytest.mark.parametrize("fault", ["kill", "restart"])
def test_redis_killed_or_restarted_mid_run_fails_no_call_of_its_own(redis_server: RedisServer, fault: str) -> None:
    processes, calls = 6, 20
    with Sandbox(rate_limit=20, latency=0.1) as sandbox:
        timer = threading.Timer(1.5, getattr(redis_server, fault))
        timer.start()
        try:
            failed = run_fleet(sandbox.url, redis_server.url, processes=processes, calls=calls)
        finally:
            timer.cancel()
    # Each process goes on under its own pace (or, Redis back, an empty shared state learnt again): as many
    # independent processes, a call may still be refused on all its attempts by the API, never by the limiter.
    assert all(text.startswith("RateLimitError('POST chat/chatgpt failed with HTTP 429") for text in failed), failed
    assert len(failed) <= 0.05 * processes * calls

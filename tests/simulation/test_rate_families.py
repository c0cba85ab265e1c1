"""The real async client against families of model APIs on a virtual clock: the pace fits the mechanism (token
buckets of several rates, bursts and latencies, random shedding, a used-up quota, a limit that falls and rises,
many clients on one limit, cancellations at random points), not one scenario. Seconds here are virtual."""

from __future__ import annotations

import asyncio
import math
import random
from typing import Any

import pytest

from kellyapi import errors
from kellyapi._core.policy.pace import INITIAL_ROUND_TRIP, INITIAL_WINDOW
from kellyapi._transport.aiohttp import CONNECTIONS
from tests.simulation.virtual_api import (
    Quota,
    Run,
    Server,
    Shedding,
    TokenBucket,
    model_client,
    run_clients,
    run_virtual,
)


@pytest.mark.parametrize("share", [0.01, 0.03, 0.05])
@pytest.mark.parametrize("latency", [0.01, 0.1])
@pytest.mark.parametrize("retry_after", [None, 0.0], ids=["no Retry-After", "Retry-After 0"])
def test_random_shedding_is_never_paced(share: float, latency: float, retry_after: float | None) -> None:
    ours, theirs = [], []
    for seed in range(3):  # the slowest call's retries decide a run's time: compare the mean of three
        random.seed(seed)  # the same backoff draws on both sides
        run = run_clients(Shedding(share, retry_after, latency=latency, jitter=0.3, seed=seed), calls=2000)
        random.seed(seed)
        base = run_clients(
            Shedding(share, retry_after, latency=latency, jitter=0.3, seed=seed), calls=2000, adaptive_rate=False
        )
        # A call fails only when refused three times in a row: one in 30,000 at 3 %, one in 8,000 at 5 %.
        assert len(run.failed) <= (0 if share < 0.05 else 2)
        ours.append(run.seconds)
        theirs.append(base.seconds)
    assert sum(ours) / 3 <= 1.2 * sum(theirs) / 3


@pytest.mark.parametrize("retry_after", [0.1, 1.0])
@pytest.mark.parametrize("latency", [0.05, 1.0])
def test_random_shedding_with_a_short_retry_after_fails_no_call(retry_after: float, latency: float) -> None:
    """An API that sheds 5 % of calls and asks each to come back within a second: the pauses cost time (every call
    of the client waits them out), but no call fails for a limit the API does not have."""
    random.seed(0)
    run = run_clients(Shedding(0.05, retry_after, latency=latency, jitter=0.3, seed=0), calls=400)
    assert run.failed == []


@pytest.mark.parametrize("calls", [1, 5, INITIAL_WINDOW])
@pytest.mark.parametrize("latency", [0.01, 0.1])
def test_a_new_client_sends_a_batch_no_bigger_than_its_first_window_as_with_no_controller(
    calls: int, latency: float
) -> None:
    """A script's first few calls, on a fast healthy API: nothing to learn yet, nothing held back."""
    run = run_clients(Server(latency=latency, jitter=0.3, seed=1), calls=calls)
    base = run_clients(Server(latency=latency, jitter=0.3, seed=1), calls=calls, adaptive_rate=False)
    assert run.failed == base.failed == []
    assert run.seconds == pytest.approx(base.seconds)


def run_batches(server: Server, batches: int, calls: int, gap: float, **options: Any) -> list[float]:
    """`batches` of `calls` gathered calls from one client, `gap` idle seconds apart: each batch's seconds."""

    async def main() -> list[float]:
        api = model_client(server, **options)
        loop = asyncio.get_running_loop()
        seconds = []
        for _ in range(batches):
            began = loop.time()
            outcomes = await asyncio.gather(*(api.llm(f"call {i}") for i in range(calls)), return_exceptions=True)
            assert not [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
            seconds.append(loop.time() - began)
            await asyncio.sleep(gap)
        return seconds

    times: list[float] = run_virtual(main)
    return times


@pytest.mark.parametrize(("latency", "refusal_latency"), [(0.1, 0.1), (1.5, 0.5)])
@pytest.mark.parametrize("share", [0.015, 0.05])
def test_batches_against_random_shedding_go_as_fast_as_with_no_controller(
    share: float, latency: float, refusal_latency: float
) -> None:
    """A batch of calls every few seconds, 429s taking as long as the work or a third of it: after each idle
    spell the client starts again, but from the window the API accepted last time (RFC 7661), not RFC 6928's
    initial one, so that only the first batch pays for a start."""
    ours, theirs = 0.0, 0.0
    for seed in range(3):
        options: dict[str, Any] = {"latency": latency, "jitter": 0.9, "refusal_latency": refusal_latency}
        random.seed(seed)
        ours += sum(run_batches(Shedding(share, seed=seed, **options), 4, 300, 2.0, max_retries=5))
        random.seed(seed)
        base = Shedding(share, seed=seed, **options)
        theirs += sum(run_batches(base, 4, 300, 2.0, max_retries=5, adaptive_rate=False))
    assert ours <= 1.2 * theirs


@pytest.mark.parametrize(
    ("server", "calls", "gap"),
    [
        (Server(latency=0.01, seed=1), 2000, 1.5),
        (Shedding(0.01, latency=0.3, jitter=0.9, refusal_latency=0.02, seed=1), 300, 10.0),
    ],
    ids=["healthy, 2000 calls", "shedding 1 %, 300 calls"],
)
def test_batches_after_idle_spells_never_stall_the_start(server: Server, calls: int, gap: float) -> None:
    """The start kept from the last batch paces its sends at a window a round trip: however large, no wait is
    shorter than the clock can tell (such a wait leaves the clock, and the start, where they are)."""
    times = run_batches(server, 4, calls, gap, max_retries=5)
    assert len(times) == 4


def test_random_shedding_never_engages_the_pace() -> None:
    async def main() -> bool:
        api = model_client(Shedding(0.05, None, latency=0.05, jitter=0.3, seed=5))
        await asyncio.gather(*(api.llm(f"call {index}") for index in range(3000)), return_exceptions=True)
        assert api._pace is not None
        return api._pace.engaged

    assert not run_virtual(main), "5 % of 429s at random prove no limit"


def refused(run: Run) -> float:
    """The share of requests the API refused."""
    return run.log.refused / run.requests


@pytest.mark.parametrize("rate", [5.0, 20.0, 80.0])
@pytest.mark.parametrize("retry_after", [True, False], ids=["Retry-After", "no Retry-After"])
@pytest.mark.parametrize("latency", [0.05, 0.3, 1.0])
def test_under_a_token_bucket_calls_get_through_near_the_limit(rate: float, retry_after: bool, latency: float) -> None:
    calls = int(max(200, rate * 10))
    run = run_clients(TokenBucket(rate, retry_after=retry_after, latency=latency, seed=1), calls=calls, concurrency=200)
    ideal = max((calls - rate) / rate + latency, calls / 200 * latency)
    assert len(run.failed) <= 0.02 * calls, "a call fails only when refused on all three attempts"
    assert run.seconds <= 1.2 * ideal
    # The slow start spares the burst: what is refused is a window's overshoot and the pace's probes.
    assert refused(run) <= 0.12


@pytest.mark.parametrize("rate", [20.0, 50.0])
@pytest.mark.parametrize("retry_after", [True, False], ids=["Retry-After", "no Retry-After"])
@pytest.mark.parametrize("latency", [0.05, 1.0])
def test_a_bucket_with_a_burst_smaller_than_its_rate_is_followed_after_its_first_cut(
    rate: float, retry_after: bool, latency: float
) -> None:
    """A burst of 5 tells the first cut little of the rate (the start's burst found the bucket's five). Later
    cuts measure what the API accepted of the calls sent in the last second of sending, not over the
    client's slow growth since the first cut (and a Retry-After's pause is not time it could send)."""
    calls, burst = 400, 5
    bucket = TokenBucket(rate, burst=burst, retry_after=retry_after, latency=latency, seed=1, jitter=0.2)
    run = run_clients(bucket, calls=calls, concurrency=200)
    assert run.failed == []
    assert run.seconds <= 2.2 * ((calls - burst) / rate + latency)
    assert refused(run) <= 0.05


@pytest.mark.parametrize(
    ("rate", "workers", "timeout", "latency", "clients"),
    [(5.0, 40, 3.0, 0.5, 1), (10.0, 60, 2.0, 0.8, 1), (20.0, 100, 4.0, 1.5, 1), (8.0, 30, 2.5, 0.4, 2)],
)
@pytest.mark.parametrize("retry_after", [True, False], ids=["Retry-After", "no Retry-After"])
@pytest.mark.parametrize("jitter", [0.0, 0.3])
def test_when_more_calls_wait_than_their_timeout_lets_through_the_api_answers_calls_that_can_take_it(
    rate: float, workers: int, timeout: float, latency: float, clients: int, retry_after: bool, jitter: float
) -> None:
    """Calls come faster than the API accepts them, so the line for a turn is longer than their timeout and most
    must fail. The turns go to calls with time left for an answer: a turn given to the first in line, always
    the call about to expire, would go to a call that can only time out, the API's work thrown away. Answers
    that take the same time each, or from 0.7 to 1.3 times `latency`."""
    bucket = TokenBucket(rate, retry_after=retry_after, latency=latency, seed=1, jitter=jitter)
    run = run_clients(bucket, clients=clients, calls=300, concurrency=workers, timeout=timeout, stagger=0.2)
    answered = len(run.outcomes) - len(run.failed)
    accepted = run.log.statuses.count(200)
    # With jittered answers, at most the turns given before the first answer told how long one takes.
    thrown_away = accepted - answered
    assert thrown_away <= (2 if jitter == 0 else rate * latency), "accepted calls timed out before their answer"
    assert answered >= 0.75 * rate * (run.seconds - timeout), "the API's rate goes to calls that fail"
    assert all(isinstance(error, errors.RateLimitError | errors.TimeoutError) for error in run.failed)


@pytest.mark.parametrize("workers", [200, 32])
def test_the_reference_bucket_meets_its_targets(workers: int) -> None:
    """20 calls a second, bursts of 20, Retry-After, 0.3 s per call: the scenario of BENCHMARKS.md."""
    run = run_clients(TokenBucket(20, latency=0.3), calls=200, concurrency=workers)
    assert run.failed == []
    assert run.seconds <= 1.15 * ((200 - 20) / 20 + 0.3)
    assert refused(run) <= 0.10


@pytest.mark.parametrize("calls", [100, 2000])
@pytest.mark.parametrize("latency", [0.01, 0.3, 2.0, 10.0])
def test_against_a_healthy_api_a_burst_costs_only_the_start(latency: float, calls: int) -> None:
    """Calls that take seconds, as an LLM's or an image model's do, all at once: the start's window reaches
    the connections the client has within a few round trips, then the pace decides nothing."""
    options = {"calls": calls, "timeout": max(60.0, 30 * latency)}
    run = run_clients(Server(latency=latency, jitter=0.3, seed=1), **options)  # type: ignore[arg-type]
    base = run_clients(Server(latency=latency, jitter=0.3, seed=1), adaptive_rate=False, **options)  # type: ignore[arg-type]
    assert run.failed == base.failed == []
    doublings = math.ceil(math.log2(CONNECTIONS / INITIAL_WINDOW))
    assert run.seconds <= base.seconds + doublings * INITIAL_ROUND_TRIP


@pytest.mark.parametrize(("latency", "timeout"), [(0.1, 0.35), (0.1, 0.5), (0.1, 1.0), (0.3, 1.0), (0.3, 2.0)])
def test_the_start_never_refuses_a_call_against_a_healthy_api(latency: float, timeout: float) -> None:
    """300 calls at once on 100 connections: a start holds a call at most half its timeout, then lets it go. With
    a timeout close to what the pool alone needs, the time the start took can make calls time out; with three
    times that, none does."""
    run = run_clients(Server(latency=latency, jitter=0.3, seed=1), calls=300, timeout=timeout)
    assert not [error for error in run.failed if isinstance(error, errors.RateLimitError)]
    pool_alone = 300 / CONNECTIONS * latency * 1.3  # rounds of the pool, at the slowest jitter
    if timeout >= 3 * pool_alone:
        assert run.failed == []


@pytest.mark.parametrize("retry_after", [None, 1.0], ids=["no Retry-After", "Retry-After 1"])
def test_a_used_up_quota_fails_fast_and_stops_sending(retry_after: float | None) -> None:
    async def main() -> None:
        server = Quota(retry_after, latency=0.2)
        api = model_client(server, max_retries=2)
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(errors.RateLimitError):
            await api.llm("one")
        assert loop.time() - started <= 5
        assert server.log.statuses == [429] * len(server.log.statuses) and len(server.log.statuses) <= 3

        ten = await asyncio.gather(*(api.llm("ten") for _ in range(10)), return_exceptions=True)
        assert all(isinstance(result, errors.RateLimitError) for result in ten)
        assert len(server.log.statuses) <= 3 + 30

        before = len(server.log.statuses)
        more = []
        for _ in range(100):  # 100 calls over the next 10 seconds
            more.append(asyncio.ensure_future(api.llm("more")))
            await asyncio.sleep(0.1)
        results = await asyncio.gather(*more, return_exceptions=True)
        assert all(isinstance(result, errors.RateLimitError) for result in results)
        assert len(server.log.statuses) - before <= 20

    run_virtual(main)


@pytest.mark.parametrize("latency", [0.1, 0.3])
def test_a_limit_that_falls_and_rises_is_followed(latency: float) -> None:
    server = TokenBucket(20, schedule=[(4, 5), (10, 20)], latency=latency)
    run = run_clients(server, calls=300, concurrency=300)
    assert run.failed == []
    assert run.seconds <= 1.25 * (10 + 170 / 20 + latency)


@pytest.mark.parametrize("clients", [4, 8, 16])
@pytest.mark.parametrize("retry_after", [True, False], ids=["Retry-After", "no Retry-After"])
def test_independent_clients_on_one_limit_get_their_calls_through(clients: int, retry_after: bool) -> None:
    """Without a Retry-After, a client starved by the others looks like one facing a used-up quota to its own
    calls; its calls wait for their turns rather than fail."""
    calls = 50 if clients == 4 else 25
    server = TokenBucket(20, latency=0.3, seed=2, retry_after=retry_after)
    run = run_clients(server, clients=clients, calls=calls, concurrency=calls)
    total = clients * calls
    assert len(run.failed) <= 0.05 * total
    # Each client's start overshoots the API's burst by its window at most; the paces keep the refusals under
    # one per accepted call (the SRE book's bound).
    assert refused(run) <= 0.5
    assert run.seconds <= 1.3 * ((total - 20) / 20 + 0.3)


@pytest.mark.parametrize("seed", range(6))
def test_calls_cancelled_at_random_points_leave_the_pace_idle(seed: int) -> None:
    chance = random.Random(seed)

    async def main() -> None:
        limit = 10.0
        server = TokenBucket(limit, latency=0.2, seed=seed)
        api = model_client(server)
        tasks = [asyncio.ensure_future(api.llm(f"call {index}")) for index in range(30)]
        for task in tasks:
            asyncio.get_running_loop().call_later(chance.uniform(0, 3), task.cancel)
        await asyncio.gather(*tasks, return_exceptions=True)
        pace = api._pace
        assert pace is not None
        assert pace.in_flight == 0 and not pace.waiting, "every cancelled call gave back what it held"

        server.rate, server.tokens = 1000.0, 1000.0  # the API is fast again
        loop = asyncio.get_running_loop()
        await asyncio.sleep(max(0.0, pace.pause_left(loop.time())))
        started = loop.time()
        results = await asyncio.gather(*(api.llm("after") for _ in range(20)))
        assert results == ["ok"] * 20
        # The pace learnt the 10 a second the API accepted, and keeps to it until the API proves faster: 20
        # calls take two seconds at it, and the start's round trip at most besides.
        assert loop.time() - started <= 20 / limit + 0.5

    run_virtual(main)

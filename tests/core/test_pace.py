"""The pace on its own: the time is passed in, so every decision is checked exactly, with no event loop."""

from __future__ import annotations

import functools
import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kellyapi._core.policy import pace as pace_module
from kellyapi._core.policy.pace import (
    ACCEPTED,
    BURST_SECONDS,
    EVIDENCE_WINDOW,
    FAILED,
    INITIAL_WINDOW,
    MIN_RATE,
    REFUSED,
    AdaptivePace,
    Turn,
)


def go(pace: AdaptivePace, now: float, **options: object) -> Turn:
    turn, wait = pace.acquire(now, **options)  # type: ignore[arg-type]
    assert wait == 0.0, f"expected to go at once, got a wait of {wait}"
    return turn


def test_a_new_client_keeps_four_calls_in_flight_and_the_fifth_waits_for_one_to_end() -> None:
    pace = AdaptivePace()
    turns = [go(pace, 0.0) for _ in range(INITIAL_WINDOW)]
    fifth, wait = pace.acquire(0.0)
    assert wait == math.inf, "waits to be woken"
    woken: list[str] = []
    assert pace.wait_on(fifth, lambda: woken.append("fifth"))
    pace.release(turns[0], 0.3, ACCEPTED)
    assert woken == ["fifth"]
    assert pace.ready(fifth, 0.3) == 0.0, "it holds the freed place"
    assert pace.in_flight == INITIAL_WINDOW


def test_the_window_grows_by_one_per_accepted_call_while_in_use_and_starts_again_after_an_idle_spell() -> None:
    pace = AdaptivePace()
    turns = [go(pace, 0.0) for _ in range(4)]
    queued, _ = pace.acquire(0.0)
    pace.release(turns[0], 0.1, ACCEPTED)
    assert pace.window == 5, "calls waited: the window was in use"
    for turn in [*turns[1:], queued]:
        pace.release(turn, 0.1, ACCEPTED)
    assert pace.window == 8, "one more for each call sent when the window was at least half full: doubled"
    call = go(pace, 0.2)  # alone in flight: a window of 8 not in use
    pace.release(call, 0.3, ACCEPTED)
    assert pace.window == 8, "RFC 7661: a window not in use does not grow"
    go(pace, 5.0)  # idle for more than a retransmission timeout
    assert pace.window == INITIAL_WINDOW


def test_queued_calls_go_first_come_first_served_and_a_cancelled_one_gives_its_place_up() -> None:
    pace = AdaptivePace()
    running = [go(pace, 0.0) for _ in range(4)]
    waiting = [pace.acquire(0.0)[0] for _ in range(3)]
    order: list[int] = []
    for index, turn in enumerate(waiting):
        pace.wait_on(turn, functools.partial(order.append, index))
    pace.release(waiting[0], 0.1)  # cancelled while waiting
    pace.release(running[0], 0.2, FAILED)
    assert order == [1], "the next in line, not the cancelled one"
    assert pace.ready(waiting[1], 0.2) == 0.0
    assert pace.ready(waiting[2], 0.2) == math.inf


@pytest.mark.parametrize("outcome", [FAILED, ACCEPTED, REFUSED])
def test_every_call_gives_its_place_back_whatever_became_of_it(outcome: str) -> None:
    pace = AdaptivePace()
    turns = [go(pace, 0.0) for _ in range(4)]
    for turn in turns:
        pace.release(turn, 0.1, outcome)
        pace.release(turn, 0.2, outcome)  # twice: a finally after an except
    assert pace.in_flight == 0
    assert pace.acquire(0.2)[1] == 0.0


def test_a_retry_after_pauses_every_call_up_to_the_cap_and_a_longer_one_pauses_nobody() -> None:
    pace = AdaptivePace(rand=lambda: 1.0)  # the throttle refuses nothing
    turn = go(pace, 0.0)
    pace.release(turn, 0.1, REFUSED, retry_after=2.0)
    assert pace.acquire(0.5)[1] == pytest.approx(1.6)
    assert pace.pause_left(0.5) == pytest.approx(1.6)

    free = AdaptivePace(rand=lambda: 1.0)
    turn = go(free, 0.0)
    free.release(turn, 0.1, REFUSED, retry_after=1e20)
    assert free.acquire(0.2)[1] == 0.0, "a wait of years pauses nobody: the client stays usable"
    assert free.pause_left(0.2) == 0.0


def send_while_the_window_lets(pace: AdaptivePace, now: float, most: int = 20) -> list[Turn]:
    """Up to `most` calls sent as long as the window lets them go (the time moving on through the spacing)."""
    sent: list[Turn] = []
    while len(sent) < most:
        turn, wait = pace.acquire(now, first=False)
        if wait == math.inf:
            pace.release(turn, now)
            return sent
        now += wait
        if wait:
            assert pace.ready(turn, now) == 0.0
        sent.append(turn)
    return sent


def answer_in_order(pace: AdaptivePace, outcomes: list[str], start: float, spacing: float) -> float:
    """Send one call after another, each answered before the next goes; returns the time at the end."""
    now = start
    for outcome in outcomes:
        turn, wait = pace.acquire(now, first=False)
        now += wait
        if wait:
            assert pace.ready(turn, now) == 0.0
        now += spacing
        pace.release(turn, now, outcome, retry_after=None)
    return now


@pytest.mark.parametrize("share", [0.01, 0.03, 0.05])
def test_random_shedding_of_a_few_percent_never_engages_the_pace(share: float) -> None:
    shed = random.Random(7)
    pace = AdaptivePace()
    outcomes = [REFUSED if shed.random() < share else ACCEPTED for _ in range(5000)]
    answer_in_order(pace, outcomes, 0.0, 0.01)
    assert not pace.engaged


def test_a_wave_of_refusals_engages_the_pace_once() -> None:
    pace = AdaptivePace()
    now = answer_in_order(pace, [ACCEPTED] * 40, 0.0, 0.01)
    first = send_while_the_window_lets(pace, now)
    for turn in first:
        pace.release(turn, now + 0.02, REFUSED)
    assert not pace.engaged, "four refusals are not yet proof"
    second = send_while_the_window_lets(pace, now + 0.05)
    assert len(first) == len(second) == INITIAL_WINDOW
    pace.release(second[0], now + 0.07, REFUSED)
    assert pace.engaged, "five refusals in a row prove a limit"
    rate = pace.rate
    assert rate < math.inf
    for turn in second[1:]:
        pace.release(turn, now + 0.08, REFUSED)
    assert pace.rate == rate, "the calls of one wave cut once"


def test_paced_calls_are_spaced_by_the_rate_one_per_turn_first_come_first_served() -> None:
    pace = AdaptivePace(max_rate=10)
    assert pace.engaged
    starts = []
    now = 0.0
    waiting = [pace.acquire(now)[0] for _ in range(25)]
    for turn in waiting:
        pace.wait_on(turn, lambda: None)
    while waiting and waiting[0].state == pace_module.SENT:  # the burst went at once
        starts.append(now)
        pace.release(waiting.pop(0), now + 0.05, ACCEPTED)
    while waiting:
        head = waiting[0]
        wait = pace.ready(head, now)
        if wait:
            assert all(pace.ready(other, now) == math.inf for other in waiting[1:]), "the others wait to be woken"
            now += wait
            continue
        starts.append(now)
        waiting.pop(0)
        pace.release(head, now + 0.05, ACCEPTED)
    burst = int(BURST_SECONDS * 10)
    assert starts[:burst] == [0.0] * burst, "a second's worth may go at once"
    gaps = {round(later - earlier, 9) for earlier, later in zip(starts[burst:], starts[burst + 1 :], strict=False)}
    assert gaps == {0.1}
    assert pace.rate == 10, "max_rate caps the pace"


def test_a_used_up_quota_refuses_new_calls_locally_and_lets_retries_be_judged_by_the_retry_quota() -> None:
    pace = AdaptivePace(rand=lambda: 0.5)
    answer_in_order(pace, [REFUSED] * 10, 0.0, 0.01)
    refused, _ = pace.acquire(1.0)
    assert refused.local_refusal, "more refusals than twice the accepts: a new call fails at once"
    retry, _ = pace.acquire(1.0, first=False)
    assert not retry.local_refusal


def test_one_in_two_refused_is_left_alone_by_the_throttle() -> None:
    pace = AdaptivePace(rand=lambda: 0.0)
    answer_in_order(pace, [REFUSED, ACCEPTED] * 20, 0.0, 0.5)
    assert not pace.acquire(40.0)[0].local_refusal


def test_refusals_answered_before_earlier_calls_are_weighed_in_the_order_the_calls_went() -> None:
    """A 429 comes back before accepted calls sent before it: 5 % shed calls answered first prove nothing."""
    pace = AdaptivePace()
    now = 0.0
    for _ in range(300):  # rounds of as many calls as the window lets go: one shed, answered first
        turns = send_while_the_window_lets(pace, now)
        assert len(turns) >= 4
        pace.release(turns[-1], now + 0.01, REFUSED)
        for turn in turns[:-1]:
            pace.release(turn, now + 0.3, ACCEPTED)
        now += 0.3
    assert not pace.engaged


def test_after_two_minutes_without_a_refusal_pacing_switches_off() -> None:
    pace = AdaptivePace()
    now = answer_in_order(pace, [ACCEPTED] * 10 + [REFUSED] * 10, 0.0, 0.01)
    assert pace.engaged
    answer_in_order(pace, [ACCEPTED] * 5, now + EVIDENCE_WINDOW + 1, 0.01)
    assert not pace.engaged
    assert pace.rate == math.inf


def test_each_call_on_its_own_shares_neither_window_nor_pause() -> None:
    pace = AdaptivePace(adaptive=False)
    turns = [go(pace, 0.0) for _ in range(100)]
    pace.release(turns[0], 0.1, REFUSED, retry_after=5.0)
    assert pace.acquire(0.2)[1] == 0.0
    assert not pace.engaged


def test_the_rate_never_falls_below_the_floor() -> None:
    pace = AdaptivePace()
    now = 0.0
    for _ in range(200):
        now = answer_in_order(pace, [REFUSED], now, 0.01)
    assert pace.rate == MIN_RATE


# Cancellation at random points: whatever a sequence of calls did, once each is released nothing is held.
actions = st.lists(
    st.tuples(
        st.sampled_from(["acquire", "ready", "release", "tick"]),
        st.integers(0, 40),
        st.sampled_from([ACCEPTED, REFUSED, FAILED]),
    ),
    max_size=300,
)


@settings(max_examples=200, deadline=None)
@given(actions, st.booleans(), st.sampled_from([None, 5.0]))
def test_whatever_is_cancelled_when_everything_is_released_the_pace_holds_nothing(
    steps: list[tuple[str, int, str]], with_retry_after: bool, max_rate: float | None
) -> None:
    pace = AdaptivePace(max_rate=max_rate, rand=lambda: 0.5)
    turns: list[Turn] = []
    now = 0.0
    for action, index, outcome in steps:
        if action == "acquire":
            turn, _ = pace.acquire(now, first=index % 2 == 0)
            pace.wait_on(turn, lambda: None)
            turns.append(turn)
        elif action == "tick":
            now += index / 10
        elif turns:
            turn = turns[index % len(turns)]
            if action == "ready":
                pace.ready(turn, now)
            else:
                pace.release(turn, now, outcome, 1.0 if with_retry_after else None)
    for turn in turns:
        pace.release(turn, now)
    assert pace.in_flight == 0
    assert not pace.waiting
    later = now + EVIDENCE_WINDOW * 3
    turn, wait = pace.acquire(later)
    assert not turn.local_refusal
    assert wait == 0.0 or (max_rate is not None and wait <= 1 / max_rate), "idle again: the next call may go"

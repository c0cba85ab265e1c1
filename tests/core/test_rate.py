"""The rate controller on its own: the time is passed in, so every decision is checked exactly."""

from __future__ import annotations

import math

import pytest

from kellyapi._core.rate import INITIAL_STARTS, MIN_RATE, OPEN_AFTER, RateController


def test_a_cold_client_starts_a_few_calls_then_more_for_each_success_and_opens() -> None:
    pace = RateController()
    assert [pace.turn(0.0) for _ in range(INITIAL_STARTS)] == [(0.0, True)] * INITIAL_STARTS
    wait, booked = pace.turn(0.0)
    assert wait > 0 and not booked, "out of starts: ask again later"
    pace.accepted(0.1, sent=0.0)
    assert pace.turn(0.1) == (0.0, True), "a success frees more than one start"
    for _ in range(OPEN_AFTER):
        pace.accepted(0.2, sent=0.1)
    assert not pace.active, "open: the client no longer asks"
    assert pace.turn(0.2) == (0.0, True)


def test_a_cold_clients_new_starts_are_spread_over_a_round_trip() -> None:
    pace = RateController()
    assert [pace.turn(0.0) for _ in range(INITIAL_STARTS)] == [(0.0, True)] * INITIAL_STARTS, "no round trip known"
    for _ in range(INITIAL_STARTS):
        pace.accepted(0.3, sent=0.0)  # each took 0.3 s: 1.5 more starts per success, 10 in all
    turns = [pace.turn(0.3) for _ in range(6)]
    assert all(booked for _, booked in turns)
    assert [wait for wait, _ in turns] == pytest.approx([0.3 / 10 * index for index in range(6)]), (
        "the window's worth per round trip, not all at once: a first 429 comes back before most are sent"
    )
    assert not pace.turn(0.3)[1], "out of starts"


def test_a_call_that_fails_otherwise_gives_its_start_back() -> None:
    pace = RateController()
    for _ in range(INITIAL_STARTS):
        pace.turn(0.0)
    pace.failed()
    assert pace.turn(0.0) == (0.0, True)


def test_a_429_pauses_every_call_then_sends_are_paced_at_what_the_api_accepted() -> None:
    pace = RateController()
    for sent in range(20):  # 20 calls accepted in the second before the first refusal
        pace.accepted(0.9, sent=sent / 20)
    pace.refused(1.0, pause=1.0)
    assert pace.engaged and pace.active
    assert pace.turn(1.5) == (0.5, False), "no call goes during the pause"
    assert pace.pause_left(1.5) == 0.5

    starts = []
    while True:
        wait, booked = pace.turn(2.0)
        if not booked:  # a start over a second ahead is not booked: the call asks again, at the rate then
            assert wait > 0
            break
        starts.append(2.0 + wait)
    assert len(starts) > pace.rate
    assert pace.rate == pytest.approx(20 / 2 * 0.95), "the rate accepted over the last two seconds, a little under"
    burst = int(pace.rate)
    assert starts[:burst] == [2.0] * burst, "after a pause, a second's worth may go at once"
    gaps = {round(b - a, 6) for a, b in zip(starts[burst:-1], starts[burst + 1 :], strict=True)}
    assert gaps == {round(1 / pace.rate, 6)}, "then one every 1/rate seconds"


def test_without_anything_accepted_a_429_only_pauses() -> None:
    pace = RateController()
    pace.refused(0.0, pause=0.5)
    assert pace.turn(0.6) == (0.0, True)
    assert pace.rate == math.inf


def test_the_rate_probes_upward_while_calls_wait_and_nothing_is_refused() -> None:
    pace = RateController(max_rate=10)
    assert pace.engaged, "max_rate paces from the start"
    pace.turn(0.0)
    for _ in range(30):
        pace.turn(0.0)  # calls wait for their turns
    pace.accepted(1.5, sent=1.0)
    assert pace.rate == 10, "max_rate caps the probing"

    free = RateController()
    for _ in range(10):
        free.accepted(1.0, sent=0.5)
    free.refused(1.0, pause=0.0)
    for _ in range(30):
        free.turn(1.0)
    before = free.rate
    free.accepted(2.5, sent=2.0)
    assert free.rate == pytest.approx(before * 1.1)


def test_a_new_wave_of_refusals_slows_the_pace_down_and_a_lasting_one_reaches_the_floor() -> None:
    pace = RateController()
    for sent in range(40):
        pace.accepted(1.0, sent=sent / 40)
    pace.refused(1.0, pause=0.0)
    pace.turn(1.0)
    rate = pace.rate
    pace.refused(1.1, pause=0.0)
    assert pace.rate < rate
    for moment in range(2, 400):
        pace.refused(float(moment), pause=0.0)
    assert pace.rate == MIN_RATE

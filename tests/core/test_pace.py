"""The pace on its own: the time is passed in, so every decision is checked exactly, with no event loop."""

from __future__ import annotations

import functools
import math
import random
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kellyapi._core.policy import pace as pace_module
from kellyapi._core.policy.pace import (
    ACCEPTED,
    BURST_SECONDS,
    CUBIC_BETA,
    CUBIC_C,
    EVIDENCE_WINDOW,
    FAILED,
    INITIAL_ROUND_TRIP,
    INITIAL_WINDOW,
    MIN_RATE,
    PROBE_AFTER,
    REFUSED,
    AdaptivePace,
    Turn,
)


def go(pace: AdaptivePace, now: float, first: bool = True) -> Turn:
    turn, wait = pace.acquire(now, first)
    assert wait == 0.0, f"expected to go at once, got a wait of {wait}"
    assert not turn.local_refusal
    return turn


def burst(pace: AdaptivePace, count: int, now: float) -> list[int]:
    """`count` calls sent at once while the pace is open: their numbers."""
    assert pace.open
    return [pace.sent_open(now) for _ in range(count)]


def past_its_start(now: float = 0.0, **options: float) -> AdaptivePace:
    """A pace whose slow start is over (its first call accepted, nothing waiting): open."""
    pace = AdaptivePace(**options)  # type: ignore[arg-type]
    pace.release(go(pace, now), now, ACCEPTED)
    assert pace.open and not pace.starting
    return pace


def test_a_new_client_starts_with_a_window_that_grows_by_each_accepted_call() -> None:
    """TCP's slow start: a few calls at once, one more for each accepted; a refusal takes its own slot away."""
    pace = AdaptivePace()
    assert not pace.open and pace.starting
    first = [go(pace, 0.0) for _ in range(INITIAL_WINDOW)]
    more, wait = pace.acquire(0.0)
    assert wait == pytest.approx(INITIAL_ROUND_TRIP), "the window is full until an answer, or a round trip"
    pace.release(first[0], 0.01, ACCEPTED)  # its slot back, and one more: two may go
    assert pace.ready(more, 0.01) == 0.0
    another = go(pace, 0.01)
    assert pace.round_trip == pytest.approx(0.01)
    waiting, wait = pace.acquire(0.01)
    assert wait > 0
    pace.release(first[1], 0.01, REFUSED)  # a refusal gives no slot back
    # full until the oldest call unanswered counts as accepted: RFC 6298's 3 round trips after it went
    assert pace.ready(waiting, 0.01) == pytest.approx(3 * 0.01 - 0.01)
    for turn in [*first[2:], more, another, waiting]:
        pace.release(turn, 0.02, ACCEPTED)
    assert not pace.engaged


def test_a_full_window_woken_when_its_oldest_call_counts_as_accepted_lets_no_more_than_a_window_go() -> None:
    """The wait for a full window ends when its oldest call counts as accepted: a call woken then finds it
    credited (and the window grown by it), whatever the clock's rounding, so that the window, and the start's
    pacing, still bound what goes at once. (0.0921325090431571 + 0.1 - 0.1 rounds to below 0.0921325090431571.)"""
    sent = 0.0921325090431571
    pace = AdaptivePace()
    for _ in range(INITIAL_WINDOW):
        go(pace, sent)
    first_held, wait = pace.acquire(sent)
    woken = sent + wait
    assert woken - INITIAL_ROUND_TRIP < sent, "the instant this test is about"
    assert pace.ready(first_held, woken) == 0.0
    went_at_once = 1
    while went_at_once <= 10 * INITIAL_WINDOW:
        _, wait = pace.acquire(woken)
        if wait:
            break
        went_at_once += 1
    assert went_at_once <= INITIAL_WINDOW, "at most the start's pacing burst goes at one instant"


def test_a_pause_the_api_asked_for_restarts_the_start_below_half_its_window() -> None:
    """RFC 5681's retransmission timeout: a 429 with Retry-After in the start sets the threshold to half the
    window and the window to one. Once the pause is over, the calls of the window that were not refused
    count as accepted, but they grow the window only to the threshold and then by a fraction each, so the
    start does not double into a bucket it found empty."""
    pace = AdaptivePace()
    sent = [go(pace, 0.0) for _ in range(INITIAL_WINDOW)]
    waiting = [pace.acquire(0.0)[0] for _ in range(3 * INITIAL_WINDOW)]
    pace.release(sent[0], 0.01, REFUSED, retry_after=1.0)
    went = 0
    for turn in waiting:
        if pace.ready(turn, 1.02) > 0:
            break
        went += 1
    assert went == INITIAL_WINDOW // 2 + 1, "up to the threshold, then one more for the rest"
    for turn in sent[1:] + waiting:
        pace.release(turn, 1.5, ACCEPTED)


def test_a_call_unanswered_after_a_round_trip_counts_as_accepted() -> None:
    """A refusal comes back within a round trip; calls that take seconds of work do not hold the start back."""
    pace = AdaptivePace()
    sent = [go(pace, 0.0) for _ in range(INITIAL_WINDOW)]
    starts: list[float] = []
    now = 0.0
    while len(starts) < 200:  # nothing answered: the window doubles each round trip, whatever the calls take
        turn, wait = pace.acquire(now)
        if wait:
            pace.release(turn, now)
            now += wait
            continue
        sent.append(turn)
        starts.append(now)
    assert now <= INITIAL_ROUND_TRIP * math.ceil(math.log2(200 / INITIAL_WINDOW) + 1)
    for turn in sent:
        pace.release(turn, now + 2.0, ACCEPTED)


def test_the_start_ends_once_every_waiting_call_has_gone_and_begins_again_after_an_idle_second() -> None:
    pace = AdaptivePace()
    turns = [go(pace, 0.0) for _ in range(3)]
    for turn in turns:
        pace.release(turn, 0.3, ACCEPTED)
    assert pace.open and not pace.starting and not pace.engaged
    burst(pace, 50, 0.5)  # within the second: the burst goes at once, as with no controller
    assert pace.open
    pace.sent_open(2.0)  # after an idle second the API's bucket has refilled: what it accepts is unknown again
    assert not pace.open and pace.starting


def run_a_batch(pace: AdaptivePace, count: int, now: float, round_trip: float = 0.01) -> float:
    """`count` calls gathered at `now` (those that may not go wait in line, asking again every tenth of a round
    trip), each accepted a round trip after it went: when the last was answered."""
    turns = [pace.acquire(now)[0] for _ in range(count)]
    went: dict[int, float] = {}
    while any(turn.state != pace_module.DONE for turn in turns):
        for index, turn in enumerate(turns):
            if turn.state == pace_module.SENT and went.setdefault(index, now) <= now - round_trip:
                pace.release(turn, now, ACCEPTED)
        for turn in turns:
            if turn.state == pace_module.QUEUED and pace.ready(turn, now) > 0:
                break
        now += round_trip / 10
    return now


def sent_before_any_answer(pace: AdaptivePace, now: float, within: float, gathered: int = 400) -> int:
    """How many of `gathered` calls go within `within` seconds while none is answered (as the client sends
    them: the first by `sent_open` if the pace is open, which may start it, the others in line)."""
    opened = pace.open
    if opened:
        pace.sent_open(now)
    turns = [pace.acquire(now)[0] for _ in range(gathered - opened)]
    for step in range(1, 101):
        for turn in turns:
            if turn.state == pace_module.QUEUED and pace.ready(turn, now + within * step / 100) > 0:
                break
    sent = opened + sum(turn.state == pace_module.SENT for turn in turns)
    for turn in turns:
        pace.release(turn, now + within)
    return sent


def test_after_an_idle_spell_a_start_begins_from_the_flight_the_api_accepted_for_five_minutes() -> None:
    """RFC 7661: a client whose last start found no limit starts again, after an idle spell, from the flight the
    API accepted then (a batch of calls every few seconds is not held back each time), for five minutes. Its
    window grew past that flight by the calls it credited: the flight is what the API was shown to take."""
    connections = 100
    pace = AdaptivePace()
    pace.max_in_flight = connections
    now = run_a_batch(pace, 300, 0.0)
    assert pace.open and not pace.engaged
    pace.max_in_flight = math.inf  # (more connections now: the kept window, not the pool, holds the calls)
    assert sent_before_any_answer(pace, now + 2.0, within=0.01) == connections

    fresh = AdaptivePace()
    assert sent_before_any_answer(fresh, 0.0, within=0.01) == INITIAL_WINDOW, "a new client: RFC 6928's window"

    later = AdaptivePace()
    now = run_a_batch(later, 300, 0.0)
    assert sent_before_any_answer(later, now + 301.0, within=0.01) == INITIAL_WINDOW, "not after five minutes"


def test_after_a_limit_was_found_a_start_begins_from_the_initial_window_again() -> None:
    pace = AdaptivePace()
    now = run_a_batch(pace, 300, 0.0)
    now = answer_in_order(pace, [ACCEPTED] * 10 + [REFUSED] * 10, now + 2.0, 0.01)
    assert pace.engaged, "a limit found"
    now = answer_in_order(pace, [ACCEPTED] * 5, now + EVIDENCE_WINDOW + 1, 0.01)
    assert pace.open and not pace.engaged
    assert sent_before_any_answer(pace, now + 2.0, within=0.01) == INITIAL_WINDOW


def test_a_call_held_only_by_the_start_may_go_anyway_but_not_one_held_by_a_pause() -> None:
    pace = AdaptivePace()
    sent = [go(pace, 0.0) for _ in range(INITIAL_WINDOW)]
    held, wait = pace.acquire(0.0)
    assert wait > 0
    assert pace.go_anyway(held, 0.05) and held.state == pace_module.SENT
    pace.release(sent[0], 0.06, REFUSED, retry_after=5.0)
    paused, wait = pace.acquire(0.06)
    assert wait == pytest.approx(5.0)
    assert not pace.go_anyway(paused, 1.0), "a pause is the API's word, not a guess"
    for turn in [*sent[1:], held, paused]:
        pace.release(turn, 1.0)


def test_the_start_takes_no_more_calls_than_the_connections_carry() -> None:
    """A call that waited in the connection pool's queue would reach the API later than the pace believes."""
    pace = AdaptivePace()
    pace.max_in_flight = 2
    turns = [go(pace, 0.0) for _ in range(2)]
    third, wait = pace.acquire(0.0)
    assert wait == math.inf, "until a connection is free"
    woken: list[int] = []
    pace.wait_on(third, functools.partial(woken.append, 1))
    pace.release(turns[0], 0.5, ACCEPTED)
    assert woken == [1] and pace.ready(third, 0.5) == 0.0
    for turn in (turns[1], third):
        pace.release(turn, 0.6, ACCEPTED)


def test_random_shedding_answered_in_any_order_keeps_the_pace_open() -> None:
    """A 429 comes back before accepted calls sent before it, and a burst's 429s in any order."""
    shed = random.Random(3)
    pace = past_its_start()
    now = 0.0
    for _ in range(20):  # bursts of 300 calls, 5 % shed, the refusals answered shuffled
        seqs = burst(pace, 300, now)
        refused = [seq for seq in seqs if shed.random() < 0.05]
        shed.shuffle(refused)
        for seq in refused:
            pace.open_done(seq, now + 0.01, REFUSED)
        now += 0.5
    assert pace.open and not pace.engaged


def test_a_burst_over_a_limit_is_cut_once_to_the_rate_the_api_accepted() -> None:
    """A first call, then 200 at once against a bucket of 20 a second: 180 refusals, in any order, engage the
    pace once, at beta times the 20 a second the API accepted (TCP Westwood's delivered rate: its bucket,
    full, let 20 through at once, a second's worth, besides the first call)."""
    pace = past_its_start()
    seqs = burst(pace, 200, 0.0)
    refused = seqs[19:]
    random.Random(1).shuffle(refused)
    for seq in refused:
        pace.open_done(seq, 0.01, REFUSED)
    assert pace.engaged and pace.waves == 1, "one wave, one cut"
    assert pace.rate == pytest.approx(CUBIC_BETA * 20 / (0.01 + BURST_SECONDS))
    assert not pace.open


def paced_call(pace: AdaptivePace, now: float, outcome: str, retry_after: float | None = None) -> float:
    """One call at the pace's next turn from `now`, answered `outcome` 10 ms after it went: when it went."""
    turn, wait = pace.acquire(now, first=False)
    now += wait
    if wait:
        assert pace.ready(turn, now) == 0.0
    pace.release(turn, now + 0.01, outcome, retry_after)
    return now


def paced_calls(pace: AdaptivePace, now: float, until: float) -> list[float]:
    """Calls one after another at the pace's turns from `now` until `until`, each accepted: when they went."""
    sends = [paced_call(pace, now, ACCEPTED)]
    while sends[-1] < until:
        sends.append(paced_call(pace, sends[-1] + 0.01, ACCEPTED))
    return sends


def test_a_later_wave_cuts_to_what_the_api_accepted_in_the_last_second_of_sending() -> None:
    """TCP Westwood's delivered rate, of the path now: the calls the pace let go in the last second, less
    those refused, and not averaged over the slow growth since the last cut."""
    pace = past_its_start(rand=lambda: 1.0)  # type: ignore[arg-type]
    for seq in burst(pace, 40, 0.0)[19:]:
        pace.open_done(seq, 0.01, REFUSED)
    assert pace.rate == pytest.approx(CUBIC_BETA * 20 / (0.01 + BURST_SECONDS))
    sends = paced_calls(pace, 0.02, 8.0)  # the rate grows back along CUBIC's curve, calls waiting for it
    rate = pace.rate
    assert rate > 2 * len(sends) / (sends[-1] - sends[0]), "it sends far faster now than on average since the cut"
    refused_at = paced_call(pace, sends[-1] + 0.01, REFUSED)
    assert pace.waves == 2
    answered = refused_at + 0.01
    accepted = sum(sent >= answered - BURST_SECONDS for sent in sends)
    assert pace.rate == pytest.approx(CUBIC_BETA * min(rate, accepted / BURST_SECONDS), rel=0.01)


def test_the_rate_grows_along_cubic_s_curve_only_while_calls_wait_for_turns() -> None:
    """RFC 9438: a flow the application limits does not grow its window (Linux's CUBIC moves its epoch on by
    the time it was idle). A paced client whose calls trickle (one of many on a limit, or one with little to
    send) keeps the rate it was cut to, rather than climbing CUBIC's curve to a rate its calls never tried and
    sending its next burst at it; calls that wait for their turns run the curve's clock."""
    pace = past_its_start(rand=lambda: 1.0)  # type: ignore[arg-type]
    for seq in burst(pace, 40, 0.0)[19:]:
        pace.open_done(seq, 0.01, REFUSED)
    cut = pace.rate
    went = [paced_call(pace, 2.0 + 2.0 * index, ACCEPTED) for index in range(20)]  # one call every 2 s
    assert went[-1] == pytest.approx(40.0)
    assert pace.rate == pytest.approx(cut), "CUBIC's curve alone would be far above it 40 s after the cut"
    sends = paced_calls(pace, 42.0, 46.0)  # each call asks for its turn at once: it waits for it
    before_the_cut = cut / CUBIC_BETA
    waited = sends[-1] - sends[0]
    k = (before_the_cut * (1 - CUBIC_BETA) / CUBIC_C) ** (1 / 3)
    assert pace.rate == pytest.approx(CUBIC_C * (waited - k) ** 3 + before_the_cut, rel=0.05)
    assert pace.rate > cut


def test_a_pause_the_api_asked_for_is_left_out_of_the_second_of_sending_and_ends_with_one_call() -> None:
    """A Retry-After's pause is not time the client could send: the next wave's second of sending reaches
    back past it. After the pause the pace sends one call, then one a turn, not the burst its bucket would
    have gathered meanwhile (RFC 5681's loss window after a retransmission timeout)."""
    pace = past_its_start(rand=lambda: 1.0)  # type: ignore[arg-type]
    for seq in burst(pace, 40, 0.0)[19:]:
        pace.open_done(seq, 0.01, REFUSED)
    sends = paced_calls(pace, 2.0, 6.0)
    refused_at = paced_call(pace, sends[-1] + 0.01, REFUSED, retry_after=3.0)  # a wave, and a pause
    assert pace.waves == 2
    rate = pace.rate
    pause_ends = refused_at + 0.01 + 3.0
    now = refused_at + 0.02
    first, wait = pace.acquire(now, first=False)
    while wait:
        now += wait
        wait = pace.ready(first, now)
    assert now == pytest.approx(pause_ends, abs=0.002), "one call, at the pause's end"
    second, wait = pace.acquire(now, first=False)
    assert wait == pytest.approx(1 / rate, rel=0.01), "then one a turn"
    pace.release(second, now)
    pace.release(first, now + 0.01, ACCEPTED)
    # A refusal right after the pause: its second of sending is the little after the pause and the rest
    # before it (RFC 8312's fast convergence may keep less of it)
    cap = pace.rate  # (a cut never goes above the rate the call went at)
    refused_at = paced_call(pace, now + 0.01, REFUSED)
    assert pace.waves == 3
    after_pause = refused_at + 0.01 - pause_ends
    assert after_pause < 0.5
    window_start = (pause_ends - 3.0) - (BURST_SECONDS - after_pause)
    accepted = sum(sent >= window_start for sent in sends) + 1  # and the one accepted after the pause
    assert accepted > 10 and cap > 10, "(a measure of the little after the pause alone would be a call or two)"
    delivered = min(cap, accepted / BURST_SECONDS)
    assert CUBIC_BETA * (1 + CUBIC_BETA) / 2 * delivered * 0.98 <= pace.rate <= CUBIC_BETA * delivered * 1.02


def test_paced_calls_are_spaced_by_the_rate_one_per_turn_first_come_first_served() -> None:
    pace = AdaptivePace(max_rate=10)
    assert pace.engaged and not pace.open
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
    burst_size = int(BURST_SECONDS * 10)
    assert starts[:burst_size] == [0.0] * burst_size, "a second's worth may go at once"
    gaps = {
        round(later - earlier, 9) for earlier, later in zip(starts[burst_size:], starts[burst_size + 1 :], strict=False)
    }
    assert gaps == {0.1}
    assert pace.rate == 10, "max_rate caps the pace"


def test_queued_calls_go_first_come_first_served_and_a_cancelled_one_gives_its_place_up() -> None:
    pace = AdaptivePace(max_rate=1)
    running = go(pace, 0.0)
    waiting = [pace.acquire(0.0)[0] for _ in range(3)]
    order: list[int] = []
    for index, turn in enumerate(waiting):
        pace.wait_on(turn, functools.partial(order.append, index))
    pace.release(waiting[0], 0.1)  # cancelled while first in line
    assert order == [1], "the next in line is woken, to wait for its start"
    assert pace.ready(waiting[1], 0.2) == pytest.approx(0.8)
    assert pace.ready(waiting[2], 0.2) == math.inf
    pace.release(running, 0.3, ACCEPTED)


@pytest.mark.parametrize("outcome", [FAILED, ACCEPTED, REFUSED])
def test_every_call_gives_its_place_back_whatever_became_of_it(outcome: str) -> None:
    pace = AdaptivePace(max_rate=50)
    turns = [go(pace, 0.0) for _ in range(10)]
    for turn in turns:
        pace.release(turn, 0.1, outcome)
        pace.release(turn, 0.2, outcome)  # twice: a finally after an except
    assert pace.in_flight == 0
    assert not pace.waiting


def test_a_retry_after_pauses_every_call_up_to_the_cap_and_a_longer_one_pauses_nobody() -> None:
    pace = AdaptivePace(rand=lambda: 1.0)  # the throttle refuses nothing
    pace.open_done(pace.sent_open(0.0), 0.1, REFUSED, retry_after=2.0)
    assert not pace.open
    assert pace.acquire(0.5)[1] == pytest.approx(1.6)
    assert pace.pause_left(0.5) == pytest.approx(1.6)

    free = AdaptivePace(rand=lambda: 1.0)
    free.open_done(free.sent_open(0.0), 0.1, REFUSED, retry_after=1e20)
    assert free.acquire(0.2)[1] == 0.0, "a wait of years pauses nobody: the client stays usable"
    assert free.pause_left(0.2) == 0.0


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


def test_a_used_up_quota_refuses_new_calls_locally_and_leaves_retries_to_the_pace() -> None:
    pace = AdaptivePace(rand=lambda: 0.5)
    answer_in_order(pace, [REFUSED] * 10, 0.0, 0.01)
    refused, _ = pace.acquire(1.0)
    assert refused.local_refusal, "more refusals than twice the accepts: a new call fails at once"
    retry, _ = pace.acquire(1.0, first=False)
    assert not retry.local_refusal


def refuse_a_probe_at_the_floor(
    pace: AdaptivePace, now: float, register: Callable[[Turn], object] = lambda turn: None
) -> list[Turn]:
    """With the pace at its floor, five calls wait (each `register`ed) while a probe goes and is refused: the
    waiting turns."""
    assert pace.engaged and pace.rate == MIN_RATE, "nothing delivered: paced at the floor"
    probe, wait = pace.acquire(now, first=False)
    now += wait
    assert pace.ready(probe, now) == 0.0
    waiting = [pace.acquire(now, first=False)[0] for _ in range(5)]
    for turn in waiting:
        register(turn)
    pace.release(probe, now + 0.01, REFUSED)
    return waiting


def test_a_refusal_at_the_slowest_pace_without_retry_after_fails_the_calls_waiting() -> None:
    """The API accepted nothing since the pace engaged, even at the floor, and said nothing of when: a used-up
    quota. The calls waiting for a turn fail now instead of a couple of seconds each."""
    pace = AdaptivePace(rand=lambda: 1.0)
    now = answer_in_order(pace, [REFUSED] * 10, 0.0, 0.01)
    woken: list[int] = []
    waiting = refuse_a_probe_at_the_floor(
        pace, now, lambda turn: pace.wait_on(turn, functools.partial(woken.append, 1))
    )
    assert all(turn.local_refusal for turn in waiting) and len(woken) == 5
    assert not pace.waiting


def test_a_client_whose_calls_got_through_at_the_slowest_pace_keeps_its_calls_waiting() -> None:
    """One of many clients on a limit without Retry-After: its calls got through since its pace engaged, and
    a refused probe says only that the others took the API's tokens. Its calls wait for their turns."""
    pace = AdaptivePace(rand=lambda: 1.0)
    now = answer_in_order(pace, [REFUSED] * 5 + [ACCEPTED] * 6 + [REFUSED] * 2, 0.0, 0.01)
    for _ in range(10):  # refused until nothing it sent in the last second got through: the floor
        if pace.rate == MIN_RATE:
            break
        now = answer_in_order(pace, [REFUSED], now, 0.01)
    waiting = refuse_a_probe_at_the_floor(pace, now)
    assert not any(turn.local_refusal for turn in waiting)
    assert list(pace.waiting) == waiting


def test_a_client_that_got_a_few_calls_through_since_its_pace_engaged_keeps_its_calls_waiting() -> None:
    """One of many clients on a limit, refused more than accepted since its pace engaged (the others' bursts),
    but not nothing: the API is not a used-up quota to it, and its calls wait for their turns at the floor."""
    pace = AdaptivePace(rand=lambda: 1.0)
    now = answer_in_order(pace, [REFUSED] * 5 + [ACCEPTED] * 2 + [REFUSED] * 6, 0.0, 0.01)
    waiting = refuse_a_probe_at_the_floor(pace, now)
    assert not any(turn.local_refusal for turn in waiting)
    assert list(pace.waiting) == waiting


def test_a_refusal_with_retry_after_at_the_slowest_pace_lets_the_calls_wait() -> None:
    """An API over a rate limit says when to come back: one client of many on a limit, which got nothing
    through in a burst, waits for its probe rather than fail its calls."""
    pace = AdaptivePace(rand=lambda: 1.0)
    for turn in [go(pace, 0.0) for _ in range(INITIAL_WINDOW)]:
        pace.release(turn, 0.01, REFUSED, retry_after=1.0)
    assert pace.engaged and pace.rate == MIN_RATE
    probe, wait = pace.acquire(1.5, first=False)
    now = 1.5 + wait
    assert pace.ready(probe, now) == 0.0
    waiting = [pace.acquire(now, first=False)[0] for _ in range(5)]
    pace.release(probe, now + 0.01, REFUSED, retry_after=1.0)
    assert not any(turn.local_refusal for turn in waiting)
    assert len(pace.waiting) == 5
    for turn in waiting:
        pace.release(turn, now + 0.02)


def test_a_probe_accepted_after_local_refusals_lets_calls_go_again() -> None:
    pace = AdaptivePace(rand=lambda: 0.5)
    now = answer_in_order(pace, [REFUSED] * 10, 0.0, 0.01)
    assert pace.acquire(now)[0].local_refusal
    now = answer_in_order(pace, [ACCEPTED], now, 0.01)  # the quota came back
    assert not any(pace.acquire(now)[0].local_refusal for _ in range(20))


def test_a_new_call_that_waited_for_its_turn_is_not_refused_for_waiting() -> None:
    """The throttle draws once for a call (the SRE book's): a call that passed its draw and waited in line, the
    API's answers unchanged meanwhile, goes when its turn comes."""
    draws = iter([0.9, 0.1])  # passes the draw when it queues (0.9 against 5 in 6); a second draw would refuse
    pace = AdaptivePace(rand=lambda: next(draws))
    now = answer_in_order(pace, [REFUSED] * 10, 0.0, 0.01)
    turn, wait = pace.acquire(now)
    assert not turn.local_refusal and wait > 0, "paced: it waits in line"
    assert pace.ready(turn, now + wait) == 0.0
    assert not turn.local_refusal and turn.state == pace_module.SENT
    pace.release(turn, now + wait + 0.01, ACCEPTED)


def test_a_call_that_waited_while_the_api_refused_more_is_refused_with_the_share_when_it_goes() -> None:
    """The API refused one more call while a new one waited: in all, the new call is refused locally with the
    throttle's share when it goes, not with the chance of two draws."""
    chance = random.Random(4)
    trials, went = 3000, 0
    for _ in range(trials):
        pace = AdaptivePace(rand=chance.random)
        now = answer_in_order(pace, [REFUSED] * 10, 0.0, 0.01)  # 5 refusals counted since the cut: 5 in 6
        retry, wait = pace.acquire(now, first=False)
        call, _ = pace.acquire(now)
        if call.local_refusal:
            pace.release(retry, now)
            continue
        now += wait
        assert pace.ready(retry, now) == 0.0
        pace.release(retry, now + 0.01, REFUSED, retry_after=1.0)  # 6 in 7 now
        now += 1.01  # the pause the refusal asked for
        while (wait := pace.ready(call, now)) > 0:
            now += wait
        went += not call.local_refusal
        pace.release(call, now + 0.01, ACCEPTED)
    assert went / trials == pytest.approx(1 / 7, abs=0.03)


@pytest.mark.parametrize("seed", range(3))
def test_a_quota_back_after_a_long_outage_is_noticed_within_a_sleep_window(seed: int) -> None:
    """Every call refused for five minutes, a new one tried every 50 ms: the book's formula alone would let about
    one through in two minutes; a probe goes once nothing went for Hystrix's sleep window, and no more often."""
    pace = AdaptivePace(rand=random.Random(seed).random)
    back_at, step = 300.0, 0.05
    now, first_accepted, sent_in_outage = 0.0, math.inf, 0
    while now < back_at + 60:
        turn, wait = pace.acquire(now)
        while wait and not turn.local_refusal:
            now += wait
            wait = pace.ready(turn, now)
        if turn.local_refusal:
            pace.release(turn, now)
        else:
            outcome = ACCEPTED if now >= back_at else REFUSED
            sent_in_outage += EVIDENCE_WINDOW <= now < back_at
            pace.release(turn, now + 0.02, outcome)
            if outcome == ACCEPTED:
                first_accepted = min(first_accepted, now)
        now += step
    assert first_accepted - back_at <= PROBE_AFTER + step
    outage = back_at - EVIDENCE_WINDOW  # (the counts' whole window of refusals)
    assert sent_in_outage <= 1.2 * outage / PROBE_AFTER, "a probe a sleep window, and the few the formula lets go"


def test_one_in_two_refused_is_left_alone_by_the_throttle() -> None:
    pace = AdaptivePace(rand=lambda: 0.0)
    answer_in_order(pace, [REFUSED, ACCEPTED] * 20, 0.0, 0.5)
    assert not pace.acquire(40.0)[0].local_refusal


def test_after_two_minutes_without_a_refusal_pacing_switches_off_and_the_pace_opens() -> None:
    pace = AdaptivePace()
    now = answer_in_order(pace, [ACCEPTED] * 10 + [REFUSED] * 10, 0.0, 0.01)
    assert pace.engaged
    answer_in_order(pace, [ACCEPTED] * 5, now + EVIDENCE_WINDOW + 1, 0.01)
    assert not pace.engaged
    assert pace.rate == math.inf
    assert pace.open


def test_each_call_on_its_own_shares_neither_pace_nor_pause() -> None:
    pace = AdaptivePace(adaptive=False)
    turns = [go(pace, 0.0) for _ in range(100)]
    pace.release(turns[0], 0.1, REFUSED, retry_after=5.0)
    for turn in turns[1:]:
        pace.release(turn, 0.1, REFUSED)
    assert pace.acquire(0.2)[1] == 0.0
    assert not pace.engaged


def test_the_rate_never_falls_below_the_floor() -> None:
    pace = AdaptivePace(rand=lambda: 1.0)
    now = 0.0
    for _ in range(200):
        now = answer_in_order(pace, [REFUSED], now, 0.01)
    assert pace.rate == MIN_RATE


# Cancellation at random points: whatever a sequence of calls did, once each is released nothing is held.
actions = st.lists(
    st.tuples(
        st.sampled_from(["acquire", "open", "ready", "release", "tick"]),
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
        retry_after = 1.0 if with_retry_after else None
        if action == "acquire":
            turn, _ = pace.acquire(now, first=index % 2 == 0)
            pace.wait_on(turn, lambda: None)
            turns.append(turn)
        elif action == "open":
            if pace.open:
                pace.open_done(pace.sent_open(now), now, outcome, retry_after)
        elif action == "tick":
            now += index / 10
        elif turns:
            turn = turns[index % len(turns)]
            if action == "ready":
                pace.ready(turn, now)
            else:
                pace.release(turn, now, outcome, retry_after)
    for turn in turns:
        pace.release(turn, now)
    assert pace.in_flight == 0
    assert not pace.waiting
    later = now + EVIDENCE_WINDOW * 3
    turn, wait = pace.acquire(later)
    assert not turn.local_refusal
    assert wait == 0.0 or (max_rate is not None and wait <= 1 / max_rate), "idle again: the next call may go"
    pace.release(turn, later, ACCEPTED)
    assert pace.open or max_rate is not None, "and open: nothing left to decide"


def test_calls_a_failed_fleet_held_go_by_the_process_s_own_start_a_window_at_a_time() -> None:
    """A fleet's limiter gave these turns while the fleet's shared pace held their sends, and Redis failed
    under them. From there the process paces alone, from a slow start (its share of the limit is unknown):
    the first window goes, the rest wait in line for answers, rather than all going at once into the API."""
    pace = AdaptivePace()
    pace.fleet_paces = True
    for turn in [go(pace, 0.0) for _ in range(INITIAL_WINDOW)]:
        pace.release(turn, 0.05, REFUSED)
    assert pace.waves == 1 and not pace.starting and not pace.engaged, "a limit the fleet's pace keeps to"
    held = [go(pace, 0.1, first=False) for _ in range(3 * INITIAL_WINDOW)]
    pace.pace_alone(1.0)
    waits = [pace.requeue(turn, 1.0) for turn in held]
    assert waits.count(0.0) == INITIAL_WINDOW
    assert pace.in_flight == INITIAL_WINDOW, "the others hold no place in flight while they wait"
    for turn in held[:INITIAL_WINDOW]:
        pace.release(turn, 1.05, ACCEPTED)
    assert pace.ready(held[INITIAL_WINDOW], 1.05) == 0.0, "an answer lets the next in line go"


@pytest.mark.parametrize("in_a_fleet", [False, True])
def test_the_refusals_of_the_burst_that_found_a_limit_do_not_make_the_client_refuse_its_new_calls(
    in_a_fleet: bool,
) -> None:
    """Six of a first window of ten refused (as when several processes begin at once on one bucket): a limit,
    and the pace (or the fleet's) keeps to it from there. That burst says nothing of the API now: the
    throttle's counts start with the wave that found the limit, in a fleet's process as in a client alone.
    Refusals that go on after it still make the throttle refuse new calls."""
    pace = AdaptivePace(rand=lambda: 0.0)
    pace.fleet_paces = in_a_fleet
    first_window = [go(pace, 0.0) for _ in range(INITIAL_WINDOW)]
    for index, turn in enumerate(first_window):
        pace.release(turn, 0.05, REFUSED if index % 2 == 0 or index == 9 else ACCEPTED)
    assert pace.waves == 1
    assert not pace.acquire(0.1)[0].local_refusal
    pace = AdaptivePace(rand=lambda: 0.5)
    pace.fleet_paces = in_a_fleet
    answer_in_order(pace, [REFUSED] * 20, 0.0, 0.01)
    assert pace.acquire(1.0)[0].local_refusal, "a used-up quota: more refusals than twice the accepts"


@pytest.mark.parametrize("starting", [True, False])
def test_a_call_a_fleet_held_is_timed_from_when_it_went(starting: bool) -> None:
    """A fleet's shared schedule held the turns this pace gave for seconds, each refused 20 ms after it went:
    the API's 429s take 20 ms. Timed from when the pace gave the turns, the holds would pass for round trips,
    and every call left less than seconds would be judged out of time (`answer_time`)."""
    pace = AdaptivePace(rand=lambda: 1.0)
    pace.fleet_paces = True
    if not starting:
        answer_in_order(pace, [REFUSED] * 10, 0.0, 0.02)  # a wave ends the start
        assert not pace.starting
    now = 10.0
    held = [go(pace, now, first=False) for _ in range(6)]
    for index, turn in enumerate(held):
        went = now + 0.5 * index  # the fleet's schedule: one every half second
        pace.went(turn, went)
        pace.release(turn, went + 0.02, REFUSED)
    assert pace.answer_time() < 0.1


def test_a_process_a_failed_fleet_leaves_alone_counts_for_its_throttle_afresh() -> None:
    """The fleet's pace was refused most calls (a quota the fleet used up), then Redis failed: the process's
    share alone is unknown, so its throttle starts as a new client's, and its own refusals teach it again."""
    pace = AdaptivePace(rand=lambda: 0.5)
    pace.fleet_paces = True
    now = answer_in_order(pace, [REFUSED] * 20, 0.0, 0.01)
    assert pace.acquire(now)[0].local_refusal
    pace.pace_alone(now)
    turn, _ = pace.acquire(now)
    assert not turn.local_refusal, "a new call goes, in the process's own start"
    pace.release(turn, now)
    now = answer_in_order(pace, [REFUSED] * 10, now, 0.01)
    assert pace.acquire(now)[0].local_refusal


def test_answers_to_calls_the_fleet_sent_weigh_nothing_once_the_process_paces_alone() -> None:
    """Calls sent under the fleet's pace were in flight when Redis failed, and one in two of them came back
    refused: that was the fleet's doing, and says nothing of this process's own share. New calls go."""
    pace = AdaptivePace(rand=lambda: 0.5)
    pace.fleet_paces = True
    answer_in_order(pace, [ACCEPTED] * 40, 0.0, 0.05)
    in_flight = [go(pace, 2.0) for _ in range(INITIAL_WINDOW)]
    pace.pace_alone(2.01)
    for index, turn in enumerate(in_flight):
        pace.release(turn, 2.02, REFUSED if index % 2 == 0 else ACCEPTED)
    assert not pace.engaged, "no limit proven by the calls it sent alone"
    assert not any(pace.acquire(2.03)[0].local_refusal for _ in range(10))


def test_a_process_a_failed_fleet_leaves_alone_measures_only_what_it_sent_alone() -> None:
    """The turns the fleet's schedule held had numbers, but never went: once Redis failed, the rate the
    process's first wave alone cuts to is what the API accepted of the calls it sent since, here none."""
    pace = AdaptivePace()
    pace.fleet_paces = True
    for turn in [go(pace, 0.0) for _ in range(INITIAL_WINDOW)]:
        pace.release(turn, 0.05, ACCEPTED)
    held = [go(pace, 0.1, first=False) for _ in range(3 * INITIAL_WINDOW)]
    pace.pace_alone(1.0)
    sent = [turn for turn in held if pace.requeue(turn, 1.0) == 0.0]
    for turn in sent:
        pace.release(turn, 1.01, REFUSED)
    assert pace.engaged and pace.rate == MIN_RATE
    for turn in held:
        pace.release(turn, 1.02)


def test_refusals_that_come_after_their_calls_were_credited_make_the_start_wait_longer_for_answers() -> None:
    """RFC 6298's timer: the first answer came in 10 ms, so a call unanswered after 30 ms counts as accepted.
    When the API's answers slow down under the burst and refusals come after that, each takes back the slot
    its credit added, and the timer grows past their round trip: the calls sent next are not counted as
    accepted before a refusal of theirs could come back."""
    pace = AdaptivePace()
    sent = [go(pace, 0.0) for _ in range(INITIAL_WINDOW)]
    waiting = [pace.acquire(0.0)[0] for _ in range(3 * INITIAL_WINDOW)]
    pace.release(sent[0], 0.01, ACCEPTED)
    assert pace.credit_after == pytest.approx(0.03)
    gone = [turn for turn in waiting if pace.ready(turn, 0.05) == 0.0]  # the rest of the window credited
    for turn in sent[1:4]:
        pace.release(turn, 0.06, REFUSED)  # 60 ms after they went, long after their credit
    assert pace.credit_after > 0.06
    now, queue = 0.06, [turn for turn in waiting if turn not in gone]
    while True:  # fill the window (past the start's pacing, which spaces sends by a fraction of a round trip)
        wait = pace.ready(queue[0], now)
        if wait == 0.0:
            queue.pop(0)
        elif wait < 0.01:
            now += wait
        else:
            break
    assert now + wait >= 0.05 + 0.06, "the calls sent at 50 ms hold their slots until a refusal could come"


def test_an_attempt_needs_the_time_the_api_s_refusals_take_not_only_its_fastest_answer() -> None:
    """RFC 6298's timer over the 429s timed: an attempt left less than that could only time out, so the call
    fails as the pace's (RateLimitError) instead of sending it. Refusals that come slower under load raise it
    above the fastest answer."""
    pace = AdaptivePace(rand=lambda: 1.0)
    answer_in_order(pace, [REFUSED] * 10, 0.0, 0.002)
    assert pace.engaged and not pace.starting
    assert pace.round_trip == pytest.approx(0.002)
    fast = pace.answer_time()
    assert fast >= pace.round_trip
    answer_in_order(pace, [REFUSED] * 5, 30.0, 0.05)  # paced now, answered slower
    assert pace.round_trip == pytest.approx(0.002)
    assert pace.answer_time() > 0.05 > fast


def test_an_attempt_needs_at_least_the_time_of_the_fastest_answer_the_api_accepted_on_its_route() -> None:
    """An accepted call takes the API's work: one left less time than the fastest accepted answer on its route
    could only time out (the API's work for it thrown away). Routes take their own time: a slow one sets no
    bound on a fast one."""
    pace = AdaptivePace(max_rate=10)
    before = pace.answer_time("images")
    slow, _ = pace.acquire(0.0, route="images")
    pace.release(slow, 0.9, ACCEPTED)
    assert pace.answer_time("images") == pytest.approx(0.9)
    faster, _ = pace.acquire(1.0, route="images?size=small")
    pace.release(faster, 1.6, ACCEPTED)
    assert pace.answer_time("images") == pytest.approx(0.6), "the fastest, whatever the query"
    assert pace.answer_time("captions") == before < 0.6, "a route not timed yet needs only a round trip"
    refused, _ = pace.acquire(2.0, route="images")
    pace.release(refused, 2.05, REFUSED)  # a 429 comes back at once: no measure of the work
    assert pace.answer_time("images") == pytest.approx(0.6)


def test_a_turn_too_late_for_an_answer_is_passed_over_and_the_next_in_line_takes_its_slot() -> None:
    """The first in line, its call about to expire, would use the API's slot for an attempt that can only time
    out: it leaves the line (its call fails as the pace's), and the next, with time left, goes in that slot."""
    pace = AdaptivePace(max_rate=2)
    pace.release(pace.acquire(0.0, route="llm")[0], 0.5, ACCEPTED)  # the API takes half a second for an answer
    go(pace, 0.5), go(pace, 0.5)  # the second's worth is used up: the next slot is at 1.0
    expiring, wait = pace.acquire(0.5, deadline=1.3, route="llm")
    later, _ = pace.acquire(0.5, deadline=10.0, route="llm")
    woken: list[str] = []
    pace.wait_on(expiring, functools.partial(woken.append, "expiring"))
    pace.wait_on(later, functools.partial(woken.append, "later"))
    assert wait == pytest.approx(0.5)
    assert pace.ready(expiring, 1.0) == 0.0
    assert expiring.too_late and expiring.state == pace_module.DONE, "0.3 s left: not sent"
    assert woken == ["later"]
    assert pace.ready(later, 1.0) == 0.0, "the slot goes to the next in line"
    assert later.state == pace_module.SENT and not later.too_late
    assert pace.in_flight == 3
    pace.release(expiring, 1.0)
    assert pace.in_flight == 3, "a turn passed over holds nothing"


def test_the_first_in_line_is_passed_over_as_soon_as_its_time_is_too_short_not_when_its_slot_comes() -> None:
    pace = AdaptivePace(max_rate=1)
    pace.release(pace.acquire(0.0, route="llm")[0], 0.4, ACCEPTED)
    blocked, _ = pace.acquire(0.4, deadline=20.0, route="llm")
    pace.wait_on(blocked, lambda: None)
    hopeless, _ = pace.acquire(0.4, deadline=0.7, route="llm")
    woken: list[str] = []
    pace.wait_on(hopeless, functools.partial(woken.append, "hopeless"))
    pace.release(blocked, 0.45)  # cancelled: the hopeless one is first in line, with 0.25 s left
    assert woken == ["hopeless"]
    assert pace.ready(hopeless, 0.45) == 0.0 and hopeless.too_late
    assert not pace.waiting


def test_a_slow_route_s_answers_pass_over_no_call_to_a_fast_one() -> None:
    """A client that made images (seconds each) and now asks for captions: a caption with a second left goes."""
    pace = AdaptivePace(max_rate=1)
    pace.release(pace.acquire(0.0, route="images")[0], 8.0, ACCEPTED)
    go(pace, 8.0)  # the next turn is at 9.0
    image, _ = pace.acquire(8.0, deadline=10.0, route="images")
    caption, _ = pace.acquire(8.0, deadline=10.0, route="captions")
    pace.wait_on(caption, lambda: None)
    assert pace.ready(image, 9.0) == 0.0 and image.too_late, "a second left, eight needed"
    assert pace.ready(caption, 9.0) == 0.0 and caption.state == pace_module.SENT


def _a_pace_whose_route_answers_in_one_to_two_seconds(then: tuple[float, ...] = ()) -> AdaptivePace:
    """Paced at 1/s, its next turn at 10.0; "llm" answered in 0.8 to 1.2 s (RFC 6298's timer: about 2 s), then
    in the times of `then`."""
    pace = AdaptivePace(max_rate=1)
    for second, took in enumerate([0.8, 1.2, 0.8, 1.2, 0.8, 1.2, *then]):
        pace.release(pace.acquire(float(second), route="llm")[0], second + took, ACCEPTED)
    go(pace, 9.0)
    return pace


def test_a_call_alone_in_line_goes_if_it_has_a_chance_of_an_answer() -> None:
    pace = _a_pace_whose_route_answers_in_one_to_two_seconds()
    alone, _ = pace.acquire(9.0, deadline=11.3, route="llm")
    assert pace.ready(alone, 10.0) == 0.0 and alone.state == pace_module.SENT, "1.3 s left: more than the fastest"


def test_a_call_likely_too_late_for_its_answer_gives_its_turn_to_one_behind_with_time_for_it() -> None:
    """With jittered answers the fastest is no bound: the first in line would get each turn with just over it left,
    and most of its answers would come too late. A call behind it with time for a usual answer takes the turn."""
    pace = _a_pace_whose_route_answers_in_one_to_two_seconds()
    late, _ = pace.acquire(9.0, deadline=11.3, route="llm")
    roomy, _ = pace.acquire(9.5, deadline=20.0, route="llm")
    pace.wait_on(roomy, lambda: None)
    assert pace.ready(late, 10.0) == 0.0 and late.too_late
    assert pace.ready(roomy, 10.0) == 0.0 and roomy.state == pace_module.SENT


def test_a_call_likely_too_late_keeps_its_turn_when_the_calls_behind_it_are_no_better_off() -> None:
    pace = _a_pace_whose_route_answers_in_one_to_two_seconds()
    late, _ = pace.acquire(9.0, deadline=11.3, route="llm")
    later, _ = pace.acquire(9.5, deadline=11.4, route="llm")
    assert pace.ready(late, 10.0) == 0.0 and late.state == pace_module.SENT
    pace.release(later, 10.0)


def test_a_fast_error_answer_does_not_make_a_route_look_fast() -> None:
    """Any answer but a 429 is accepted, a 400 on a bad argument too, in no time: it moves the route's usual
    answer time toward it by an eighth, and widens its spread; calls likely too late are still passed over."""
    pace = _a_pace_whose_route_answers_in_one_to_two_seconds(then=(0.02,))
    assert pace.answer_time("llm") <= 0.1, "the fastest answer: no bound any more"
    late, _ = pace.acquire(9.0, deadline=11.3, route="llm")
    roomy, _ = pace.acquire(9.5, deadline=20.0, route="llm")
    assert pace.ready(late, 10.0) == 0.0 and late.too_late
    assert pace.ready(roomy, 10.0) == 0.0 and roomy.state == pace_module.SENT

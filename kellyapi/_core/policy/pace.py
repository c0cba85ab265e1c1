"""How fast one client sends: pure logic (the caller passes the time), shared by every task and thread of a client.

Each mechanism is a published one, with its published constants:

- **Slow start** (TCP, RFC 5681; the initial window of RFC 3390). With no evidence of a limit, a client keeps
  at most `window` calls in flight. The window starts at 4 and grows by one for each accepted call while it is
  in use (RFC 7661), so it doubles every round trip; after an idle spell longer than a retransmission timeout
  (RFC 6298: the smoothed round trip plus four deviations, at least a second) it starts at 4 again (RFC 5681,
  section 4.1). A burst against an API that is already at its limit is refused by the handful, not the hundred.
  While nothing is refused or paced, a call that finds the window less than half in use (where RFC 7661
  grows nothing) needs nothing decided: the pace is `open`, and a client only counts such a call in `flying`
  and its accepted answers in `open_accepted`; everything else goes through `acquire` and `release`.
- **Evidence** (the Google SRE book, "Handling Overload"). The client counts over the last two minutes the
  answers it got: accepted, or refused with a 429. Pacing engages when requests exceed K = 1.1 times the
  accepts (the book's aggressive multiplier: one refusal for every ten accepted calls), with 100 accepted
  calls assumed before the first: an API that sheds a few percent of calls at random, or a young client's
  unlucky first calls, prove nothing.
- **Pacing** (botocore's adaptive retry mode, `botocore/retries/adaptive.py` and `cubic.py`). Engaged, sends
  are spaced by a token bucket (GCRA) at `rate` calls a second holding a second's worth of starts; waiting
  calls are served first come, first served, one per free turn. A wave of refusals cuts the rate once, to 0.7
  (CUBIC's beta) of what it was, or the first time of what the API accepted since the client began (TCP
  Westwood: the rate the path delivered); only the refusal of a call sent after the last cut cuts again.
  Between cuts the rate grows back along CUBIC's curve (C = 0.4), above the old rate after a while, probing
  for a limit that rose. The floor is 0.5 calls a second. After two minutes without a refusal pacing
  switches off and the client is back to its window.
- **Client-side throttling** (the SRE book again, K = 2). When the API refuses more calls than it accepts (a
  used-up quota), each attempt is refused locally, at the moment it would go, with probability
  `max(0, (requests - 2 * accepts) / (requests + 1))`: calls fail fast, the API sees at most one refusal per
  accepted call, and the few attempts that still go are the probes that notice a recovery.
- **Retry-After.** A 429's `Retry-After` of up to `RETRY_AFTER_CAP` (60 s, as openai-python honours) pauses
  every call of the client, not only the refused one; a longer one pauses nobody (a quota for the day does not
  freeze the client: each call raises with the wait on its error).

Whatever a turn holds (a place in flight, a place in the queue) is given back by `release`, which the caller
runs in a `finally`: a cancelled, interrupted or failed call never keeps a start.
"""

from __future__ import annotations

import collections
import math
import random
import threading
from collections.abc import Callable

from kellyapi._core.policy.retry import RETRY_AFTER_CAP

INITIAL_WINDOW = 4  # RFC 3390: an initial window of up to four segments
MIN_RETRANSMISSION_TIMEOUT = 1.0  # RFC 6298 (2.4): the retransmission timeout is at least a second
SRTT_GAIN, RTTVAR_GAIN = 1 / 8, 1 / 4  # RFC 6298 (2.3): alpha and beta of the round-trip estimators
THROTTLE_K = 2.0  # SRE book: the client rejects locally once requests exceed twice the accepts
EVIDENCE_WINDOW = 120.0  # SRE book: accepts and requests are counted over the last two minutes
# Page's CUSUM test between the SRE book's two multipliers: an API refusing one call in eleven (K = 1.1, the
# share a client tolerates) against one refusing one call in two (K = 2, a client over the limit).
TOLERATED_SHARE = 1 / 11
LIMITED_SHARE = 1 / 2
ON_REFUSAL = math.log(LIMITED_SHARE / TOLERATED_SHARE)  # what one refusal adds to the evidence...
ON_ACCEPT = math.log((1 - LIMITED_SHARE) / (1 - TOLERATED_SHARE))  # ...and one accepted call (negative)
PROOF = math.log(1000)  # Wald's bound: a tolerated share proves a limit less than once in a thousand
PROVING_REFUSALS = math.ceil(PROOF / ON_REFUSAL)  # the fewest refusals that prove one (five in a row)
CUBIC_BETA = 0.7  # botocore cubic.py (and RFC 8312): the share of the rate kept after a cut
CUBIC_C = 0.4  # botocore cubic.py (and RFC 8312): the scale of the growth curve
MIN_RATE = 0.5  # botocore adaptive.py: the lowest rate the token bucket is set to
MEASURE_BUCKET = 0.5  # botocore adaptive.py: the send rate is measured over half-second buckets...
MEASURE_SMOOTHING = 0.8  # ...each new one weighted 0.8 against the average so far
BURST_SECONDS = 1.0  # botocore bucket.py: the bucket holds a second's worth of tokens (at least one)

# A turn's states.
QUEUED = 1  # waiting in line: the first in line waits for its start, the others to be woken
SENT = 2  # in flight
DONE = 3  # released, or refused locally: holds nothing

# What became of a sent attempt.
ACCEPTED = "accepted"
"""An attempt's outcome: an answer that was not a 429 (the API let the call through)."""
REFUSED = "refused"
"""An attempt's outcome: a 429."""
FAILED = "failed"
"""An attempt's outcome: no answer (a timeout, a reset), or the call was cancelled; nothing is learnt."""
OVER_LIMIT = "over limit"  # (weighed only) a 429 with a Retry-After: the API says the client is over its limit


class Turn:
    """One attempt's place with the pace: what it holds until `AdaptivePace.release`."""

    __slots__ = ("flight", "local_refusal", "sent_at", "seq", "state", "wake")

    def __init__(self) -> None:
        self.state = DONE
        self.sent_at = 0.0
        self.seq = 0  # SENT: its place among the client's sends
        self.flight = 0  # SENT: the calls in flight once it went, itself included
        self.wake: Callable[[], object] | None = None  # QUEUED: called (from any thread) when it should ask again
        self.local_refusal = False  # refused by the client-side throttle: the call fails without sending

    def __repr__(self) -> str:
        state = {QUEUED: "queued", SENT: "sent", DONE: "done"}[self.state]
        return f"<Turn {state}>"


class _SlidingCount:
    """A count over the last `window` seconds: the current bucket plus the previous one weighted by how much of
    it still lies in the window (the sliding window counter of Cloudflare's rate limiter)."""

    __slots__ = ("_current", "_previous", "_start", "_window")

    def __init__(self, window: float) -> None:
        self._window = window
        self._start = -math.inf
        self._current = 0.0
        self._previous = 0.0

    def _roll(self, now: float) -> None:
        elapsed = now - self._start
        if elapsed >= self._window:
            whole = elapsed // self._window
            self._previous = self._current if whole == 1 else 0.0
            self._current = 0.0
            self._start = now if math.isinf(self._start) else self._start + whole * self._window

    def add(self, now: float, count: float = 1) -> None:
        if now - self._start >= self._window:
            self._roll(now)
        self._current += count

    def value(self, now: float) -> float:
        if now - self._start >= self._window:
            self._roll(now)
        return self._current + self._previous * max(0.0, 1 - (now - self._start) / self._window)


class AdaptivePace:
    """The pace of one client; thread-safe (the blocking client's threads share it, as do an async client's loops)."""

    def __init__(
        self,
        max_rate: float | None = None,
        adaptive: bool = True,
        rand: Callable[[], float] = random.random,
    ) -> None:
        """Pace at most `max_rate` calls a second from the start; with `adaptive`, learn the API's rate from its
        429s; with neither, send every call at once and leave each to its own retries."""
        self.max_rate = max_rate
        self.adaptive = adaptive
        self.fleet_paces = False  # a fleet's limiter paces the sends: this pace keeps its window and throttle
        self._rand = rand
        self._lock = threading.Lock()
        self.waiting: collections.deque[Turn] = collections.deque()  # queued turns, first come first served
        # Slow start
        self.window = INITIAL_WINDOW if adaptive else math.inf
        self.in_flight = 0
        self._next_window_send = -math.inf
        self.last_active = -math.inf  # when a call last went or ended: an idle spell restarts the window
        # Open: nothing refused, paused or paced. A client may then send a call without `acquire` while fewer
        # than half the window fly, stamping `last_active`, holding a place in `flying` (a list: its appends
        # and pops need no lock) and counting an accepted answer in `open_accepted`; a 429 closes it.
        self.open = adaptive and max_rate is None
        self.flying: list[None] = []
        self.open_accepted = 0
        self._opened_seq = 0  # the calls sent before the pace last opened: those after it went unnumbered
        self._srtt = 0.0
        self._rttvar = 0.0
        self.rto = MIN_RETRANSMISSION_TIMEOUT  # RFC 6298: the retransmission timeout
        # Evidence
        self._accepts = _SlidingCount(EVIDENCE_WINDOW)
        self._refusals = _SlidingCount(EVIDENCE_WINDOW)
        self._local_refusals = _SlidingCount(EVIDENCE_WINDOW)
        self._last_refusal = -math.inf
        # Pacing
        self.engaged = max_rate is not None
        self.rate = math.inf if max_rate is None else max_rate
        self._theoretical = -math.inf  # GCRA's theoretical arrival time of the next start
        self._paused_until = -math.inf
        self._last_cut = -math.inf  # when the rate was last cut: CUBIC's curve starts there
        self._w_max = 0.0  # CUBIC: the rate at the last cut...
        self._k = 0.0  # ...and the seconds its curve takes to get back to it
        self._evidence = 0.0  # CUSUM of the answers since the last cut: a limit is proven at PROOF
        self._cut_seq = 0  # the first call sent after the last cut: a refusal of an earlier one does not cut
        self._refused_since_cut = 0  # calls refused, and accepted, of those sent since the last cut
        self._accepted_since_cut = 0
        self._sent = 0  # calls sent so far...
        self._judged = 0  # ...the first whose answer is still to be weighed...
        self._answers: dict[int, str] = {}  # ...and the answers that came before it
        self._measured = -1.0  # calls sent a second (botocore's measured send rate); -1 until a bucket closed
        self._measure_bucket = -math.inf
        self._measure_count = 0
        self._first_send = 0.0

    # -- asking for a turn -------------------------------------------------------------------------------

    def acquire(self, now: float, first: bool = True) -> tuple[Turn, float]:
        """A turn for an attempt, and the seconds to wait before asking `ready` again: 0 (go now), a time, or
        infinity (until woken: `wait_on` a waker first). A turn with `local_refusal` set must not be sent: the
        client-side throttle refused it. Release the turn in any case.

        first: the call's first attempt, new work that the client-side throttle may refuse (a retry's chances
        are the retry quota's to judge)."""
        turn = Turn()
        with self._lock:
            if first and now - self._last_refusal < EVIDENCE_WINDOW and self._throttled(now):
                turn.local_refusal = True
                self._local_refusals.add(now)
                return turn, 0.0
            if not self.waiting:
                wait = self._wait(now)
                if wait <= 0:
                    self._go(turn, now)
                    return turn, 0.0
            turn.state = QUEUED
            self.waiting.append(turn)
            return turn, self._wait(now) if self.waiting[0] is turn else math.inf

    def wait_on(self, turn: Turn, wake: Callable[[], object]) -> bool:
        """Have `wake()` called when a queued turn should ask `ready` again; False if it no longer waits in the
        queue (ask `ready` at once: it was let go meanwhile, by another thread)."""
        with self._lock:
            if turn.state != QUEUED:
                return False
            turn.wake = wake
            return True

    def ready(self, turn: Turn, now: float) -> float:
        """Ask again after a wait: 0 when the turn may go (or was refused locally), else the wait as `acquire`."""
        woken: list[Callable[[], object]] = []
        with self._lock:
            if turn.state != QUEUED:
                return 0.0
            if self.waiting[0] is not turn:
                return math.inf
            wait = self._wait(now)
            if wait > 0:
                return wait
            self.waiting.popleft()
            self._go(turn, now)
            woken = self._advance(now)
        _wake(woken)
        return 0.0

    def _wait(self, now: float) -> float:
        """Seconds until the next call may go: 0 now, or infinity until a call in flight ends."""
        if now < self._paused_until:
            return self._paused_until - now
        if self.engaged:
            interval = 1.0 / self.rate
            return max(0.0, self._theoretical - max(BURST_SECONDS, interval) + interval - now)
        in_flight = self.in_flight + len(self.flying)
        if in_flight == 0 and now - self.last_active > self.rto and self.adaptive:
            self.window = min(self.window, INITIAL_WINDOW)
        if in_flight >= self.window:
            return math.inf
        return self._next_window_send - now if self._next_window_send > now else 0.0

    def _go(self, turn: Turn, now: float) -> None:
        turn.state = SENT
        turn.sent_at = now
        turn.seq = self._sent
        self._sent += 1
        self.in_flight += 1
        turn.flight = self.in_flight + len(self.flying)
        self.last_active = now
        if not turn.seq:
            self._first_send = now
        if self.engaged:
            self._theoretical = max(self._theoretical, now) + 1.0 / self.rate
            self._measure(now)
        elif turn.flight * 2 >= self.window:  # a window in use spreads its sends over half a round trip (Linux's
            # pacing in slow start: twice the window a round trip): refusals, answered at once, must not let it
            # send faster than it grows
            self._next_window_send = max(self._next_window_send, now) + self._srtt / (2 * self.window)

    def _measure(self, now: float) -> None:
        # botocore's measured send rate: sends a second over half-second buckets, each weighted 0.8. A bucket
        # counts over its own half-second only: buckets without a send (a pause, an idle spell) say nothing
        # of the rate the client sends at, and a cut after a pause must not start from almost nothing.
        bucket = now // MEASURE_BUCKET
        if bucket != self._measure_bucket:
            if self._measure_bucket != -math.inf:
                sent = self._measure_count / MEASURE_BUCKET
                self._measured = (
                    sent
                    if self._measured < 0
                    else (MEASURE_SMOOTHING * sent + (1 - MEASURE_SMOOTHING) * self._measured)
                )
            self._measure_bucket = bucket
            self._measure_count = 0
        self._measure_count += 1

    def _advance(self, now: float) -> list[Callable[[], object]]:
        """Let the first in line go while it may; wake the one left first in line, to wait for its start.
        Returns the wakers to call once the lock is released."""
        woken = []
        queue = self.waiting
        while queue:
            wait = self._wait(now)
            head = queue[0]
            if wait > 0 and (wait == math.inf or head.wake is None):
                break
            if wait <= 0:
                queue.popleft()
                self._go(head, now)
            if head.wake is not None:  # let go, or first in line now: it asks again
                woken.append(head.wake)
                head.wake = None
            if wait > 0:
                break
        return woken

    def open_done(self, now: float, outcome: str, retry_after: float | None = None) -> None:
        """A call sent while the pace was open ended (its place in `flying` given back) other than accepted with
        nobody waiting: a 429 closes the pace and is weighed; calls waiting get the place (the window was in
        use, so it grows by one for an accepted call, as `release` grows it)."""
        woken: list[Callable[[], object]] = []
        with self._lock:
            self.last_active = now
            if outcome == REFUSED:
                self._refused(now, retry_after)
                # It went while the pace was open, so before any cut made since: only the first of a wave cuts.
                self._weigh(REFUSED if not retry_after else OVER_LIMIT, self._opened_seq, now)
            elif outcome == ACCEPTED:
                self.open_accepted += 1
                if self.waiting and not self.engaged:
                    self.window += 1
            if self.waiting:
                woken = self._advance(now)
        _wake(woken)

    def _close(self, now: float) -> None:
        self.open = False
        accepted, self.open_accepted = self.open_accepted, 0
        # What the open pace did not count, weighed now: the accepted calls against the evidence (Page's
        # CUSUM clips at zero, so a run of accepts weighs as one step), and in the SRE book's counts.
        self._evidence = max(0.0, self._evidence + ON_ACCEPT * accepted)
        self._accepted_since_cut += accepted
        self._accepts.add(now, accepted)

    # -- giving it back ----------------------------------------------------------------------------------

    def release(self, turn: Turn, now: float, outcome: str = FAILED, retry_after: float | None = None) -> None:
        """Give back what the turn holds, and learn from the attempt's `outcome` if it was sent. Safe to call
        more than once, and for a turn that never went (a cancelled wait)."""
        woken: list[Callable[[], object]] = []
        with self._lock:
            state = turn.state
            turn.state = DONE
            if state == SENT:
                self.in_flight -= 1
                self.last_active = now
                if outcome == ACCEPTED:
                    self._accepted(turn, now)
                elif outcome == REFUSED:
                    self._refused(now, retry_after)
                if self.adaptive:
                    self._judge(turn, now, outcome if outcome != REFUSED or not retry_after else OVER_LIMIT)
            elif state == QUEUED:
                first = self.waiting[0] is turn
                self.waiting.remove(turn)
                if not first:
                    return
            if self.waiting:
                woken = self._advance(now)
            elif not self.open and not self.engaged and self.adaptive and now - self._last_refusal > EVIDENCE_WINDOW:
                self.open = now >= self._paused_until
                self._opened_seq = self._sent
        _wake(woken)

    # -- learning -----------------------------------------------------------------------------------------

    def _accepted(self, turn: Turn, now: float) -> None:
        took = now - turn.sent_at
        if self._srtt == 0.0:
            self._srtt, self._rttvar = took, took / 2
        else:
            self._rttvar += RTTVAR_GAIN * (abs(self._srtt - took) - self._rttvar)
            self._srtt += SRTT_GAIN * (took - self._srtt)
        self.rto = max(MIN_RETRANSMISSION_TIMEOUT, self._srtt + 4 * self._rttvar)
        self._accepts.add(now)
        if not self.adaptive:
            return
        if not self.engaged:
            if turn.flight >= self.window / 2 or self.waiting:  # RFC 7661: grow only a window in use
                self.window += 1
        elif now - self._last_refusal > EVIDENCE_WINDOW:
            self._disengage()
        else:
            # botocore's success_received: CUBIC's curve since the last cut, back to the rate then after K
            # seconds, then probing above it.
            self._set_rate(CUBIC_C * (now - self._last_cut - self._k) ** 3 + self._w_max)

    def _refused(self, now: float, retry_after: float | None) -> None:
        if not self.adaptive:  # each call on its own: its own retry waits out its own 429
            return
        self._close(now)
        self._refusals.add(now)
        self._last_refusal = now
        if retry_after is not None and 0 < retry_after <= RETRY_AFTER_CAP:
            self._paused_until = max(self._paused_until, now + retry_after)

    def _judge(self, turn: Turn, now: float, outcome: str) -> None:
        """Weigh the answers in the order their calls went, not the order they came back: a 429 comes back
        faster than an accepted call, and a few shed calls answered first would look like a wave. So a
        refusal is weighed after every call sent before it, those still in flight counted as accepted (the
        API let them in); one of those refused after all is part of the wave already weighed, not a new
        refusal in a row (their 429s, coming back one after another, would prove a limit that isn't)."""
        seq = turn.seq
        if seq < self._judged:  # weighed already, as accepted, when a later call's refusal came back
            return
        if outcome == ACCEPTED and not self._answers and not self._evidence:
            # Nothing to weigh it against: no refusal is waiting for the calls before it.
            self._judged = seq + 1
            self._accepted_since_cut += seq >= self._cut_seq
            return
        answers = self._answers
        if outcome in (REFUSED, OVER_LIMIT):
            for earlier in range(self._judged, seq):
                self._weigh(answers.pop(earlier, ACCEPTED), earlier, now)
            self._judged = seq + 1
            self._weigh(outcome, seq, now)
        else:
            answers[seq] = outcome
        while self._judged in answers:
            self._judged += 1
            self._weigh(answers.pop(self._judged - 1), self._judged - 1, now)

    def _weigh(self, outcome: str, seq: int, now: float) -> None:
        if outcome == ACCEPTED:
            self._evidence = max(0.0, self._evidence + ON_ACCEPT)
            self._accepted_since_cut += seq >= self._cut_seq
        elif outcome != FAILED:
            self._evidence += ON_REFUSAL
            self._refused_since_cut += seq >= self._cut_seq
            self._wave(now, seq, outcome == OVER_LIMIT)

    def _wave(self, now: float, seq: int, told: bool) -> None:
        """A refusal of call number `seq`; `told`: it came with a Retry-After."""
        if seq < self._cut_seq or self.fleet_paces:
            return  # this wave already cut the rate, or a fleet's shared pace does the pacing
        # Before the pace is engaged, only a proven wave engages it. Paced, a 429 with a Retry-After (the API
        # saying the client is over its limit) cuts, and so do bare 429s once there are as many as prove a
        # limit and they are more than the tolerated share of the answers since the last cut (fewer may be
        # shed calls).
        refused = self._refused_since_cut
        if self._evidence < PROOF and not (
            self.engaged
            and (
                told
                or (
                    refused >= PROVING_REFUSALS
                    and refused * (1 - TOLERATED_SHARE) > self._accepted_since_cut * TOLERATED_SHARE
                )
            )
        ):
            return
        # A new wave of refusals: cut once (botocore's error_received), from the rate or what was sent; the
        # first time, from what the API accepted of the calls sent so far (TCP Westwood: the rate the path
        # delivers), since a young client's send rate is its slow start's. The API's bucket may have let a
        # second's worth through at once (the shape of botocore's own bucket), so over a second at least.
        if self.engaged:
            self._w_max = min(self.rate, self._send_rate(now))
        else:
            self._w_max = self._accepted_since_cut / max(now - self._first_send, BURST_SECONDS)
        self._k = (self._w_max * (1 - CUBIC_BETA) / CUBIC_C) ** (1 / 3)
        self._set_rate(self._w_max * CUBIC_BETA)
        self.engaged = True
        # The API's bucket is empty now: so is the pace's (a burst only after a pause has let both refill).
        self._theoretical = max(self._theoretical, now + BURST_SECONDS)
        self._last_cut = now
        self._cut_seq = self._sent
        self._evidence = 0.0
        self._refused_since_cut = self._accepted_since_cut = 0

    def _send_rate(self, now: float) -> float:
        """Calls sent a second since the pace engaged, as botocore measures it (the rate until a bucket closed)."""
        return self._measured if self._measured >= 0 else self.rate

    def _set_rate(self, rate: float) -> None:
        rate = max(MIN_RATE, rate)
        self.rate = rate if self.max_rate is None else min(rate, self.max_rate)

    def _disengage(self) -> None:
        if self.max_rate is not None:
            return
        self.engaged = False
        self.rate = math.inf
        self._measured, self._measure_bucket = -1.0, -math.inf
        self.window = max(self.window, INITIAL_WINDOW, self.in_flight)

    def _throttled(self, now: float) -> bool:
        """The client-side throttle's draw: True to refuse this attempt locally. (With fewer refusals than
        prove a limit, a first 429 would refuse half the calls after it: the formula is meant for many.)"""
        refusals = self._refusals.value(now)
        if refusals < PROVING_REFUSALS:
            return False
        accepts = self._accepts.value(now)
        requests = accepts + refusals + self._local_refusals.value(now)
        reject = (requests - THROTTLE_K * accepts) / (requests + 1)
        return reject > 0 and self._rand() < reject

    # -- what users see -----------------------------------------------------------------------------------

    @property
    def proven(self) -> bool:
        """Whether the answers since the last cut prove a rate limit (Page's CUSUM at `PROOF`)."""
        return self._evidence >= PROOF

    def pause_left(self, now: float) -> float:
        """Seconds left of a pause that a Retry-After began (0 when none)."""
        return max(0.0, self._paused_until - now)

    def __repr__(self) -> str:
        mode = f"paced at {self.rate:.3g}/s" if self.engaged else f"window {self.window:g}"
        return f"<AdaptivePace {mode}, {self.in_flight} in flight, {len(self.waiting)} waiting>"


def _wake(wakers: list[Callable[[], object]]) -> None:
    for wake in wakers:
        wake()

"""How fast one client sends: pure logic (the caller passes the time), shared by every task and thread of a client.

Each mechanism is a published one, with its published constants:

- **Off until the API refuses** (botocore's adaptive retry mode: "off until the first throttle"). Nothing is
  paced before a refusal. Past its start (below), a client with no reason to pace sends every call at once,
  as with no controller: the pace is `open`, and a call only takes a number (`sent_open`), so that a later
  refusal can be weighed in the order the calls went, and reports its answer only if it was not accepted
  (`open_done`).
- **A slow start** (TCP's, RFC 5681 section 3.1, from RFC 6928's initial window of 10). A client that begins
  sending, or sends again after an idle second (RFC 5681 section 4.1's restart after idle: the API's bucket has
  refilled, and what it accepts is unknown again), has at most `window` calls awaiting their verdict; the window
  grows by one for each call accepted, doubling every round trip, and a refused call gives no slot back (as a lost
  segment keeps its place in TCP's flight). A refusal comes back within a round trip, while an accepted call may
  take seconds of work: a call unanswered after RFC 6298's retransmission timeout (3 round trips of the fastest
  answer, and never less than the smoothed round trip of refusals plus four times its variation) counts as
  accepted, and a refusal that comes later still takes back the slot the credit added and is timed too. Before
  any answer the round trip is quiche's initial estimate (100 ms): so a burst against an API already at its limit
  costs the refusals of a window, not of the whole burst, and against a healthy API the window reaches the
  connections the client has (100) within 4 doublings, 0.4 s on a nearby API, whatever its calls take. A start
  after an idle spell begins from the flight the last one used, if it proved no limit, for five minutes (RFC
  7661's validated window and non-validated period): a batch of calls every few seconds pays for one start, not
  one each (and a limit that fell meanwhile costs the refusals of that flight). A call
  is held in the start for at most half the time it had left (then goes to the connection pool's own queue): a
  start is a guess at what the API accepts, not a limit it showed, and a call with a short timeout must not fail
  for it. Sends in the start are spread over
  the round trip (RFC 9002 section 7.7's pacing, 1.25 windows a round trip), so that the refusal of the first call
  over a limit comes back before the rest of its window has gone. The start ends once every waiting call has gone,
  or when a limit is proven (pacing takes over). A 429 with a `Retry-After` in the start is its retransmission
  timeout (RFC 5681 section 3.1): the threshold goes to half the window and the window to one, and above the
  threshold the window grows by one a round trip (congestion avoidance), so that the start does not double again
  into the bucket the pause let refill.
- **Evidence** (the Google SRE book, "Handling Overload"). The refusals are weighed in the order their
  calls went, the calls between them counted as accepted, by Page's CUSUM test between the book's two
  multipliers: an API that refuses one call in eleven (K = 1.1, what a client tolerates) against one that
  refuses every other call (K = 2, a client over its limit). An API that sheds a few percent of calls at
  random proves nothing, and the client stays open; five refusals in a row prove a limit. (A `Retry-After`
  proves nothing either: APIs that shed load send one too.)
- **Pacing** (botocore's adaptive retry mode, `botocore/retries/adaptive.py` and `cubic.py`). Engaged, sends are
  spaced by a token bucket (GCRA) at `rate` calls a second holding a second's worth of starts; waiting calls are
  served first come, first served, one per free turn, but a call left less time than an answer on its route takes
  (`answer_time`) is passed over, its turn going to the next in line (the SRE book: check the deadline before the
  work). A wave of refusals cuts the rate once, to 0.7 (CUBIC's beta) of what the API accepted (TCP Westwood's rule:
  the rate the path delivered) of the calls the pace let go in the last second it could send (a pause the API asked
  for left out, and at least `MEASURED_CALLS`), or the first time of those sent since the client began sending, and
  never above the rate it was paced at; only the refusal of a call sent after the last cut cuts again, and only once
  the calls in flight at the cut have all been answered (NewReno's recovery, RFC 6582: until then the API still sees
  the last wave, and the rate holds). A client whose share fell since the last cut gives up more of it (RFC 8312's
  fast convergence), so that clients on one limit converge sooner. Between cuts the rate grows back along CUBIC's
  curve (C = 0.4), above the old rate after a while, probing for a limit that rose; the curve's clock runs only
  while the rate holds calls back (RFC 9438: a flow the application limits does not grow), so a client with few
  calls to send does not climb to a rate its calls never tried, to send a burst at it later. The floor is 0.5 calls a
  second: a client that got nothing through (one of many on a limit, after their bursts) probes at it. A pause the
  API asked for ends with one call, then one a turn (`_empty_bucket`). After two minutes without a refusal pacing
  switches off and the pace opens again.
- **Client-side throttling** (the SRE book again, K = 2). When the API refuses more calls than it accepts, new work
  is refused locally with probability `max(0, (requests - 2 * accepts) / (requests + 1))`: calls fail fast, the API
  sees at most one refusal per accepted call, and the few attempts that still go are the probes that notice a
  recovery. The book's formula lets about one through in two minutes: once nothing went for five seconds, the next
  call goes (Hystrix's sleep window before a half-open probe). The counts are those of the last two minutes, since
  the wave that found the limit (when the pace engaged; in a fleet, whose pace never engages, the first wave in two
  minutes: accepts from before a limit say nothing of a quota used up since), and start afresh when a probe is
  accepted after local refusals (the half-open circuit breaker's rule: the API accepts calls again), and when a
  client a fleet paced goes on alone (its share is unknown). A call's first attempt is drawn for once, at the share
  when it goes. A retry is the pace's to send and the retry policy's to allow; but when the API refuses even the
  slowest pace, has accepted nothing since the pace engaged, says nothing of when to come back and the throttle's
  counts show it refusing more than it accepts, the calls waiting for a turn fail at once (`_refuse_waiting`).
- **Retry-After.** A 429's `Retry-After` of up to `RETRY_AFTER_CAP` (60 s, as openai-python honours) pauses
  every call of the client, not only the refused one; a longer one pauses nobody (a quota for the day does not
  freeze the client: each call raises with the wait on its error).

A turn is given only while the client's connection pool has a free connection (`max_in_flight`): a call that
waited in the pool's own queue would reach the API later than the pace believes.

Whatever a turn holds (a place in flight, a place in the queue) is given back by `release`, which the caller
runs in a `finally`: a cancelled, interrupted or failed call never keeps a start.
"""

from __future__ import annotations

import bisect
import collections
import itertools
import math
import random
import threading
from collections.abc import Callable

import attrs

from kellyapi._core.policy.retry import RETRY_AFTER_CAP

THROTTLE_K = 2.0  # SRE book: the client rejects locally once requests exceed twice the accepts
# Hystrix's circuit breaker (circuitBreaker.sleepWindowInMilliseconds, 5000 by default): once nothing went for that
# long, the next call goes as a probe, so that a quota back after a long outage is noticed within seconds.
PROBE_AFTER = 5.0
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
# botocore bucket.py: the bucket holds a second's worth of tokens (at least one). An API's token bucket of
# that shape is full again after an idle second: what it accepts is then measured afresh.
BURST_SECONDS = 1.0
INITIAL_WINDOW = 10  # RFC 6928: TCP's initial window, in calls here rather than segments
# RFC 7661's non-validated period (NVP): a window the API was shown to accept is kept through idle spells for
# five minutes, and only then falls back to the initial window.
NON_VALIDATED_PERIOD = 300.0
# The fewest calls a delivered rate is measured over: one call more or less changes it by less than a cut does
# (1 - CUBIC_BETA), so that a client sending a call or two a second does not cut on a count's rounding.
MEASURED_CALLS = math.ceil(1 / (1 - CUBIC_BETA))
PACING_GAIN = 1.25  # RFC 9002 section 7.7: sends spread at 1.25 windows a round trip
GRANULARITY = 0.001  # RFC 9002 section 6.1.2's kGranularity: no round trip is taken as shorter than a clock tick
INITIAL_ROUND_TRIP = 0.1  # quiche (Chromium's QUIC) kInitialRttMs: "initial rtt used before any samples"
# The routes whose answers a pace times: the API's endpoints are a few dozen; a client sending to paths of its own
# making (`client.request`, an id in each) keeps the few hundred answered last.
ROUTES_TIMED = 256

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


class Turn:
    """One attempt's place with the pace: what it holds until `AdaptivePace.release`."""

    __slots__ = ("deadline", "drawn", "local_refusal", "route", "sent_at", "seq", "state", "too_late", "wake")

    def __init__(self, deadline: float = math.inf, route: str = "") -> None:
        self.deadline = deadline  # when the call gives up: a turn that leaves it no time for an answer is not given
        self.route = route  # what the call asks for, its query left out: the API answers each route in its time
        # QUEUED: for a call's first attempt (new work), the throttle's share of refusals its draw passed when it
        # queued (None: a retry, not the throttle's to refuse)
        self.drawn: float | None = None
        self.state = DONE
        self.seq = 0  # SENT: its place among the client's sends...
        self.sent_at = 0.0  # ...and when it went
        self.wake: Callable[[], object] | None = None  # QUEUED: called (from any thread) when it should ask again
        self.local_refusal = False  # refused by the client-side throttle: the call fails without sending
        self.too_late = False  # its turn came too late for an answer (`AdaptivePace.answer_time`): not sent

    def __repr__(self) -> str:
        state = {QUEUED: "queued", SENT: "sent", DONE: "done"}[self.state]
        return f"<Turn {state}>"


class _AnswerTimes:
    """The times of the answers the API accepted on one route, their work included (a 429 takes none): the
    fastest, and RFC 6298's timer (section 2: the smoothed time plus four times its variation, 3 times the
    first answer's), the time within which an answer there comes, nearly always."""

    __slots__ = ("fastest", "smoothed", "variation")

    def __init__(self, seconds: float) -> None:
        self.fastest = self.smoothed = seconds
        self.variation = seconds / 2

    def add(self, seconds: float) -> None:
        self.fastest = min(self.fastest, seconds)
        self.variation = 0.75 * self.variation + 0.25 * abs(self.smoothed - seconds)
        self.smoothed = 0.875 * self.smoothed + 0.125 * seconds

    @property
    def timeout(self) -> float:
        return self.smoothed + max(GRANULARITY, 4 * self.variation)


class _SlidingCount:
    """A count over the last `window` seconds: the current bucket plus the previous one weighted by how much of
    it still lies in the window (the sliding window counter of Cloudflare's rate limiter)."""

    __slots__ = ("_current", "_previous", "_start", "_window")

    def __init__(self, window: float) -> None:
        self._window = window
        self.clear()

    def clear(self) -> None:
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


class _Scan:
    """The refusals of calls sent since the last cut, by number, weighed in the order the calls went rather
    than the order the answers came (429s come back sooner than accepted calls, and in any order): the
    calls between two refusals count as accepted, whether answered or in flight, and a refusal that comes
    late takes its place among the others. The evidence of a limit is the heaviest run of calls: Page's
    CUSUM over the calls in their order, each refusal's run the heaviest ending there (Kadane's algorithm).
    The last `KEPT` refusals are kept one by one; a refusal older than all of them counts, but weighs
    nothing (the answers of a burst come back within a round trip, far fewer than `KEPT` apart)."""

    KEPT = 1000

    __slots__ = ("_folded_at", "_folded_run", "_runs", "count", "seqs")

    def __init__(self) -> None:
        self.seqs: list[int] = []
        self._runs: list[float] = []  # the heaviest run ending at each refusal kept
        self.count = 0  # refusals since the last cut
        self._folded_at = -1  # the last refusal no longer kept...
        self._folded_run = 0.0  # ...and its run

    def add(self, seq: int) -> bool:
        """Weigh a refusal; True if a run of calls now proves a limit (its weight at `PROOF`)."""
        self.count += 1
        if seq <= self._folded_at:
            return False
        seqs, runs = self.seqs, self._runs
        at = bisect.bisect(seqs, seq)
        seqs.insert(at, seq)
        runs.insert(at, 0.0)
        proven = False
        for index in range(at, len(seqs)):  # the runs ending at or after it
            previous, run = (seqs[index - 1], runs[index - 1]) if index else (self._folded_at, self._folded_run)
            gap = seqs[index] - previous - 1 if previous >= 0 else 0
            runs[index] = max(0.0, run + ON_ACCEPT * gap) + ON_REFUSAL
            proven |= runs[index] >= PROOF
        if len(seqs) > self.KEPT:
            self._folded_at, self._folded_run = seqs.pop(0), runs.pop(0)
        return proven


@attrs.define
class _Delivery:
    """What the API accepted of the calls sent from number `start` on (sent at `since`): those not refused."""

    start: int
    since: float
    refused: int = 0


@attrs.define
class _Delivered:
    """What the API accepted of `sent` calls from number `start` on, over `seconds`: those not refused."""

    start: int
    sent: int
    refused: int
    seconds: float
    cap: float  # the rate the calls were paced at (infinity: not paced)
    kept: float = 1.0  # the share of it the cut keeps as CUBIC's w_max (RFC 8312's fast convergence)

    def rate(self) -> float:
        """Calls accepted a second (TCP Westwood's delivered rate), at most the rate they were paced at."""
        return min(self.cap, (self.sent - self.refused) / self.seconds)


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
        self.fleet_paces = False  # a fleet's limiter paces the sends: this pace keeps its throttle and evidence
        self.waves = 0  # waves of refusals that proved a limit (or, paced, cut the rate)
        self._rand = rand
        self._lock = threading.Lock()
        self.waiting: collections.deque[Turn] = collections.deque()  # queued turns, first come first served
        self._refused_waiting: list[Callable[[], object]] = []  # wakers of queued turns refused, to call unlocked
        self.in_flight = 0  # calls sent by `acquire` and not yet released
        # The most calls the client's connections carry at once (its transport's pool; infinity: no such
        # bound). A turn is only given while one is free: a call that waited in the pool's own queue would
        # reach the API later than the pace believes, and its refusal would be weighed against the wrong calls.
        self.max_in_flight = math.inf
        # Every send takes the next number, with or without the lock (`next` on a count is atomic).
        self._seqs = itertools.count()
        # Open: nothing paced, paused, throttled or starting; a call then goes without `acquire` (see `sent_open`).
        self.open = max_rate is None and not adaptive
        self.last_active = -math.inf  # when a call last went
        self._rebase = False  # whether the next call begins a new measure of what the API accepts
        self._base = (0, -math.inf)  # the first call sent after an idle second, and when it went
        # The slow start
        self.starting = adaptive and max_rate is None
        self._window: float = INITIAL_WINDOW
        self._validated: tuple[float, float] = (INITIAL_WINDOW, -math.inf)  # the last start's window, and when
        self._largest_flight = 0  # the most calls the start had in flight at once
        self._threshold = math.inf  # RFC 5681's ssthresh: the window above which it grows by one a round trip
        self._awaiting: collections.OrderedDict[int, float] = collections.OrderedDict()  # sent: number -> when
        self._start_tokens = (float(INITIAL_WINDOW), -math.inf)  # the start's pacing bucket: tokens, and when
        self._credited: dict[int, float] = {}  # sent in the start and counted as accepted unanswered: -> when
        self.round_trip = INITIAL_ROUND_TRIP  # the fastest answer yet, at most the initial estimate
        self.credit_after = INITIAL_ROUND_TRIP  # seconds after which an unanswered call counts as accepted
        self._fastest_timeout = INITIAL_ROUND_TRIP  # RFC 6298's first-sample timer, of the fastest answer
        self._smoothed_round_trip: float | None = None  # RFC 6298's SRTT and RTTVAR, of the start's refusals
        self._round_trip_variation = 0.0
        self._refusal_timeout = 0.0  # ...and the timer they give
        self._answer_times: dict[str, _AnswerTimes] = {}  # route -> its accepted answers' times, last answered last
        # Evidence
        self._cut_seq = 0  # the first call sent after the last cut: a refusal of an earlier one does not cut
        # NewReno's recovery (RFC 6582): the calls in flight at the last cut not yet answered. Until they are,
        # the API still sees that wave (they may arrive late, from the connection pool's queue, say), and a
        # refusal of a call sent meanwhile is of the same wave; the measure of what the API accepts starts
        # when the recovery ends.
        self._recovering = 0
        self._recovery_seq = 0  # the first call sent after the recovery ended
        self._scan = _Scan()  # the refusals of calls sent since the last cut, by number
        self._highest_seen = -1  # the highest number of a call known to have gone
        self._delivery = _Delivery(0, -math.inf)  # what the API accepted of the calls sent since...
        # The calls the pace let go in the last second of sending (at least MEASURED_CALLS), when and their
        # numbers, and the numbers of those refused: what the API accepted lately (`_recently_delivered`)
        self._recent_sends: collections.deque[tuple[float, int]] = collections.deque()
        self._recent_refusals: list[int] = []
        self._cut_measure: _Delivered | None = None  # the last cut's, refined as its wave's refusals come in
        # Throttle (the SRE book's counts, of calls sent since the last limit was proven; those not refused
        # count as accepted)
        self._sends = _SlidingCount(EVIDENCE_WINDOW)
        self._refusals = _SlidingCount(EVIDENCE_WINDOW)
        self._local_refusals = _SlidingCount(EVIDENCE_WINDOW)
        self._refused_locally = False  # since the counts last started afresh
        self._counts_seq = 0  # the first call the counts take in...
        self._got_through_counted = False  # ...and whether the API accepted one of those since
        self._last_refusal = -math.inf
        self._last_wave = -math.inf  # when a wave of refusals last proved a limit (or, paced, cut the rate)
        # Pacing
        self.engaged = max_rate is not None
        self.rate = math.inf if max_rate is None else max_rate
        self._theoretical = -math.inf  # GCRA's theoretical arrival time of the next start
        self._paused_until = -math.inf
        self._paused_from = -math.inf  # when the last pause began
        self._engaged_at = -math.inf  # when pacing last engaged
        # CUBIC's clock: the seconds since the last cut during which the rate held calls back (it was in
        # use), when it last moved, and whether a call had to wait for its turn since
        self._curve_time = 0.0
        self._curve_at = -math.inf
        self._turns_waited = False
        self._w_max = 0.0  # CUBIC: the rate at the last cut...
        self._k = 0.0  # ...and the seconds its curve takes to get back to it

    # -- an open pace ---------------------------------------------------------------------------------------

    def sent_open(self, now: float) -> int:
        """A call goes while the pace is `open` (checked by the caller, without the lock): its number. Report
        its answer with `open_done` unless it was accepted while the pace was still open."""
        idle = now - self.last_active > BURST_SECONDS
        if not idle and not self._rebase:  # within a burst: nothing to decide
            self.last_active = now
            return next(self._seqs)
        with self._lock:
            seq = self._number(now)
            if idle and self.adaptive and self.open:  # the first call after an idle second: the client starts again
                self._start(seq, now)
            return seq

    def _number(self, now: float) -> int:
        seq = next(self._seqs)
        if self._rebase or (now - self.last_active > BURST_SECONDS and not self.in_flight):
            self._base = (seq, now)
            self._rebase = False
        self.last_active = now
        return seq

    def _start(self, seq: int | None, now: float) -> None:
        """Begin a slow start, call `seq` (sent at `now`) the first of its window (None: no call yet)."""
        self.open = False
        self.starting = True
        validated, since = self._validated
        self._window = validated if now - since <= NON_VALIDATED_PERIOD else INITIAL_WINDOW
        self._largest_flight = 0
        self._threshold = math.inf
        self._awaiting.clear()
        self._credited.clear()
        if seq is None:
            self._start_tokens = (float(INITIAL_WINDOW), now)
        else:
            self._start_tokens = (INITIAL_WINDOW - 1.0, now)
            self._awaiting[seq] = now

    def pace_alone(self, now: float) -> None:
        """The fleet's shared pace stopped (its store failed): this client paces its calls on its own from now.
        Unless a proven limit paces it already, it begins with a slow start, as TCP does after an idle spell
        (RFC 5681 section 4.1, the restart window): the fleet's pace held it, and its own share of the limit
        is unknown."""
        with self._lock:
            if not self.fleet_paces:  # alone already (Redis failed again)
                return
            self.fleet_paces = False
            # What it measured was of the fleet's limit, and counted as sent the calls the fleet's schedule
            # held (numbered when this pace let them go, they go back in line for new numbers): alone, its
            # evidence, its throttle's counts and the measure of what the API accepts are of the calls it sends
            # from here, as a new client's are (the answers of calls the fleet sent weigh nothing, as those of
            # a wave already cut for; its first wave starts the counts again).
            self._measure_from_here(now)
            self._restart_counts()
            self._cut_measure = None
            self._recovering = 0
            self._validated = (INITIAL_WINDOW, -math.inf)  # the fleet's window, not its own
            if self.adaptive and not self.engaged and not self.starting:
                self._start(None, now)

    def pace_with_fleet(self) -> None:
        """The fleet's shared pace answers again (its store is back): it paces the sends from here, and this
        pace keeps to its throttle and evidence."""
        with self._lock:
            self.fleet_paces = True

    def open_done(self, seq: int, now: float, outcome: str, retry_after: float | None = None) -> None:
        """The answer of a call sent by `sent_open`: a refusal (weighed, and the pace may close), or any
        answer that came once the pace had closed."""
        with self._lock:
            self._learn(seq, now, outcome, retry_after)
            woken = self._after_answer(now)
        _wake(woken)

    # -- asking for a turn -------------------------------------------------------------------------------

    def acquire(
        self, now: float, first: bool = True, deadline: float = math.inf, route: str = ""
    ) -> tuple[Turn, float]:
        """A turn for an attempt, and the seconds to wait before asking `ready` again: 0 (go now), a time, or
        infinity (until woken: `wait_on` a waker first). A turn with `local_refusal` set must not be sent: the
        client refused it (its throttle, or a used-up quota); nor one with `too_late` set: it waited in line
        until less time was left before its `deadline` than an answer takes. Release the turn in any case.

        first: the call's first attempt, new work that the client-side throttle may refuse (a retry's chances
        are the pace's and the retry policy's to judge). route: what the call asks for (`answer_time`)."""
        turn = Turn(deadline, route.partition("?")[0])
        with self._lock:
            share = self._throttle_share(now) if first else 0.0
            if share and self._rand() < share:
                self._refuse_locally(turn, now)
                return turn, 0.0
            if not self.waiting and self._wait(now) <= 0:
                self._let_go(turn, now)
                return turn, 0.0
            turn.state = QUEUED
            self._turns_waited = True
            turn.drawn = share if first else None
            self.waiting.append(turn)
            return turn, self._wait(now) if self.waiting[0] is turn else math.inf

    def requeue(self, turn: Turn, now: float, deadline: float = math.inf) -> float:
        """Put a turn that was given but never sent back in line (a fleet's shared pace held it, then stopped):
        it waits for this pace behind the turns already waiting, as a new one would. Returns the wait as
        `acquire` does; release the turn in any case."""
        with self._lock:
            if turn.state == SENT:
                self._leave_flight(turn, now)
                self._awaiting.pop(turn.seq, None)
                self._credited.pop(turn.seq, None)
            turn.deadline = deadline
            if not self.waiting and self._wait(now) <= 0:
                self._let_go(turn, now)
                return 0.0
            turn.state = QUEUED
            self._turns_waited = True
            self.waiting.append(turn)
            return self._wait(now) if self.waiting[0] is turn else math.inf

    def went(self, turn: Turn, now: float) -> None:
        """The attempt of a turn this pace gave earlier goes only now: a fleet's shared schedule held it
        meanwhile (`pace_with_fleet`). Its answer is timed from here, as RFC 6298 times a segment from its
        transmission: the hold is no round trip of the API's, and counted as one it would stretch the timers
        (`answer_time`) past the calls' timeouts."""
        with self._lock:
            if turn.state != SENT:
                return
            turn.sent_at = now
            if turn.seq in self._awaiting:  # in the start's window, awaiting its verdict...
                self._awaiting[turn.seq] = now
                self._awaiting.move_to_end(turn.seq)  # (kept in the order the calls went)
            elif turn.seq in self._credited:  # ...or counted as accepted while the fleet held it
                self._credited[turn.seq] = now

    def go_anyway(self, turn: Turn, now: float) -> bool:
        """Let a queued turn that only the slow start holds go now, out of line (to the connection pool's own
        queue, as with no controller); False if a pause or the pace holds it, or it is no longer queued."""
        woken: list[Callable[[], object]] = []
        with self._lock:
            if turn.state != QUEUED or not self.starting or self.engaged or now < self._paused_until:
                return False
            first = self.waiting[0] is turn
            self.waiting.remove(turn)
            turn.wake = None
            self._let_go(turn, now)
            if first:
                woken = self._advance(now)
        _wake(woken)
        return True

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
            too_late = self._too_late(turn, now)
            if not too_late:
                wait = self._wait(now)
                if wait > 0:
                    return wait
            self.waiting.popleft()
            self._serve(turn, now, too_late)
            woken = self._advance(now)
        _wake(woken)
        return 0.0

    def _wait(self, now: float) -> float:
        """Seconds until the next call may go: 0 now, and never less than a clock tick otherwise (RFC 9002's
        kGranularity: a wait shorter than the clock can tell would leave the clock, and the wait, where they are)."""
        wait = self._wait_exactly(now)
        return wait if wait <= 0 else max(wait, GRANULARITY)

    def _wait_exactly(self, now: float) -> float:
        if now < self._paused_until:
            return self._paused_until - now
        if self.in_flight >= self.max_in_flight:
            return math.inf  # until a call gives its connection back
        if self.starting:
            wait = self._window_wait(now)
            if wait > 0:
                return wait
        if self.engaged and not self.fleet_paces:
            interval = 1.0 / self.rate
            return max(0.0, self._theoretical - max(BURST_SECONDS, interval) + interval - now)
        return 0.0

    def _grow(self) -> None:
        """An accepted call: one slot more below the threshold (slow start), a slot's share of one above it
        (congestion avoidance, RFC 5681 section 3.1: one more a window's worth of accepted calls)."""
        self._window += 1 if self._window < self._threshold else 1 / self._window

    def _window_wait(self, now: float) -> float:
        """Seconds until the slow start's window has room and its pacing a token (0: now). Calls unanswered
        after `credit_after` count as accepted: they leave their slot, and add one."""
        awaiting = self._awaiting
        while awaiting:
            seq, sent = next(iter(awaiting.items()))
            # (The very sum the wait below is computed from: a call woken when that wait ends is credited, as
            # `now - credit_after` may round to just below its send time and leave a full window open.)
            if sent + self.credit_after > now:
                break
            del awaiting[seq]
            self._credited[seq] = sent
            self._grow()
        if len(awaiting) >= self._window:
            return next(iter(awaiting.values())) + self.credit_after - now
        missing = 1 - self._start_pacing(now)
        # (A token short by a rounding error is there: the wait computed to refill it has passed.)
        return 0.0 if missing <= 1e-9 else missing * self.round_trip / (PACING_GAIN * self._window)

    def _start_pacing(self, now: float) -> float:
        """The start's sends are paced (a bucket of a window's worth, refilled at `PACING_GAIN` windows a round
        trip), so that the refusals of the send that goes over a limit come back before the rest of the
        window has gone: the tokens now."""
        tokens, since = self._start_tokens
        tokens = min(INITIAL_WINDOW, tokens + (now - since) * PACING_GAIN * self._window / self.round_trip)
        self._start_tokens = (tokens, now)
        return tokens

    def _let_go(self, turn: Turn, now: float) -> None:
        if turn.drawn is not None:
            # It waited, and the API may have refused more since: still one draw in all, at the share when the
            # call goes (the SRE book's), the one it passed when it queued made up to that.
            share = self._throttle_share(now)
            if share > turn.drawn and self._rand() < (share - turn.drawn) / (1 - turn.drawn):
                self._refuse_locally(turn, now)
                return
            turn.drawn = None  # (drawn for in full: a turn put back in line is not drawn for again)
        turn.state = SENT
        turn.seq = self._number(now)
        turn.sent_at = now
        if self.starting:
            self._awaiting[turn.seq] = now
            self._start_tokens = (self._start_pacing(now) - 1, now)
        if self.adaptive:
            self._seen(turn.seq, now)
        self.in_flight += 1
        self._largest_flight = max(self._largest_flight, self.in_flight)
        if self.engaged:
            self._theoretical = max(self._theoretical, now) + 1.0 / self.rate
            self._recent_sends.append((now, turn.seq))
            self._forget_sends(now)

    def _too_late(self, turn: Turn, now: float) -> bool:
        """Whether the first in line (still in it) should be passed over: it could only time out (less time left than
        `answer_time`), or its answer would likely come too late (less than its route's `_AnswerTimes.timeout`)
        while the last in line has time for one. Which calls a turn may go to is a choice between the calls
        waiting: a call alone in line goes whenever it has a chance."""
        left = turn.deadline - now
        if left < self.answer_time(turn.route):
            return True
        times = self._answer_times.get(turn.route)
        if times is None or left >= times.timeout:
            return False
        last = self.waiting[-1]
        return last is not turn and last.deadline - now >= self._usual_answer_time(last.route)

    def _usual_answer_time(self, route: str) -> float:
        times = self._answer_times.get(route)
        return self.answer_time(route) if times is None else max(self.answer_time(route), times.timeout)

    def _serve(self, turn: Turn, now: float, too_late: bool) -> None:
        """The first in line has left it: it goes, unless it was `_too_late`. The Google SRE book ("Addressing Cascading
        Failures": check the deadline left before doing the work, as servers drop requests whose deadline passed
        while they queued): a turn given to a call that will time out takes the API's slot from the next in line,
        teaches the pace nothing (a timeout is no verdict), and when the line is longer than the calls' timeout,
        every turn would go to the call about to expire, the API's work for it thrown away."""
        if too_late:
            turn.state = DONE
            turn.too_late = True
        else:
            self._let_go(turn, now)

    def _refuse_locally(self, turn: Turn, now: float) -> None:
        turn.state = DONE
        turn.local_refusal = True
        self._local_refusals.add(now)
        self._refused_locally = True

    def _advance(self, now: float) -> list[Callable[[], object]]:
        """Serve the first in line while it may go (or has no time left for an answer); wake the one left first
        in line, to wait for its start.
        Returns the wakers to call once the lock is released."""
        woken = []
        queue = self.waiting
        while queue:
            head = queue[0]
            too_late = self._too_late(head, now)
            wait = 0.0 if too_late else self._wait(now)
            if wait > 0 and head.wake is None:
                break
            if wait <= 0:
                queue.popleft()
                self._serve(head, now, too_late)
            if head.wake is not None:  # served, or first in line now: it asks again
                woken.append(head.wake)
                head.wake = None
            if wait > 0:
                break
        return woken

    # -- giving it back ----------------------------------------------------------------------------------

    def release(self, turn: Turn, now: float, outcome: str = FAILED, retry_after: float | None = None) -> None:
        """Give back what the turn holds, and learn from the attempt's `outcome` if it was sent. Safe to call
        more than once, and for a turn that never went (a cancelled wait)."""
        with self._lock:
            state = turn.state
            turn.state = DONE
            if state == SENT:
                self._leave_flight(turn, now)
                if outcome == ACCEPTED:
                    self._time_acceptance(turn.route, now - turn.sent_at)
                self._learn(turn.seq, now, outcome, retry_after, turn.sent_at)
            elif state == QUEUED:
                first = self.waiting[0] is turn
                self.waiting.remove(turn)
                if not first:
                    return
            woken = self._after_answer(now)
        _wake(woken)

    def _leave_flight(self, turn: Turn, now: float) -> None:
        self.in_flight -= 1
        if self._recovering and turn.seq < self._cut_seq:
            self._recovering -= 1
            if not self._recovering:
                self._recovered(now)

    def _after_answer(self, now: float) -> list[Callable[[], object]]:
        """Let waiting calls go, or open again when nothing waits; the wakers to call once unlocked."""
        woken, self._refused_waiting = self._refused_waiting, []
        if self.waiting:
            woken += self._advance(now)
        else:
            self._maybe_reopen(now)
        return woken

    def _maybe_reopen(self, now: float) -> None:
        """Open again once nothing is left to decide: not paced, not paused, not throttling."""
        if self.open or self.engaged or not self.adaptive or now < self._paused_until:
            return
        if now - self._last_refusal <= EVIDENCE_WINDOW and self._may_throttle(now):
            return
        self.open = True
        if self.starting:  # every call waiting has gone: the start is over, its measure goes on
            self.starting = False
            # The API accepted what this window let through, with no limit proven: the next start, after an idle
            # spell, begins from it (RFC 7661) rather than doubling up again from the initial window; from as much
            # of it as the calls in flight used (RFC 7661's validated window: its pipeACK, the flight the path
            # carried), as the window grows by the calls credited, past what the connections carry.
            self._validated = (max(float(INITIAL_WINDOW), min(self._window, self._largest_flight)), now)
            self._awaiting.clear()
            self._credited.clear()
        else:
            self._rebase = True  # pacing switched off: the next call begins a new measure of what the API accepts

    # -- learning -----------------------------------------------------------------------------------------

    def _learn(
        self, seq: int, now: float, outcome: str, retry_after: float | None, sent_at: float | None = None
    ) -> None:
        if not self.adaptive:  # each call on its own: its own retry waits out its own 429
            return
        self._seen(seq, now)
        if self.starting:
            sent = self._awaiting.pop(seq, None)
            credited = self._credited.pop(seq, None)
            if sent is not None and outcome != FAILED:
                self._time_answer(now - sent, outcome == REFUSED)
            elif credited is not None and outcome == REFUSED:
                # A refusal that came after its call was credited as accepted: the timer was too short (the
                # API's answers slowed down under the burst), and this round trip says by how much. (An
                # accepted call answered late took its work's time, not a round trip's.)
                self._time_answer(now - credited, True)
            if outcome == ACCEPTED and sent is not None:  # (a call credited as accepted grew the window then)
                self._grow()
            elif outcome == REFUSED and _asks_a_pause(retry_after) and now >= self._paused_until:
                # A pause the API asked for is TCP's retransmission timeout (RFC 5681 section 3.1): the
                # threshold to half the window (equation 4, the window standing for the flight), and the
                # window to the loss window of one. After the pause the start grows back to the threshold,
                # then by one a round trip, instead of doubling into a bucket it found empty.
                self._threshold = max(self._window / 2, 2)
                self._window = 1
            elif outcome == REFUSED:
                # A refused call takes its own slot away (as a lost segment keeps its place in the flight);
                # one refused after it was credited as accepted (the API's answers slowed down under the
                # burst) takes back the slot its credit added.
                self._window = max(1, self._window - 1)
        elif outcome == REFUSED and sent_at is not None:
            self._time_answer(now - sent_at, True)  # (for `answer_time`)
        if outcome == ACCEPTED:
            self._accepted(now)
            self._got_through_counted |= seq >= self._counts_seq
        elif outcome == REFUSED:
            self._refused(seq, now, retry_after)
            if self.engaged and now < self._paused_until:
                self._empty_bucket(now)  # (at the rate a wave may just have cut to)

    def _time_answer(self, sample: float, refused: bool) -> None:
        """RFC 6298's retransmission timeout, section 2. Its first-sample rule, 3R, for the fastest answer yet
        (at most the initial estimate). A refusal comes with no work behind it, so its time is a round trip
        proper: refusals feed the smoothed timer (SRTT + 4 * RTTVAR), which the credit never undercuts, so that
        a burst whose refusals come back later than the first answers did waits for them. (An accepted call's
        time includes its work: as a sample it would lengthen the timer with every slower call.)"""
        self.round_trip = max(GRANULARITY, min(self.round_trip, sample))
        self._fastest_timeout = min(self._fastest_timeout, 3 * self.round_trip)
        if refused:
            smoothed = self._smoothed_round_trip
            if smoothed is None:
                smoothed, self._round_trip_variation = sample, sample / 2
            else:
                self._round_trip_variation = 0.75 * self._round_trip_variation + 0.25 * abs(smoothed - sample)
                smoothed = 0.875 * smoothed + 0.125 * sample
            self._smoothed_round_trip = smoothed
            self._refusal_timeout = smoothed + max(GRANULARITY, 4 * self._round_trip_variation)
        self.credit_after = max(self._fastest_timeout, self._refusal_timeout)

    def _time_acceptance(self, route: str, seconds: float) -> None:
        routes = self._answer_times
        times = routes.pop(route, None)  # (put back last: the routes answered longest ago go first)
        if times is None:
            times = _AnswerTimes(seconds)
            if len(routes) >= ROUTES_TIMED:
                del routes[next(iter(routes))]
        else:
            times.add(seconds)
        routes[route] = times

    def _seen(self, seq: int, now: float) -> None:
        """Call number `seq` went: so did every call numbered before it (the SRE book's requests)."""
        if seq > self._highest_seen:
            self._sends.add(now, seq - max(self._highest_seen, self._cut_seq - 1))
            self._highest_seen = seq

    def _accepted(self, now: float) -> None:
        if self._refused_locally:  # a probe got through: the API accepts calls again
            self._restart_counts()
        if not self.engaged or self._recovering:  # (RFC 6582: the rate holds until the recovery ends)
            return
        if now - self._last_refusal > EVIDENCE_WINDOW:
            self._disengage()
        else:
            # botocore's success_received: CUBIC's curve since the last cut, back to the rate then after K
            # seconds, then probing above it. Its clock runs only while the rate holds calls back, some waiting
            # for their turns or none left to give at once (RFC 9438 section 5.8: a flow limited by the
            # application does not grow its window, and Linux's CUBIC moves its epoch on by the time the flow
            # was idle): a rate the calls do not use is no probe of the API.
            if self._turns_waited or self.waiting or self._wait_exactly(now) > 0:
                self._curve_time += now - self._curve_at
            self._curve_at = now
            self._turns_waited = False
            self._set_rate(CUBIC_C * (self._curve_time - self._k) ** 3 + self._w_max)

    def _refused(self, seq: int, now: float, retry_after: float | None) -> None:
        self._last_refusal = now
        told = _asks_a_pause(retry_after)
        if retry_after is not None and told:
            if now >= self._paused_until:
                self._paused_from = now
            self._paused_until = max(self._paused_until, now + retry_after)
            self.open = False
        if self._recent_sends and seq >= self._recent_sends[0][1]:
            bisect.insort(self._recent_refusals, seq)
        if seq >= self._delivery_start():
            self._delivery.refused += 1
        elif self._cut_measure is not None and self._cut_measure.start <= seq < self._cut_seq:
            self._refine_cut()
        if seq < self._cut_seq or (self.engaged and (self._recovering or seq < self._recovery_seq)):
            return  # its wave cut the rate already
        at_floor = self.engaged and self.rate <= MIN_RATE
        if (
            not told
            and at_floor
            and not self._got_through_counted
            and self.waiting
            and self._may_throttle(now)
        ):
            self._refuse_waiting(now)
        self._refusals.add(now)
        if self.open and self._may_throttle(now):
            self.open = False
        proven = self._scan.add(seq)
        # Before the pace is engaged, only a proven wave engages it (a few shed calls prove nothing). Paced, the
        # limit is proven: a refusal of a call sent after the last cut is the next wave (botocore cuts on every
        # throttle; waves keep one burst of refusals from cutting more than once).
        if self.engaged or proven:
            self._wave(now)

    def _restart_curve(self, now: float) -> None:
        """CUBIC's epoch begins: its clock at zero, no turn waited for yet."""
        self._curve_time, self._curve_at, self._turns_waited = 0.0, now, False

    def _recovered(self, now: float) -> None:
        """Every call of the last wave has been answered: a refusal from here on is of a new one, and CUBIC's
        curve starts (RFC 8312: its epoch begins as congestion avoidance does, once the recovery ends)."""
        self._restart_curve(now)
        self._recovery_seq = next(self._seqs)
        self._delivery = _Delivery(self._recovery_seq + 1, now)

    def _refuse_waiting(self, now: float) -> None:
        """The API refused a call sent at the slowest pace, without a Retry-After, and has accepted none since
        the pace engaged: a used-up quota, for all the client can tell. The calls waiting for a turn fail now
        rather than wait their turns, a couple of seconds each, to be refused too. (An API over a rate limit
        says when to come back: the calls then wait, as a client that got nothing through in a burst, one of
        many on a limit, must wait for its probe to be accepted.)

        One client of many on a limit that sends no Retry-After sees the same from its own calls alone for a
        while: the others took what the API accepts. So it runs only when nothing the throttle counts (the
        calls sent since the pace engaged, over the last two minutes) was accepted, and the counts show the API
        refusing more than it accepts, the test by which the throttle refuses new work: a client whose calls
        got through since its pace engaged keeps them waiting, for its turns at the slowest pace."""
        woken = []
        while self.waiting:
            turn = self.waiting.popleft()
            self._refuse_locally(turn, now)
            if turn.wake is not None:
                woken.append(turn.wake)
                turn.wake = None
        self._refused_waiting += woken

    def _delivery_start(self) -> int:
        """The first call the delivered rate counts: the first sent after the last cut, or after the client
        last began sending after an idle second, if that came later (the measure then starts afresh)."""
        base_seq, base_time = self._base
        if base_time > self._delivery.since and base_seq >= self._delivery.start and not self.engaged:
            self._delivery = _Delivery(base_seq, base_time)
        return self._delivery.start

    def _wave(self, now: float) -> None:
        """A wave of refusals: cut once (botocore's error_received) to what the API accepted of the calls sent
        since the last cut (TCP Westwood's rule: the rate the path delivered), or since the client began
        sending, the first time; never above the rate it was paced at."""
        self.waves += 1
        first = not self.engaged
        if first:
            self._delivery_start()
        # A limit found: what was accepted before it says nothing of now, nor do the refusals of the burst that
        # found it. Alone, that is when the pace engages; in a fleet, whose shared pace does the pacing and
        # whose waves never engage this one, at its first wave in the throttle's two minutes.
        restart = now - self._last_wave > EVIDENCE_WINDOW if self.fleet_paces else first
        self._last_wave = now
        delivery = self._delivery
        self._measure_from_here(now)  # the calls sent so far are this wave's
        if restart:
            self._restart_counts()
        self._restart_curve(now)
        self.starting = False  # a limit found: the pace takes over
        self._validated = (INITIAL_WINDOW, -math.inf)  # what the API accepts is measured afresh after a pause
        self._awaiting.clear()
        self._credited.clear()
        if first:
            # An API's token bucket of botocore's shape holds a second's worth: full when the client began
            # sending after an idle spell, so that it let a second's worth through besides its rate.
            self._cut_measure = _Delivered(
                delivery.start,
                self._cut_seq - delivery.start,
                delivery.refused,
                now - delivery.since + BURST_SECONDS,
                math.inf,
            )
        else:
            self._cut_measure = self._recently_delivered(now, delivery)
        self._recovering = self.in_flight
        self._recovery_seq = self._cut_seq
        if not self.fleet_paces:  # (a fleet's shared pace does the pacing)
            if not first and self._cut_measure.rate() < self._w_max:
                # RFC 8312 section 4.6, fast convergence: a client whose share fell gives up more of it, so
                # that clients on one limit converge to equal shares sooner.
                self._cut_measure.kept = (1 + CUBIC_BETA) / 2
            self._cut_to(self._cut_measure.rate() * self._cut_measure.kept)
            if first:  # (the calls of an earlier spell of pacing are no measure of this one)
                self._engaged_at = now
                self._recent_sends.clear()
                self._recent_refusals.clear()
            self.engaged = True
            self.open = False
            self._empty_bucket(now)

    def _empty_bucket(self, now: float) -> None:
        """The API's bucket is empty now, and so is the pace's: its next call goes an interval after now, or
        at the end of the pause the API asked for, and the next an interval later. A pause lets the API's
        bucket refill, by as much as it holds, which the client does not know: as TCP after a retransmission
        timeout (RFC 5681 section 3.1, the loss window of one), the pace does not send the burst its own
        bucket would have gathered meanwhile."""
        if now < self._paused_until:
            interval = 1.0 / self.rate
            after_the_pause = self._paused_until + max(BURST_SECONDS, interval) - interval
            self._theoretical = max(self._theoretical, after_the_pause)
        else:
            self._theoretical = max(self._theoretical, now + BURST_SECONDS)

    def _measure_since(self, now: float) -> float:
        """When the last second of sending began: a second ago, or earlier by the part of it the client spent
        in a pause the API asked for (it could not send then: TCP Westwood's samples are of a path the
        sender kept busy)."""
        start = now - BURST_SECONDS
        if self._paused_until <= start or self._paused_from >= now:
            return start
        sent_since_the_pause = max(0.0, now - self._paused_until)
        return min(self._paused_from, now) - (BURST_SECONDS - sent_since_the_pause)

    def _paused_within(self, start: float, end: float) -> float:
        """The seconds between `start` and `end` the client spent in the last pause the API asked for."""
        return max(0.0, min(end, self._paused_until) - max(start, self._paused_from))

    def _forget_sends(self, now: float) -> None:
        """Keep only the calls (and refusals) of the last second of sending, or the last `MEASURED_CALLS` if
        they took longer."""
        since = self._measure_since(now)
        recent, refusals = self._recent_sends, self._recent_refusals
        while len(recent) > MEASURED_CALLS and recent[0][0] < since:
            recent.popleft()
        if refusals and (not recent or refusals[0] < recent[0][1]):
            del refusals[: bisect.bisect_left(refusals, recent[0][1]) if recent else len(refusals)]

    def _recently_delivered(self, now: float, delivery: _Delivery) -> _Delivered:
        """What the API accepted of the calls the pace let go in the last second of sending (or the last
        `MEASURED_CALLS`): TCP Westwood's delivered rate is of the path now, not averaged over the
        whole epoch since the last cut, which holds the slow growth back after it (and, right after its
        recovery, only a call or two)."""
        self._forget_sends(now)
        recent = self._recent_sends
        if not recent:  # the pace let nothing go yet: the epoch's calls are all there is
            seconds = max(now - delivery.since, BURST_SECONDS)
            return _Delivered(delivery.start, self._cut_seq - delivery.start, delivery.refused, seconds, self.rate)
        since = max(min(self._measure_since(now), recent[0][0]), self._engaged_at)
        seconds = now - since - self._paused_within(since, now)
        start = recent[0][1]
        return _Delivered(start, len(recent), len(self._recent_refusals), max(seconds, GRANULARITY), self.rate)

    def _measure_from_here(self, now: float) -> None:
        """From here on only the calls sent later weigh as evidence of a limit, count for the throttle and for
        what the API accepts (the number taken marks the line, and nobody sends it)."""
        self._cut_seq = next(self._seqs)
        self._highest_seen = self._cut_seq
        self._scan = _Scan()
        self._delivery = _Delivery(self._cut_seq + 1, now)

    def _refine_cut(self) -> None:
        """A refusal of a call of the last wave, counted as accepted at the cut while in flight: the rate the
        API delivered was lower (those refused come back in any order, all within a round trip)."""
        measure = self._cut_measure
        assert measure is not None
        measure.refused += 1
        w_max = measure.rate() * measure.kept
        if self.engaged and w_max < self._w_max:
            self._cut_to(w_max)

    def _cut_to(self, w_max: float) -> None:
        """CUBIC's cut: the rate to beta times `w_max`, its curve back to `w_max` after K seconds."""
        self._w_max = w_max
        self._k = (w_max * (1 - CUBIC_BETA) / CUBIC_C) ** (1 / 3)
        self._set_rate(w_max * CUBIC_BETA)

    def _set_rate(self, rate: float) -> None:
        rate = max(MIN_RATE, rate)
        self.rate = rate if self.max_rate is None else min(rate, self.max_rate)

    def _disengage(self) -> None:
        if self.max_rate is not None:
            return
        self.engaged = False
        self.rate = math.inf
        self._cut_measure = None

    # -- the client-side throttle ---------------------------------------------------------------------------

    def _restart_counts(self) -> None:
        """Count afresh from the calls sent after the last line drawn (`_measure_from_here`)."""
        self._counts_seq = self._cut_seq
        self._got_through_counted = False
        self._sends.clear()
        self._refusals.clear()
        self._local_refusals.clear()
        self._refused_locally = False

    def _may_throttle(self, now: float) -> bool:
        """Whether the throttle would refuse some attempts now."""
        refusals = self._refusals.value(now)
        if refusals < PROVING_REFUSALS:  # fewer than prove a limit: the formula is meant for many
            return False
        sends = self._sends.value(now)
        accepts = max(0.0, sends - refusals)
        return sends + self._local_refusals.value(now) > THROTTLE_K * accepts

    def _throttle_share(self, now: float) -> float:
        """The share of new work the client-side throttle refuses now (0 to 1)."""
        if now - self._last_refusal >= EVIDENCE_WINDOW or now - self.last_active >= PROBE_AFTER:
            return 0.0
        refusals = self._refusals.value(now)
        if refusals < PROVING_REFUSALS:
            return 0.0
        sends = self._sends.value(now)
        accepts = max(0.0, sends - refusals)
        requests = sends + self._local_refusals.value(now)
        return max(0.0, (requests - THROTTLE_K * accepts) / (requests + 1))

    # -- what users see -----------------------------------------------------------------------------------

    def answer_time(self, route: str = "") -> float:
        """The least time an attempt to `route` needs for an answer: RFC 6298's retransmission timeout over the
        429s timed (they take no work: their smoothed round trip plus four times its variation), never less than
        the fastest answer yet, nor than the fastest the API accepted on that route (its work: an image takes
        seconds where a caption takes a fraction of one). An attempt left less than that could only time out,
        the API's work for it thrown away."""
        times = self._answer_times.get(route)
        return max(self.round_trip, self._refusal_timeout, 0.0 if times is None else times.fastest)

    def pause_left(self, now: float) -> float:
        """Seconds left of a pause that a Retry-After began (0 when none)."""
        return max(0.0, self._paused_until - now)

    def __repr__(self) -> str:
        mode = f"paced at {self.rate:.3g}/s" if self.engaged else "open" if self.open else "not paced"
        return f"<AdaptivePace {mode}, {self.in_flight} in flight, {len(self.waiting)} waiting>"


def _asks_a_pause(retry_after: float | None) -> bool:
    """Whether a 429's Retry-After pauses the client: one within the cap (0 or none means the backoff)."""
    return retry_after is not None and 0 < retry_after <= RETRY_AFTER_CAP


def _wake(wakers: list[Callable[[], object]]) -> None:
    for wake in wakers:
        wake()

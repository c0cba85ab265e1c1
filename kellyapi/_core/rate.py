"""The pace of one client's calls under the API's rate limit, learned from its 429s: pure logic, the caller
passes the time; shared by every task (and thread) of a client, so they stop hammering the API together.

Three phases, each cheaper to leave than the last:

- **cold**: a new client starts a few calls at once, then one and a half more for each success (TCP's
  slow start, counted in calls), spread over the round trip rather than sent together (TCP's pacing):
  a burst against an API that is already at its limit is refused by the handful, not by the hundred,
  and the first 429 comes back before most of a round has gone. After `OPEN_AFTER` successes with no
  429 the client is **open**: from then on a call costs one attribute check, as if there were no
  controller.
- **paced**, from the first 429 on (or from the start, with `max_rate=`): a `Retry-After` (or the
  retry's backoff) pauses every call of the client, not only the refused one; sends are spaced by a
  token bucket at `rate` calls a second (GCRA) with a second's worth of burst after the first pause (it
  refilled the API's bucket too) and none after a later one (the pace before it was too high), each
  call waiting for its turn: a wait, not a retry, counted against its own timeout. The first rate
  is 95 % of what the API accepted in the two seconds before the first pause ended; each later wave of
  refusals cuts it by 15 % (or to what the API accepted, if less), and each second in which calls
  waited and none was refused raises it by 10 %, then 20 %, 30 %... (probing for a limit that rose).
  `max_rate` caps it.

The AWS SDKs' adaptive retry mode and the client-side throttling of Google's SRE book, reduced to what a
`429` with `Retry-After` says.
"""

from __future__ import annotations

import collections
import math
import threading
from collections.abc import Callable

INITIAL_STARTS = 4  # calls a cold client starts before its first success
OPEN_AFTER = 64  # successes with no 429 after which a cold client stops counting
_COLD_GROWTH = 1.5  # starts a cold client gains per success: its calls in flight grow 1.5-fold per round trip
_EPOCH = 1.0  # seconds between rate decisions
_HORIZON = 1.0  # seconds ahead a start is booked; later ones ask again, at the rate then
_WINDOW = 2.0  # seconds over which the accepted calls are counted
_PROBE_STEP = 0.1  # the rate grows 10 %, then 20 %... after each epoch without a refusal, while calls waited
_SLOW_DOWN = 0.85  # the rate kept after a new wave of refusals
_BACK_OFF = 0.95  # the share of the accepted rate a client starts pacing at
_BURST_SECONDS = 1.0  # the burst allowed after an idle spell, in seconds of the rate
_COLD_BACKSTOP = 1.0  # seconds a cold call out of starts waits at most before asking again (it is woken)
MIN_RATE = 0.2  # calls a second: at worst one call every five seconds, so a recovered API is noticed


class RateController:
    """The pace of one client; thread-safe (the blocking client's threads share it)."""

    def __init__(self, max_rate: float | None = None, adaptive: bool = True) -> None:
        """Pace at most `max_rate` calls a second from the start; without it, start cold (adaptive) or open."""
        self.max_rate = max_rate
        self.rate = math.inf if max_rate is None else max_rate
        self.engaged = max_rate is not None  # paced: a 429 was seen, or max_rate was given
        self.active = adaptive or self.engaged  # False once open: the client skips the controller altogether
        self._lock = threading.Lock()
        self._theoretical = 0.0  # GCRA's theoretical arrival time of the next send
        self._paused_until = 0.0
        self._starts = 0  # cold: calls started
        self._successes = 0  # cold: calls answered without a 429
        self._round_trip = 0.0  # cold: the shortest time a call took to be answered (0: none yet)
        self._next_cold_start = 0.0  # cold: the earliest time of the next start
        self._sleepers: collections.deque[Callable[[], object]] = collections.deque()  # cold calls waiting
        self._accepted_sends: collections.deque[float] = collections.deque()  # send times, last seconds
        self._epoch_start = 0.0
        self._epoch_refused = 0
        self._clean_epochs = 0  # epochs in a row without a refusal
        self._waited = False
        self._resume_estimate = False  # set the rate from the accepted sends when the first pause ends

    def turn(self, now: float) -> tuple[float, bool]:
        """When a call may send: (seconds to wait, whether that wait ends in a booked start).

        An unbooked wait (a pause, or a cold client out of starts) ends with the call asking again; a cold
        call out of starts should `sleep_until_woken` first (the wait returned is only a backstop).
        """
        with self._lock:
            if not self.active:  # opened while the call waited
                return 0.0, True
            if not self.engaged:
                allowed = INITIAL_STARTS + _COLD_GROWTH * self._successes
                if self._starts < allowed:
                    self._starts += 1
                    # The round's starts spread over a round trip: the window's worth, no faster.
                    start = max(now, self._next_cold_start)
                    self._next_cold_start = start + self._round_trip / allowed
                    return start - now, True
                return _COLD_BACKSTOP, False
            self._new_epoch_if_due(now)
            if now < self._paused_until:
                self._waited = True
                return self._paused_until - now, False
            if self._resume_estimate:  # the first pause is over: start at what the API accepted before it
                accepted = self._accepted_rate(now)
                if accepted > 0:  # else only pauses, until there is something to go by
                    self._resume_estimate = False
                    self._set_rate(accepted * _BACK_OFF)
                    self._restart_epoch(now)
            interval = 1.0 / self.rate
            theoretical = max(self._theoretical, now)
            start = max(now, theoretical - _BURST_SECONDS + interval)
            if start - now > _HORIZON:
                self._waited = True
                return start - now - _HORIZON / 2, False
            self._theoretical = theoretical + interval
            if start > now:
                self._waited = True
            return start - now, True

    def sleep_until_woken(self, wake: Callable[[], object]) -> bool:
        """Have `wake()` called when a cold call may start; False if one may already (do not sleep then)."""
        with self._lock:
            if not self.active or self.engaged or self._starts < INITIAL_STARTS + _COLD_GROWTH * self._successes:
                return False
            self._sleepers.append(wake)
            return True

    def pause_left(self, now: float) -> float:
        """Seconds left of a pause (one may have begun while a call waited for its booked start)."""
        return max(0.0, self._paused_until - now)

    def accepted(self, now: float, sent: float) -> None:
        """A call sent at `sent` was answered without a 429."""
        with self._lock:
            if not self.engaged:
                self._successes += 1
                if self._successes >= OPEN_AFTER:
                    self.active = False
                took = now - sent
                if took > 0 and (not self._round_trip or took < self._round_trip):
                    self._round_trip = took
            self._accepted_sends.append(sent)
            self._new_epoch_if_due(now)
            woken = self._free_sleepers()
        for wake in woken:
            wake()

    def failed(self) -> None:
        """A call ended in another error than a 429: a cold client's start is free again."""
        with self._lock:
            if not self.engaged:
                self._starts -= 1
            woken = self._free_sleepers()
        for wake in woken:
            wake()

    def _free_sleepers(self) -> list[Callable[[], object]]:
        """The cold calls to wake: as many as there are free starts, or all once open or paced."""
        sleepers = self._sleepers
        if not sleepers:
            return []
        if not self.active or self.engaged:
            count = len(sleepers)
        else:
            count = int(INITIAL_STARTS + _COLD_GROWTH * self._successes) - self._starts
        return [sleepers.popleft() for _ in range(min(max(count, 0), len(sleepers)))]

    def refused(self, now: float, pause: float) -> None:
        """A call got a 429: pause every call for `pause` seconds (its Retry-After, or the retry's backoff)."""
        with self._lock:
            if not self.engaged:
                self.engaged = self.active = True
                self._resume_estimate = True
            self._epoch_refused += 1
            later_wave = now >= self._paused_until and not self._resume_estimate
            if later_wave:
                # A new wave of refusals: back to below the last pace the API took without refusing.
                accepted = self._accepted_rate(now)
                self._set_rate(min(self.rate * _SLOW_DOWN, accepted) if accepted > 0 else self.rate * _SLOW_DOWN)
                self._restart_epoch(now)
                self._clean_epochs = 0
            self._paused_until = max(self._paused_until, now + pause)
            woken = self._free_sleepers()  # the cold calls ask again, and now wait for the pause
            # The slots booked before the pause are void (their calls ask again). After the first pause a
            # burst may go at once, as the API's bucket refilled meanwhile; after a later wave the pace
            # resumes without it, since the pace before it was too high.
            self._theoretical = self._paused_until + (_BURST_SECONDS - 1.0 / self.rate if later_wave else 0.0)
        for wake in woken:
            wake()

    def _accepted_rate(self, now: float) -> float:
        """Calls a second the API accepted over the last `_WINDOW` seconds, by the time they were sent."""
        sends = self._accepted_sends
        while sends and sends[0] < now - _WINDOW:
            sends.popleft()
        return len(sends) / _WINDOW

    def _set_rate(self, rate: float) -> None:
        rate = max(MIN_RATE, rate)
        self.rate = rate if self.max_rate is None else min(rate, self.max_rate)

    def _restart_epoch(self, now: float) -> None:
        self._epoch_start = now
        self._epoch_refused = 0
        self._waited = False

    def _new_epoch_if_due(self, now: float) -> None:
        if not self.engaged or now - self._epoch_start < _EPOCH or self._resume_estimate:
            return
        if self._epoch_refused:
            self._clean_epochs = 0
        elif self._waited:  # the pace held calls back and the API refused none: probe, faster each time
            self._clean_epochs += 1
            self._set_rate(self.rate * (1 + _PROBE_STEP * self._clean_epochs))
        self._restart_epoch(now)

    def __repr__(self) -> str:
        phase = "open" if not self.active else f"{self.rate:.3g}/s" if self.engaged else "cold"
        return f"<RateController {phase}>"

"""One pace for a fleet: the state that processes and machines sharing an API key keep in Redis, and the rules
they apply to it, pure (the Lua scripts below run the same rules atomically on the server, on its clock).

Per name (a scope derived from the API URL and a hash of the key):

- `NAME:tat`: the theoretical arrival time of the next send of a GCRA (the Generic Cell Rate Algorithm of ATM
  networks, as redis-cell and Stripe's rate limiters use it): one timestamp stands for a whole token bucket.
  A send is booked at most `LOOKAHEAD_MS` ahead; a caller further back asks again when it is that close, so
  the schedule never holds more than a burst booked at a rate that may have changed since.
- `NAME:pause`: set by a 429's Retry-After (up to the cap), with that expiry: every process waits it out.
- `NAME:pace`: the learned rate, as CUBIC keeps it (the rate at the last cut, when it was, and the first send
  after it), and the measure the cut came from; absent until a wave of refusals proves a limit, so an
  unlimited fleet is never paced. With `max_rate` it is fixed instead.
- `NAME:count`: the fleet's sends numbered in the order they were booked, and the calls refused of those sent
  since the last cut (or, before the first, since the fleet last began sending after an idle second). A cut
  goes to what the API accepted of them (TCP Westwood's rate the path delivered, as the in-process
  policy's cuts), refined as the wave's refusals come in.

Every key expires after `IDLE_MS` without use, so an idle fleet leaves nothing behind and a restarted Redis
starts afresh (the first refusals teach it again).
"""

from __future__ import annotations

import attrs

from kellyapi._core.policy.pace import BURST_SECONDS, CUBIC_BETA, CUBIC_C, MIN_RATE
from kellyapi._core.policy.retry import RETRY_AFTER_CAP

INFINITY = 1e308  # (Lua has no literal for it; a rate above any real one)
IDLE_MS = 10 * 60 * 1000  # keys expire after ten minutes without use
LOOKAHEAD_MS = BURST_SECONDS * 1000  # a send is booked at most a burst ahead
NOT_BOOKED = -1  # the number `turn` gives a send it did not book


@attrs.define
class FleetState:
    """What Redis holds for one name, as the pure reference keeps it (times in milliseconds)."""

    tat: float | None = None
    paused_until: float | None = None
    w_max: float | None = None  # the rate at the last cut (None: no limit proven)
    last_cut: float = 0.0
    cut_seq: int = -1  # the first send booked after the last wave: a refusal of an earlier one does not cut
    seq: int = 0  # the number of the next send
    since_seq: int = 0  # the first send of the measure: after the last cut, or an idle second before the first
    since_ms: float = 0.0  # ...when it went...
    refused: int = 0  # ...and how many of those sent since were refused
    last_ms: float | None = None  # when the latest send was booked
    # The last cut's measure: `m_sent` sends from `m_start`, `m_refused` of them, over `m_seconds`, at most `m_cap`.
    m_start: int = 0
    m_sent: int = 0
    m_refused: int = 0
    m_seconds: float = 1.0
    m_cap: float = INFINITY


def fleet_rate(state: FleetState, now_ms: float, max_rate: float) -> float:
    """The fleet's rate now: max_rate when fixed, CUBIC's curve since the last cut, or 0 when unpaced."""
    if max_rate > 0:
        return max_rate
    if state.w_max is None:
        return 0.0
    k = (state.w_max * (1 - CUBIC_BETA) / CUBIC_C) ** (1 / 3)
    elapsed = (now_ms - state.last_cut) / 1000
    return max(MIN_RATE, float(CUBIC_C * (elapsed - k) ** 3 + state.w_max))


def turn(state: FleetState, now_ms: float, max_wait_ms: float, max_rate: float) -> tuple[float, int]:
    """Book a send: the milliseconds to wait, and its number (`NOT_BOOKED`: wait, then ask again). A pause, a
    wait past `max_wait_ms` (the caller raises) or past the lookahead is not booked."""
    if state.paused_until is not None and state.paused_until > now_ms:
        return state.paused_until - now_ms, NOT_BOOKED
    if state.w_max is None and (state.last_ms is None or now_ms - state.last_ms > BURST_SECONDS * 1000):
        state.since_seq, state.since_ms, state.refused = state.seq, now_ms, 0
    rate = fleet_rate(state, now_ms, max_rate)
    wait = 0.0
    if rate > 0:
        interval = 1000 / rate
        tat = max(state.tat if state.tat is not None else now_ms, now_ms)
        tolerance = max(BURST_SECONDS * 1000, interval) - interval
        wait = max(0.0, tat - tolerance - now_ms)
        if wait > max_wait_ms:
            return wait, NOT_BOOKED
        if wait > LOOKAHEAD_MS:
            return wait - LOOKAHEAD_MS, NOT_BOOKED
        state.tat = tat + interval
    seq = state.seq
    state.seq += 1
    state.last_ms = now_ms
    return wait, seq


def _measured(state: FleetState) -> float:
    return max(0.0, min(state.m_cap, (state.m_sent - state.m_refused) / state.m_seconds))


def refused(state: FleetState, now_ms: float, seq: int, retry_after_ms: float, proven: bool, max_rate: float) -> None:
    """A 429 of send number `seq`: pause everyone for its Retry-After (up to the cap; negative: none), and cut
    the rate once per wave if the refusal proves a limit (a Retry-After, or the process's own proof)."""
    if 0 < retry_after_ms <= RETRY_AFTER_CAP * 1000:
        state.paused_until = max(state.paused_until or 0.0, now_ms + retry_after_ms)
    if max_rate > 0:
        return
    if seq >= state.since_seq:
        state.refused += 1
    elif state.w_max is not None and state.m_start <= seq < state.cut_seq:  # one of the last wave: refine
        state.m_refused += 1
        state.w_max = min(state.w_max, _measured(state))
    if seq < state.cut_seq or not (proven or retry_after_ms > 0):
        return
    cap = INFINITY if state.w_max is None else fleet_rate(state, now_ms, 0.0)
    state.m_start, state.m_sent, state.m_refused = state.since_seq, state.seq - state.since_seq, state.refused
    elapsed = (now_ms - state.since_ms) / 1000  # (a bucket full at the first send, empty at a cut: pace.py)
    state.m_seconds = elapsed + BURST_SECONDS if state.w_max is None else max(elapsed, BURST_SECONDS)
    state.m_cap = cap
    state.w_max = _measured(state)  # CUBIC's curve starts again from beta times this
    state.last_cut = now_ms
    state.cut_seq = state.since_seq = state.seq
    state.since_ms, state.refused = now_ms, 0
    # The API's bucket is empty now: so is the fleet's (a burst only after a pause has let both refill).
    state.tat = max(state.tat or now_ms, now_ms + BURST_SECONDS * 1000)


# The same rules on the server, atomically. KEYS: tat, pause, pace, count. Times in ms from TIME. Each script
# answers with the server time it acted at, so that the reference can be run at the same times.
TURN_SCRIPT = """
local t = redis.call('TIME')
local now = t[1] * 1000 + t[2] / 1000
local max_wait, max_rate, burst, beta, c, floor, idle, lookahead = tonumber(ARGV[1]), tonumber(ARGV[2]),
  tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
local paused = tonumber(redis.call('GET', KEYS[2]) or '0')
if paused > now then return {tostring(paused - now), '-1', tostring(now)} end
local count = redis.call('HMGET', KEYS[4], 'seq', 'last_ms')
local seq = tonumber(count[1] or '0')
local pace = redis.call('HMGET', KEYS[3], 'w_max', 'cut')
if not pace[1] and (not count[2] or now - tonumber(count[2]) > burst * 1000) then
  redis.call('HSET', KEYS[4], 'since_seq', tostring(seq), 'since_ms', tostring(now), 'refused', '0')
end
local rate = 0
if max_rate > 0 then
  rate = max_rate
elseif pace[1] then
  local w_max, cut = tonumber(pace[1]), tonumber(pace[2])
  local k = (w_max * (1 - beta) / c) ^ (1 / 3)
  rate = math.max(floor, c * ((now - cut) / 1000 - k) ^ 3 + w_max)
end
local wait = 0
if rate > 0 then
  local interval = 1000 / rate
  local tat = math.max(tonumber(redis.call('GET', KEYS[1]) or tostring(now)), now)
  local tolerance = math.max(burst * 1000, interval) - interval
  wait = math.max(0, tat - tolerance - now)
  if wait > max_wait then return {tostring(wait), '-1', tostring(now)} end
  if wait > lookahead then return {tostring(wait - lookahead), '-1', tostring(now)} end
  redis.call('SET', KEYS[1], tostring(tat + interval), 'PX', idle)
end
redis.call('HSET', KEYS[4], 'seq', tostring(seq + 1), 'last_ms', tostring(now))
redis.call('PEXPIRE', KEYS[4], idle)
return {tostring(wait), tostring(seq), tostring(now)}
"""

REFUSED_SCRIPT = """
local t = redis.call('TIME')
local now = t[1] * 1000 + t[2] / 1000
local seq, retry_after, proven, max_rate, cap, beta, c, floor, idle, burst, infinity = tonumber(ARGV[1]),
  tonumber(ARGV[2]), ARGV[3] == '1', tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7]),
  tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10]), tonumber(ARGV[11])
if retry_after > 0 and retry_after <= cap then
  local until_ = now + retry_after
  local paused = tonumber(redis.call('GET', KEYS[2]) or '0')
  if until_ > paused then redis.call('SET', KEYS[2], tostring(until_), 'PX', math.ceil(retry_after)) end
end
if max_rate > 0 then return tostring(now) end
local count = redis.call('HMGET', KEYS[4], 'seq', 'since_seq', 'since_ms', 'refused')
local next_seq, since_seq = tonumber(count[1] or '0'), tonumber(count[2] or '0')
local since_ms, refused = tonumber(count[3] or tostring(now)), tonumber(count[4] or '0')
local pace = redis.call('HMGET', KEYS[3], 'w_max', 'cut', 'cut_seq', 'm_start', 'm_sent', 'm_refused', 'm_seconds',
  'm_cap')
local cut_seq = tonumber(pace[3] or '-1')
local w_max = pace[1] and tonumber(pace[1])
if seq >= since_seq then
  refused = refused + 1
  redis.call('HSET', KEYS[4], 'refused', tostring(refused))
elseif w_max and tonumber(pace[4]) <= seq and seq < cut_seq then
  local m_refused = tonumber(pace[6]) + 1
  local measured = math.min(tonumber(pace[8]), (tonumber(pace[5]) - m_refused) / tonumber(pace[7]))
  w_max = math.min(w_max, math.max(0, measured))
  redis.call('HSET', KEYS[3], 'm_refused', tostring(m_refused), 'w_max', tostring(w_max))
end
if seq < cut_seq or not (proven or retry_after > 0) then return tostring(now) end
local rate_cap, seconds = infinity, (now - since_ms) / 1000 + burst
if w_max then
  seconds = math.max((now - since_ms) / 1000, burst)
  local k = (w_max * (1 - beta) / c) ^ (1 / 3)
  rate_cap = math.max(floor, c * ((now - tonumber(pace[2])) / 1000 - k) ^ 3 + w_max)
end
local sent = next_seq - since_seq
w_max = math.max(0, math.min(rate_cap, (sent - refused) / seconds))
redis.call('HSET', KEYS[3], 'w_max', tostring(w_max), 'cut', tostring(now), 'cut_seq', tostring(next_seq),
  'm_start', tostring(since_seq), 'm_sent', tostring(sent), 'm_refused', tostring(refused),
  'm_seconds', tostring(seconds), 'm_cap', tostring(rate_cap))
redis.call('PEXPIRE', KEYS[3], idle)
redis.call('HSET', KEYS[4], 'since_seq', tostring(next_seq), 'since_ms', tostring(now), 'refused', '0')
local tat = math.max(tonumber(redis.call('GET', KEYS[1]) or '0'), now + burst * 1000)
redis.call('SET', KEYS[1], tostring(tat), 'PX', idle)
return tostring(now)
"""

KEY_SUFFIXES = ("tat", "pause", "pace", "count")


def turn_arguments(max_wait_ms: float, max_rate: float) -> list[float]:
    """TURN_SCRIPT's ARGV, in its order: the call's longest wait, the fixed rate (0: learned) and the in-process
    policy's own constants."""
    return [max(0.0, max_wait_ms), max_rate, BURST_SECONDS, CUBIC_BETA, CUBIC_C, MIN_RATE, IDLE_MS, LOOKAHEAD_MS]


def refused_arguments(seq: int, retry_after_ms: float | None, proven: bool, max_rate: float) -> list[float]:
    """REFUSED_SCRIPT's ARGV, in its order: the refused start's number, its Retry-After (-1: none), whether the
    pace was proven before it, the fixed rate (0: learned) and the in-process policy's own constants."""
    return [
        seq,
        -1.0 if retry_after_ms is None else retry_after_ms,
        1 if proven else 0,
        max_rate,
        RETRY_AFTER_CAP * 1000,
        CUBIC_BETA,
        CUBIC_C,
        MIN_RATE,
        IDLE_MS,
        BURST_SECONDS,
        INFINITY,
    ]

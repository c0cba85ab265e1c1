"""One pace for a fleet: the state that processes and machines sharing an API key keep in Redis, and the rules
they apply to it, pure (the Lua scripts below run the same rules atomically on the server, on its clock).

Per name (a scope derived from the API URL and a hash of the key):

- `NAME:tat`: the theoretical arrival time of the next send of a GCRA (the Generic Cell Rate Algorithm of ATM
  networks, as redis-cell and Stripe's rate limiters use it): one timestamp stands for a whole token bucket.
- `NAME:pause`: set by a 429's Retry-After (up to the cap), with that expiry: every process waits it out.
- `NAME:pace`: the learned rate, as CUBIC keeps it (the rate at the last cut and when the cut was); absent until
  a wave of refusals proves a limit, so an unlimited fleet is never paced. With `max_rate` it is fixed instead.
- `NAME:accepted` and `NAME:since`: the calls sent fleet-wide less those refused (the calls still in flight
  counted as accepted, as the in-process policy weighs them), and when the fleet began: the first cut starts
  from their rate, as the in-process policy's does (over a second at least: a token bucket may let a
  second's worth through at once).

Every key expires after `IDLE_MS` without use, so an idle fleet leaves nothing behind and a restarted Redis
starts afresh (the first refusals teach it again).
"""

from __future__ import annotations

import attrs

from kellyapi._core.policy.pace import BURST_SECONDS, CUBIC_BETA, CUBIC_C, MIN_RATE
from kellyapi._core.policy.retry import RETRY_AFTER_CAP

IDLE_MS = 10 * 60 * 1000  # keys expire after ten minutes without use


@attrs.define
class FleetState:
    """What Redis holds for one name, as the pure reference keeps it (times in milliseconds)."""

    tat: float | None = None
    paused_until: float | None = None
    w_max: float | None = None  # the rate at the last cut (None: no limit proven)
    last_cut: float = 0.0
    accepted: int = 0  # calls sent less those refused
    since: float | None = None


def fleet_rate(state: FleetState, now_ms: float, max_rate: float) -> float:
    """The fleet's rate now: max_rate when fixed, CUBIC's curve since the last cut, or 0 when unpaced."""
    if max_rate > 0:
        return max_rate
    if state.w_max is None:
        return 0.0
    k = (state.w_max * (1 - CUBIC_BETA) / CUBIC_C) ** (1 / 3)
    elapsed = (now_ms - state.last_cut) / 1000
    return max(MIN_RATE, float(CUBIC_C * (elapsed - k) ** 3 + state.w_max))


def turn(state: FleetState, now_ms: float, max_wait_ms: float, max_rate: float) -> tuple[float, bool]:
    """Book a send: the milliseconds to wait before it (0: go now) and whether it is booked; a pause, or a
    wait past `max_wait_ms`, is not booked (the caller asks again after the pause, or raises)."""
    if state.since is None:
        state.since = now_ms
    if state.paused_until is not None and state.paused_until > now_ms:
        return state.paused_until - now_ms, False
    rate = fleet_rate(state, now_ms, max_rate)
    if rate <= 0:
        state.accepted += 1
        return 0.0, True
    interval = 1000 / rate
    tat = max(state.tat if state.tat is not None else now_ms, now_ms)
    tolerance = max(BURST_SECONDS * 1000, interval) - interval
    wait = max(0.0, tat - tolerance - now_ms)
    if wait > max_wait_ms:
        return wait, False
    state.tat = tat + interval
    state.accepted += 1
    return wait, True


def refused(
    state: FleetState, now_ms: float, sent_ms: float, retry_after_ms: float, proven: bool, max_rate: float
) -> None:
    """A 429 of a call sent at `sent_ms` (server time): pause everyone for its Retry-After (up to the cap;
    negative: none), and cut the rate once per wave if the refusal proves a limit (a Retry-After, or the
    process's own proof)."""
    state.accepted -= 1
    if 0 < retry_after_ms <= RETRY_AFTER_CAP * 1000:
        state.paused_until = max(state.paused_until or 0.0, now_ms + retry_after_ms)
    if max_rate > 0 or sent_ms < state.last_cut or not (proven or retry_after_ms > 0):
        return
    if state.w_max is None:
        elapsed = max((now_ms - (state.since if state.since is not None else now_ms)) / 1000, BURST_SECONDS)
        rate_to_use = max(MIN_RATE, state.accepted / elapsed)
    else:
        rate_to_use = fleet_rate(state, now_ms, 0.0)
    state.w_max = rate_to_use  # CUBIC's curve starts again from beta times this
    state.last_cut = now_ms
    # The API's bucket is empty now: so is the fleet's (a burst only after a pause has let both refill).
    state.tat = max(state.tat or now_ms, now_ms + BURST_SECONDS * 1000)


# The same rules on the server, atomically. KEYS: tat, pause, pace, accepted, since. Times in ms from TIME.
TURN_SCRIPT = """
local t = redis.call('TIME')
local now = t[1] * 1000 + t[2] / 1000
local max_wait, max_rate, burst, beta, c, floor, idle = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]),
  tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
redis.call('SET', KEYS[5], tostring(now), 'NX', 'PX', idle)
local paused = tonumber(redis.call('GET', KEYS[2]) or '0')
if paused > now then return {tostring(paused - now), tostring(now), '0'} end
local rate = 0
if max_rate > 0 then
  rate = max_rate
else
  local w_max = tonumber(redis.call('HGET', KEYS[3], 'w_max') or '-1')
  if w_max >= 0 then
    local cut = tonumber(redis.call('HGET', KEYS[3], 'cut'))
    local k = (w_max * (1 - beta) / c) ^ (1 / 3)
    rate = math.max(floor, c * ((now - cut) / 1000 - k) ^ 3 + w_max)
  end
end
if rate <= 0 then
  redis.call('INCR', KEYS[4])
  redis.call('PEXPIRE', KEYS[4], idle)
  return {'0', tostring(now), '1'}
end
local interval = 1000 / rate
local tat = math.max(tonumber(redis.call('GET', KEYS[1]) or tostring(now)), now)
local tolerance = math.max(burst * 1000, interval) - interval
local wait = math.max(0, tat - tolerance - now)
if wait > max_wait then return {tostring(wait), tostring(now), '0'} end
redis.call('SET', KEYS[1], tostring(tat + interval), 'PX', idle)
redis.call('INCR', KEYS[4])
redis.call('PEXPIRE', KEYS[4], idle)
return {tostring(wait), tostring(now), '1'}
"""

REFUSED_SCRIPT = """
local t = redis.call('TIME')
local now = t[1] * 1000 + t[2] / 1000
local sent, retry_after, proven, max_rate, cap, beta, c, floor, idle, burst = tonumber(ARGV[1]),
  tonumber(ARGV[2]), ARGV[3] == '1', tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7]),
  tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10])
redis.call('DECR', KEYS[4])
if retry_after > 0 and retry_after <= cap then
  local until_ = now + retry_after
  local paused = tonumber(redis.call('GET', KEYS[2]) or '0')
  if until_ > paused then redis.call('SET', KEYS[2], tostring(until_), 'PX', math.ceil(retry_after)) end
end
local last_cut = tonumber(redis.call('HGET', KEYS[3], 'cut') or '0')
if max_rate > 0 or sent < last_cut or not (proven or retry_after > 0) then return tostring(now) end
local w_max = tonumber(redis.call('HGET', KEYS[3], 'w_max') or '-1')
local rate
if w_max < 0 then
  local since = tonumber(redis.call('GET', KEYS[5]) or tostring(now))
  rate = math.max(floor, tonumber(redis.call('GET', KEYS[4]) or '0') / math.max((now - since) / 1000, burst))
else
  local k = (w_max * (1 - beta) / c) ^ (1 / 3)
  rate = math.max(floor, c * ((now - last_cut) / 1000 - k) ^ 3 + w_max)
end
redis.call('HSET', KEYS[3], 'w_max', tostring(rate), 'cut', tostring(now))
redis.call('PEXPIRE', KEYS[3], idle)
local tat = math.max(tonumber(redis.call('GET', KEYS[1]) or '0'), now + burst * 1000)
redis.call('SET', KEYS[1], tostring(tat), 'PX', idle)
return tostring(now)
"""




def script_arguments() -> dict[str, float]:
    """The constants the scripts are given, from the in-process policy's own."""
    return {
        "burst": BURST_SECONDS,
        "beta": CUBIC_BETA,
        "c": CUBIC_C,
        "floor": MIN_RATE,
        "idle": IDLE_MS,
        "cap": RETRY_AFTER_CAP * 1000,
    }

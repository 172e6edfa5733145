"""A :class:`~cqrs_worker.resilience.CircuitBreaker` kept in Redis, shared by a fleet.

``pip install 'cqrs-worker[redis]'``. Every worker that builds a
:class:`RedisCircuitBreaker` on the same Redis and ``prefix`` sees the same
circuits: one worker's failures open the circuit for all of them. Each
transition runs as one Lua script, so concurrent workers never lose an update,
and exactly one of them gets the half-open trial.

Times come from the workers' clocks (``clock``, wall time by default), so keep
them in sync (NTP); a skewed clock only moves when that worker sees the
timeout end. A closed circuit with no failures has no key; the others expire
a while after their timeout, so names that stop being used leave nothing behind.

When Redis does not answer, the breaker fails open: calls go to the primary as
if the circuit were closed, and a warning is logged. A breaker is advice; a
Redis outage must not stop the handlers (nor send every message to fallbacks).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

try:
    from redis.asyncio import Redis
    from redis.exceptions import RedisError
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "cqrs_worker.resilience.redis needs redis-py: pip install 'cqrs-worker[redis]'"
    ) from exc

from cqrs_worker.resilience.breaker import BreakerState, Clock, check_settings

__all__ = ["RedisCircuitBreaker"]

logger = logging.getLogger(__name__)

# KEYS[1] = the circuit's hash (state, failures, since); ARGV[1] = now, ARGV[2] = timeout.
# Returns 1 when the call may go ahead.
_ALLOW = """
local state = redis.call('HGET', KEYS[1], 'state')
if not state or state == 'closed' then return 1 end
local now = tonumber(ARGV[1])
if now - tonumber(redis.call('HGET', KEYS[1], 'since')) < tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], 'state', 'half_open', 'since', ARGV[1])
return 1
"""

# ARGV[1] = now, ARGV[2] = fail_max, ARGV[3] = key lifetime in ms. Returns 1 if it opened.
_FAILURE = """
local failures = redis.call('HINCRBY', KEYS[1], 'failures', 1)
local state = redis.call('HGET', KEYS[1], 'state')
if state == 'half_open' or failures >= tonumber(ARGV[2]) then
  redis.call('HSET', KEYS[1], 'state', 'open', 'since', ARGV[1])
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return 1
end
if not state then redis.call('HSET', KEYS[1], 'state', 'closed', 'since', ARGV[1]) end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 0
"""


class RedisCircuitBreaker:
    """Circuits in Redis hashes named ``{prefix}{name}``, for every worker that shares them."""

    def __init__(
        self,
        client: Redis,
        *,
        fail_max: int = 5,
        timeout_duration: float = 60.0,
        exclude: Sequence[type[Exception]] = (),
        prefix: str = "cqrs_worker:breaker:",
        clock: Clock = time.time,
    ) -> None:
        check_settings(fail_max, timeout_duration)
        self.fail_max = fail_max
        self.timeout_duration = timeout_duration
        self.exclude = tuple(exclude)
        self.prefix = prefix
        self._client = client
        self._clock = clock
        self._allow = client.register_script(_ALLOW)
        self._failure = client.register_script(_FAILURE)
        # Long enough for an open circuit to be seen through its timeout and a trial.
        self._lifetime_ms = int(timeout_duration * 3 * 1000) + 1000

    async def state(self, name: str) -> BreakerState:
        """The circuit's state as of now (an open circuit past its timeout reads half-open)."""
        state, since = await self._client.hmget(self._key(name), ["state", "since"])
        if state is None or since is None:
            return "closed"
        text = state.decode() if isinstance(state, bytes) else str(state)
        if text == "open" and self._clock() - float(since) >= self.timeout_duration:
            return "half_open"
        return "open" if text == "open" else "half_open" if text == "half_open" else "closed"

    async def allow(self, name: str, /) -> bool:
        try:
            allowed = await self._allow(
                keys=[self._key(name)], args=[repr(self._clock()), repr(self.timeout_duration)]
            )
        except RedisError as exc:
            logger.warning(
                "circuit breaker store unavailable (%s); %s runs as if closed", exc, name
            )
            return True
        return bool(allowed)

    async def record_success(self, name: str, /) -> None:
        try:
            await self._client.delete(self._key(name))
        except RedisError as exc:
            logger.warning("circuit breaker store unavailable (%s); success of %s lost", exc, name)

    async def record_failure(self, name: str, error: Exception, /) -> None:
        if isinstance(error, self.exclude):
            await self.record_success(name)
            return
        try:
            await self._failure(
                keys=[self._key(name)],
                args=[repr(self._clock()), self.fail_max, self._lifetime_ms],
            )
        except RedisError as exc:
            logger.warning("circuit breaker store unavailable (%s); failure of %s lost", exc, name)

    def _key(self, name: str) -> str:
        return f"{self.prefix}{name}"

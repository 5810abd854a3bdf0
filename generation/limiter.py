"""A cap on in-flight requests per provider, shared by every worker process.

With Redis configured (REDIS_URL, or a redis:// broker) the cap is global: a sorted set of
leases per provider, taken and trimmed atomically by a Lua script, so a worker killed mid-call
frees its slot when the lease expires. Without Redis (embedded setup, one worker) it falls
back to a per-process semaphore.
"""

import threading
import time
import uuid
from contextlib import contextmanager

from django.conf import settings

_ACQUIRE = """
local now = redis.call('TIME')
local t = tonumber(now[1]) + tonumber(now[2]) / 1000000
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', t)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], t + tonumber(ARGV[2]), ARGV[3])
  redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[2])) + 60)
  return 1
end
return 0
"""


class SlotUnavailable(Exception):
    """No slot freed up within the wait; the caller should retry later."""


class InflightLimiter:
    def __init__(self, *, name: str, limit: int, redis_url: str = "", lease_seconds: float = 300.0):
        self.name = name
        self.limit = max(1, limit)
        self.lease_seconds = lease_seconds
        self._key = f"reviewq:inflight:{name}"
        self._redis = None
        self._semaphore = None
        if redis_url:
            import redis

            self._redis = redis.Redis.from_url(redis_url)
            self._acquire = self._redis.register_script(_ACQUIRE)
        else:
            self._semaphore = threading.BoundedSemaphore(self.limit)

    @contextmanager
    def slot(self, *, wait_seconds: float = 30.0):
        if self._semaphore is not None:
            if not self._semaphore.acquire(timeout=wait_seconds):
                raise SlotUnavailable(f"{self.limit} requests to {self.name} already in flight")
            try:
                yield
            finally:
                self._semaphore.release()
            return
        import redis

        member = uuid.uuid4().hex
        deadline = time.monotonic() + wait_seconds
        delay = 0.01
        try:
            while not self._acquire(keys=[self._key], args=[self.limit, self.lease_seconds, member]):
                if time.monotonic() >= deadline:
                    raise SlotUnavailable(f"{self.limit} requests to {self.name} already in flight")
                time.sleep(delay)
                delay = min(delay * 2, 0.25)
        except redis.RedisError as exc:  # Redis restarting: retry later like a full cap
            raise SlotUnavailable(f"in-flight limiter unavailable: {exc}") from exc
        try:
            yield
        finally:
            try:
                self._redis.zrem(self._key, member)
            except redis.RedisError:
                pass  # the slot's lease frees it; losing the finished completion would be worse

    def in_flight(self) -> int:
        if self._redis is not None:
            self._redis.zremrangebyscore(self._key, "-inf", time.time())
            return int(self._redis.zcard(self._key))
        return self.limit - self._semaphore._value  # noqa: SLF001 - read-only peek for stats


_limiters: dict[str, InflightLimiter] = {}
_lock = threading.Lock()


def limiter_for(provider_name: str) -> InflightLimiter:
    with _lock:
        if provider_name not in _limiters:
            _limiters[provider_name] = InflightLimiter(
                name=provider_name,
                limit=settings.LLM_MAX_IN_FLIGHT,
                redis_url=settings.REDIS_URL,
                lease_seconds=settings.LLM_TIMEOUT * 2 + 30,
            )
        return _limiters[provider_name]

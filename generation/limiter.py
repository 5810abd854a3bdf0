"""A cap on in-flight requests per provider, shared by every worker process.

With Redis configured (REDIS_URL, or a redis:// broker) the cap is global: a sorted set of
leases per provider, taken and trimmed atomically by a Lua script, so a worker killed mid-call
frees its slot when the lease expires. Each slot names its holder (`<host>:<pid>:<start>:<uuid>`),
so a restarted worker frees a dead process's slots at once (`slots_release_dead_holders`).
Without Redis (embedded setup, one worker) it falls back to a per-process semaphore.
"""

import contextlib
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis
from django.conf import settings

logger = logging.getLogger(__name__)
KEY_PREFIX = "reviewq:inflight:"

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
        self._key = f"{KEY_PREFIX}{name}"
        self._redis: redis.Redis | None = None
        self._semaphore: threading.BoundedSemaphore | None = None
        if redis_url:
            self._redis = redis.Redis.from_url(redis_url)
            self._acquire = self._redis.register_script(_ACQUIRE)
        else:
            self._semaphore = threading.BoundedSemaphore(self.limit)

    @contextmanager
    def slot(self, *, wait_seconds: float = 30.0) -> Iterator[None]:
        if self._semaphore is not None:
            if not self._semaphore.acquire(timeout=wait_seconds):
                raise SlotUnavailable(f"{self.limit} requests to {self.name} already in flight")
            try:
                yield
            finally:
                self._semaphore.release()
            return
        client = self._redis
        assert client is not None  # no semaphore: the limit is global, in Redis
        member = _slot_member()
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
            # On failure the slot's lease frees it; losing the finished completion would be worse.
            with contextlib.suppress(redis.RedisError):
                client.zrem(self._key, member)

    def in_flight(self) -> int:
        if self._redis is not None:
            self._redis.zremrangebyscore(self._key, "-inf", time.time())
            return int(self._redis.zcard(self._key))
        assert self._semaphore is not None
        return self.limit - self._semaphore._value  # CPython's counter


def _process_started(pid: int) -> str:
    """The process's start time in clock ticks since boot (Linux), "" when unknown: with the pid
    it tells a process from a later one that got the same pid (pid 1 in a restarted container)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat[stat.rindex(")") + 2 :].split()[19]  # field 22; the name in (...) may hold spaces


_holder: tuple[int, str] = (0, "")  # (pid, "<host>:<pid>:<start>") of this process, read once per process


def _slot_member() -> str:
    global _holder
    pid = os.getpid()
    if _holder[0] != pid:  # first call, or a forked child
        _holder = (pid, f"{socket.gethostname()}:{pid}:{_process_started(pid)}")
    return f"{_holder[1]}:{uuid.uuid4().hex}"


def _holder_is_dead(member: str, *, host: str) -> bool:
    """True for a slot taken on this host by a process that no longer exists. Slots of other
    hosts, and unparseable ones, are left to their lease."""
    try:
        holder_host, pid_text, started, _ = member.rsplit(":", 3)
        pid = int(pid_text)
    except ValueError:
        return False
    if holder_host != host:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass  # alive, another user's process
    return bool(started) and _process_started(pid) != started


def slots_release_dead_holders(*, redis_url: str | None = None) -> int:
    """Free the in-flight slots held by this host's processes that no longer exist (a SIGKILLed
    worker's) instead of waiting out their lease; returns how many were freed. Run when a worker
    becomes ready and by the recovery task. ZREM of the named members only: a live holder's
    slot, or one taken meanwhile, is never touched."""
    url = settings.REDIS_URL if redis_url is None else redis_url
    if not url:
        return 0
    client = redis.Redis.from_url(url)
    host = socket.gethostname()
    freed = 0
    try:
        for key in client.scan_iter(match=f"{KEY_PREFIX}*", count=100):
            members: list[bytes] = client.zrange(key, 0, -1)  # type: ignore[assignment]  # sync client
            dead = [m for m in members if _holder_is_dead(m.decode(errors="replace"), host=host)]
            if dead:
                freed += client.zrem(key, *dead)
    except redis.RedisError as exc:  # the leases still free them
        logger.warning("could not free the slots of dead processes: %s", exc)
    finally:
        client.close()
    if freed:
        logger.info("freed %d in-flight slots held by processes that no longer exist", freed)
    return freed


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

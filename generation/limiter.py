"""A cap on in-flight requests per provider, shared by every worker process.

With Redis configured (REDIS_URL, or a redis:// broker) the cap is global: a sorted set of
leases per provider, taken and trimmed atomically by a Lua script, so a worker killed mid-call
frees its slot when the lease expires. Each slot names its holder (`<host>:<pid>:<start>:<uuid>`),
so a restarted worker frees a dead process's slots at once (`slots_release_dead_holders`).
Without Redis (embedded setup, one worker) it falls back to a per-process semaphore.

A call that finds the cap full queues in its process, first come first served. A call that ends
hands its slot to the first waiting call of its process, whose thread swaps the slot's member for
its own in one script (the cap checked as for any slot), so a freed slot never sits idle while
callers back off; only the head of the queue polls Redis (from POLL_MIN_SECONDS, backing off to
POLL_MAX_SECONDS) for slots freed in other processes.
"""

import contextlib
import logging
import os
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis
from django.conf import settings

logger = logging.getLogger(__name__)
KEY_PREFIX = "reviewq:inflight:"

# ARGV: limit, lease seconds, the member to add, the member to remove first ("" for none: a
# release handing its slot on). Returns 0 when the cap is full, else how many slots were free.
_ACQUIRE = """
if ARGV[4] ~= '' then redis.call('ZREM', KEYS[1], ARGV[4]) end
local now = redis.call('TIME')
local t = tonumber(now[1]) + tonumber(now[2]) / 1000000
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', t)
local held = redis.call('ZCARD', KEYS[1])
if held < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], t + tonumber(ARGV[2]), ARGV[3])
  redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[2])) + 60)
  return tonumber(ARGV[1]) - held
end
return 0
"""
# The head of a process's queue polls Redis this often at first, backing off to the max.
POLL_MIN_SECONDS = 0.005
POLL_MAX_SECONDS = 0.05


class _Waiter:
    """A call waiting in its process's queue for a slot."""

    __slots__ = ("handed", "try_now", "wake")

    def __init__(self) -> None:
        self.wake = threading.Event()  # set when it is handed a slot, or becomes the head
        self.handed: str | None = None  # the member of a slot a release handed it, until swapped
        self.try_now = False  # a slot is known to be free: the head runs the script at once


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
            self._waiting: deque[_Waiter] = deque()  # this process's calls waiting for a slot, in order
            self._waiting_lock = threading.Lock()
            self._poll_delay = POLL_MIN_SECONDS  # the head's poll schedule, shared by successive heads
            self._next_poll = 0.0
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
        member = _slot_member()
        try:
            self._take(member, deadline=time.monotonic() + wait_seconds)
        except redis.RedisError as exc:  # Redis restarting: retry later like a full cap
            raise SlotUnavailable(f"in-flight limiter unavailable: {exc}") from exc
        try:
            yield
        finally:
            self._release(member)

    def _try(self, member: str, *, released: str = "") -> int:
        """Take a slot for `member` (after removing `released`) if the cap allows: 0 if not,
        else how many slots were free."""
        return int(self._acquire(keys=[self._key], args=[self.limit, self.lease_seconds, member, released]))

    def _take(self, member: str, *, deadline: float) -> None:
        """Take a slot, queueing behind this process's earlier waiters; SlotUnavailable at the
        deadline. The head polls Redis on the queue's schedule; any waiter may be handed a slot."""
        with self._waiting_lock:
            queued = bool(self._waiting)
        if not queued:  # nobody waiting here: no queue to join
            if self._try(member):
                return
            with self._waiting_lock:
                self._next_poll = max(self._next_poll, time.monotonic() + self._poll_delay)
        waiter = _Waiter()
        with self._waiting_lock:
            self._waiting.append(waiter)
        free = 0
        try:
            while True:
                with self._waiting_lock:
                    waiter.wake.clear()
                    handed, now = waiter.handed, time.monotonic()
                    head = self._waiting[0] is waiter
                    poll = handed is None and head and (waiter.try_now or now >= self._next_poll)
                    if handed is None and not poll and now >= deadline:
                        raise SlotUnavailable(f"{self.limit} requests to {self.name} already in flight")
                    waiter.try_now = waiter.try_now and not poll
                if handed is not None:
                    try:
                        free = self._try(member, released=handed)
                    finally:
                        with self._waiting_lock:
                            waiter.handed = None  # the script removed it (on a Redis error, its lease will)
                elif poll:
                    try:
                        free = self._try(member)
                    finally:
                        with self._waiting_lock:
                            self._poll_delay = POLL_MIN_SECONDS if free else min(2 * self._poll_delay, POLL_MAX_SECONDS)
                            self._next_poll = time.monotonic() + self._poll_delay
                else:
                    timeout = (min(self._next_poll, deadline) if head else deadline) - now
                    waiter.wake.wait(max(timeout, 0.0))  # a non-head waits to be handed a slot or made the head
                if free:
                    return
        finally:
            with self._waiting_lock:
                was_head = self._waiting[0] is waiter
                self._waiting.remove(waiter)
                left, waiter.handed = waiter.handed, None  # handed while it polled with success, or failed
            if left is not None:
                self._release(left)
            if was_head or free > 1:  # the next waiter is the head; it tries at once if slots are free
                self._wake_head(now=free > 1)

    def _release(self, member: str) -> None:
        """Hand the slot to this process's first waiter not handed one yet (its thread swaps the
        members), else give it back. On a Redis error the slot's lease frees it: losing the
        finished completion would be worse."""
        with self._waiting_lock:
            waiter = next((w for w in self._waiting if w.handed is None), None)
            if waiter is not None:
                waiter.handed = member
                waiter.wake.set()
                return
        client = self._redis
        assert client is not None
        with contextlib.suppress(redis.RedisError):
            client.zrem(self._key, member)
        self._wake_head(now=True)  # a head polling meanwhile may have missed this slot

    def _wake_head(self, *, now: bool) -> None:
        with self._waiting_lock:
            if self._waiting:
                head = self._waiting[0]
                head.try_now = head.try_now or now
                head.wake.set()

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

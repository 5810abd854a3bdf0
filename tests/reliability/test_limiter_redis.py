"""The global in-flight limiter when its Redis goes away (found by the Redis-restart fault run):
acquiring becomes a retryable SlotUnavailable, and releasing never throws away the finished
provider call (the slot's lease frees it). A SIGKILLed process's slots are freed by the next
worker on its host instead of waiting out their lease."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import redis as redis_client

from generation.limiter import InflightLimiter, SlotUnavailable, slots_release_dead_holders
from tests.reliability.harness import REDIS_SERVER, ROOT, PrivateRedis

pytestmark = pytest.mark.skipif(REDIS_SERVER is None, reason="redis-server is not installed")


def test_redis_down_while_acquiring_is_slot_unavailable():
    with PrivateRedis(persistent=False) as redis:
        limiter = InflightLimiter(name="down", limit=2, redis_url=redis.url(1), lease_seconds=30)
        with limiter.slot(wait_seconds=1):
            assert limiter.in_flight() == 1
        redis.stop()
        with pytest.raises(SlotUnavailable, match="limiter unavailable"), limiter.slot(wait_seconds=1):
            pass


def test_redis_down_while_releasing_keeps_the_result():
    with PrivateRedis(persistent=False) as redis:
        limiter = InflightLimiter(name="release", limit=2, redis_url=redis.url(1), lease_seconds=30)
        done = []
        with limiter.slot(wait_seconds=1):
            redis.stop()
            done.append("completion")
        assert done == ["completion"]
        redis.start()
        with limiter.slot(wait_seconds=1):  # a fresh Redis: the cap works again
            assert limiter.in_flight() == 1


HOLD_A_SLOT = """
import sys, time
from generation.limiter import InflightLimiter
with InflightLimiter(name="dead", limit=4, redis_url=sys.argv[1], lease_seconds=300).slot(wait_seconds=5):
    print("held", flush=True)
    time.sleep(120)
"""


def test_slots_of_a_sigkilled_process_on_this_host_are_freed_others_kept():
    with PrivateRedis(persistent=False) as redis:
        url = redis.url(2)
        client = redis_client.Redis.from_url(url)
        key = "reviewq:inflight:dead"
        limiter = InflightLimiter(name="dead", limit=4, redis_url=url, lease_seconds=300)
        holder = subprocess.Popen([sys.executable, "-c", HOLD_A_SLOT, url], cwd=ROOT, stdout=subprocess.PIPE)
        try:
            assert holder.stdout.readline().strip() == b"held"
        finally:
            holder.kill()
            holder.wait(10)
        host = socket.gethostname()
        # Another host's slot: its processes cannot be checked from here, so its lease decides.
        client.zadd(key, {"elsewhere:1::0123abcd": 2e9})
        # This pid, but an earlier process that had it (pid 1 of a restarted container): told
        # apart by the start time, where /proc has it.
        pid_reused = Path(f"/proc/{os.getpid()}/stat").exists()
        if pid_reused:
            client.zadd(key, {f"{host}:{os.getpid()}:1:earlier": 2e9})
        with limiter.slot(wait_seconds=1):
            assert limiter.in_flight() == 3 + pid_reused  # the killed holder's slot is still taken
            assert slots_release_dead_holders(redis_url=url) == 1 + pid_reused
            members = [m.decode() for m in client.zrange(key, 0, -1)]
            assert len(members) == 2 and "elsewhere:1::0123abcd" in members
            assert [m for m in members if m.startswith(f"{host}:{os.getpid()}:")]  # this live slot stays
            assert not [m for m in members if m.startswith(f"{host}:{holder.pid}:")]
            assert slots_release_dead_holders(redis_url=url) == 0
        assert client.zrange(key, 0, -1) == [b"elsewhere:1::0123abcd"]
        client.close()

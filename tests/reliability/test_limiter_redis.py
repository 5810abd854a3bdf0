"""The global in-flight limiter when its Redis goes away (found by the Redis-restart fault run):
acquiring becomes a retryable SlotUnavailable, and releasing never throws away the finished
provider call (the slot's lease frees it)."""

import pytest

from generation.limiter import InflightLimiter, SlotUnavailable
from tests.reliability.harness import REDIS_SERVER, PrivateRedis

pytestmark = pytest.mark.skipif(REDIS_SERVER is None, reason="redis-server is not installed")


def test_redis_down_while_acquiring_is_slot_unavailable():
    with PrivateRedis(persistent=False) as redis:
        limiter = InflightLimiter(name="down", limit=2, redis_url=redis.url(1), lease_seconds=30)
        with limiter.slot(wait_seconds=1):
            assert limiter.in_flight() == 1
        redis.stop()
        with pytest.raises(SlotUnavailable, match="limiter unavailable"):
            with limiter.slot(wait_seconds=1):
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

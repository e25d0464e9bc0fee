"""Rate limits: the in-process sliding window, and the Redis one shared by several workers."""

from __future__ import annotations

import uuid

import pytest

from api.security import RateLimiter, RedisRateLimiter

REDIS_URL = "redis://127.0.0.1:6379/15"


def test_sliding_window_allows_the_limit_then_says_how_long_to_wait() -> None:
    now = [1000.0]
    limiter = RateLimiter(3, 60.0, clock=lambda: now[0])
    assert [limiter.check("a") for _ in range(3)] == [None, None, None]
    wait = limiter.check("a")
    assert wait is not None and 59.9 < wait <= 60.0
    assert limiter.check("b") is None  # per client
    now[0] += 30
    assert limiter.check("a") is not None  # refused calls do not count, but the window has not passed
    now[0] += 30.001
    assert limiter.check("a") is None


@pytest.fixture
def redis_limiters():
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.skip(f"no Redis server at {REDIS_URL}: {exc}")
    name = f"t{uuid.uuid4().hex[:8]}"
    # Two limiters on one store stand for two API workers.
    yield RedisRateLimiter(REDIS_URL, name, 5, 60.0), RedisRateLimiter(REDIS_URL, name, 5, 60.0)
    for key in client.scan_iter(f"jishibang:rate:{name}:*"):
        client.delete(key)


def test_redis_limit_holds_across_workers(redis_limiters) -> None:
    a, b = redis_limiters
    results = [(a if i % 2 else b).check("10.0.0.1") for i in range(8)]
    assert results[:5] == [None] * 5
    assert all(w is not None and 0 < w <= 60 for w in results[5:])
    assert a.check("10.0.0.2") is None


def test_redis_down_fails_open() -> None:
    limiter = RedisRateLimiter("redis://127.0.0.1:1/0", "down", 1, 60.0)
    assert limiter.check("x") is None and limiter.check("x") is None

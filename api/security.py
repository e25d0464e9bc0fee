"""Who may call what. Every route declares its roles with :func:`allow`; the bearer is a sign-in
token or an API key (both ``Authorization: Bearer ...``). Missing or invalid: 401; wrong role: 403."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.errors import ApiError
from hotline.accounts import Principal
from hotline.errors import AuthError

log = logging.getLogger("jishibang.api")
_bearer = HTTPBearer(auto_error=False, description="A sign-in token (POST /v1/auth/login) or an API key.")

OPERATORS = ("operator", "staff", "admin")
STAFF = ("staff", "admin")
ADMIN = ("admin",)
ENTERPRISE = ("enterprise",)
ANY_SIGNED_IN = ("operator", "staff", "admin", "enterprise")
ROLE_ZH = {"operator": "接线员", "staff": "工作人员", "admin": "管理员", "enterprise": "平台企业"}  # shown to people


def _unauthorized(en: str, zh: str) -> ApiError:
    return ApiError(401, "unauthorized", en, zh, headers={"WWW-Authenticate": "Bearer"})


def principal_from(request: Request, token: str | None) -> Principal:
    if not token:
        raise _unauthorized("sign in first: send Authorization: Bearer <token or API key>",
                            "请先登录：请求须带 Authorization: Bearer <令牌或 API 密钥>")
    accounts = request.app.state.jishibang.accounts
    try:
        return accounts.resolve(token)
    except AuthError as exc:
        raise _unauthorized(str(exc), "登录无效或已过期，请重新登录") from None


def allow(*roles: str) -> Callable[..., Principal]:
    """A dependency that returns the caller when their role is one of ``roles``."""

    def dependency(request: Request,
                   credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> Principal:
        who = principal_from(request, credentials.credentials if credentials else None)
        if who.role not in roles:
            raise ApiError(403, "forbidden", f"role {who.role!r} may not do this (allowed: {', '.join(roles)})",
                           f"你的角色（{ROLE_ZH.get(who.role, who.role)}）无权进行此操作")
        request.state.principal = who
        return who

    dependency.__name__ = f"allow_{'_'.join(roles)}"
    dependency.roles = roles  # type: ignore[attr-defined]  # read by the access-matrix test and the docs
    return dependency


class RateLimiter:
    """A sliding window per client: at most ``limit`` calls in ``window`` seconds.

    In-process: with several API workers each keeps its own counts; set a Redis URL to share them."""

    def __init__(self, limit: int, window: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit, self.window, self.clock = limit, window, clock
        self._calls: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def check(self, key: str) -> float | None:
        """None when allowed (and counted); otherwise the seconds to wait."""
        now = self.clock()
        with self._lock:
            calls = self._calls.setdefault(key, deque())
            while calls and calls[0] <= now - self.window:
                calls.popleft()
            if len(calls) >= self.limit:
                return max(calls[0] + self.window - now, 0.001)
            calls.append(now)
            if len(self._calls) > 100_000:  # forget idle clients
                for k in [k for k, v in self._calls.items() if not v]:
                    del self._calls[k]
            return None


class RedisRateLimiter:
    """The same sliding window, kept in Redis so the limit holds across API workers and machines.

    One Lua script per call (atomic): drop calls older than the window, count, add this one if allowed."""

    _SCRIPT = """
    local key, now, window, limit = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
    redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
    local n = redis.call('ZCARD', key)
    if n >= limit then
        local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
        return tostring(tonumber(oldest[2]) + window - now)
    end
    redis.call('ZADD', key, now, ARGV[4])
    redis.call('PEXPIRE', key, math.ceil(window * 1000))
    return false
    """

    def __init__(self, url: str, name: str, limit: int, window: float = 60.0) -> None:
        import redis

        self.client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self.script = self.client.register_script(self._SCRIPT)
        self.prefix, self.limit, self.window = f"jishibang:rate:{name}:", limit, window

    def check(self, key: str) -> float | None:
        import secrets

        import redis

        now = time.time()
        try:
            wait = self.script(keys=[self.prefix + key], args=[now, self.window, self.limit, f"{now}:{secrets.token_hex(4)}"])
        except redis.RedisError as exc:
            # Fail open: a worker asking for help is not refused because the counter store is down.
            log.warning("rate limiter unavailable, allowing the call: %s", type(exc).__name__)
            return None
        return None if wait is None else max(float(wait), 0.001)


def make_limiter(redis_url: str | None, name: str, limit: int, window: float = 60.0) -> RateLimiter | RedisRateLimiter:
    return RedisRateLimiter(redis_url, name, limit, window) if redis_url else RateLimiter(limit, window)


def client_key(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def rate_limited(name: str) -> Callable[[Request], None]:
    def dependency(request: Request) -> None:
        limiter: RateLimiter = request.app.state.jishibang.limiters[name]
        wait = limiter.check(client_key(request))
        if wait is not None:
            seconds = math.ceil(wait)
            raise ApiError(429, "rate_limited", f"too many requests: try again in {seconds} s",
                           f"提问太频繁，请 {seconds} 秒后再试", headers={"Retry-After": str(seconds)})

    dependency.__name__ = f"rate_limit_{name}"
    dependency.roles = ("anonymous",)  # type: ignore[attr-defined]
    return dependency

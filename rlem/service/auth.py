"""Who is calling: the API key of `Authorization: Bearer <token>`, its namespace and its scope.

The namespace of a request comes from its path and is checked against the key; a key that does not
cover it gets the same 404 as a namespace that does not exist, so names do not leak. A key that
covers it without the scope gets 403. With auth off (`--no-auth`, loopback only) every caller is
an admin of every namespace.

A verified key is remembered for `--key-cache-s` (one second by default), so that an episode's
steps do not each read the database: a key revoked through this server is refused at once, one
revoked elsewhere (`rlem keys revoke`, another server) within that time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from memory_store.admin.keys import ALL, ApiKey, Scope, token_hash, verify_token
from rlem.service.errors import ApiError, not_found


@dataclass(frozen=True)
class Caller:
    """The caller of a request: its key, or None when auth is off."""

    key: ApiKey | None

    @property
    def actor(self) -> str:
        """What audit rows record for this caller's changes."""
        return self.key.actor if self.key is not None else "rlem serve --no-auth"

    @property
    def everything(self) -> bool:
        """Whether the caller's key covers every namespace."""
        return self.key is None or self.key.namespace == ALL

    def covers(self, namespace: str) -> bool:
        """Whether the caller may see `namespace` at all."""
        return self.key is None or self.key.covers(namespace)

    def need(self, scope: Scope, namespace: str | None = None) -> None:
        """404 unless the key covers `namespace` (None: every namespace), 403 unless it has `scope`."""
        if namespace is not None and not self.covers(namespace):
            raise not_found(f"no namespace {namespace!r}")
        if namespace is None and not self.everything:
            raise ApiError(403, "forbidden", "this needs a key for every namespace ('*')")
        if self.key is not None and not self.key.allows(scope):
            raise ApiError(
                403, "forbidden", f"this key's scope is {self.key.scope}: this needs a key with scope {scope}"
            )


def unauthorized(message: str) -> ApiError:
    """401 with the challenge clients expect."""
    return ApiError(401, "unauthorized", message, headers={"WWW-Authenticate": "Bearer"})


async def caller(request: Request) -> Caller:
    """The request's caller: its key from the cache, or looked up in the database (in the thread pool)."""
    service = request.app.state.service
    if not service.config.auth:
        return Caller(None)
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise unauthorized(
            "send an API key as `Authorization: Bearer <token>` (`rlem keys create` makes one)"
        )
    key = service.keys.get(token)
    if key is None:
        key = await run_in_threadpool(verify_token, service.db, token)
        if key is None:
            raise unauthorized("this API key is unknown or revoked: ask an admin for a valid one")
        service.keys.put(token, key)
    request.state.key_prefix = key.prefix
    service.limiter.take(key)
    return Caller(key)


@dataclass
class KeyCache:
    """Keys verified in the last `ttl_s` seconds, by their token's hash (0: every request reads the
    database). Holds at most `size` keys; the oldest go first."""

    ttl_s: float
    size: int = 10_000
    keys: dict[str, tuple[ApiKey, float]] = field(default_factory=dict)

    def get(self, token: str) -> ApiKey | None:
        """The key of `token` if it was verified within `ttl_s`."""
        found = self.keys.get(token_hash(token))
        if found is None or time.monotonic() - found[1] > self.ttl_s:
            return None
        return found[0]

    def put(self, token: str, key: ApiKey) -> None:
        """Remember that `token` is `key`, as of now."""
        if self.ttl_s <= 0:
            return
        self.keys.pop(hashed := token_hash(token), None)
        self.keys[hashed] = (key, time.monotonic())
        while len(self.keys) > self.size:
            del self.keys[next(iter(self.keys))]

    def forget(self, key_id: int) -> None:
        """Drop a key revoked through this server."""
        for hashed in [h for h, (key, _) in self.keys.items() if key.id == key_id]:
            del self.keys[hashed]


@dataclass
class RateLimiter:
    """A token bucket per key: `rate` requests a second, bursts of up to twice that; None is off."""

    rate: float | None
    buckets: dict[int, tuple[float, float]] = field(default_factory=dict)

    def take(self, key: ApiKey) -> None:
        """Spend one request of `key`'s allowance, or raise 429 saying when to retry (on the event loop,
        as `caller` is: no lock needed)."""
        if self.rate is None:
            return
        now, burst = time.monotonic(), 2 * self.rate
        tokens, last = self.buckets.get(key.id, (burst, now))
        tokens = min(burst, tokens + (now - last) * self.rate)
        if tokens < 1:
            wait = (1 - tokens) / self.rate
            self.buckets[key.id] = (tokens, now)
            raise ApiError(
                429,
                "rate_limited",
                f"over this key's {self.rate:g} requests/s: retry in {wait:.2f} s",
                headers={"Retry-After": str(max(1, round(wait)))},
            )
        self.buckets[key.id] = (tokens - 1, now)


def allowed(scope: Scope):
    """A dependency: the caller, who must have `scope` in the path's namespace."""

    async def check(namespace: str, who: Caller = Depends(caller)) -> Caller:
        who.need(scope, namespace)
        return who

    return check


def allowed_everywhere(scope: Scope):
    """A dependency: the caller, who must have `scope` over every namespace (backups, keys)."""

    async def check(who: Caller = Depends(caller)) -> Caller:
        who.need(scope)
        return who

    return check

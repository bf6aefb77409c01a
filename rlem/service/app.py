"""The FastAPI app of `rlem serve`: its routers, its errors, and what it holds while it runs.

    app = create_app(ServeConfig(agent=AgentConfig(db="sqlite:///memory.db", policy="memory-greedy")))

Routers per resource (rlem/service/routes/): episodes, memory, backups, keys, health. Every route
but the health checks needs an API key (rlem.service.auth).
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from memory_store.db.database import Database
from memory_store.store import open_database
from rlem import __version__
from rlem.config import ServeConfig
from rlem.service import errors
from rlem.service.auth import KeyCache, RateLimiter
from rlem.service.errors import body
from rlem.service.hub import Hub
from rlem.service.metrics import Metrics
from rlem.service.routes import backups, episodes, health, keys, memory

access = logging.getLogger("rlem.service.access")


@dataclass(kw_only=True)
class Service:
    """What the app holds while it runs: settings, the database (keys, memory views), the hub."""

    config: ServeConfig
    db: Database
    metrics: Metrics
    limiter: RateLimiter
    keys: KeyCache
    hub: Hub


def create_app(config: ServeConfig) -> FastAPI:
    """The service's app: opening it (its lifespan) loads the policy and opens the memory."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = open_database(config.db)
        metrics = Metrics()
        try:
            hub = await Hub.start(config, metrics)
        except BaseException:
            db.close()
            raise
        app.state.service = Service(
            config=config, db=db, metrics=metrics, limiter=RateLimiter(config.rate_limit),
            keys=KeyCache(config.key_cache_s), hub=hub,
        )  # fmt: skip
        try:
            yield
        finally:
            await hub.close()
            db.close()

    app = FastAPI(
        title="rlem serve",
        version=__version__,
        description="An LLM agent that learns through a shared experience memory (RLEM): episodes, "
        "the memory, backups and API keys.",
        lifespan=lifespan,
        responses=errors.RESPONSES,
    )
    errors.install(app)
    for module in (health, episodes, memory, backups, keys):
        app.include_router(module.router)
    app.add_middleware(Guard, max_body=config.max_body_bytes)
    return app


def route_of(scope: Scope) -> str:
    """The route template a request matched (`/v1/namespaces/{namespace}/...`), for metrics."""
    route = scope.get("route")
    return getattr(route, "path", None) or "unmatched"


class Guard:
    """Request ids, the body size limit (413), access logs without tokens, request metrics.

    Plain ASGI rather than BaseHTTPMiddleware, which would run handlers in another task and cancel
    them when a client hangs up.
    """

    def __init__(self, app: ASGIApp, *, max_body: int):
        self.app, self.max_body = app, max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = uuid.uuid4().hex[:16]
        scope.setdefault("state", {})["request_id"] = request_id
        started, status = time.perf_counter(), [500]
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body:
            await self.refuse(send, request_id)
            status[0] = 413
        else:
            seen = [0]

            async def limited() -> Message:
                message = await receive()
                if message["type"] == "http.request":
                    seen[0] += len(message.get("body", b""))
                    if seen[0] > self.max_body:
                        raise TooLarge()
                return message

            async def sending(message: Message) -> None:
                if message["type"] == "http.response.start":
                    status[0] = message["status"]
                    message.setdefault("headers", []).append((b"x-request-id", request_id.encode()))
                await send(message)

            try:
                await self.app(scope, limited, sending)
            except TooLarge:
                await self.refuse(send, request_id)
                status[0] = 413
        self.record(scope, status[0], time.perf_counter() - started, request_id)

    async def refuse(self, send: Send, request_id: str) -> None:
        """Answer 413 before reading more of the body."""
        payload = json.dumps(
            body("too_large", f"the request body is over the server's limit of {self.max_body:,} bytes")
        ).encode()
        await send({"type": "http.response.start", "status": 413, "headers": [
            (b"content-type", b"application/json"), (b"x-request-id", request_id.encode()),
        ]})  # fmt: skip
        await send({"type": "http.response.body", "body": payload})

    def record(self, scope: Scope, status: int, seconds: float, request_id: str) -> None:
        """One access log line (the key's prefix, never its token) and the request metrics."""
        route, method = route_of(scope), scope["method"]
        state = scope.get("state", {})
        access.info(
            "%s %s %s %d %.1f ms key=%s",
            request_id, method, scope["path"], status, seconds * 1000, state.get("key_prefix", "-"),
        )  # fmt: skip
        app = scope.get("app")
        service = getattr(getattr(app, "state", None), "service", None)
        if service is not None:
            service.metrics.requests.labels(method, route, str(status)).inc()
            service.metrics.latency.labels(method, route).observe(seconds)


class TooLarge(Exception):
    """A body went over the limit while it was being read."""

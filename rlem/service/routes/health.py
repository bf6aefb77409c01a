"""Health and metrics: `/healthz` (the process answers), `/readyz` (database reachable, policy
loaded), `/metrics` (Prometheus; a key for every namespace, as it names them all)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from rlem.service.auth import Caller, allowed_everywhere
from rlem.service.errors import ApiError

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(request: Request) -> dict:
    """The database answers and the policy is loaded (503 otherwise)."""
    service = request.app.state.service
    if not service.hub.ready:
        raise ApiError(503, "unavailable", "the policy is not loaded yet, or the server is stopping")
    service.db.ping()
    return {"status": "ready", "policy": service.hub.policy.name}


@router.get("/metrics")
def metrics(request: Request, who: Caller = Depends(allowed_everywhere("read"))) -> Response:
    """Prometheus metrics of this process."""
    registry = request.app.state.service.metrics.registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

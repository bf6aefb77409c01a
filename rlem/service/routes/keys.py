"""API keys over HTTP (the functions of `rlem keys`), for admin keys. A key of one namespace manages
keys of that namespace only; a key for all (`*`) manages any."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict, Field

from memory_store.admin.keys import ApiKey, Scope, create_key, list_keys, revoke_key
from memory_store.limits import MAX_INT
from rlem.service.auth import Caller, caller
from rlem.service.errors import not_found

router = APIRouter(tags=["keys"])


async def admin(who: Caller = Depends(caller)) -> Caller:
    """An admin key (of one namespace or all)."""
    if who.key is not None:
        who.need("admin", who.key.namespace if not who.everything else None)
    return who


def manages(who: Caller, key: ApiKey) -> bool:
    """Whether the caller may see and revoke `key`."""
    return who.everything or (who.key is not None and key.namespace == who.key.namespace)


@router.get("/v1/keys", response_model=list[ApiKey])
def keys(request: Request, revoked: bool = False, who: Caller = Depends(admin)) -> list[ApiKey]:
    """The keys this key manages (never their tokens)."""
    return [k for k in list_keys(request.app.state.service.db, revoked=revoked) if manages(who, k)]


class NewKey(BaseModel):
    """A key to make."""

    model_config = ConfigDict(extra="forbid")

    namespace: str = Field(min_length=1, max_length=200, description="A namespace, or '*' for all.")
    scope: Scope
    label: str = Field(default="", max_length=200)


class MadeKey(BaseModel):
    """A new key and its token, shown this once."""

    key: ApiKey
    token: str


@router.post("/v1/keys", response_model=MadeKey, status_code=201)
def create(body: NewKey, request: Request, who: Caller = Depends(admin)) -> MadeKey:
    """Make a key; a key of one namespace may make keys of that namespace only."""
    if not who.everything and who.key is not None and body.namespace != who.key.namespace:
        raise not_found(f"no namespace {body.namespace!r}")
    key, token = create_key(request.app.state.service.db, namespace=body.namespace, scope=body.scope,
                            label=body.label)  # fmt: skip
    return MadeKey(key=key, token=token)


@router.delete("/v1/keys/{key_id}", response_model=ApiKey)
def revoke(
    key_id: Annotated[int, PathParam(ge=1, le=MAX_INT)], request: Request, who: Caller = Depends(admin)
) -> ApiKey:
    """Revoke a key: this server refuses it from its next request, the others on the database within
    their key cache's time (`--key-cache-s`)."""
    service = request.app.state.service
    if not any(k.id == key_id and manages(who, k) for k in list_keys(service.db, revoked=True)):
        raise not_found(f"no API key with id {key_id}")
    revoked = revoke_key(service.db, key_id)
    service.keys.forget(key_id)
    return revoked

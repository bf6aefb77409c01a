"""The memory over HTTP: the operations of `rlem memory`, calling the same functions as the CLI.

Reading needs a `read` key of the namespace, changing it an `admin` one; every change commits with
an audit row naming the key. Routes are plain functions: FastAPI runs them on its thread pool,
on the service's database (never the agent thread's stores).
"""

from __future__ import annotations

import shutil
import tempfile
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from memory_store import ExperienceStore, StoreConfig, default_embedder
from memory_store.admin.audit import AuditRecord, audit_log
from memory_store.admin.editing import delete_namespaces, delete_state, open_for_editing, prune, set_q
from memory_store.admin.inspection import (
    NamespaceStats,
    NamespaceSummary,
    Page,
    StateDetail,
    list_states,
    namespace_stats,
    namespace_summaries,
    show_state,
)
from memory_store.db.database import Database
from memory_store.db.namespaces import get_namespace, list_namespaces
from memory_store.formats.transfer import export_memory, read_memory_file, write_states
from memory_store.limits import MAX_INT
from memory_store.names import second_table
from rlem.agent.lookup import Lookup, look_up
from rlem.cli.memory_inspect import parse_since
from rlem.service.auth import Caller, allowed, caller
from rlem.service.errors import not_found

router = APIRouter(tags=["memory"])
# The most states one search returns.
MAX_K = 100
StateId = Annotated[int, PathParam(ge=1, le=MAX_INT, description="A state's id.")]


class Format(StrEnum):
    """Memory file formats."""

    json = "json"
    rememberer_yaml = "rememberer-yaml"


def database(request: Request) -> Database:
    """The service's database."""
    return request.app.state.service.db


def owned_state(db: Database, namespace: str, state_id: int) -> StateDetail:
    """A state of `namespace`; one of another namespace is 404 exactly as a missing one."""
    detail = show_state(db, state_id)
    if detail.namespace != namespace:
        raise not_found(f"no state with id {state_id} in namespace {namespace!r}")
    return detail


@router.get("/v1/namespaces", response_model=list[NamespaceSummary])
def namespaces(request: Request, who: Caller = Depends(caller)) -> list[NamespaceSummary]:
    """The namespaces this key covers: states, actions, embedding model, sizes, last update."""
    return [s for s in namespace_summaries(database(request)) if who.covers(s.name)]


@router.get("/v1/namespaces/{namespace}", response_model=NamespaceStats)
def stats(
    namespace: str,
    request: Request,
    top: Annotated[int, Query(ge=1, le=1000)] = 10,
    who: Caller = Depends(allowed("read")),
) -> NamespaceStats:
    """Counts, the Q distribution, the most visited states, states whose best action is not positive."""
    return namespace_stats(database(request), namespace, top)


class StatePage(BaseModel):
    """A page of states, with the limit applied (clamped to the server's maximum page)."""

    page: Page
    limit_applied: int


@router.get("/v1/namespaces/{namespace}/states", response_model=StatePage)
def states(
    namespace: str,
    request: Request,
    task: Annotated[str | None, Query(max_length=1000)] = None,
    min_visits: Annotated[int | None, Query(ge=0, le=MAX_INT)] = None,
    since: Annotated[str | None, Query(max_length=64, description="ISO date or date-time, UTC")] = None,
    offset: Annotated[int, Query(ge=0, le=MAX_INT)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_INT)] = 20,
    who: Caller = Depends(allowed("read")),
) -> StatePage:
    """States by id, filtered as `rlem memory ls` filters them, a page at a time."""
    applied = min(limit, request.app.state.service.config.max_page)
    page = list_states(database(request), namespace, task=task, min_visits=min_visits,
                       since=parse_since(since), offset=offset, limit=applied)  # fmt: skip
    return StatePage(page=page, limit_applied=applied)


@router.get("/v1/namespaces/{namespace}/states/{state_id}", response_model=StateDetail)
def state(
    namespace: str,
    state_id: StateId,
    request: Request,
    who: Caller = Depends(allowed("read")),
) -> StateDetail:
    """One state with all its actions: Q, visits, rewards, reasons."""
    return owned_state(database(request), namespace, state_id)


class SearchRequest(BaseModel):
    """An observation (and task) to retrieve for."""

    model_config = ConfigDict(extra="forbid")

    observation: str
    task: str = ""
    k: int = Field(default=5, ge=1, le=MAX_K)


@router.post("/v1/namespaces/{namespace}/search", response_model=Lookup)
def search(
    namespace: str, body: SearchRequest, request: Request, who: Caller = Depends(allowed("read"))
) -> Lookup:
    """What the agent would retrieve here (its own retrieval code), with similarities."""
    return look_up(database(request), namespace, body.task, body.observation, body.k, default_embedder())


@router.get("/v1/namespaces/{namespace}/audit", response_model=list[AuditRecord])
def audit(
    namespace: str,
    request: Request,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 50,
    who: Caller = Depends(allowed("read")),
) -> list[AuditRecord]:
    """The namespace's audit log, newest first: what was changed by hand, by whom, old and new values."""
    get_namespace(database(request), namespace)
    return audit_log(database(request), namespace, limit)


class QEdit(BaseModel):
    """A new Q value."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    q: float


class QEdited(BaseModel):
    """An edited Q value."""

    state_id: int
    action: str
    old_q: float
    q: float


@router.patch("/v1/namespaces/{namespace}/states/{state_id}/actions/{action:path}", response_model=QEdited)
def edit_q(
    namespace: str,
    state_id: StateId,
    action: str,
    body: QEdit,
    request: Request,
    who: Caller = Depends(allowed("admin")),
) -> QEdited:
    """Set Q of one action of one state; nothing else changes."""
    db = database(request)
    owned_state(db, namespace, state_id)
    with open_for_editing(db, get_namespace(db, namespace)) as store:
        old = set_q(store, state_id, action, body.q, actor=who.actor)
    return QEdited(state_id=state_id, action=action, old_q=old, q=body.q)


class Deleted(BaseModel):
    """How many states a change deleted, and how many are left."""

    deleted: int
    left: int


@router.delete("/v1/namespaces/{namespace}/states/{state_id}", response_model=Deleted)
def delete_one(
    namespace: str, state_id: StateId, request: Request, who: Caller = Depends(allowed("admin"))
) -> Deleted:
    """Delete one state and its actions."""
    db = database(request)
    owned_state(db, namespace, state_id)
    with open_for_editing(db, get_namespace(db, namespace)) as store:
        delete_state(store, state_id, actor=who.actor)
        return Deleted(deleted=1, left=len(store))


class PruneRequest(BaseModel):
    """Which states to delete: visited fewer times, and/or not updated for so many days."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    min_visits: int | None = Field(default=None, ge=1, le=MAX_INT)
    older_than_days: float | None = Field(default=None, ge=0, le=365_000)


@router.post("/v1/namespaces/{namespace}/prune", response_model=Deleted)
def prune_states(
    namespace: str, body: PruneRequest, request: Request, who: Caller = Depends(allowed("admin"))
) -> Deleted:
    """Delete rarely visited and/or stale states (a state must meet every condition given)."""
    db = database(request)
    older = timedelta(days=body.older_than_days) if body.older_than_days is not None else None
    with open_for_editing(db, get_namespace(db, namespace)) as store:
        gone = prune(store, min_visits=body.min_visits, older_than=older, actor=who.actor)
        return Deleted(deleted=len(gone), left=len(store))


@router.delete("/v1/namespaces/{namespace}", response_model=list[str])
def delete_namespace(namespace: str, request: Request, who: Caller = Depends(allowed("admin"))) -> list[str]:
    """Delete the namespace with everything in it (and its second Q table); returns the names deleted."""
    db = database(request)
    get_namespace(db, namespace)
    names = [namespace] + [n.name for n in list_namespaces(db) if n.name == second_table(namespace)]
    return [gone.name for gone in delete_namespaces(db, names, actor=who.actor)]


@router.get("/v1/namespaces/{namespace}/export", response_class=FileResponse)
def export(
    namespace: str, request: Request, format: Format = Format.json, who: Caller = Depends(allowed("read"))
) -> FileResponse:
    """The namespace as a memory file (JSON, or the REMEMBERER paper's YAML), streamed."""
    db = database(request)
    config = StoreConfig(url=db.url.render_as_string(hide_password=False), namespace=namespace,
                         persist_index=False)  # fmt: skip
    folder = Path(tempfile.mkdtemp(prefix="rlem-export-"))
    path = folder / f"export.{'yaml' if format is Format.rememberer_yaml else 'json'}"
    try:
        with ExperienceStore.open(config, create=False) as store:
            export_memory(store, path, format.value)
    except BaseException:
        remove(folder)
        raise
    return FileResponse(
        path, filename=f"{namespace}.{path.suffix[1:]}", background=BackgroundTask(remove, folder)
    )


class Imported(BaseModel):
    """What an import wrote."""

    imported: int
    states: int


@router.post("/v1/namespaces/{namespace}/import", response_model=Imported)
async def import_file(
    namespace: str,
    request: Request,
    format: Format = Format.json,
    replace: bool = False,
    who: Caller = Depends(allowed("admin")),
) -> Imported:
    """Read the body as a memory file and check all of it, then write it in one transaction (or
    nothing)."""
    folder = Path(tempfile.mkdtemp(prefix="rlem-import-"))
    try:
        path = folder / "memory-file"
        with path.open("wb") as handle:
            async for chunk in request.stream():
                handle.write(chunk)
        return await run_in_threadpool(
            write_import, database(request), namespace, path, format, replace=replace, actor=who.actor
        )
    finally:
        remove(folder)


def write_import(
    db: Database, namespace: str, path: Path, format: Format, *, replace: bool, actor: str
) -> Imported:
    """The import's checks and its one transaction (on the thread pool)."""
    config = StoreConfig(url=db.url.render_as_string(hide_password=False), namespace=namespace)
    snapshots = read_memory_file(path, format.value, config.limits)
    with ExperienceStore.open(config) as store:
        count = write_states(store, snapshots, replace=replace, actor=actor)
        return Imported(imported=count, states=len(store))


def remove(folder: Path) -> None:
    """Remove a temporary folder."""
    shutil.rmtree(folder, ignore_errors=True)

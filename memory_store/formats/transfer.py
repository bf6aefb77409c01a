"""Export and import of a namespace in the supported file formats."""

from __future__ import annotations

import errno
from collections.abc import Callable, Sequence
from pathlib import Path

from memory_store.admin import audit
from memory_store.errors import InvalidArgument, InvalidFile, os_reason
from memory_store.formats import json_format, rememberer
from memory_store.limits import Limits, check_snapshot
from memory_store.records import ExperienceRecord, StateSnapshot
from memory_store.store import ExperienceStore
from memory_store.transaction import StoreTransaction

Dump = Callable[[list[ExperienceRecord], str, str, Path], None]
Load = Callable[[Path], list[StateSnapshot]]

FORMATS: dict[str, tuple[Dump, Load]] = {
    "json": (json_format.dump, json_format.load),
    "rememberer-yaml": (rememberer.dump, rememberer.load),
}


def codec(fmt: str) -> tuple[Dump, Load]:
    """The writer and reader of a format, or a clear error naming the known ones."""
    if fmt not in FORMATS:
        raise InvalidArgument(f"unknown memory format {fmt!r}: choose one of {', '.join(FORMATS)}")
    return FORMATS[fmt]


def export_memory(store: ExperienceStore, path: Path, fmt: str) -> int:
    """Write the namespace to `path` (atomically); return the number of states."""
    dump, _ = codec(fmt)
    records = store.records()
    try:
        dump(records, store.namespace.name, store.namespace.embedding_model, path)
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):  # a full disk has its own message
            raise
        raise InvalidArgument(f"cannot write {path}: {os_reason(exc)}") from None
    return len(records)


def read_memory_file(path: Path, fmt: str, limits: Limits | None = None) -> list[StateSnapshot]:
    """Read and validate a whole memory file, every state within `limits` (nothing is written)."""
    _, load = codec(fmt)
    snapshots = load(path)
    for position, snapshot in enumerate(snapshots):
        try:
            check_snapshot(snapshot, limits or Limits())
        except InvalidArgument as exc:
            raise InvalidFile(f"{path}: state {position}: {exc}") from None
    return snapshots


def import_memory(
    store: ExperienceStore, path: Path, fmt: str, *, replace: bool = False, actor: str | None = None
) -> int:
    """Read and validate the whole file, then write every state in one transaction; return how many."""
    return write_states(store, read_memory_file(path, fmt, store.config.limits), replace=replace, actor=actor)


def write_states(
    store: ExperienceStore,
    snapshots: Sequence[StateSnapshot],
    *,
    replace: bool = False,
    actor: str | None = None,
) -> int:
    """Write states (as `read_memory_file` gives them) in one transaction with an audit row naming
    `actor`; return how many."""
    ready = store.embedded(snapshots)

    def work(tx: StoreTransaction) -> int:
        count = tx.put(ready, replace)
        audit.record(tx.session, "import", store.namespace.name, "states", None,
                     {"states": count, "replace": replace}, actor=actor)  # fmt: skip
        return count

    return store.transaction(work)

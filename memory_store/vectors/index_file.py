"""Persisting a namespace's FAISS index beside the database, so a restart need not rebuild it.

The file is a cache. Its JSON sidecar records the index's checksum and the namespace generation
whose vectors it holds (`Namespace.generation`, replaced in every transaction that changes them):
only an index saved at the database's current generation is used. A missing, unreadable, corrupt,
stale or mismatched file is reported and ignored, and the caller rebuilds from the embeddings in
the database; one that cannot be written is skipped with a warning.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from memory_store.db.database import Database
from memory_store.errors import StoreError
from memory_store.files import write_atomically
from memory_store.vectors.index import INDEX_KINDS, IndexKind, VectorIndex

log = logging.getLogger(__name__)

FORMAT = "rlem-faiss-index"
VERSION = 2


def default_index_dir(url_text: str, sqlite_path: str | None) -> Path:
    """Beside a SQLite file (`memory.db.faiss/`), else a per-database folder in the user's cache."""
    if sqlite_path:
        return Path(sqlite_path + ".faiss")
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "rlem" / "indexes" / hashlib.sha256(url_text.encode()).hexdigest()[:16]


def database_index_dir(db: Database) -> Path:
    """The default index folder of an open database (see default_index_dir)."""
    return default_index_dir(db.display_url, db.url.database if db.dialect == "sqlite" else None)


def namespace_index_files(directory: Path, namespace_id: int) -> list[Path]:
    """The persisted index files of a namespace in `directory`, of every kind, sidecars included."""
    found = []
    for kind in INDEX_KINDS:
        index_file = IndexFile(directory, namespace_id, kind)
        found += [path for path in (index_file.path, index_file.meta_path) if path.exists()]
    return found


@dataclass(frozen=True)
class IndexFile:
    """Where one namespace's index lives: `<dir>/ns-<id>-<kind>.faiss` plus a `.json` sidecar."""

    directory: Path
    namespace_id: int
    kind: IndexKind

    @property
    def path(self) -> Path:
        """The serialised FAISS index."""
        return self.directory / f"ns-{self.namespace_id}-{self.kind}.faiss"

    @property
    def meta_path(self) -> Path:
        """The JSON sidecar."""
        return self.path.with_suffix(".json")

    def save(self, index: VectorIndex, embedding_model: str, generation: str) -> None:
        """Write the index and its sidecar, bound to the namespace generation the index holds.

        The index goes first: a crash between leaves a checksum mismatch. A folder that cannot be
        written is skipped with a warning (the next open rebuilds from the database).
        """
        data = index.to_bytes()
        meta = {
            "format": FORMAT,
            "version": VERSION,
            "kind": self.kind,
            "dim": index.dim,
            "embedding_model": embedding_model,
            "generation": generation,
            "count": len(index),
            "sha256": hashlib.sha256(data).hexdigest(),
        }
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            write_atomically(self.path, data)
            write_atomically(self.meta_path, json.dumps(meta, indent=1).encode())
        except OSError as exc:
            log.warning("could not save the index to %s (%s); the next open rebuilds it", self.path, exc)

    def load(self, dim: int, embedding_model: str, generation: str, **options) -> VectorIndex | None:
        """The saved index if it holds exactly this generation's vectors, else None (reason logged)."""
        if not self.path.exists() and not self.meta_path.exists():
            return None
        try:
            meta = json.loads(self.meta_path.read_text())
            data = self.path.read_bytes()
            problem = self.mismatch(meta, data, dim, embedding_model, generation)
            if problem is None:
                index = VectorIndex.from_bytes(data, dim, self.kind, **options)
                if len(index) != meta["count"]:
                    problem = f"holds {len(index)} vectors, sidecar says {meta['count']}"
        except (OSError, ValueError, KeyError, RuntimeError, StoreError) as exc:
            problem = f"unreadable ({exc})"
        if problem is not None:
            log.warning("ignoring index file %s: %s; rebuilding from the database", self.path, problem)
            return None
        return index

    def mismatch(
        self, meta: object, data: bytes, dim: int, embedding_model: str, generation: str
    ) -> str | None:
        """Why a sidecar and index file do not fit this namespace's content, or None if they do."""
        if not isinstance(meta, dict) or meta.get("format") != FORMAT or meta.get("version") != VERSION:
            return "unknown format"
        if meta.get("kind") != self.kind or meta.get("dim") != dim:
            return f"built as {meta.get('kind')} of dimension {meta.get('dim')}"
        if meta.get("embedding_model") != embedding_model:
            return f"built with embedding model {meta.get('embedding_model')!r}"
        if not generation or meta.get("generation") != generation:
            return "built from other contents (another database, or states changed since it was saved)"
        if hashlib.sha256(data).hexdigest() != meta.get("sha256"):
            return "checksum mismatch (corrupt or partly written)"
        return None

"""The experience store: one namespace of memory, read through FAISS and written through SQL."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session, selectinload

from memory_store.averaging import Averaging
from memory_store.config import Capacity, StoreConfig
from memory_store.database import Database, parse_url
from memory_store.embedder import Embedder, default_embedder, state_text
from memory_store.errors import InvalidArgument
from memory_store.eviction import NearestPairs
from memory_store.index import VectorIndex, check_vectors, normalized
from memory_store.index_file import IndexFile, default_index_dir
from memory_store.models import ActionValue, Eviction, Experience, Namespace, state_hash
from memory_store.namespaces import NamespaceInfo, open_namespace, set_capacity
from memory_store.records import ExperienceRecord, Outcome, Retrieved, Update
from memory_store.schema import ensure_current
from memory_store.sync import SyncPoint, counters, decode, full_sync, sync
from memory_store.writes import apply_updates

log = logging.getLogger(__name__)

# Extra candidates fetched beyond k so that ties at the cut are broken by id, not by FAISS order.
TIE_MARGIN = 8


def open_database(url: str, *, busy_timeout_s: float = 30.0, create: bool = True) -> Database:
    """Check the URL, connect, and make sure the schema is current (creating it in an empty database)."""
    db = Database(parse_url(url), busy_timeout_s=busy_timeout_s)
    try:
        db.ping()
        ensure_current(db, create=create)
    except BaseException:
        db.close()
        raise
    return db


class ExperienceStore:
    """A namespace of experiences: exact-key updates, similarity retrieval, capacity, persistence.

    Open it with `ExperienceStore.open(StoreConfig(...))`; close it (or use `with`) to save the index.
    """

    def __init__(self, db: Database, namespace: NamespaceInfo, embedder: Embedder, config: StoreConfig):
        self.db = db
        self.namespace = namespace
        self.embedder = embedder
        self.config = config
        self.index_file = self.locate_index_file()
        self.index = self.load_index()
        self.point: SyncPoint | None = None
        self.pairs: NearestPairs | None = None
        self.pairs_point: SyncPoint | None = None
        with db.read() as session:
            inserted, deleted = counters(session, namespace.id)
            self.point = full_sync(session, namespace.id, self.dim, self.index, inserted, deleted)

    @classmethod
    def open(
        cls, config: StoreConfig | None = None, *, embedder: Embedder | None = None, create: bool = True
    ) -> ExperienceStore:
        """Open (and, if `create`, make) the configured namespace with this embedder (default MiniLM)."""
        config = config or StoreConfig()
        db = open_database(config.url, busy_timeout_s=config.busy_timeout_s, create=create)
        try:
            embedder = embedder or default_embedder()
            namespace = open_namespace(
                db, config.namespace, embedder.model_name, embedder.dim, config.capacity, create=create
            )
            return cls(db, namespace, embedder, config)
        except BaseException:
            db.close()
            raise

    @property
    def dim(self) -> int:
        """The namespace's embedding dimension."""
        return self.namespace.embedding_dim

    def locate_index_file(self) -> IndexFile | None:
        """Where this namespace's index is persisted, or None when persistence is off."""
        if not self.config.persist_index:
            return None
        sqlite_path = self.db.url.database if self.db.dialect == "sqlite" else None
        directory = self.config.index_dir or default_index_dir(self.db.display_url, sqlite_path)
        return IndexFile(Path(directory), self.namespace.id, self.config.index_kind)

    def index_options(self) -> dict:
        """Keyword options for building this store's VectorIndex."""
        return {
            "hnsw_m": self.config.hnsw_m,
            "ef_search": self.config.ef_search,
            "use_gpu": self.config.use_gpu,
        }

    def load_index(self) -> VectorIndex:
        """The persisted index if it is usable, else an empty one (filled by the first sync)."""
        if self.index_file is not None:
            loaded = self.index_file.load(
                self.dim, self.namespace.embedding_model, self.namespace.stamp, **self.index_options()
            )
            if loaded is not None:
                return loaded
        return VectorIndex(self.dim, self.config.index_kind, **self.index_options())

    # Reading

    def __len__(self) -> int:
        """How many states the namespace holds."""
        with self.db.read() as session:
            inserted, deleted = counters(session, self.namespace.id)
        return inserted - deleted

    def get(self, task: str, observation: str) -> ExperienceRecord | None:
        """The stored state with exactly this task and observation, if any."""
        with self.db.read() as session:
            row = session.scalars(
                select(Experience)
                .where(
                    Experience.namespace_id == self.namespace.id,
                    Experience.state_hash == state_hash(task, observation),
                )
                .options(selectinload(Experience.actions))
            ).one_or_none()
            return ExperienceRecord.of(row) if row else None

    def top_k(self, task: str, observation: str, k: int = 8) -> list[Retrieved]:
        """The k stored states most similar to (task, observation), most similar first, ties by id."""
        return self.nearest(self.embed(task, observation), k)

    def nearest(self, vector: np.ndarray, k: int = 8) -> list[Retrieved]:
        """The k stored states most similar to a query vector; similarity recomputed from the database."""
        if k <= 0:
            raise InvalidArgument(f"k must be positive, got {k}")
        query = normalized(check_vectors(np.asarray(vector).reshape(1, -1), self.dim))
        with self.db.read() as session:
            self.refresh(session)
            _, ids = self.index.search(query, k + TIE_MARGIN)
            wanted = [int(i) for i in ids[0] if i >= 0]
            rows = session.scalars(
                select(Experience).where(Experience.id.in_(wanted)).options(selectinload(Experience.actions))
            ).all()
            if len(rows) < len(wanted):
                self.point = None  # the index held states the database no longer has
            exact = np.asarray(query[0], np.float64)
            found = [
                Retrieved(float(exact @ decode(row.embedding, self.dim, row.id)), ExperienceRecord.of(row))
                for row in rows
            ]
        found.sort(key=lambda r: (-r.similarity, r.experience.id))
        return found[:k]

    def refresh(self, session: Session) -> None:
        """Bring the FAISS index in step with the database (cheap when nothing changed)."""
        self.point = sync(session, self.namespace.id, self.dim, self.index, self.point)

    def evictions(self) -> list[dict]:
        """The eviction log of this namespace, oldest first."""
        with self.db.read() as session:
            rows = session.scalars(
                select(Eviction).where(Eviction.namespace_id == self.namespace.id).order_by(Eviction.id)
            )
            return [
                {
                    "kind": r.kind,
                    "policy": r.policy,
                    "task": r.task,
                    "observation": r.observation,
                    "action": r.action,
                    "details": r.details,
                    "created_at": r.created_at,
                }
                for r in rows
            ]

    # Writing

    def embed(self, task: str, observation: str) -> np.ndarray:
        """The embedding of one state's text."""
        return self.embedder.embed([state_text(task, observation)])[0]

    def apply(
        self, updates: Sequence[Update], *, mode: Averaging = Averaging.MEAN, lr: float = 0.1
    ) -> list[Outcome]:
        """Apply updates in order, all in one transaction; new states are embedded first, in a batch."""
        if not updates:
            return []
        mode = Averaging(mode)
        if not 0 < lr <= 1:
            raise InvalidArgument(f"learning rate must be in (0, 1], got {lr}")
        vectors = self.embed_missing(updates)
        attempts = 0

        def work(session: Session) -> list[Outcome]:
            nonlocal attempts
            attempts += 1
            if attempts > 1:
                self.pairs_point = None  # a failed attempt may have synced uncommitted rows
            return apply_updates(
                session,
                self.namespace.id,
                updates,
                vectors,
                lambda item: self.vectors_for([item])[state_hash(item.task, item.observation)],
                self.synced_pairs,
                mode,
                lr,
            )

        try:
            return self.db.write(work)
        except BaseException:
            self.pairs_point = None
            raise

    def embed_missing(self, updates: Sequence[Update]) -> dict[str, np.ndarray]:
        """Vectors, by state hash, of the distinct states in `updates` the database does not hold yet."""
        keys = {state_hash(u.task, u.observation): u for u in updates}
        with self.db.read() as session:
            stored = set(
                session.scalars(
                    select(Experience.state_hash).where(
                        Experience.namespace_id == self.namespace.id, Experience.state_hash.in_(list(keys))
                    )
                )
            )
        return self.vectors_for([update for key, update in keys.items() if key not in stored])

    def vectors_for(self, updates: Sequence[Update]) -> dict[str, np.ndarray]:
        """Unit vectors by state hash: given embeddings checked, the rest embedded in one batch."""
        keys = {state_hash(u.task, u.observation): u for u in updates}
        given = [key for key, u in keys.items() if u.embedding is not None]
        vectors: dict[str, np.ndarray] = {}
        if given:
            batch = np.vstack(
                [check_vectors(np.reshape(keys[key].embedding, (1, -1)), self.dim) for key in given]
            )
            vectors.update(zip(given, normalized(batch), strict=True))
        todo = [key for key in keys if key not in vectors]
        if todo:
            texts = [state_text(keys[key].task, keys[key].observation) for key in todo]
            embedded = normalized(check_vectors(self.embedder.embed(texts), self.dim))
            vectors.update(zip(todo, embedded, strict=True))
        return vectors

    def synced_pairs(self, session: Session) -> NearestPairs:
        """The nearest-pairs structure of the paper's eviction policy, synced inside `session`."""
        if self.pairs is None or self.pairs_point is None:
            self.pairs = NearestPairs(self.dim)
        self.pairs_point = sync(session, self.namespace.id, self.dim, self.pairs, self.pairs_point)
        return self.pairs

    def delete(self, state_ids: Sequence[int]) -> int:
        """Delete states of this namespace by id (their actions go with them); return how many."""

        def work(session: Session) -> int:
            session.get_one(Namespace, self.namespace.id, with_for_update=True)
            ids = list(
                session.scalars(
                    select(Experience.id).where(
                        Experience.namespace_id == self.namespace.id, Experience.id.in_(list(state_ids))
                    )
                )
            )
            if ids:
                session.execute(delete(ActionValue).where(ActionValue.experience_id.in_(ids)))
                session.execute(delete(Experience).where(Experience.id.in_(ids)))
                session.execute(
                    update(Namespace)
                    .where(Namespace.id == self.namespace.id)
                    .values(states_deleted=Namespace.states_deleted + len(ids))
                )
            return len(ids)

        return self.db.write(work)

    def set_capacity(self, capacity: Capacity) -> None:
        """Change this namespace's limits for future insertions."""
        self.namespace = set_capacity(self.db, self.namespace.id, capacity)

    def action_count(self) -> int:
        """How many (state, action) values the namespace holds."""
        with self.db.read() as session:
            return int(
                session.scalar(
                    select(func.count(ActionValue.id))
                    .join(Experience)
                    .where(Experience.namespace_id == self.namespace.id)
                )
                or 0
            )

    # Lifecycle

    def save_index(self) -> None:
        """Persist the index beside the database (if persistence is on)."""
        if self.index_file is not None:
            with self.db.read() as session:
                self.refresh(session)
            self.index_file.save(self.index, self.namespace.embedding_model, self.namespace.stamp)

    def close(self) -> None:
        """Save the index and release database connections."""
        try:
            self.save_index()
        finally:
            self.db.close()

    def __enter__(self) -> ExperienceStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

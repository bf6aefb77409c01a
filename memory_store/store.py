"""The experience store: one namespace of memory, read through FAISS and written through SQL."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace as replace_field
from pathlib import Path
from typing import TypeVar

import numpy as np
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from memory_store.averaging import Averaging
from memory_store.config import DEFAULT_URL, Capacity, StoreConfig
from memory_store.db.database import Database, parse_url
from memory_store.db.models import observation_hash, state_hash
from memory_store.db.namespaces import NamespaceInfo, open_namespace, set_capacity
from memory_store.db.schema import ensure_current
from memory_store.limits import check_snapshot, check_unicode, check_update
from memory_store.record_cache import Cached, RecordCache
from memory_store.records import EvictionRecord, ExperienceRecord, Outcome, Retrieved, StateSnapshot, Update
from memory_store.transaction import StoreTransaction, bootstrap_value, check_rule
from memory_store.vectors.embedder import Embedder, default_embedder, state_text
from memory_store.vectors.eviction import NearestPairs
from memory_store.vectors.index import VectorIndex, check_vectors, normalized
from memory_store.vectors.index_file import IndexFile, database_index_dir
from memory_store.vectors.sync import (
    CHANGE_SLOTS,
    COUNTERS,
    Counters,
    Recorder,
    SyncPoint,
    VectorMirror,
    counters,
    decode,
    full_sync,
    sync,
)

log = logging.getLogger(__name__)

T = TypeVar("T")
# Extra candidates fetched beyond k so that ties at the cut are broken by id, not by FAISS order.
TIE_MARGIN = 8
# Most state hashes a store remembers as stored (then it starts over).
STORED_KEYS = 100_000


def open_database(url: str, *, busy_timeout_s: float = 30.0, create: bool = True) -> Database:
    """Check the URL, connect, and make sure the schema is current (creating it in an empty database)."""
    if url == DEFAULT_URL:
        # The embedded default lives in ./rlem-data, made on first use.
        Path(make_url(url).database).parent.mkdir(parents=True, exist_ok=True)
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

    def __init__(
        self,
        db: Database,
        namespace: NamespaceInfo,
        embedder: Embedder,
        config: StoreConfig,
        *,
        owns_db: bool = True,
    ):
        self.db = db
        self.owns_db = owns_db
        self.namespace = namespace
        self.embedder = embedder
        self.config = config
        self.index_file = self.locate_index_file()
        self.pairs: NearestPairs | None = None
        self.pairs_point: SyncPoint | None = None
        # Hashes of states this store has seen stored: updates to them need no embedding, so `apply`
        # skips the read that looks for new states. One deleted since is embedded inside the write.
        self.stored_keys: set[str] = set()
        self.cached = RecordCache()
        # This store's slot for counting its writes (NamespaceChange): writers rarely share one.
        self.slot = secrets.randbelow(CHANGE_SLOTS)
        self.index, self.point = db.read_call(self.first_sync)

    def first_sync(self, session: Session) -> tuple[VectorIndex, SyncPoint | None]:
        """The index loaded (or built) to what `session` sees, and the point it reflects."""
        now = counters(session, self.namespace.id)
        index = self.load_index(now.generation)
        return index, full_sync(session, self.namespace.id, self.dim, index, now)

    @classmethod
    def open(
        cls,
        config: StoreConfig | None = None,
        *,
        embedder: Embedder | None = None,
        create: bool = True,
        internal: bool = False,
    ) -> ExperienceStore:
        """Open (and, if `create`, make) the configured namespace with this embedder (default MiniLM).

        `internal` lets rlem create one of its own `~` namespaces (`memory_store.names`)."""
        config = config or StoreConfig()
        db = open_database(config.url, busy_timeout_s=config.busy_timeout_s, create=create)
        try:
            embedder = embedder or default_embedder()
            namespace = open_namespace(
                db,
                config.namespace,
                embedder.model_name,
                embedder.dim,
                config.capacity,
                create=create,
                retrieval_text=config.retrieval_text,
                internal=internal,
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
        directory = self.config.index_dir or database_index_dir(self.db)
        return IndexFile(Path(directory), self.namespace.id, self.config.index_kind)

    def index_options(self) -> dict:
        """Keyword options for building this store's VectorIndex."""
        return {
            "hnsw_m": self.config.hnsw_m,
            "ef_search": self.config.ef_search,
            "use_gpu": self.config.use_gpu,
        }

    def load_index(self, generation: str) -> VectorIndex:
        """The persisted index if it holds this generation's vectors, else an empty one to fill."""
        if self.index_file is not None:
            loaded = self.index_file.load(
                self.dim, self.namespace.embedding_model, generation, **self.index_options()
            )
            if loaded is not None:
                return loaded
        return VectorIndex(self.dim, self.config.index_kind, **self.index_options())

    # Derived structures: the index and the eviction pairs mirror the database, and only the store
    # assigns them and the sync points they reflect (transactions call these methods).

    def synced(
        self,
        session: Session,
        mirror: VectorMirror,
        point: SyncPoint | None,
        added: list[np.ndarray] | None,
    ) -> SyncPoint:
        """Sync a mirror with what `session` sees; the ids it gains are appended to `added` if given."""
        target = mirror if added is None else Recorder(mirror, added)
        return sync(session, self.namespace.id, self.dim, target, point)

    def refresh_index(self, session: Session, added: list[np.ndarray] | None = None) -> SyncPoint:
        """Bring the FAISS index in step with what `session` sees; return the point it now reflects."""
        self.point = self.synced(session, self.index, self.point, added)
        return self.point

    def synced_pairs(self, session: Session, added: list[np.ndarray] | None = None) -> NearestPairs:
        """The paper policy's nearest-pairs structure (made on first use), in step with `session`."""
        if self.pairs is None or self.pairs_point is None:
            self.pairs = NearestPairs(self.dim)
        self.pairs_point = self.synced(session, self.pairs, self.pairs_point, added)
        return self.pairs

    def index_outdated(self) -> None:
        """Make the next refresh compare every id (the index held states the database no longer has)."""
        self.point = None

    def undo_additions(self, index_added: list[np.ndarray], pairs_added: list[np.ndarray]) -> None:
        """Take out of the index and the pairs the ids a failed transaction added (emptying both logs);
        the next use of either compares every id with the database."""
        for added, mirror in ((index_added, self.index), (pairs_added, self.pairs)):
            if added and mirror is not None:
                mirror.remove(np.concatenate(added))
            added.clear()
        self.point = None
        self.pairs_point = None

    # Transactions

    def transaction(self, work: Callable[[StoreTransaction], T]) -> T:
        """Run `work` in one write transaction (retried as a whole on lock conflicts and lost
        connections) and commit it."""
        return self.attempted(work, writing=True)

    def read(self, work: Callable[[StoreTransaction], T]) -> T:
        """Run `work` on a read-only view of the namespace (run again if the connection is lost)."""
        return self.attempted(work, writing=False)

    def attempted(self, work: Callable[[StoreTransaction], T], *, writing: bool) -> T:
        """Run `work` in a transaction the database may run again; what a failed attempt put in the
        in-memory index is taken out before the next."""
        attempt: list[StoreTransaction] = []

        def run(session: Session) -> T:
            attempt[:] = [StoreTransaction(self, session, writing=writing)]
            result = work(attempt[0])
            if writing:
                attempt[0].count_write()
            return result

        undo = lambda: attempt[0].undo() if attempt else None  # noqa: E731
        result = (self.db.write if writing else self.db.read_call)(run, on_failure=undo)
        if writing:
            attempt[0].committed()
        return result

    # Shortcuts: each is one transaction

    def __bool__(self) -> bool:
        """An open store is true even when empty (`if store:` must not mean `if len(store):`)."""
        return True

    def __len__(self) -> int:
        """How many states the namespace holds."""
        return self.read(len)

    def get(self, task: str, observation: str) -> ExperienceRecord | None:
        """The stored state with exactly this task and observation, if any."""
        return self.read(lambda tx: tx.get(task, observation))

    def top_k(self, task: str, observation: str, k: int = 8) -> list[Retrieved]:
        """The k stored states most similar to (task, observation), most similar first, ties by id."""
        return self.nearest(self.embed(task, observation), k)

    def nearest(self, vector: np.ndarray, k: int = 8) -> list[Retrieved]:
        """The k stored states most similar to a query vector."""
        return self.nearest_cached(vector, k) or self.read(lambda tx: tx.nearest(vector, k))

    def peek_counters(self) -> Counters | None:
        """The namespace's counters, read by one statement outside any transaction (None if that failed)."""
        row = self.db.peek(COUNTERS, {"id": self.namespace.id})
        return Counters.of(row) if row is not None else None

    def nearest_cached(self, vector: np.ndarray, k: int) -> list[Retrieved] | None:
        """`nearest` from the index and the cached rows alone, after one statement that finds the
        namespace unchanged since they were read; None when it changed or a row is not cached."""
        if k <= 0 or self.point is None:
            return None
        now = self.peek_counters()
        if now is None or now.generation != self.point.counters.generation:
            return None
        query = self.query_vector(vector)
        held, missing = self.cached.lookup(now.changes, self.candidates(query, k))
        return None if missing else self.ranked(query, held.values(), k)

    def query_vector(self, vector: np.ndarray) -> np.ndarray:
        """A query vector as one normalized float32 row, checked against the namespace's dimension."""
        return normalized(check_vectors(np.asarray(vector).reshape(1, -1), self.dim))

    def candidates(self, query: np.ndarray, k: int) -> list[int]:
        """The ids the index finds nearest: k and some more, so that ties at the cut go by id."""
        # No more than the index holds: search pads its answer to the k asked (-k 10^30 would not fit).
        _, ids = self.index.search(query, min(k, len(self.index)) + TIE_MARGIN)
        return [int(i) for i in ids[0] if i >= 0]

    def ranked(self, query: np.ndarray, held: Iterable[Cached], k: int) -> list[Retrieved]:
        """The k most similar of `held`, similarity recomputed from the stored embeddings, ties by id."""
        exact = np.asarray(query[0], np.float64)
        found = [Retrieved(float(exact @ decode(e.embedding, self.dim, e.record.id)), e.record) for e in held]
        found.sort(key=lambda r: (-r.similarity, r.experience.id))
        return found[:k]

    def situation_key(self, task: str, observation: str) -> str:
        """What names a situation to this namespace's retrieval (see StoreTransaction.same_situation)."""
        if self.namespace.retrieval_text == "observation":
            return "observation:" + observation_hash(observation)
        return "state:" + state_hash(task, observation)

    def same_situation(self, task: str, observation: str) -> list[ExperienceRecord]:
        """The stored states that read as (task, observation) (see StoreTransaction.same_situation);
        from the cache alone when the namespace is unchanged since they were read."""
        now = self.peek_counters()
        if now is not None:
            found = self.cached.situation(now.changes, self.situation_key(task, observation))
            if found is not None:
                return found
        return self.read(lambda tx: tx.same_situation(task, observation))

    def max_q(self, task: str, observation: str, floor: float | None = None) -> float:
        """The bootstrap value max_a Q(s, a) of a state (see StoreTransaction.max_q)."""
        return bootstrap_value(
            self.same_situation(task, observation), lambda: self.top_k(task, observation, k=1), floor
        )

    def evictions(self) -> list[EvictionRecord]:
        """The eviction log of this namespace, oldest first."""
        return self.read(lambda tx: tx.evictions())

    def records(self) -> list[ExperienceRecord]:
        """Every state of the namespace with its actions, oldest first."""
        return self.read(lambda tx: tx.records())

    def action_count(self) -> int:
        """How many (state, action) values the namespace holds."""
        return self.read(lambda tx: tx.action_count())

    def embed(self, task: str, observation: str) -> np.ndarray:
        """The embedding of one state's text (a query's, say: no stored state need have it)."""
        return self.embed_many([(task, observation)])[0]

    def embed_many(self, states: Sequence[tuple[str, str]]) -> np.ndarray:
        """The embeddings of several (task, observation) texts, in one batch of the embedder."""
        for task, observation in states:
            check_unicode(task, "task")
            check_unicode(observation, "observation")
        retrieval = self.namespace.retrieval_text
        return self.embedder.embed([state_text(task, observation, retrieval) for task, observation in states])

    def vectors_for(self, items: Sequence[Update | StateSnapshot]) -> dict[str, np.ndarray]:
        """Unit vectors by state hash: given embeddings checked, the rest embedded in one batch."""
        keys = {state_hash(u.task, u.observation): u for u in items}
        given = [key for key, u in keys.items() if u.embedding is not None]
        vectors: dict[str, np.ndarray] = {}
        if given:
            rows = [check_vectors(np.reshape(keys[key].embedding, (1, -1)), self.dim) for key in given]
            vectors.update(zip(given, normalized(np.vstack(rows)), strict=True))
        todo = [key for key in keys if key not in vectors]
        if todo:
            texts = [
                state_text(keys[key].task, keys[key].observation, self.namespace.retrieval_text)
                for key in todo
            ]
            embedded = normalized(check_vectors(self.embedder.embed(texts), self.dim))
            vectors.update(zip(todo, embedded, strict=True))
        return vectors

    def apply(
        self, updates: Sequence[Update], *, mode: Averaging = Averaging.MEAN, lr: float = 0.1
    ) -> list[Outcome]:
        """Apply updates in order, in one transaction; new states are embedded first, outside the lock."""
        if not updates:
            return []
        check_rule(mode, lr)
        for item in updates:
            check_update(item, self.config.limits)
        keys = [state_hash(item.task, item.observation) for item in updates]
        known = self.stored_keys.issuperset(keys)
        vectors = {} if known else self.vectors_for(self.read(lambda tx: tx.new_states(updates)))
        return self.transaction(lambda tx: tx.apply(updates, mode, lr, vectors))

    def remember_stored(self, keys: Iterable[str]) -> None:
        """Note state hashes a committed transaction stored (`stored_keys`)."""
        if len(self.stored_keys) > STORED_KEYS:
            self.stored_keys.clear()
        self.stored_keys.update(keys)

    def delete(self, state_ids: Sequence[int]) -> int:
        """Delete states of this namespace by id (their actions go with them); return how many."""
        self.stored_keys.clear()
        return self.transaction(lambda tx: tx.delete(state_ids))

    def put(self, snapshots: Sequence[StateSnapshot], *, replace: bool = False) -> int:
        """Write whole states in one transaction (see StoreTransaction.put); nothing on any error.

        Texts are embedded before the transaction starts, so writers are not held up meanwhile.
        """
        ready = self.embedded(snapshots)
        return self.transaction(lambda tx: tx.put(ready, replace))

    def embedded(self, snapshots: Sequence[StateSnapshot]) -> list[StateSnapshot]:
        """The states checked against the limits, each with its embedding (for StoreTransaction.put)."""
        for snapshot in snapshots:
            check_snapshot(snapshot, self.config.limits)
        vectors = self.vectors_for(snapshots)
        return [replace_field(s, embedding=vectors[state_hash(s.task, s.observation)]) for s in snapshots]

    def open_sibling(self, namespace: str, *, internal: bool = False) -> ExperienceStore:
        """Another namespace of the same database and connection pool, created if missing."""
        info = open_namespace(
            self.db,
            namespace,
            self.embedder.model_name,
            self.embedder.dim,
            self.config.capacity,
            retrieval_text=self.namespace.retrieval_text,
            internal=internal,
        )
        config = self.config.model_copy(update={"namespace": namespace})
        return ExperienceStore(self.db, info, self.embedder, config, owns_db=False)

    def set_capacity(self, capacity: Capacity) -> None:
        """Change this namespace's limits for future insertions."""
        self.namespace = set_capacity(self.db, self.namespace.id, capacity)

    # Lifecycle

    def save_index(self) -> None:
        """Persist the index beside the database (if persistence is on)."""
        if self.index_file is not None:
            point = self.read(StoreTransaction.refresh_index)
            self.index_file.save(self.index, self.namespace.embedding_model, point.counters.generation)

    def close(self, *, save_index: bool = True) -> None:
        """Save the index (if `save_index`) and release database connections."""
        try:
            if save_index:
                self.save_index()
        finally:
            if self.owns_db:
                self.db.close()

    def __enter__(self) -> ExperienceStore:
        return self

    def __exit__(self, kind: type[BaseException] | None, *exc) -> None:
        self.close(save_index=succeeded(kind))


def succeeded(kind: type[BaseException] | None) -> bool:
    """Whether a block ended well enough to save the index: normally or by Ctrl-C, not by an error
    (whose one line should stand alone, and whose cause, a full disk say, would fail the save too)."""
    return kind is None or issubclass(kind, KeyboardInterrupt)

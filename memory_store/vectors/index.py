"""The FAISS index over state embeddings: cosine similarity as inner product of unit vectors.

A thin wrapper in faiss's own style: shapes and dtypes are checked at the boundary, the search
itself is one FAISS call. `flat` is exact; `hnsw` is approximate and much faster on large stores.
HNSW cannot delete, so removed ids are masked out of results until a rebuild compacts them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

import faiss
import numpy as np

from memory_store.errors import InvalidArgument, InvalidVector

log = logging.getLogger(__name__)

IndexKind = Literal["flat", "hnsw"]
INDEX_KINDS: tuple[IndexKind, ...] = ("flat", "hnsw")
# Batches of fewer queries than this search on one thread (see threads_for).
SMALL_BATCH = 16
# Rebuild an HNSW index once this share of its entries are masked deletions.
HNSW_COMPACT_FRACTION = 0.2


def check_vectors(vectors: np.ndarray, dim: int) -> np.ndarray:
    """Validate a (n, dim) batch of finite vectors and return it as C-contiguous float32."""
    array = np.asarray(vectors)
    if array.ndim != 2 or array.shape[1] != dim:
        raise InvalidVector(f"expected vectors of shape (n, {dim}), got shape {array.shape}")
    if not np.issubdtype(array.dtype, np.floating):
        raise InvalidVector(f"expected floating-point vectors, got dtype {array.dtype}")
    array = np.ascontiguousarray(array, dtype=np.float32)
    if not np.isfinite(array).all():
        raise InvalidVector("vectors contain NaN or infinite values")
    return array


def check_ids(ids: np.ndarray, n: int) -> np.ndarray:
    """Validate n non-negative integer ids and return them as int64."""
    array = np.asarray(ids)
    if array.shape != (n,) or not np.issubdtype(array.dtype, np.integer):
        raise InvalidVector(f"expected {n} integer ids, got shape {array.shape} dtype {array.dtype}")
    if n and array.min() < 0:
        raise InvalidVector("ids must be non-negative")
    return np.ascontiguousarray(array, dtype=np.int64)


def normalized(vectors: np.ndarray) -> np.ndarray:
    """A unit-length copy of each row (zero rows stay zero)."""
    out = vectors.copy()
    faiss.normalize_L2(out)
    return out


class VectorIndex:
    """An id-addressed FAISS index of unit vectors, flat or HNSW, on the GPU when FAISS has one."""

    def __init__(
        self,
        dim: int,
        kind: IndexKind = "flat",
        *,
        hnsw_m: int = 32,
        ef_search: int = 128,
        use_gpu: bool | None = None,
    ):
        if kind not in INDEX_KINDS:
            raise InvalidArgument(f"unknown index kind {kind!r}: choose one of {', '.join(INDEX_KINDS)}")
        if dim <= 0:
            raise InvalidArgument(f"index dimension must be positive, got {dim}")
        self.dim = dim
        self.kind: IndexKind = kind
        self.hnsw_m = hnsw_m
        self.ef_search = ef_search
        # FAISS has no GPU HNSW; only the flat index moves to the GPU.
        self.use_gpu = (faiss.get_num_gpus() > 0 if use_gpu is None else use_gpu) and kind == "flat"
        self.index = self.empty()
        self.masked: set[int] = set()
        self.gpu_copy: faiss.Index | None = None
        self.gpu_resources: faiss.StandardGpuResources | None = None

    def empty(self) -> faiss.IndexIDMap2:
        """A new, empty id-mapped index of this kind."""
        if self.kind == "flat":
            inner = faiss.IndexFlatIP(self.dim)
        else:
            inner = faiss.IndexHNSWFlat(self.dim, self.hnsw_m, faiss.METRIC_INNER_PRODUCT)
            inner.hnsw.efSearch = self.ef_search
        return faiss.IndexIDMap2(inner)

    def __len__(self) -> int:
        """The number of live (not removed) vectors."""
        return self.index.ntotal - len(self.masked)

    def ids(self) -> np.ndarray:
        """The live ids, sorted."""
        stored = faiss.vector_to_array(self.index.id_map).astype(np.int64)
        if self.masked:
            stored = stored[~np.isin(stored, np.fromiter(self.masked, np.int64))]
        return np.sort(stored)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add vectors under ids; they are normalised to unit length."""
        vectors = normalized(check_vectors(vectors, self.dim))
        ids = check_ids(ids, len(vectors))
        if self.masked:
            self.masked.difference_update(ids.tolist())
        self.index.add_with_ids(vectors, ids)
        self.gpu_copy = None

    def remove(self, ids: np.ndarray) -> None:
        """Remove ids; unknown ids are ignored."""
        ids = check_ids(ids, len(np.asarray(ids)))
        if not len(ids):
            return
        if self.kind == "flat":
            self.index.remove_ids(faiss.IDSelectorBatch(ids))
        else:
            self.masked.update(ids.tolist())
            if len(self.masked) > HNSW_COMPACT_FRACTION * max(self.index.ntotal, 1):
                self.compact()
        self.gpu_copy = None

    def compact(self) -> None:
        """Rebuild the HNSW graph without its masked entries."""
        live = self.ids()
        vectors = self.vectors(live)
        self.index = self.empty()
        self.masked.clear()
        if len(live):
            self.index.add_with_ids(vectors, live)
        log.debug("compacted %s index to %d vectors", self.kind, len(live))

    def vectors(self, ids: np.ndarray) -> np.ndarray:
        """The stored vectors of ids, as an (n, dim) array."""
        ids = check_ids(ids, len(np.asarray(ids)))
        out = np.empty((len(ids), self.dim), dtype=np.float32)
        for row, identifier in enumerate(ids.tolist()):
            out[row] = self.index.reconstruct(identifier)
        return out

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The k most similar live vectors per query: (similarities, ids), both (m, k), id -1 if none."""
        queries = normalized(check_vectors(queries, self.dim))
        if k <= 0:
            raise InvalidArgument(f"k must be positive, got {k}")
        fetch = min(k + len(self.masked), self.index.ntotal)
        if fetch == 0:
            return pad(np.zeros((len(queries), 0), np.float32), np.zeros((len(queries), 0), np.int64), k)
        with threads_for(len(queries)):
            sims, ids = self.searcher().search(queries, fetch)
        if self.masked:
            sims, ids = self.drop_masked(sims, ids)
        return pad(sims, ids, k)

    def searcher(self) -> faiss.Index:
        """The index searches run on: a GPU copy of the flat index when a GPU is in use."""
        if not self.use_gpu:
            return self.index
        if self.gpu_copy is None:
            # The resources must outlive every GPU index made with them.
            self.gpu_resources = self.gpu_resources or faiss.StandardGpuResources()
            self.gpu_copy = faiss.index_cpu_to_gpu(self.gpu_resources, 0, self.index)
        return self.gpu_copy

    def drop_masked(self, sims: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Shift masked ids out of each result row, keeping order."""
        keep = ~np.isin(ids, np.fromiter(self.masked, np.int64))
        out_sims = np.full_like(sims, -np.inf)
        out_ids = np.full_like(ids, -1)
        for row in range(len(ids)):
            kept = keep[row]
            count = int(kept.sum())
            out_sims[row, :count] = sims[row, kept]
            out_ids[row, :count] = ids[row, kept]
        return out_sims, out_ids

    def to_bytes(self) -> bytes:
        """Serialise the index (masked entries are compacted away first)."""
        if self.masked:
            self.compact()
        return faiss.serialize_index(self.index).tobytes()

    @classmethod
    def from_bytes(cls, data: bytes, dim: int, kind: IndexKind, **options) -> VectorIndex:
        """Load a serialised index, checking that it is an id-mapped index of this dimension and kind."""
        index = cls(dim, kind, **options)
        # deserialize_index already returns the concrete class; downcasting it again would hand
        # ownership to a second proxy and free the index under the first.
        loaded = faiss.deserialize_index(np.frombuffer(data, dtype=np.uint8))
        inner = faiss.downcast_index(loaded.index) if isinstance(loaded, faiss.IndexIDMap2) else None
        expected = faiss.IndexFlatIP if kind == "flat" else faiss.IndexHNSWFlat
        if inner is None or not isinstance(inner, expected) or loaded.d != dim:
            raise InvalidVector(f"stored index is not a {kind} index of dimension {dim}")
        if kind == "hnsw":
            inner.hnsw.efSearch = index.ef_search
        index.index = loaded
        return index


@contextmanager
def threads_for(batch: int) -> Iterator[None]:
    """Run small batches on one OpenMP thread: for a single query, waking threads costs more than it
    saves, and much more when the cores are busy (measured in bench/: 0.02 ms against 7.9 ms)."""
    if batch >= SMALL_BATCH:
        yield
        return
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


def pad(sims: np.ndarray, ids: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Cut or pad result columns to exactly k (padding: similarity -inf, id -1)."""
    m, have = ids.shape
    if have >= k:
        return sims[:, :k], ids[:, :k]
    out_sims = np.full((m, k), -np.inf, dtype=np.float32)
    out_ids = np.full((m, k), -1, dtype=np.int64)
    out_sims[:, :have] = sims
    out_ids[:, :have] = ids
    return out_sims, out_ids

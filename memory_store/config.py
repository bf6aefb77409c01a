"""Settings of an experience store, validated at the edge with pydantic."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from memory_store.limits import Limits
from memory_store.names import check_name
from memory_store.vectors.embedder import RetrievalText
from memory_store.vectors.eviction import EvictionPolicy
from memory_store.vectors.index import IndexKind

DEFAULT_URL = "sqlite:///rlem-data/memory.db"


class Capacity(BaseModel):
    """Limits a namespace is created with; None means unlimited."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_states: int | None = Field(default=None, ge=1)
    max_actions: int | None = Field(default=None, ge=1)
    eviction_policy: EvictionPolicy = "paper"


class StoreConfig(BaseModel):
    """Where the memory lives and how it is indexed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str = DEFAULT_URL
    namespace: Annotated[str, AfterValidator(check_name)] = "default"
    index_kind: IndexKind = "flat"
    hnsw_m: int = Field(default=32, ge=4)
    ef_search: int = Field(default=128, ge=1)
    use_gpu: bool | None = None
    persist_index: bool = True
    index_dir: Path | None = None
    capacity: Capacity = Capacity()
    # None: whatever the namespace was built with; a new namespace embeds task and observation.
    retrieval_text: RetrievalText | None = None
    busy_timeout_s: float = Field(default=30.0, gt=0)
    limits: Limits = Limits()

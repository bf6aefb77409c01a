"""The experience memory of RLEM: SQL storage, a derived FAISS index, embeddings, capacity.

from memory_store import ExperienceStore, StoreConfig, Update
with ExperienceStore.open(StoreConfig(url="sqlite:///memory.db")) as store:
    store.apply([Update(task, observation, action, target=1.0, reward=1.0)])
    store.top_k(task, observation, k=4)
"""

from memory_store.averaging import Averaging
from memory_store.config import Capacity, StoreConfig
from memory_store.errors import StoreError
from memory_store.records import ActionRecord, ExperienceRecord, Outcome, Retrieved, Update, pooled
from memory_store.store import ExperienceStore, open_database
from memory_store.vectors.embedder import Embedder, SentenceTransformerEmbedder, default_embedder, state_text

__all__ = [
    "ActionRecord",
    "Averaging",
    "Capacity",
    "Embedder",
    "ExperienceRecord",
    "ExperienceStore",
    "Outcome",
    "Retrieved",
    "SentenceTransformerEmbedder",
    "StoreConfig",
    "StoreError",
    "Update",
    "default_embedder",
    "open_database",
    "pooled",
    "state_text",
]

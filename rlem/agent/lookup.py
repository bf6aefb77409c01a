"""What the agent would retrieve for an observation: the states its own retrieval code returns from
a namespace (merged with the second Q table under double Q), for `rlem memory search` and the
service's search route."""

from __future__ import annotations

from dataclasses import dataclass

from memory_store import Embedder, ExperienceStore, Retrieved, StoreConfig
from memory_store.db.database import Database
from memory_store.db.namespaces import list_namespaces, open_namespace
from memory_store.names import second_table
from rlem.learning.double_q import retrieve


@dataclass(frozen=True)
class Lookup:
    """The hits of one search, most similar first, and the second Q table merged in, if any."""

    namespace: str
    merged_with: str | None
    hits: list[Retrieved]


def reading_store(db: Database, namespace: str, embedder: Embedder) -> ExperienceStore:
    """A store on an existing namespace of an open database (`db` stays the caller's), embedding
    with `embedder`, which must be the namespace's model; its index is not saved."""
    info = open_namespace(db, namespace, embedder.model_name, embedder.dim, create=False)
    config = StoreConfig(url=db.url.render_as_string(hide_password=False), namespace=namespace,
                         persist_index=False)  # fmt: skip
    return ExperienceStore(db, info, embedder, config, owns_db=False)


def look_up(db: Database, namespace: str, task: str, observation: str, k: int, embedder: Embedder) -> Lookup:
    """The k states the agent would retrieve for (task, observation) in an existing namespace."""
    double = second_table(namespace) in {n.name for n in list_namespaces(db)}
    with reading_store(db, namespace, embedder) as store:
        if not double:
            return Lookup(namespace, None, retrieve(store, None, task, observation, k))
        with reading_store(db, second_table(namespace), embedder) as second:
            return Lookup(namespace, second.namespace.name, retrieve(store, second, task, observation, k))

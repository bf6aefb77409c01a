"""The memory an agent opens: its namespace (`rlem`), a file's fixed exemplars (`static`) or none
(`off`); and the hook that logs its ended training episodes."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

from memory_store import ExperienceStore, StoreConfig
from memory_store.formats.transfer import read_memory_file
from memory_store.names import static_name
from rlem.config import AgentConfig
from rlem.errors import RlemError
from rlem.learning.trajectory import append_episode

if TYPE_CHECKING:  # sessions open memories through this module
    from rlem.agent.sessions import EndHook, EpisodeResult


def open_memory(config: AgentConfig) -> ExperienceStore | None:
    """The agent's memory: its namespace, the fixed exemplars of `static`, or none (`off`)."""
    if config.memory == "off":
        return None
    retrieval_text = config.retrieval_text or "task+observation"
    if config.memory == "rlem":
        return ExperienceStore.open(
            StoreConfig(url=config.db, namespace=config.namespace, retrieval_text=retrieval_text)
        )
    if config.static is None:
        raise RlemError("--memory static takes its exemplars from --static FILE")
    # One namespace per file content: the same file is imported once, a changed one anew.
    digest = hashlib.sha256(config.static.read_bytes()).hexdigest()[:12]
    store = ExperienceStore.open(
        StoreConfig(url=config.db, namespace=static_name(config.namespace, digest, retrieval_text),
                    retrieval_text=retrieval_text),
        internal=True,
    )  # fmt: skip
    if len(store) == 0:
        store.put(read_memory_file(config.static, config.static_format))
    return store


def trajectory_writer(path: Path) -> EndHook:
    """A hook appending each ended training episode to the trajectory log at `path`."""

    def write(result: EpisodeResult, size: int | None) -> None:
        if result.training:
            append_episode(path, result.log)

    return write

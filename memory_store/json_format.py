"""The rlem JSON memory document: one namespace's states and action values, readable and diffable."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from memory_store.errors import InvalidFile, first_problem
from memory_store.files import write_atomically
from memory_store.records import ActionRecord, ExperienceRecord, StateSnapshot

Strict = ConfigDict(extra="forbid", allow_inf_nan=False)


class ActionDoc(BaseModel):
    """One action value."""

    model_config = Strict

    action: str
    reason: str = ""
    q: float
    reward: float = 0.0
    visits: int = Field(default=0, ge=0)


class ExperienceDoc(BaseModel):
    """One state and its actions."""

    model_config = Strict

    task: str
    observation: str
    available_actions: list[str] = []
    extra: str = ""
    visits: int = Field(default=0, ge=0)
    last_reward: float = 0.0
    total_reward: float = 0.0
    action_history: list[str] = []
    actions: list[ActionDoc] = []


class MemoryDoc(BaseModel):
    """`{"format": "rlem-memory", "version": 1, "namespace", "embedding_model", "experiences"}`."""

    model_config = Strict

    format: Literal["rlem-memory"]
    version: Literal[1]
    namespace: str
    embedding_model: str
    experiences: list[ExperienceDoc]


def dump(records: list[ExperienceRecord], namespace: str, embedding_model: str, path: Path) -> None:
    """Write the records as one JSON document (atomically)."""
    doc = MemoryDoc(
        format="rlem-memory",
        version=1,
        namespace=namespace,
        embedding_model=embedding_model,
        experiences=[
            ExperienceDoc(
                task=r.task,
                observation=r.observation,
                available_actions=list(r.available_actions),
                extra=r.extra,
                visits=r.visits,
                last_reward=r.last_reward,
                total_reward=r.total_reward,
                action_history=list(r.action_history),
                actions=[ActionDoc(**vars(a)) for a in r.actions],
            )
            for r in records
        ],
    )
    write_atomically(path, (json.dumps(doc.model_dump(), indent=1, ensure_ascii=False) + "\n").encode())


def load(path: Path) -> list[StateSnapshot]:
    """Read and fully validate a JSON memory document."""
    try:
        doc = MemoryDoc.model_validate_json(path.read_bytes())
    except OSError as exc:
        raise InvalidFile(f"cannot read {path}: {exc.strerror}") from None
    except ValidationError as exc:
        raise InvalidFile(f"{path} is not an rlem JSON memory: {first_problem(exc)}") from None
    return [
        StateSnapshot(
            task=e.task,
            observation=e.observation,
            available_actions=tuple(e.available_actions),
            extra=e.extra,
            visits=e.visits,
            last_reward=e.last_reward,
            total_reward=e.total_reward,
            action_history=tuple(e.action_history),
            actions=tuple(ActionRecord(a.action, a.reason, a.q, a.reward, a.visits) for a in e.actions),
        )
        for e in doc.experiences
    ]

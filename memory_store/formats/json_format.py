"""The rlem JSON memory document: one namespace's states and action values, readable and diffable."""

from __future__ import annotations

import json
from dataclasses import asdict
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
    experiences = [ExperienceDoc.model_validate(fields(StateSnapshot.of(r))) for r in records]
    doc = MemoryDoc(
        format="rlem-memory",
        version=1,
        namespace=namespace,
        embedding_model=embedding_model,
        experiences=experiences,
    )
    write_atomically(path, (json.dumps(doc.model_dump(), indent=1, ensure_ascii=False) + "\n").encode())


def fields(snapshot: StateSnapshot) -> dict:
    """A snapshot's fields as plain data, its embedding left out (documents are re-embedded on import)."""
    data = asdict(snapshot)
    del data["embedding"]
    return data


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
            **e.model_dump(exclude={"available_actions", "action_history", "actions"}),
            available_actions=tuple(e.available_actions),
            action_history=tuple(e.action_history),
            actions=tuple(ActionRecord(**a.model_dump()) for a in e.actions),
        )
        for e in doc.experiences
    ]

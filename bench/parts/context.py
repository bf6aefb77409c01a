"""What the parts of `rlem bench` share: the run's `Context`, ratios, and JSON files."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from memory_store import default_embedder
from memory_store.vectors.embedder import Embedder

# The PostgreSQL server the writes part creates and drops its own database on, unless told another.
DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


@dataclass
class Context:
    """What the parts share: the mode, where results go, the PostgreSQL server, a scratch folder,
    the command line that started the run."""

    quick: bool
    out: Path
    pg_url: str
    workdir: Path
    command: str
    loaded: Embedder | None = None

    @property
    def mode(self) -> str:
        """`quick` or `full`."""
        return "quick" if self.quick else "full"

    def embedder(self) -> Embedder:
        """The default embedder, loaded on first use and shared by the parts."""
        if self.loaded is None:
            self.loaded = default_embedder()
        return self.loaded


def ratio(a: float | None, b: float | None) -> float | None:
    """a / b to two places, or None when either is missing."""
    return None if a is None or not b else round(a / b, 2)


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Pretty JSON with a final newline."""
    path.write_text(json.dumps(data, indent=1) + "\n")

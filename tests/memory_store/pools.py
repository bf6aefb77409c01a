"""The paper's published memory pools (../shared/data/rememberer-pools, or RLEM_SHARED_DATA)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

POOLS = (
    Path(os.environ.get("RLEM_SHARED_DATA", Path(__file__).parents[3] / "shared" / "data"))
    / "rememberer-pools"
)


def pool(name: str) -> Path:
    path = POOLS / name
    if not path.exists():
        pytest.skip(f"{path} not found: the paper's pools live in ../shared/data (or set RLEM_SHARED_DATA)")
    return path

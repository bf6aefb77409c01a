"""`rlem demo` run as a user runs it: as a subprocess, reading exit codes and output."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli import rlem


@pytest.mark.slow
def test_demo_round_trip_on_the_default_sqlite_file(tmp_path: Path):
    result = rlem("demo", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "memory demo in sqlite:///rlem-data/memory.db: 4 states, 7 action values" in result.stdout
    assert "You stand in cell 3" in result.stdout
    assert (tmp_path / "rlem-data" / "memory.db.faiss" / "ns-1-flat.faiss").exists()

"""Fixtures of the environment tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def textworld_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private folder for the TextWorld games a test generates."""
    monkeypatch.setenv("RLEM_TEXTWORLD_CACHE", str(tmp_path / "games"))
    return tmp_path / "games"

"""Shared fixtures: a fresh database per test on SQLite and on PostgreSQL, the real embedder, and a
package of environment factories outside the project.

PostgreSQL tests use RLEM_TEST_PG_URL (default: postgres on 127.0.0.1:5432). When that server does
not answer they skip, saying how to enable them; with RLEM_REQUIRE_POSTGRES=1 (as in CI) they fail
(tests/postgres.py). Tests marked `requires(package)` skip without that optional package, or fail
where CI is set (tests/envs/availability.py).

Fixtures live here and in the conftest.py files beside the tests; helpers that tests share are plain
modules (tests/cli.py, tests/rlem/runs.py, tests/memory_store/filling.py, ...): no test module
imports another.
"""

from __future__ import annotations

import os
import shutil
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from memory_store.vectors.embedder import SentenceTransformerEmbedder, default_embedder
from tests.dense_model import build_dense_model
from tests.envs.availability import check
from tests.envs.plugins import Plugins
from tests.postgres import create_pg_database, drop_pg_database, require_postgres


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Tests marked `requires(package)` skip where the package cannot run, or fail where CI is set
    (tests/envs/availability.py); this runs before their fixtures, which would need the package."""
    for mark in item.iter_markers("requires"):
        for package in mark.args:
            check(package)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL of a fresh, empty database: a SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'memory.db'}"
        return
    require_postgres()
    url = create_pg_database()
    try:
        yield url
    finally:
        drop_pg_database(url)


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database (skipped, saying why, without a server)."""
    require_postgres()
    url = create_pg_database()
    yield url
    drop_pg_database(url)


@pytest.fixture(scope="session")
def embedder() -> SentenceTransformerEmbedder:
    """The packaged all-MiniLM-L6-v2, loaded once for the whole run."""
    return default_embedder()


@pytest.fixture
def index_dir(tmp_path: Path) -> Path:
    """A private folder for persisted FAISS indexes."""
    return tmp_path / "indexes"


@pytest.fixture(scope="session", autouse=True)
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Converted models (rlem.policies.backends.gguf) go to this session's own folder, never the user's cache;
    commands the tests start inherit it."""
    folder = tmp_path_factory.mktemp("models")
    os.environ["RLEM_MODEL_CACHE"] = str(folder)
    return folder


@pytest.fixture(scope="session")
def dense(tmp_path_factory: pytest.TempPathFactory) -> SentenceTransformerEmbedder:
    """The second model, built once for the whole run."""
    return SentenceTransformerEmbedder(
        build_dense_model(tmp_path_factory.mktemp("dense") / "minilm-dense-128")
    )


@pytest.fixture
def plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Plugins]:
    """A fresh package of environment factories (its own name per test), on sys.path while it runs."""
    tag = uuid.uuid4().hex[:8]
    root = tmp_path / "plugins"
    package = root / f"rlem_plugins_{tag}"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    shutil.copy(Path(__file__).parent / "envs" / "plugin_factories.py", package / "factories.py")
    (package / "needs_missing.py").write_text("import a_dependency_nobody_installed\n")
    monkeypatch.syspath_prepend(str(root))
    yield Plugins(root, package.name, f"rlem-test-plugins-{tag}")
    for name in [m for m in sys.modules if m.split(".")[0] == package.name]:
        del sys.modules[name]

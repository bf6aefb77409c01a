"""Shared fixtures: a fresh database per test on SQLite and on PostgreSQL, the real embedder, and a
package of environment factories outside the project.

PostgreSQL tests use RLEM_TEST_PG_URL (default: postgres on 127.0.0.1:5432). When that server does
not answer they skip, saying how to enable them; with RLEM_REQUIRE_POSTGRES=1 (as in CI) they fail.
"""

from __future__ import annotations

import importlib
import os
import shutil
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from memory_store.vectors.embedder import SentenceTransformerEmbedder, default_embedder, packaged_model_path

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
PG_URL = os.environ.get("RLEM_TEST_PG_URL", DEFAULT_PG_URL)
REQUIRE_PG = os.environ.get("RLEM_REQUIRE_POSTGRES") == "1"


def admin_connection():
    """An autocommit psycopg connection to the test server's maintenance database."""
    import psycopg

    url = make_url(PG_URL)
    return psycopg.connect(
        host=url.host,
        port=url.port or 5432,
        user=url.username,
        password=url.password,
        dbname=url.database,
        autocommit=True,
        connect_timeout=3,
    )


def postgres_problem() -> str | None:
    """Why PostgreSQL tests cannot run here, or None when the server answers."""
    import psycopg

    try:
        with admin_connection():
            return None
    except psycopg.Error as exc:
        return str(exc).strip().splitlines()[0]


PG_PROBLEM = postgres_problem()


def create_pg_database() -> str:
    """Create an empty database on the test server and return its SQLAlchemy URL."""
    name = f"rlem_test_{uuid.uuid4().hex[:12]}"
    with admin_connection() as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    url = make_url(PG_URL).set(drivername="postgresql+psycopg", database=name)
    return url.render_as_string(hide_password=False)


def drop_pg_database(db_url: str) -> None:
    """Drop a test database, disconnecting anything still attached."""
    with admin_connection() as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{make_url(db_url).database}" WITH (FORCE)')


def require_postgres() -> None:
    """Skip (or, when required, fail) a test that needs PostgreSQL if it is not reachable."""
    if PG_PROBLEM is None:
        return
    message = (
        f"PostgreSQL not reachable at {make_url(PG_URL).render_as_string(hide_password=True)} "
        f"({PG_PROBLEM}); start it or set RLEM_TEST_PG_URL=postgresql+psycopg://user@host:port/db "
        "to run the PostgreSQL tests"
    )
    if REQUIRE_PG:
        pytest.fail(message)
    pytest.skip(message)


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


DENSE_DIM = 128


def build_dense_model(path: Path) -> Path:
    """A second real embedding model, made offline: MiniLM with a fixed random 384->128 Dense layer."""
    import torch
    from sentence_transformers import SentenceTransformer, models

    torch.manual_seed(0)
    base = SentenceTransformer(str(packaged_model_path()), device="cpu", local_files_only=True)
    transformer, pooling = base[0], base[1]
    dense = models.Dense(384, DENSE_DIM, activation_function=torch.nn.Identity())
    SentenceTransformer(modules=[transformer, pooling, dense, models.Normalize()], device="cpu").save(
        str(path)
    )
    return path


@pytest.fixture(scope="session")
def dense(tmp_path_factory: pytest.TempPathFactory) -> SentenceTransformerEmbedder:
    """The second model, built once for the whole run."""
    return SentenceTransformerEmbedder(
        build_dense_model(tmp_path_factory.mktemp("dense") / "minilm-dense-128")
    )


@dataclass(frozen=True)
class Plugins:
    """A package outside the project on sys.path, holding tests/envs/plugin_factories.py as its
    `factories` module; `register` adds a distribution with `rlem.envs` entry points beside it."""

    root: Path
    package: str
    distribution: str

    @property
    def module(self) -> str:
        """The factories' module name."""
        return f"{self.package}.factories"

    def spec(self, factory: str, *arguments: str) -> str:
        """The spec `package.factories:factory[:argument...]`."""
        return ":".join([self.module, factory, *arguments])

    def register(self, entry_points: dict[str, str]) -> None:
        """Install the distribution with these entry points (name: `module:attribute`)."""
        info = self.root / f"{self.distribution.replace('-', '_')}-0.1.dist-info"
        info.mkdir(exist_ok=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {self.distribution}\nVersion: 0.1\n")
        lines = "".join(f"{name} = {value}\n" for name, value in entry_points.items())
        (info / "entry_points.txt").write_text("[rlem.envs]\n" + lines)
        importlib.invalidate_caches()

    def environ(self) -> dict[str, str]:
        """The environment of a subprocess that finds the package (on PYTHONPATH, first)."""
        path = os.pathsep.join(filter(None, [str(self.root), os.environ.get("PYTHONPATH")]))
        return {**os.environ, "PYTHONPATH": path}


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

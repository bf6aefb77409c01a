"""`rlem memory namespaces|stats|ls|show|search|audit|edit|delete|delete-namespace|prune|reembed|copy`
as a user runs them, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from memory_store import ExperienceStore, StoreConfig
from rlem.learning.double_q import retrieve
from tests.cli import rlem
from tests.dense_model import DENSE_DIM, build_dense_model
from tests.memory_store.filling import TASK, fill


@pytest.fixture
def filled(db_url: str, embedder) -> dict[str, int]:
    """The test states in namespace `default` and its second Q table; ids by observation."""
    with ExperienceStore.open(StoreConfig(url=db_url), embedder=embedder) as store:
        with store.open_sibling("default~q2", internal=True) as second:
            fill(second)
        return fill(store)


def as_json(*args: str):
    """Run an rlem command with --json and parse what it printed."""
    result = rlem(*args, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def audit_commands(db_url: str) -> list[str]:
    rows = as_json("memory", "audit", "--db", db_url)
    assert {row["actor"] for row in rows} == {"cli"}  # who made each change
    return [row["command"] for row in rows]


def one_line_error(result: subprocess.CompletedProcess, message: str) -> None:
    assert result.returncode == 1
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
    assert message in result.stderr


@pytest.mark.slow
def test_listing_commands_print_tables_and_json(db_url, filled):
    [default, second] = as_json("memory", "namespaces", "--db", db_url)["namespaces"]
    assert (default["name"], default["states"], default["actions"], default["embedding_dim"]) == (
        "default",
        4,
        6,
        384,
    )
    assert second["name"] == "default~q2" and default["db_bytes"] > 0
    stats = as_json("memory", "stats", "--db", db_url)
    assert (stats["states"], stats["visits"], stats["not_positive"]) == (4, 8, 1)
    assert stats["most_visited"][0]["observation"] == "The reading room is quiet."
    page = as_json("memory", "ls", "--db", db_url, "--task", "library", "--min-visits", "2", "--limit", "2")
    assert page["total"] == 3 and len(page["states"]) == 2
    shown = as_json("memory", "show", str(filled["The archive door is locked."]), "--db", db_url)
    assert {a["action"] for a in shown["experience"]["actions"]} == {"force the door", "knock"}
    wide = {**os.environ, "COLUMNS": "200"}
    table = subprocess.run(
        [sys.executable, "-m", "rlem.cli", "memory", "ls", "--db", db_url, "--offset", "3"],
        capture_output=True,
        text=True,
        env=wide,
        timeout=300,
    )
    assert table.returncode == 0 and "The ferns look dry." in table.stdout
    assert "states 4-4 of 4" in table.stdout
    assert as_json("memory", "audit", "--db", db_url) == []


@pytest.mark.slow
def test_search_returns_what_the_agent_retrieves(db_url, filled, embedder):
    query = "A trolley of books to put back."
    found = as_json("memory", "search", query, "--db", db_url, "--task", TASK, "-k", "3")
    assert found["merged_with"] == "default~q2"
    config = StoreConfig(url=db_url)
    with (
        ExperienceStore.open(config, embedder=embedder) as store,
        store.open_sibling("default~q2", internal=True) as second,
    ):
        expected = retrieve(store, second, TASK, query, 3)
    assert [hit["experience"]["id"] for hit in found["hits"]] == [h.experience.id for h in expected]
    assert [hit["similarity"] for hit in found["hits"]] == pytest.approx([h.similarity for h in expected])
    assert found["hits"][0]["experience"]["observation"] == "A cart full of returned books."


@pytest.mark.slow
def test_every_destructive_command_leaves_an_audit_row(db_url, filled):
    reading = str(filled["The reading room is quiet."])
    edited = rlem("memory", "edit", reading, "--action", "shout", "--q", "0.5", "--db", db_url)
    assert edited.returncode == 0, edited.stderr
    assert "Q of 'shout' -1 -> 0.5" in edited.stdout
    one_line_error(
        rlem("memory", "edit", reading, "--action", "sing", "--q", "1", "--db", db_url),
        "state " + reading + " has no action 'sing'",
    )
    one_line_error(rlem("memory", "delete", "9999", "--db", db_url), "no state with id 9999")
    assert rlem("memory", "delete", str(filled["The ferns look dry."]), "--db", db_url).returncode == 0
    pruned = rlem("memory", "prune", "--db", db_url, "--min-visits", "3")
    assert "pruned 2 states from namespace default (1 left)" in pruned.stdout, pruned.stderr
    assert audit_commands(db_url) == ["prune --min-visits 3", "prune --min-visits 3", "delete", "edit"]
    refused = subprocess.run(
        [sys.executable, "-m", "rlem.cli", "memory", "delete-namespace", "default", "--db", db_url],
        input="n\n",
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert refused.returncode == 1
    assert "and its second Q table 'default~q2' (4 states" in refused.stdout
    assert len(as_json("memory", "namespaces", "--db", db_url)["namespaces"]) == 2
    deleted = rlem("memory", "delete-namespace", "default", "--db", db_url, "--yes")
    assert deleted.returncode == 0, deleted.stderr
    assert as_json("memory", "namespaces", "--db", db_url)["namespaces"] == []
    assert audit_commands(db_url)[:2] == ["delete-namespace", "delete-namespace"]


@pytest.mark.slow
def test_copy_then_reembed_from_the_command_line(db_url, filled, tmp_path):
    model = build_dense_model(tmp_path / "minilm-dense")
    target = f"sqlite:///{tmp_path / 'copy.db'}"
    copied = rlem("memory", "copy", "--from", db_url, "--to", target)
    assert copied.returncode == 0, copied.stderr
    assert "copied namespace default (4 states, 6 action values" in copied.stdout
    assert "copied namespace default~q2" in copied.stdout
    one_line_error(rlem("memory", "copy", "--from", db_url, "--to", target), "already holds 4 states")
    reembedded = rlem("memory", "reembed", "--db", target, "--model", str(model))
    assert reembedded.returncode == 0, reembedded.stderr
    assert re.search(
        rf"all-MiniLM-L6-v2 \(384-d\) -> minilm-dense@[0-9a-f]{{12}} \({DENSE_DIM}-d\)", reembedded.stdout
    )
    one_line_error(
        rlem("memory", "search", "books", "--db", target), "was built with embedding model 'minilm-dense@"
    )
    query = ("A cart full of returned books.", "--db", target, "--task", TASK, "--model", str(model))
    found = as_json("memory", "search", *query)
    assert found["hits"][0]["similarity"] == pytest.approx(1.0, abs=1e-5)
    assert audit_commands(target) == ["reembed", "reembed", "copy", "copy"]


@pytest.mark.slow
def test_a_missing_sqlite_file_is_an_error_and_stays_missing(tmp_path: Path):
    missing = tmp_path / "missing.db"
    one_line_error(rlem("memory", "ls", "--db", f"sqlite:///{missing}"), "no memory database at")
    assert not missing.exists()

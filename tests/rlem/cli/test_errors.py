"""The README's promise, held against hostile input: every refusal is one line on stderr, a non-zero
exit code, and the memory exactly as it was (no namespace, state or file added)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text

from memory_store import ExperienceStore, StoreConfig
from memory_store.db.database import Database, parse_url
from memory_store.formats.json_format import dump
from memory_store.records import ActionRecord, StateSnapshot
from tests.cli import rlem

TASK = "Walk to the goal."
STATES = [
    StateSnapshot(
        TASK,
        f"You are at cell {i}.",
        ("left", "right"),
        visits=2,
        actions=(ActionRecord("left", "", 0.5, 0.0, 2),),
    )
    for i in range(3)
]


@pytest.fixture
def memory(db_url: str, embedder, tmp_path: Path) -> str:
    """A database holding namespace `fl` with three states."""
    with ExperienceStore.open(StoreConfig(url=db_url, namespace="fl"), embedder=embedder) as store:
        store.put(STATES)
    return db_url


def contents(url: str) -> list[tuple]:
    """Every namespace with its states and action values, as the database holds them."""
    db = Database(parse_url(url))
    try:
        with db.engine.connect() as connection:
            return [
                tuple(row)
                for row in connection.execute(
                    text(
                        "SELECT n.name, e.observation, e.visits, a.action, a.q FROM rlem_namespaces n "
                        "LEFT JOIN rlem_experiences e ON e.namespace_id = n.id "
                        "LEFT JOIN rlem_action_values a ON a.experience_id = e.id ORDER BY 1, 2, 4"
                    )
                )
            ]
    finally:
        db.close()


def memory_file(tmp_path: Path, **changes) -> str:
    """An rlem JSON memory of one state, with `changes` to its fields (or to its action's)."""
    path = tmp_path / "bad.json"
    dump([], "fl", "all-MiniLM-L6-v2", path)
    doc = json.loads(path.read_text())
    state = {"task": TASK, "observation": "A new cell.", "visits": 1}
    state["actions"] = [{"action": "left", "q": 1.0, "visits": 1}]
    state.update(changes.pop("state", {}))
    doc["experiences"] = [state]
    path.write_text(json.dumps(doc))
    return str(path)


def alias_bomb(tmp_path: Path) -> str:
    """A REMEMBERER pool whose tuple key expands 9^11 times, in 700 bytes."""
    lines = ['a0: &a0 ["x","x","x","x","x","x","x","x","x"]']
    lines += [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 12)]
    lines.append("? !!python/tuple [*a11, b, c]\n: {}")
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


CASES = {
    "visits beyond 64 bits": (
        lambda p: ["import", memory_file(p, state={"visits": 2**63})],
        "counts must be between 0",
    ),
    "visits of 10^30": (
        lambda p: ["import", memory_file(p, state={"visits": 10**30})],
        "counts must be between 0",
    ),
    "action visits beyond 64 bits": (
        lambda p: ["import", memory_file(p, state={"actions": [{"action": "a", "q": 0, "visits": 2**64}]})],
        "counts must be between 0",
    ),
    "a NUL byte": (lambda p: ["import", memory_file(p, state={"observation": "a\x00b"})], "NUL character"),
    "a NUL byte in an action": (
        lambda p: ["import", memory_file(p, state={"actions": [{"action": "a\x00", "q": 0}]})],
        "NUL character",
    ),
    "a 1 MB observation": (
        lambda p: ["import", memory_file(p, state={"observation": "x" * 1_000_000})],
        "exceeds the limit of 100,000",
    ),
    "100k actions": (
        lambda p: ["import", memory_file(p, state={"available_actions": [str(i) for i in range(100_000)]})],
        "exceed the limit of 1,000 per state",
    ),
    "a YAML alias bomb": (lambda p: ["import", alias_bomb(p), "-f", "rememberer-yaml"], "aliases"),
    "an empty namespace": (lambda p: ["import", memory_file(p), "-n", ""], "cannot be empty"),
    "a 10k-character namespace": (lambda p: ["import", memory_file(p), "-n", "n" * 10_000], "at most 200"),
    "a namespace with rlem's mark": (
        lambda p: ["import", memory_file(p), "-n", "fl~reembed-mine"],
        "marks rlem's own namespaces",
    ),
    "a control character in a namespace": (lambda p: ["import", memory_file(p), "-n", "a\nb"], "control"),
    "a state id beyond 64 bits": (lambda p: ["show", str(2**64)], "less than or equal to"),
    "a state id of 0": (lambda p: ["delete", "0"], "greater than or equal to 1"),
    "a NaN Q": (lambda p: ["edit", "1", "-a", "left", "--q", "nan"], "finite"),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", list(CASES))
def test_hostile_input_is_one_line_and_changes_nothing(case, memory, tmp_path):
    build, message = CASES[case]
    args = build(tmp_path)
    before = contents(memory)
    result = rlem("memory", args[0], *args[1:], "--db", memory)
    lines = result.stderr.strip().splitlines()
    assert result.returncode in (1, 2), result.stderr
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr[-2000:]
    assert message in lines[0]
    assert contents(memory) == before


@pytest.mark.slow
def test_import_into_a_sqlite_file_of_another_program_is_refused_like_any_command(tmp_path):
    path = tmp_path / "app.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
    url = f"sqlite:///{path}"
    for args in (["memory", "import", memory_file(tmp_path)], ["memory", "ls"], ["memory", "stats"]):
        result = rlem(*args, "--db", url)
        assert result.returncode == 1
        assert result.stderr.strip().splitlines() == [
            f"error: database {url} is not an rlem memory (it holds users): point --db at an rlem "
            "database or a new file, or add rlem's tables with `rlem db upgrade --db ...`"
        ]
    with sqlite3.connect(path) as connection:
        tables = [row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    assert tables == ["users"]


@pytest.mark.slow
def test_a_newer_or_faked_schema_is_named_by_every_command(memory):
    db = Database(parse_url(memory))
    with db.write_engine.begin() as connection:
        connection.execute(text("UPDATE rlem_schema_version SET version_num = '9999_future'"))
    for args in (["db", "status"], ["memory", "ls", "-n", "fl"]):
        result = rlem(*args, "--db", memory)
        assert "upgrade rlem" in result.stdout + result.stderr, result.stderr
    with db.write_engine.begin() as connection:
        connection.execute(text("DROP TABLE rlem_schema_version"))
        connection.execute(text("CREATE TABLE rlem_schema_version (something_else INTEGER)"))
    db.close()
    for args in (["db", "status"], ["db", "upgrade"], ["memory", "ls", "-n", "fl"]):
        result = rlem(*args, "--db", memory)
        assert result.returncode == 1
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "table was not written by rlem" in lines[0], result.stderr[-2000:]


@pytest.mark.slow
def test_a_bad_environment_claims_no_output_folder(tmp_path):
    out = tmp_path / "run"
    result = rlem(
        "run",
        "--env",
        "nowhere:4x4",
        "--policy",
        "random",
        "--out",
        str(out),
        "--db",
        f"sqlite:///{tmp_path / 'm.db'}",
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "error: unknown environment 'nowhere' in 'nowhere:4x4': known are blackjack, cliffwalking, "
        "frozenlake, scienceworld, taxi, textworld, or give package.module:factory (see `rlem envs`)"
    ]
    assert not out.exists()


@pytest.mark.slow
def test_usage_errors_are_one_line_with_exit_code_2():
    result = rlem("memory", "show")
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: Missing argument") and line.endswith("(see `rlem memory show --help`)")


@pytest.mark.slow
@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["--train-tasks", "5-1"],
            "run settings: train_tasks: task range '5-1' runs backwards: write it low-high, like 1-5",
        ),
        (["--num-envs", "100000"], "run settings: num_envs: Input should be less than or equal to 256"),
    ],
)
def test_run_settings_out_of_range_are_one_line_and_claim_nothing(args, message, tmp_path):
    out, db = tmp_path / "run", tmp_path / "m.db"
    result = rlem(
        "run",
        "--env",
        "frozenlake",
        "--policy",
        "random",
        "--out",
        str(out),
        "--db",
        f"sqlite:///{db}",
        *args,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [f"error: {message}"]
    assert not out.exists() and not db.exists()


@pytest.mark.slow
def test_db_status_of_a_missing_file_says_so_and_creates_nothing(tmp_path):
    missing = tmp_path / "missing.db"
    result = rlem("db", "status", "--db", f"sqlite:///{missing}")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [f"error: no memory database at {missing}"]
    assert not missing.exists()

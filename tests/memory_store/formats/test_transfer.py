"""Import and export: the paper's four published pools, round trips, and files that must be refused."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from memory_store import ExperienceStore, StoreConfig
from memory_store.admin.audit import audit_log
from memory_store.errors import InvalidArgument, InvalidFile
from memory_store.formats.transfer import export_memory, import_memory
from memory_store.records import ActionRecord, StateSnapshot
from tests.memory_store.pools import pool

# name: (states, action values)
EXPECTED = {
    "annotated_pool-auto.q.yaml": (38, 38),
    "init_pool.q.yaml": (2, 2),
    "init_pool.wq.yaml": (4, 5),
    "init_pool2.wq.yaml": (4, 5),
}


def q_values_in(path: Path) -> dict[tuple[str, str], dict[str, float]]:
    """The file's Q values, read independently with PyYAML's own tuple-aware loader on trusted data."""
    loader = type("TrustedTuples", (yaml.SafeLoader,), {})
    loader.add_constructor("tag:yaml.org,2002:python/tuple", lambda lo, n: tuple(lo.construct_sequence(n)))
    data = yaml.load(path.read_text(), Loader=loader)  # noqa: S506
    return {
        (key[1], key[0]): {a[0]: s["qvalue"] for a, s in v["action_dict"].items()} for key, v in data.items()
    }


@pytest.fixture
def store(db_url: str, embedder, index_dir: Path):
    with ExperienceStore.open(StoreConfig(url=db_url, index_dir=index_dir), embedder=embedder) as opened:
        yield opened


def snapshot_of(store: ExperienceStore) -> list[tuple]:
    return [
        (
            r.task,
            r.observation,
            r.available_actions,
            r.extra,
            r.visits,
            r.last_reward,
            r.total_reward,
            r.action_history,
            r.actions,
        )
        for r in store.records()
    ]


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_the_papers_pools_import_with_exact_counts_and_q_values(store, name):
    path = pool(name)
    assert import_memory(store, path, "rememberer-yaml") == EXPECTED[name][0]
    assert (len(store), store.action_count()) == EXPECTED[name]
    stored = {(r.task, r.observation): {a.action: a.q for a in r.actions} for r in store.records()}
    assert stored == q_values_in(path)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_rememberer_yaml_export_and_import_round_trip(store, db_url, embedder, index_dir, tmp_path, name):
    import_memory(store, pool(name), "rememberer-yaml")
    exported = tmp_path / "pool.yaml"
    export_memory(store, exported, "rememberer-yaml")
    config = StoreConfig(url=db_url, index_dir=index_dir, namespace="again")
    with ExperienceStore.open(config, embedder=embedder) as again:
        import_memory(again, exported, "rememberer-yaml")
        assert snapshot_of(again) == snapshot_of(store)


def test_json_export_has_the_documented_shape_and_round_trips(store, db_url, embedder, index_dir, tmp_path):
    import_memory(store, pool("init_pool.wq.yaml"), "rememberer-yaml")
    exported = tmp_path / "memory.json"
    export_memory(store, exported, "json")
    doc = json.loads(exported.read_text())
    assert (doc["format"], doc["version"], doc["namespace"], doc["embedding_model"]) == (
        "rlem-memory",
        1,
        "default",
        "all-MiniLM-L6-v2",
    )
    assert set(doc["experiences"][0]) == {
        "task",
        "observation",
        "available_actions",
        "extra",
        "visits",
        "last_reward",
        "total_reward",
        "action_history",
        "actions",
    }
    assert set(doc["experiences"][0]["actions"][0]) == {"action", "reason", "q", "reward", "visits"}
    with ExperienceStore.open(
        StoreConfig(url=db_url, index_dir=index_dir, namespace="copy"), embedder=embedder
    ) as copy:
        import_memory(copy, exported, "json")
        assert snapshot_of(copy) == snapshot_of(store)


UNSAFE = [
    "!!python/object/apply:os.system ['echo pwned']\n",
    "? !!python/name:os.system\n: 1\n",
    "? !!python/tuple [a, b, c]\n: !!python/object:collections.OrderedDict {}\n",
]


@pytest.mark.parametrize("text", UNSAFE)
def test_yaml_with_any_other_python_tag_is_refused_and_nothing_written(store, tmp_path, text):
    path = tmp_path / "evil.yaml"
    path.write_text(text)
    with pytest.raises(InvalidFile, match="refused: .*tag:yaml.org,2002:python/.*only !!python/tuple"):
        import_memory(store, path, "rememberer-yaml")
    assert len(store) == 0


@pytest.mark.parametrize(
    ("fmt", "text", "message"),
    [
        ("json", '{"format": "rlem-memory", "version": 2}', "version"),
        (
            "json",
            '{"format": "rlem-memory", "version": 1, "namespace": "n", "embedding_model": "m", '
            '"experiences": [{"task": "t", "observation": "o", "actions": [{"action": "a", "q": "high"}]}]}',
            r"experiences\.0\.actions\.0\.q",
        ),
        ("json", "not json", "is not an rlem JSON memory"),
        ("rememberer-yaml", "- just\n- a list\n", "a REMEMBERER pool is a mapping"),
        ("rememberer-yaml", "? !!python/tuple [o, t, x]\n: {id: 0}\n", "record 0: action_dict"),
        ("rememberer-yaml", "key: [unclosed\n", "not valid YAML"),
    ],
)
def test_malformed_files_are_refused_with_the_place_named(store, tmp_path, fmt, text, message):
    path = tmp_path / "bad"
    path.write_text(text)
    with pytest.raises(InvalidFile, match=message):
        import_memory(store, path, fmt)
    assert len(store) == 0


def test_states_already_stored_refuse_the_whole_write(store):
    import_memory(store, pool("init_pool.q.yaml"), "rememberer-yaml")
    before = snapshot_of(store)
    fresh = StateSnapshot(task="a new task", observation="a new observation")
    with pytest.raises(InvalidArgument, match="1 of the 2 states are already in namespace 'default'"):
        store.put([fresh, StateSnapshot.of(store.records()[0])])
    assert snapshot_of(store) == before


def test_a_write_that_fails_halfway_writes_nothing(store):
    twice = (ActionRecord("go", "", 1.0, 0.0, 1), ActionRecord("go", "", 0.5, 0.0, 1))
    good = StateSnapshot(task="t", observation="first", actions=twice[:1])
    bad = StateSnapshot(task="t", observation="second", actions=twice)
    with pytest.raises(InvalidArgument, match="lists an action twice"):
        store.put([good, bad])
    assert len(store) == 0
    assert len(store.index) == 0


def test_replace_overwrites_stored_states(store):
    import_memory(store, pool("init_pool.q.yaml"), "rememberer-yaml")
    first = StateSnapshot.of(store.records()[0])
    store.put([replace(first, visits=99, actions=first.actions[:1])], replace=True)
    assert store.get(first.task, first.observation).visits == 99
    assert len(store) == 2


def test_an_import_is_one_audit_row_naming_who(store, db_url):
    import_memory(store, pool("init_pool.wq.yaml"), "rememberer-yaml", actor="key 7 (rlem_abcdefg)")
    (row,) = audit_log(store.db, store.namespace.name, 10)
    assert (row.command, row.what, row.actor) == ("import", "states", "key 7 (rlem_abcdefg)")
    assert row.new_value == {"states": 4, "replace": False}

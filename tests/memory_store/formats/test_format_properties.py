"""Property-based tests of the memory file formats: any valid memory round-trips exactly through each
format (and through a database), and any corruption of a file either loads to valid states or is
refused with a one-line StoreError, never another exception; a refused import writes nothing."""

from __future__ import annotations

import itertools
import json
import math
import tempfile
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from memory_store import ExperienceStore, StoreConfig
from memory_store.errors import StoreError
from memory_store.formats.rememberer import TupleDumper, TupleLoader
from memory_store.formats.transfer import FORMATS, export_memory, import_memory, read_memory_file
from memory_store.limits import MAX_INT, Limits
from memory_store.records import ActionRecord, ExperienceRecord, StateSnapshot

YAML = "rememberer-yaml"
NOW = datetime(2026, 1, 1, tzinfo=UTC)
# Pieces that YAML and JSON give a meaning to, mixed into otherwise arbitrary text.
SPECIAL = [":", ": ", "- ", "&a", "*a", "!", "!!python/tuple", "#", "{", "}", "[", "]", ",", "'", '"']
SPECIAL += ["\\", "\n", "\r\n", "\t", " ", "? ", "|", ">", "%", "@", "`", "~", "null", "yes", "No"]
SPECIAL += ["1.5", "0x1F", "1e3", ".nan", "2001-12-14", "<<", "---", "...", "\x85", "\u2028", "\ufeff"]
characters = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")
texts = st.lists(st.text(characters, max_size=8) | st.sampled_from(SPECIAL), max_size=5).map("".join)
numbers = st.floats(allow_nan=False, allow_infinity=False)
counts = st.integers(0, MAX_INT)
actions = st.lists(
    st.builds(ActionRecord, texts, texts, numbers, numbers, counts), max_size=3, unique_by=lambda a: a.action
).map(tuple)
states = st.builds(
    StateSnapshot,
    task=texts,
    observation=texts,
    available_actions=st.lists(texts, max_size=3).map(tuple),
    extra=texts,
    visits=counts,
    last_reward=numbers,
    total_reward=numbers,
    action_history=st.lists(texts, max_size=3).map(tuple),
    actions=actions,
)
memories = st.lists(states, max_size=4, unique_by=lambda s: (s.task, s.observation))
formats = st.sampled_from(sorted(FORMATS))
limits = st.sampled_from([Limits(), Limits(max_text_chars=4, max_actions=1)])


def record(state: StateSnapshot, position: int) -> ExperienceRecord:
    """The stored form of a state, as export writes it."""
    fields = {name: getattr(state, name) for name in StateSnapshot.__dataclass_fields__}
    del fields["embedding"]
    return ExperienceRecord(id=position + 1, created_at=NOW, updated_at=NOW, **fields)


def write(states: list[StateSnapshot], fmt: str, path: Path) -> Path:
    """`states` as a file of `fmt`."""
    FORMATS[fmt][0]([record(s, i) for i, s in enumerate(states)], "ns", "all-MiniLM-L6-v2", path)
    return path


def carried(state: StateSnapshot, fmt: str) -> StateSnapshot:
    """What a format keeps of a state: the paper's pools have no available actions."""
    return replace(state, available_actions=()) if fmt == YAML else state


def assert_exactly(found: list[StateSnapshot], expected: list[StateSnapshot]) -> None:
    """Equal, and equal in repr too: -0.0 stays -0.0, every float to its last bit."""
    assert found == expected
    assert repr(found) == repr(expected)


def assert_loads_or_refuses(path: Path, fmt: str, bounds: Limits) -> None:
    """A file either reads to states that write back, in its format and as JSON (UTF-8, so texts
    must be Unicode), and read again unchanged; or is refused with a StoreError of one line. Any
    other exception fails the test."""
    try:
        loaded = read_memory_file(path, fmt, bounds)
    except StoreError as exc:
        assert str(exc).strip() and len(str(exc).splitlines()) == 1, repr(str(exc))
        return
    for again in {fmt, "json"}:
        assert_exactly(read_memory_file(write(loaded, again, path.with_name(again)), again, bounds), loaded)


@pytest.mark.slow
@settings(max_examples=150, deadline=None)
@given(memory=memories, fmt=formats)
@example(memory=[StateSnapshot("t", "\x85")], fmt=YAML)  # was written raw, and read back as a space
def test_every_valid_memory_round_trips_exactly_through_each_format(memory, fmt):
    with tempfile.TemporaryDirectory() as folder:
        path = write(memory, fmt, Path(folder) / "memory")
        assert_exactly(read_memory_file(path, fmt), [carried(s, fmt) for s in memory])


def places(data: Any, path: tuple = ()) -> Iterator[tuple]:
    """The path of every value in plain nested data."""
    yield path
    items = (
        data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, list | tuple) else []
    )
    for key, value in items:
        yield from places(value, (*path, key))


def replaced(data: Any, path: tuple, value: Any) -> Any:
    """`data` with the value at `path` replaced."""
    if not path:
        return value
    if isinstance(data, dict):
        return {k: replaced(v, path[1:], value) if k == path[0] else v for k, v in data.items()}
    items = [replaced(v, path[1:], value) if i == path[0] else v for i, v in enumerate(data)]
    return tuple(items) if isinstance(data, tuple) else items


def nested(depth: int) -> list:
    return [nested(depth - 1)] if depth else []


HOSTILE_VALUES = [2**63, 2**64, 10**30, -1, -(2**63) - 1, math.nan, math.inf, -math.inf, 1e308, "high"]
HOSTILE_VALUES += ["", "a\x00b", "\ud800", "a\nb", "x" * 300, None, True, [], {}, [1, 2], {"a\nb": 1}]
HOSTILE_VALUES += [nested(150), ("a",), ("a", "b", "c", "d"), ("a", ["b"]), 1.5, -0.0]
hostile_values = st.sampled_from(HOSTILE_VALUES) | st.integers() | st.floats() | st.text() | st.binary()
# Pieces of text that have broken (or could break) a parser, spliced into a file at random.
FRAGMENTS = ["\x00", "\ufeff", "\ud800", '"\\ud800"', "\\", '"', "'", "{", "[", "]", "}", ",", ":", "\n"]
FRAGMENTS += ["[" * 5000, "- " * 2000 + "a", "9" * 5000, "0x" + "f" * 5000, "NaN", "Infinity", "-1e999"]
FRAGMENTS += ["&a [*a]", "*a", "*undefined", "!!python/object/apply:os.system [ls]", "!!python/tuple {}"]
FRAGMENTS += ["? [a]\n: 1\n", "!!python/tuple [[a], t, x]", "2001-13-01", "!!int x", "!!bool x"]
FRAGMENTS += ["!!timestamp x", "!!float x", "!!binary é", "!!set [a]", "!!omap 1", "<<: 1", "? ", "\t"]
fragments = st.sampled_from(FRAGMENTS) | st.text(max_size=6)
fractions = st.floats(0, 1, exclude_max=True)
corruptions = st.one_of(
    st.tuples(st.just("truncate"), fractions),
    st.tuples(st.just("bytes"), fractions, st.binary(min_size=1, max_size=4)),
    st.tuples(st.just("splice"), fractions, fragments),
    st.tuples(st.just("value"), fractions, hostile_values),
)


def corrupt(data: bytes, fmt: str, corruption: tuple) -> bytes:
    """A valid file's bytes with one corruption: cut short, bytes overwritten, text spliced in, or
    one value of its document replaced."""
    kind, where, *what = corruption
    at = int(where * len(data))
    if kind == "truncate":
        return data[:at]
    if kind == "bytes":
        return data[:at] + what[0] + data[at + len(what[0]) :]
    if kind == "splice":
        return data[:at] + what[0].encode("utf-8", "surrogatepass") + data[at:]
    if fmt == YAML:
        doc = yaml.load(data, Loader=TupleLoader)  # noqa: S506 - TupleLoader is a SafeLoader
        spots = list(places(doc))
        changed = replaced(doc, spots[int(where * len(spots))], what[0])
        return yaml.dump(changed, Dumper=TupleDumper, allow_unicode=True).encode("utf-8", "surrogatepass")
    doc = json.loads(data)
    spots = list(places(doc))
    return json.dumps(replaced(doc, spots[int(where * len(spots))], what[0]), default=repr).encode()


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(memory=memories.filter(bool), fmt=formats, corruption=corruptions, bounds=limits)
def test_a_corrupted_file_loads_valid_states_or_is_refused_in_one_line(memory, fmt, corruption, bounds):
    with tempfile.TemporaryDirectory() as folder:
        path = write(memory, fmt, Path(folder) / "memory")
        path.write_bytes(corrupt(path.read_bytes(), fmt, corruption))
        assert_loads_or_refuses(path, fmt, bounds)


DOC = {"namespace": "n", "embedding_model": "m", "experiences": []}
RECORD = b"? !!python/tuple [o, t, x]\n: {action_dict: %s, other_info: {action_history: [], last_reward: 0,"
RECORD += b" total_reward: 0, number: %s}, id: 0%s}\n"
soups = st.lists(fragments | st.sampled_from(["action_dict", "number", "id", "experiences"]), max_size=20)


@settings(max_examples=200, deadline=None)
@given(
    fmt=formats,
    content=st.binary(max_size=200) | soups.map(lambda s: "".join(s).encode("utf-8", "surrogatepass")),
)
# Each of these leaked another exception (or a message of two lines) before it was fixed:
@example(fmt=YAML, content=b"[" * 5000 + b"]" * 5000)  # RecursionError
@example(fmt=YAML, content=b"? !!python/tuple [[a], t, x]\n: {}\n")  # TypeError: unhashable type
@example(fmt=YAML, content=RECORD % (b"{}", b"9" * 5000, b""))  # ValueError: int beyond 4300 digits
@example(fmt=YAML, content=RECORD % (b"{}", b"0x" + b"f" * 5000, b""))  # the same, in its message
@example(fmt=YAML, content=RECORD.replace(b": []", b": [[]]") % (b"{}", b"0", b""))  # IndexError: ()
@example(fmt=YAML, content=b"a: !!bool x\n")  # KeyError
@example(fmt=YAML, content=b"a: !!timestamp x\n")  # AttributeError
@example(fmt=YAML, content=b"a: 2001-13-01\n")  # ValueError: month must be in 1..12
@example(fmt=YAML, content=b'a: "\\U99999999"\n')  # OverflowError: beyond a C int
@example(fmt=YAML, content=RECORD.replace(b"[o,", b'["\\ud800",') % (b"{}", b"0", b""))  # not Unicode
@example(fmt=YAML, content=RECORD % (b"{}", b"0", b', "a\\nb": 1'))  # a key of two lines in the message
@example(fmt="json", content=json.dumps({"a\nb": 1, "format": "rlem-memory", "version": 1} | DOC).encode())
def test_any_bytes_load_valid_states_or_are_refused_in_one_line(fmt, content):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "memory"
        path.write_bytes(content)
        assert_loads_or_refuses(path, fmt, Limits())


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'memory.db'}"


def contents(store: ExperienceStore) -> tuple:
    """Everything a namespace holds that an import could change."""
    return repr(store.records()), len(store), len(store.index), store.evictions()


SERIAL = itertools.count()  # a fresh pair of namespaces for each example


@pytest.mark.slow
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(memory=memories, fmt=formats)
def test_export_then_import_through_a_database_round_trips_exactly(url, tmp_path, embedder, memory, fmt):
    name = next(SERIAL)
    config = StoreConfig(url=url, namespace=f"first-{name}", persist_index=False)
    with (
        ExperienceStore.open(config, embedder=embedder) as first,
        ExperienceStore.open(
            config.model_copy(update={"namespace": f"again-{name}"}), embedder=embedder
        ) as again,
    ):
        first.put(memory)
        path = tmp_path / f"{name}.{fmt}"
        assert export_memory(first, path, fmt) == len(memory)
        assert import_memory(again, path, fmt) == len(memory)
        # Equal to the last bit, but for the sign of zero: SQLite stores a REAL -0.0 as the integer 0.
        assert [StateSnapshot.of(r) for r in again.records()] == [carried(s, fmt) for s in memory]


# Values no writer puts in a file: written as a stand-in, then replaced in the file's text.
SURROGATE, NAN = "SURROGATE-GOES-HERE", 12345.5
STAND_INS = {"json": {f'"{SURROGATE}"': '"o\\ud800"', str(NAN): "NaN"}}
STAND_INS[YAML] = {SURROGATE: '"o\\ud800"', str(NAN): ".nan"}


def bad_states(
    good: list[StateSnapshot], stored: StateSnapshot, fmt: str
) -> st.SearchStrategy[StateSnapshot]:
    """States that the store must refuse, each for another reason."""
    twice = (ActionRecord("go", "a", 1.0, 0.0, 1), ActionRecord("go", "b", 0.5, 0.0, 1))
    return st.sampled_from(
        [
            stored,  # already in the namespace
            replace(stored, observation="another", actions=twice),  # an action twice
            StateSnapshot("t", SURROGATE),  # not Unicode text
            StateSnapshot("t", "x" * 100_001),  # beyond the store's limits
            StateSnapshot("t", "o", visits=2**63),  # beyond 64 bits
            StateSnapshot("t", "o", last_reward=NAN),  # not a number
            *(good[:1] if fmt == "json" else []),  # twice in one file (a YAML pool cannot say that)
        ]
    )


@pytest.mark.slow
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(memory=memories, fmt=formats, position=fractions, data=st.data())
def test_a_refused_import_leaves_the_namespace_exactly_as_it_was(
    url, tmp_path, embedder, memory, fmt, position, data
):
    stored = StateSnapshot(
        "Walk to the goal.", "You are at cell 0.", actions=(ActionRecord("l", "", 1, 0, 1),)
    )
    with ExperienceStore.open(StoreConfig(url=url, persist_index=False), embedder=embedder) as store:
        if not len(store):
            store.put([stored])
        before = contents(store)
        good = [s for s in memory if (s.task, s.observation) != (stored.task, stored.observation)]
        bad = data.draw(bad_states(good, stored, fmt))
        at = int(position * (len(good) + 1))
        path = write([*good[:at], bad, *good[at:]], fmt, tmp_path / f"import.{fmt}")
        text = path.read_text(encoding="utf-8")
        for stand_in, value in STAND_INS[fmt].items():
            text = text.replace(stand_in, value)
        path.write_text(text, encoding="utf-8")
        with pytest.raises(StoreError) as refused:
            import_memory(store, path, fmt)
        assert len(str(refused.value).splitlines()) == 1
        assert contents(store) == before

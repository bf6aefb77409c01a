"""Property-based tests of the `rlem` command line against hostile argument values: a refusal is
exactly one line `error: ...` on stderr with exit code 1 (2 for usage errors), never a traceback, and
the memory database is exactly as it was. Commands run in this process through `rlem.cli.main`, as
the console script runs it (a subprocess per example would spend seconds importing torch)."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from memory_store import ExperienceStore, StoreConfig
from memory_store.errors import InvalidArgument
from memory_store.formats.json_format import dump
from memory_store.limits import MAX_INT
from memory_store.names import check_new_name
from memory_store.records import ActionRecord, StateSnapshot
from tests.rlem.cli.in_process import rlem_in_process

LEFT = ActionRecord("left", "", 0.5, 0.0, 5)
STATES = [
    StateSnapshot("Walk.", f"You are at cell {i}.", ("left",), visits=5, actions=(LEFT,)) for i in range(3)
]
# What argv can hold: any text but NUL, lone surrogates too (what bytes that are not UTF-8 become).
words = st.text(
    st.characters(blacklist_characters="\x00") | st.sampled_from(["\udcff", "\udc80"]), max_size=12
)
HOSTILE = ["", " ", "\n", "a\nb", "\t", "\u2028", "\x85", "\x1b[31m", "\udcff", "é", "~", "-", "--"]
HOSTILE += ["[b]x[/b]"]  # rich markup
texts = words | st.sampled_from(HOSTILE) | st.just("x" * 10_000)
INTS = ["0", "-0", "+1", "1.5", "1e3", "0x10", "1_000", " 7", "7 ", "²", "١", "nan", "inf", "9" * 5000]
integers = st.integers().map(str) | st.integers(2**63 - 2, 2**64).map(str) | st.sampled_from(INTS) | words
NUMBERS = ["nan", "-nan", "inf", "-inf", "1e400", "-1e400", "0x1p3", "1_0", "½", "", "1,5", "--1"]
numbers = st.floats().map(repr) | st.sampled_from(NUMBERS) | words
names = texts | st.sampled_from(["fl", " fl", "fl ", "fl~q2", "fl~", "n" * 201])
TASKS = ["-", "1-", "-1", "1,,2", "²", "0-99999999999999", "0-" + "9" * 5000, "1.5", "0x1"]
seed_runs = st.integers(0, 10**20).map(str) | st.lists(st.integers(0, 10**20), min_size=2, max_size=2).map(
    lambda r: f"{r[0]}-{r[1]}"
)
task_lists = st.sampled_from(TASKS) | words | st.lists(seed_runs, min_size=1, max_size=3).map(",".join)
dates = st.tuples(st.datetimes(), st.sampled_from(["", "Z", "+23:59", "-23:59"])).map(
    lambda d: d[0].isoformat() + d[1]
)
relative = texts.filter(lambda t: not t.startswith("/"))  # paths under the (empty) working directory
# Up to 50 commands per property, each a whole CLI call in process: seconds per test.
pytestmark = pytest.mark.slow

# Every test has its own copy of the memory; the examples of one test share it.
cli = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The working directory of every command: relative paths land here, and nothing may."""
    path = tmp_path_factory.mktemp("cwd")
    with pytest.MonkeyPatch.context() as patcher:
        patcher.chdir(path)
        yield path
    assert list(path.iterdir()) == []


@pytest.fixture(scope="module")
def original(tmp_path_factory: pytest.TempPathFactory, embedder) -> Path:
    """A SQLite memory: namespace `fl` with three states, ids 1-3, each visited 5 times."""
    path = tmp_path_factory.mktemp("memory") / "memory.db"
    config = StoreConfig(url=f"sqlite:///{path}", namespace="fl", persist_index=False)
    with ExperienceStore.open(config, embedder=embedder) as store:
        store.put(STATES)
    return path


@pytest.fixture
def memory(original: Path, tmp_path: Path, folder: Path) -> Path:
    """A copy of the memory for one test, whichever way another test ended."""
    return Path(shutil.copy(original, tmp_path / "memory.db"))


@pytest.fixture
def url(memory: Path) -> str:
    return f"sqlite:///{memory}"


def contents(path: Path) -> dict[str, list[tuple]]:
    """Every row of every table of a SQLite file."""
    with closing(sqlite3.connect(path)) as connection:
        tables = [row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {table: sorted(connection.execute(f'SELECT * FROM "{table}"'), key=repr) for table in tables}


def rlem(*args: str) -> tuple[int, str]:
    """Run `rlem ARGS` as the console script does: its exit code and what it wrote to stderr."""
    outcome = rlem_in_process(*args)
    return outcome.code, outcome.stderr


def check(memory: Path, *args: str, may_succeed: bool = True) -> None:
    """Run a command: it succeeds (where it may) or fails with one line and exit code 1 or 2; either
    way the memory is exactly as it was."""
    before = contents(memory)
    code, stderr = rlem(*args)
    assert code in ((0, 1, 2) if may_succeed else (1, 2)), (code, stderr)
    if code:
        lines = stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    assert contents(memory) == before


def lax_number(text: str) -> float | None:
    """The number int(), float() or pydantic reads in `text` (exactly, if an integer), or None."""
    for parse in (int, float, TypeAdapter(float).validate_python):
        try:
            return parse(text)
        except (ValueError, ValidationError, OverflowError):
            continue
    return None


def with_values(options: dict[str, st.SearchStrategy[str]]) -> st.SearchStrategy[list[str]]:
    """One to three of `options`, each followed by a drawn value."""
    chosen = st.lists(st.sampled_from(sorted(options)), unique=True, min_size=1, max_size=3)
    return chosen.flatmap(
        lambda keys: st.tuples(*(options[k] for k in keys)).map(
            lambda vs: [a for p in zip(keys, vs, strict=True) for a in p]
        )
    )


@cli
@given(command=st.sampled_from([["show"], ["delete"], ["edit", "-a", "left", "--q", "1"]]), state=integers)
@example(command=["show"], state=str(2**64))
@example(command=["delete"], state="0")
def test_hostile_state_ids_are_refused_in_one_line(memory, url, command, state):
    assume(lax_number(state) not in {1, 2, 3})  # a stored state's id: a valid edit or delete
    check(memory, "memory", command[0], state, *command[1:], "--db", url, may_succeed=False)


@cli
@given(action=st.just("left") | texts, q=numbers)
@example(action="left", q="nan")
def test_an_edit_to_a_missing_action_or_a_value_that_is_no_number_is_refused(memory, url, action, q):
    value = lax_number(q)
    assume(action != "left" or value is None or not abs(value) < float("inf"))
    check(memory, "memory", "edit", "1", "-a", action, "--q", q, "--db", url, may_succeed=False)


LS = {"-n": names, "--task": texts, "--min-visits": integers, "--since": dates | texts, "--limit": integers}
LS |= {"--offset": integers}
# Namespace fl unless an option says otherwise (the last -n counts).
readers = st.one_of(
    with_values(LS).map(lambda args: ["ls", "-n", "fl", *args]),
    with_values({"-n": names, "--top": integers}).map(lambda args: ["stats", "-n", "fl", *args]),
    with_values({"-n": names, "--limit": integers}).map(lambda args: ["audit", *args]),
    st.tuples(texts, with_values({"-n": names, "-k": integers, "--task": texts})).map(
        lambda a: ["search", a[0], "-n", "fl", *a[1]]
    ),
)


@cli
@given(args=readers)
@example(args=["ls", "-n", "fl", "--limit", str(2**64)])  # OverflowError in SQLite
@example(args=["ls", "-n", "fl", "--offset", str(2**64)])
@example(args=["ls", "-n", "fl", "--min-visits", str(2**64)])
@example(args=["stats", "-n", "fl", "--top", str(2**64)])
@example(args=["audit", "--limit", str(2**64)])
@example(args=["ls", "-n", "fl", "--since", "9999-12-31T23:59:59-23:59"])  # beyond year 9999 in UTC
@example(args=["ls", "-n", "fl", "--task", "\udcff"])  # a surrogate SQLite cannot bind
@example(args=["search", "x", "-n", "fl", "-k", "9" * 30])  # padding of 10^30 results
@example(args=["search", "\udcff", "-n", "fl"])  # TypeError from the tokenizer
def test_looking_into_a_memory_with_hostile_options_changes_nothing(memory, url, args):
    check(memory, "memory", *args, "--db", url)


@cli
@given(option=st.sampled_from(["--min-visits", "--older-than"]), value=integers | numbers)
@example(option="--older-than", value="1e300")  # OverflowError in timedelta
@example(option="--older-than", value="inf")
@example(option="--min-visits", value=str(2**64))
def test_pruning_with_hostile_conditions_is_refused_or_prunes_nothing(memory, url, option, value):
    number = lax_number(value)
    if number is not None:  # conditions some state meets: every state is 5 visits and seconds old
        assume(not (5 < number <= MAX_INT if option == "--min-visits" else 0 <= number < 1000))
    check(memory, "memory", "prune", "-n", "fl", option, value, "--db", url)


def creatable(name: str) -> bool:
    """Whether `name` may name a new namespace."""
    try:
        check_new_name(name)
    except InvalidArgument:
        return False
    return True


@cli
@given(name=names, file=st.none() | relative, fmt=st.sampled_from(["json", "rememberer-yaml", "xml", ""]))
@example(name="fl", file="missing\nfile.json", fmt="json")  # a message of two lines
def test_importing_under_a_hostile_name_or_from_a_hostile_path_is_refused(
    memory, url, tmp_path, name, file, fmt
):
    if file is None:  # a valid file of one new state: only the name or the format can be wrong
        assume(not creatable(name) or fmt not in ("json", "rememberer-yaml"))
        file = str(tmp_path / "new.json")
        dump([], "fl", "all-MiniLM-L6-v2", Path(file))
        Path(file).write_text(Path(file).read_text().replace("[]", '[{"task": "t", "observation": "new"}]'))
    check(memory, "memory", "import", file, "-f", fmt, "-n", name, "--db", url, may_succeed=False)


SCHEMES = ["", "sqlite", "sqlite+pysqlite", "mysql", "oracle", "http", "file", "postgresql+asyncpg"]
FIXED_URLS = ["sqlite://", "sqlite:///:memory:", "sqlite:///", "sqlite:///.", "postgresql://", "://"]
FIXED_URLS += ["postgresql+psycopg://u@127.0.0.1:9/x", "postgresql://127.0.0.1:9/", "sqlite:////proc/x\n"]
urls = st.one_of(
    texts,
    relative.map(lambda t: f"sqlite:///{t}"),
    texts.map(lambda t: f"sqlite:///missing/{t}"),
    st.tuples(st.sampled_from(SCHEMES), relative).map(lambda p: f"{p[0]}://{p[1]}"),
    st.sampled_from(FIXED_URLS),
)
opening = st.sampled_from([["memory", "namespaces"], ["memory", "ls"], ["memory", "show", "1"]])


@cli
@given(command=opening, db=urls)
@example(command=["memory", "show", "1"], db="sqlite:///missing\ndir/memory.db")  # a message of two lines
@example(command=["memory", "ls"], db="postgresql://u@127.0.0.1:port/x")  # ValueError from SQLAlchemy
def test_a_hostile_database_url_is_refused_in_one_line(memory, command, db):
    assume(not db.startswith("-"))
    check(memory, *command, "--db", db, may_succeed=False)


@cli
@given(output=texts)
@example(output="memory.json")  # FileNotFoundError from the atomic write
def test_exporting_into_a_folder_that_does_not_exist_is_refused(memory, url, output):
    output = f"missing/folder/{output}"
    check(memory, "memory", "export", "-n", "fl", "-o", output, "--db", url, may_succeed=False)


RUN = {"--n-step": integers | texts, "--gamma": numbers, "--k": integers, "--epochs": integers}
RUN |= {"--train-tasks": task_lists, "--test-tasks": task_lists, "--lr": numbers, "--explore": numbers}
RUN |= {"--num-envs": integers, "--token-budget": integers, "--max-steps": integers, "--seed": integers}
RUN |= {"--pool-margin": numbers, "--policy": texts | st.sampled_from(["hf", "openai", "random"])}
RUN |= {"--memory": texts | st.just("static"), "--beta": numbers, "--temperature": numbers}


@cli
@given(options=with_values(RUN))
@example(options=["--n-step", "²"])  # ValueError from int()
@example(options=["--n-step", "9" * 5000])  # ValueError: beyond 4300 digits
@example(options=["--train-tasks", "²"])
@example(options=["--test-tasks", "0-" + "9" * 5000])
@example(options=["--train-tasks", "0-99999999999999"])  # a list of 10^14 seeds
def test_run_settings_with_hostile_values_never_start_a_run(memory, url, folder, options):
    # A run that gets past its settings stops at the environment, which does not exist.
    check(
        memory, "run", "--env", "no-such-env", "--policy", "random", "--db", url, *options, may_succeed=False
    )
    assert list(folder.iterdir()) == []  # nor its output folder, runs/latest (nor runs/)


REPLAY = {"--n-step": integers | texts, "--gamma": numbers, "--lr": numbers, "--similarity-floor": numbers}
REPLAY |= {"--update-mode": texts | st.sampled_from(["mean", "const"])}


@cli
@given(options=with_values(REPLAY), file=relative)
@example(options=["--n-step", "²"], file="log.jsonl")
@example(options=["--gamma", "1"], file="missing\nlog.jsonl")  # a message of two lines
def test_replay_with_hostile_settings_or_a_missing_log_is_refused(memory, url, options, file):
    assume(not file.startswith("-"))
    check(memory, "memory", "replay", file, "--db", url, *options, may_succeed=False)


tokens = texts | st.sampled_from(["--limit", "--offset", "-n", "--json", "--since", "-a", "--q", "--", "-h"])


@cli
@given(
    command=st.sampled_from([["ls"], ["stats"], ["edit"], ["search"], ["import"]]),
    args=st.lists(tokens, max_size=6),
)
@example(command=["ls"], args=["--bogus\nx"])
def test_any_arguments_after_a_command_never_raise_or_change_the_memory(memory, url, command, args):
    check(memory, "memory", *command, *args, "--db", url)

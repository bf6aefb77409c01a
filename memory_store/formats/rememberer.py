"""The REMEMBERER paper's memory files ("history pools"): YAML keyed by Python tuples.

A pool maps `(observation, task, third)` to `{action_dict: {(action, reason): {number, qvalue,
reward}}, other_info: {action_history, last_reward, total_reward, number}, id}`; `third` is kept
verbatim as the state's `extra`. Files load with a safe loader that knows the `python/tuple` tag
and nothing else, so no file can make the loader run code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from memory_store.errors import InvalidFile, first_problem, one_line
from memory_store.files import write_atomically
from memory_store.records import ActionRecord, ExperienceRecord, StateSnapshot

TUPLE_TAG = "tag:yaml.org,2002:python/tuple"
Strict = ConfigDict(extra="forbid", allow_inf_nan=False)


class AliasBomb(yaml.YAMLError):
    """A memory file whose aliases expand far beyond its own size."""


# An alias may stand for a node many times, as the paper's pools reuse an action tuple in the
# histories; but nested aliases expand exponentially (12 levels in 700 bytes stand for 9^11 nodes,
# minutes of work). A document may stand for at most this many times its distinct nodes, plus SLACK.
EXPANSION = 10
SLACK = 10_000
# Nesting deeper than this is refused (a pool needs a handful of levels); PyYAML composes recursively.
MAX_DEPTH = 100


def node_counts(root: yaml.Node) -> tuple[int, int]:
    """How many distinct nodes a document has, and how many it stands for with every alias written
    out (each node sized once, so this takes linear time even for a bomb)."""
    sizes: dict[int, int] = {}
    order, stack = [], [root]
    while stack:  # children before parents, without recursion (a bomb may nest deeply)
        node = stack.pop()
        if id(node) in sizes:
            continue
        sizes[id(node)] = 0
        order.append(node)
        stack.extend(children(node))
    for node in reversed(order):
        sizes[id(node)] = 1 + sum(sizes[id(child)] for child in children(node))
    return len(order), sizes[id(root)]


def children(node: yaml.Node) -> list[yaml.Node]:
    """The nodes directly inside a sequence or mapping node."""
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


class TooDeep(yaml.YAMLError):
    """A memory file nested beyond MAX_DEPTH."""


class TupleLoader(yaml.SafeLoader):
    """SafeLoader plus `!!python/tuple`; every other python tag stays unknown, hence refused.

    A document nested deeper than MAX_DEPTH, or whose aliases expand beyond EXPANSION times its own
    nodes, is refused before anything is built from it."""

    depth = 0

    def compose_node(self, parent, index):
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                raise TooDeep(f"it nests more than {MAX_DEPTH} levels deep")
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1

    def compose_document(self):
        root = super().compose_document()
        distinct, expanded = node_counts(root)
        if expanded > EXPANSION * distinct + SLACK:
            raise AliasBomb(
                f"its aliases (*name) expand to more than {EXPANSION} times its {distinct:,} nodes"
            )
        return root


TupleLoader.add_constructor(TUPLE_TAG, lambda loader, node: tuple(loader.construct_sequence(node, deep=True)))


class TupleDumper(yaml.SafeDumper):
    """SafeDumper that writes tuples as `!!python/tuple`, as the paper's files have them."""


TupleDumper.add_representer(tuple, lambda dumper, data: dumper.represent_sequence(TUPLE_TAG, data))

# Line breaks besides \n that PyYAML writes raw in single quotes, where reading folds them to spaces;
# in double quotes it escapes them.
OTHER_BREAKS = ("\x85", "\u2028", "\u2029")


def represent_str(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    """A text as PyYAML writes it, but double-quoted if it holds a line break other than \\n."""
    style = '"' if any(mark in text for mark in OTHER_BREAKS) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


TupleDumper.add_representer(str, represent_str)


class ActionStats(BaseModel):
    """One entry of `action_dict`."""

    model_config = Strict

    number: int = Field(ge=0)
    qvalue: float
    reward: float


class OtherInfo(BaseModel):
    """A pool record's `other_info`."""

    model_config = Strict

    # An entry is an action, or a tuple whose first item is one: `(action, reason)`, never `()`.
    action_history: list[Annotated[tuple[str, ...], Field(min_length=1)] | str]
    last_reward: float
    total_reward: float
    number: int = Field(ge=0)


class PoolRecord(BaseModel):
    """One state of a pool, with its tuple key spelled out."""

    model_config = Strict

    key: tuple[str, str, str]
    action_dict: dict[tuple[str, str], ActionStats]
    other_info: OtherInfo
    id: int


def parse(text: str, source: str) -> list[PoolRecord]:
    """Parse and validate a pool, refusing unknown tags and malformed records."""
    try:
        data = yaml.load(text, Loader=TupleLoader)  # noqa: S506 - TupleLoader is a SafeLoader
    except (AliasBomb, TooDeep) as exc:
        raise InvalidFile(f"{source}: refused: {exc}") from None
    except yaml.constructor.ConstructorError as exc:
        raise InvalidFile(
            f"{source}: refused: {one_line(str(exc.problem))} "
            "(only !!python/tuple is allowed in a memory file)"
        ) from None
    except yaml.YAMLError as exc:
        raise InvalidFile(f"{source}: not valid YAML: {str(exc).splitlines()[0]}") from None
    except (ValueError, TypeError, KeyError, AttributeError, OverflowError) as exc:
        # PyYAML fails so on values that do not fit their tag or escape: an int of 5000 digits,
        # `2001-13-01`, `!!bool x`, `!!timestamp x`, a list inside a tuple key, "\U99999999".
        raise InvalidFile(f"{source}: refused: a value YAML cannot read ({one_line(str(exc))})") from None
    if not isinstance(data, dict):
        raise InvalidFile(f"{source}: a REMEMBERER pool is a mapping from state tuples to records")
    records = []
    for position, (key, value) in enumerate(data.items()):
        try:
            records.append(
                PoolRecord.model_validate({"key": key, **(value if isinstance(value, dict) else {})})
            )
        except ValidationError as exc:
            raise InvalidFile(f"{source}: record {position}: {first_problem(exc)}") from None
    return records


def to_snapshot(record: PoolRecord) -> StateSnapshot:
    """Our state for a pool record: actions are the tuples' first items, reasons their second."""
    observation, task, third = record.key
    return StateSnapshot(
        task=task,
        observation=observation,
        extra=third,
        visits=record.other_info.number,
        last_reward=record.other_info.last_reward,
        total_reward=record.other_info.total_reward,
        action_history=tuple(h[0] if isinstance(h, tuple) else h for h in record.other_info.action_history),
        actions=tuple(
            ActionRecord(action, reason, stats.qvalue, stats.reward, stats.number)
            for (action, reason), stats in record.action_dict.items()
        ),
    )


def load(path: Path) -> list[StateSnapshot]:
    """Read a pool file into states, ordered by the records' ids."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidFile(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None
    return [to_snapshot(record) for record in sorted(parse(text, str(path)), key=lambda r: r.id)]


def dump(records: list[ExperienceRecord], namespace: str, embedding_model: str, path: Path) -> None:
    """Write states as a pool the paper's code can load (history entries get an empty reason)."""
    pool = {
        (r.observation, r.task, r.extra): {
            "action_dict": {
                (a.action, a.reason): {"number": a.visits, "qvalue": a.q, "reward": a.reward}
                for a in r.actions
            },
            "other_info": {
                "action_history": [(action, "") for action in r.action_history],
                "last_reward": r.last_reward,
                "total_reward": r.total_reward,
                "number": r.visits,
            },
            "id": position,
        }
        for position, r in enumerate(records)
    }
    text = yaml.dump(pool, Dumper=TupleDumper, allow_unicode=True, sort_keys=False)
    write_atomically(path, text.encode("utf-8"))

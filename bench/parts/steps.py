"""`rlem bench` part `steps`: what the memory costs an agent step, without the LLM: retrieve, build the
prompt, update.

A step does what `rlem.agent.Agent` does around the policy call: `rlem.learning.double_q.retrieve` (embed
the state's text, then `ExperienceStore.nearest`), `rlem.agent.exemplars.build_prompt` with the packaged
SmolLM2 tokenizer and the pattern templates its policy uses, and one n-step (n=1) Q-learning
update: an `EpisodeLearner` observing the step, which reads the next state's max Q and applies one
update in its own transaction. The store is SQLite, filled in bulk with synthetic states; the
steps walk through stored states (a memory that has seen them), each state once, so that the
embedder's cache never answers.
"""

from __future__ import annotations

import contextlib
import io
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from rich.progress import Progress
from sqlalchemy import select

from bench.machine import load_average
from bench.parts.context import Context, ratio
from bench.synthetic import ACTIONS, Clusters, fill_sqlite
from memory_store import ExperienceStore, Retrieved, StoreConfig, open_database
from memory_store.db.models import Experience
from memory_store.vectors.embedder import Embedder
from memory_store.vectors.index import IndexKind
from rlem.agent.exemplars import (
    PATTERN_TEMPLATE_DIR,
    ExemplarConfig,
    HFTokenizer,
    build_prompt,
    load_templates,
)
from rlem.learning.double_q import retrieve
from rlem.learning.qlearning import EpisodeLearner, Rule, Step, Tables
from rlem.policies.backends.hf import packaged_model

NAMESPACE = "steps"
PARTS = ("embed", "search", "prompt", "update")


@dataclass(frozen=True)
class StepParams:
    """Sizes and settings of the step-overhead benchmark."""

    sizes: tuple[int, ...]
    steps: int
    warmup: int
    kinds: tuple[IndexKind, ...] = ("flat", "hnsw")
    episode_length: int = 4
    k: int = 2  # `rlem run`'s defaults: two exemplars in a 1536-token budget
    token_budget: int = 1536
    gamma: float = 0.9
    dim: int = 384
    clusters: int = 200
    noise: float = 0.05
    seed: int = 20230607


FULL = StepParams(sizes=(10_000, 100_000), steps=300, warmup=20)
QUICK = StepParams(sizes=(2_000,), steps=30, warmup=5, kinds=("flat",))


class TimedStore:
    """The two store calls `retrieve` makes, timed: embedding the text, and the nearest-state search."""

    def __init__(self, store: ExperienceStore):
        self.store = store
        self.embed_s = self.search_s = 0.0

    def embed(self, task: str, observation: str) -> np.ndarray:
        """`ExperienceStore.embed`, timed."""
        start = time.perf_counter()
        vector = self.store.embed(task, observation)
        self.embed_s = time.perf_counter() - start
        return vector

    def nearest(self, vector: np.ndarray, k: int) -> list[Retrieved]:
        """`ExperienceStore.nearest`, timed."""
        start = time.perf_counter()
        hits = self.store.nearest(vector, k)
        self.search_s = time.perf_counter() - start
        return hits


def packaged_tokenizer() -> HFTokenizer:
    """The SmolLM2 tokenizer from the packaged GGUF file (the default policy's tokenizer)."""
    from transformers import AutoTokenizer

    path = packaged_model()
    # The GGUF reader draws a tqdm bar on stderr; the suite shows its own progress.
    with contextlib.redirect_stderr(io.StringIO()):
        return HFTokenizer(AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name))


def episodes(labels: np.ndarray, length: int, count: int, seed: int) -> list[list[int]]:
    """`count` episodes of `length` steps (plus the state reached), each on states of one task.

    Rows are drawn without replacement, so no state is visited twice.
    """
    order = np.random.default_rng(seed).permutation(len(labels))
    by_label: dict[int, list[int]] = {}
    for row in order.tolist():
        by_label.setdefault(int(labels[row]), []).append(row)
    made = [rows[i : i + length + 1] for rows in by_label.values() for i in range(0, len(rows), length + 1)]
    made = [rows for rows in made if len(rows) == length + 1]
    if len(made) < count:
        raise ValueError(f"{len(labels)} states make only {len(made)} episodes of {length} steps")
    return made[:count]


def state_texts(url: str, rows: list[int]) -> dict[int, tuple[str, str]]:
    """(task, observation) of stored states by row (state id = row + 1, as `fill_sqlite` numbers them)."""
    db = open_database(url, create=False)
    try:
        with db.read() as session:
            found = session.execute(
                select(Experience.id, Experience.task, Experience.observation).where(
                    Experience.id.in_([row + 1 for row in rows])
                )
            )
            return {state_id - 1: (task, observation) for state_id, task, observation in found}
    finally:
        db.close()


def time_steps(
    store: ExperienceStore,
    plan: list[list[int]],
    texts: dict[int, tuple[str, str]],
    params: StepParams,
    tokenizer: HFTokenizer,
    advance: Callable[[int], None],
) -> dict[str, np.ndarray]:
    """Run the planned episodes step by step; per step, the seconds of each part."""
    timed = TimedStore(store)
    tables = Tables([store])
    rule = Rule(n_step=1, gamma=params.gamma)
    exemplars = ExemplarConfig(k=params.k, token_budget=params.token_budget)
    templates = load_templates(PATTERN_TEMPLATE_DIR)
    rng = np.random.default_rng(params.seed)
    parts: dict[str, list[float]] = {name: [] for name in PARTS}
    for episode in plan:
        task = texts[episode[0]][0]
        learner = EpisodeLearner(task, rule)
        for here, there in zip(episode[:-1], episode[1:], strict=True):
            observation, next_observation = texts[here][1], texts[there][1]
            start = time.perf_counter()
            # TimedStore stands in for the store: retrieve only embeds and searches.
            hits = retrieve(timed, None, task, observation, params.k)  # type: ignore[arg-type]
            retrieved = time.perf_counter()
            build_prompt(
                task,
                observation,
                ACTIONS,
                hits,
                exemplars,
                tokenizer,
                templates,
                rng,
                last_actions=[s.action for s in learner.steps],
            )
            built = time.perf_counter()
            action = ACTIONS[int(rng.integers(len(ACTIONS)))]
            step = Step(observation, ACTIONS, action, float(rng.random()))
            learner.observe(tables, step, next_observation, False)
            done = time.perf_counter()
            parts["embed"].append(timed.embed_s)
            # The rest of retrieve (merging, none without double Q) counts as search.
            parts["search"].append(retrieved - start - timed.embed_s)
            parts["prompt"].append(built - retrieved)
            parts["update"].append(done - built)
            advance(1)
    kept = slice(params.warmup, params.warmup + params.steps)
    return {name: np.asarray(values[kept]) * 1000 for name, values in parts.items()}


def summary(parts: dict[str, np.ndarray]) -> dict[str, Any]:
    """p50/p99 of whole steps, and each part's p50 and share of the total time."""
    total = sum(parts.values())
    return {
        "steps": len(total),
        "p50_ms": round(float(np.percentile(total, 50)), 3),
        "p99_ms": round(float(np.percentile(total, 99)), 3),
        "mean_ms": round(float(total.mean()), 3),
        "parts": {
            name: {
                "p50_ms": round(float(np.percentile(values, 50)), 3),
                "share": round(float(values.sum() / total.sum()), 3),
            }
            for name, values in parts.items()
        },
    }


def run(params: StepParams, embedder: Embedder, progress: Progress) -> dict[str, Any]:
    """Fill a store of each size, then time agent steps on it with each index kind."""
    tokenizer = packaged_tokenizer()
    clusters = Clusters.make(params.clusters, params.dim, params.noise, params.seed)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="rlem-steps-") as tmp:
        for size in params.sizes:
            points, labels = clusters.sample(size, params.seed + 1)
            url = f"sqlite:///{Path(tmp) / f'steps-{size}.db'}"
            fill = progress.add_task(f"bulk insert, {size:,} states", total=size)
            fill_sqlite(url, NAMESPACE, embedder.model_name, points, labels, partial(progress.advance, fill))
            per_episode = params.episode_length
            per_kind = -(-(params.warmup + params.steps) // per_episode)
            plan = episodes(labels, per_episode, per_kind * len(params.kinds), params.seed)
            texts = state_texts(url, sorted({row for episode in plan for row in episode}))
            for i, kind in enumerate(params.kinds):
                config = StoreConfig(
                    url=url, namespace=NAMESPACE, index_kind=kind, use_gpu=False, persist_index=False
                )
                share = plan[i :: len(params.kinds)]  # each kind walks its own states
                task = progress.add_task(
                    f"agent steps, {kind}, {size:,} states", total=len(share) * per_episode
                )
                advance = partial(progress.advance, task)
                with ExperienceStore.open(config, embedder=embedder, create=False) as store:
                    parts = time_steps(store, share, texts, params, tokenizer, advance)
                rows.append({"states": size, "index": kind, **summary(parts), "load_avg_1m": load_average()})
    return {"params": asdict(params), "rows": rows}


def section(context: Context, progress: Progress) -> dict[str, Any]:
    """Retrieve, prompt and update per agent step, without the LLM, with the p50 ratios between
    store sizes and between index kinds."""
    params = QUICK if context.quick else FULL
    measured = run(params, context.embedder(), progress)
    p50 = {(r["states"], r["index"]): r["p50_ms"] for r in measured["rows"]}
    smallest, largest = min(params.sizes), max(params.sizes)
    return measured | {
        "ratios": {
            **{
                f"{kind} {largest} vs {smallest}": ratio(p50[largest, kind], p50[smallest, kind])
                for kind in params.kinds
                if largest != smallest
            },
            **{
                f"hnsw vs flat {size}": ratio(p50[size, "hnsw"], p50[size, "flat"])
                for size in params.sizes
                if {"flat", "hnsw"} <= set(params.kinds)
            },
        }
    }

"""`rlem bench` part `policy`: transformers generate vs score at batch 1 and 8, llama.cpp at batch 1,
and scoring step by step with the recent prompts' key/value rows kept against whole prompts.

    rlem bench --only policy [--quick]    # writes policy.json and policy.md in their own format

The packaged SmolLM2-135M-Instruct decides on FrozenLake-like prompts with one exemplar (the
advice-following benchmark's prompts). Decisions/s counts situations decided per second of wall
time; tokens/s counts prompt plus generated tokens processed per second. Both decide modes see the
same prompts; each configuration runs after one warm-up batch.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from importlib.util import find_spec

import numpy as np
from rich.progress import Progress

from bench.advice_following import MOVES, TASK, trial
from bench.machine import describe_machine, load_average
from bench.markdown import table
from bench.parts.context import Context, ratio, write_json
from envs import make_env
from rlem.agent.exemplars import (
    PATTERN_TEMPLATE_DIR,
    ExemplarConfig,
    HFTokenizer,
    build_prompt,
    load_templates,
)
from rlem.policies.backends.hf import HFConfig, HFPolicy, packaged_model
from rlem.policies.backends.llamacpp import LlamaCppConfig, LlamaCppPolicy
from rlem.policies.backends.scoring import Scorer
from rlem.policies.base import Policy, Situation

# hf generate and score at batch 1 and 8, shared against whole prompts, llama.cpp generate and score
CONFIGURATIONS = 7
# Why llama.cpp rows are missing when its extra is not installed.
LLAMACPP_MISSING = "llama-cpp-python is not installed (RLEM_EXTRAS=llamacpp python3 dev.py setup)"


def situations(count: int, policy: HFPolicy) -> list[Situation]:
    """`count` FrozenLake-like situations with one exemplar each (pattern layout)."""
    tokenizer, templates = HFTokenizer(policy.tokenizer), load_templates(PATTERN_TEMPLATE_DIR)
    made = []
    for i in range(count):
        hit, current, _ = trial(np.random.default_rng(i))
        prompt = build_prompt(
            TASK, current, MOVES, [hit], ExemplarConfig(token_budget=2048), tokenizer, templates
        )
        made.append(Situation(TASK, current, MOVES, (hit,), prompt=prompt.text, encouraged=prompt.encouraged))
    return made


def measure(policy: Policy, warm_up: list[Situation], cases: list[Situation], batch: int) -> dict:
    """Decide all cases in batches of `batch` after deciding `warm_up` (other situations, so that
    nothing scored is kept for the cases); return the rates."""
    policy.decide(warm_up[:batch], training=False)
    tokens, started = 0, time.perf_counter()
    for start in range(0, len(cases), batch):
        for decision in policy.decide(cases[start : start + batch], training=False):
            tokens += decision.prompt_tokens + decision.generated_tokens
    seconds = time.perf_counter() - started
    return {"decisions_per_s": len(cases) / seconds, "tokens_per_s": tokens / seconds, "seconds": seconds}


def stepped_batches(policy: HFPolicy, batches: int, seed: int) -> list[tuple[list, list]]:
    """`batches` batches of the main job's prompts: 8 random 4x4 maps stepped side by side by seeded
    random moves, a new map where an episode ends. The prompts carry no exemplar: `--memory off`'s."""
    tokenizer, templates = HFTokenizer(policy.tokenizer), load_templates(PATTERN_TEMPLATE_DIR)
    rng, seeds = np.random.default_rng(seed), iter(range(seed, 10**9))
    envs = [make_env("frozenlake:4x4:random:20") for _ in range(8)]
    seen = [e.reset(seed=next(seeds)) for e in envs]
    made = []
    for _ in range(batches):
        prompts, candidates = [], []
        for now in seen:
            text = build_prompt(
                now.task, now.text, now.available_actions, [],
                ExemplarConfig(token_budget=2048), tokenizer, templates,
            ).text  # fmt: skip
            prompts.append(policy.encode(text))
            candidates.append([policy.candidate_ids(text, a) for a in now.available_actions])
        made.append((prompts, candidates))
        for i, (e, now) in enumerate(zip(envs, seen, strict=True)):
            result = e.step(now.available_actions[int(rng.integers(len(now.available_actions)))])
            done = result.terminated or result.truncated
            seen[i] = e.reset(seed=next(seeds)) if done else result.observation
    for e in envs:
        e.close()
    return made


def sharing(policy: HFPolicy, decisions: int) -> dict:
    """Scoring the main job's prompts step by step (`stepped_batches`) with the recent prompts' rows
    kept against every prompt whole, side by side, and the largest score gap."""
    batches = stepped_batches(policy, decisions // 8, seed=0)
    scorers = {
        "shared": Scorer(policy.model, policy.pad_id),
        "whole": Scorer(policy.model, policy.pad_id, keep=0),
    }
    seconds, scores = {name: 0.0 for name in scorers}, {name: [] for name in scorers}
    (warm_up,) = stepped_batches(policy, 1, seed=10_000)
    for scorer in scorers.values():
        scorer.score(*warm_up)
    for prompts, candidates in batches:
        for name, scorer in scorers.items():
            started = time.perf_counter()
            scores[name] += scorer.score(prompts, candidates)
            seconds[name] += time.perf_counter() - started
    pairs = zip(scores["shared"], scores["whole"], strict=True)
    gap = max(abs(a - b) for x, y in pairs for a, b in zip(x, y, strict=True))
    return {
        "batches": len(batches),
        "prompt_tokens": sum(len(p) for prompts, _ in batches for p in prompts) / (8 * len(batches)),
        "seconds_per_batch": {name: t / len(batches) for name, t in seconds.items()},
        "speedup": seconds["whole"] / seconds["shared"],
        "max_score_gap": gap,
    }


def run(decisions: int, advance: Callable[[int], None] = lambda n: None) -> dict:
    """Every (mode, batch) configuration on the same situations; `advance(1)` after each of them."""
    base = HFPolicy(HFConfig(model=packaged_model(), max_new_tokens=16))
    made = situations(decisions + 8, base)
    cases, warm_up = made[:decisions], made[decisions:]
    rows = []
    for mode in ("generate", "score"):
        for batch in (1, 8):
            # A new policy each time: a scorer keeps the rows of the prompts it scored last.
            policy = HFPolicy(base.config.model_copy(update={"decide": mode}), base.model, base.tokenizer)
            row = {"backend": "hf", "mode": mode, "batch": batch, "decisions": decisions}
            rows.append(row | measure(policy, warm_up, cases, batch))
            advance(1)
    shared = sharing(base, decisions)
    advance(1)
    skipped = None if find_spec("llama_cpp") else LLAMACPP_MISSING
    for mode in ("generate", "score"):
        if skipped is None:
            native = LlamaCppPolicy(LlamaCppConfig(decide=mode, max_tokens=16, seed=0))
            row = {"backend": "llamacpp", "mode": mode, "batch": 1, "decisions": decisions}
            rows.append(row | measure(native, warm_up, cases, 1))
            native.close()
        advance(1)
    device = str(next(base.model.parameters()).device)
    return {
        "benchmark": "policy_throughput",
        "command": f"bench.parts.policy.run({decisions})",  # the suite puts its own command here
        "model": packaged_model().name,
        "device": device,
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": describe_machine(None, load_average()),
        "results": rows,
        "llamacpp_skipped": skipped,
        "sharing": shared,
    }


def faster(a: dict, b: dict) -> float:
    """Decisions/s of a over b, measured side by side in the same run."""
    return a["decisions_per_s"] / b["decisions_per_s"]


def render(result: dict) -> str:
    """The markdown report of one run."""
    by = {(r["mode"], r["batch"]): r for r in result["results"] if r["backend"] == "hf"}
    native = {r["mode"]: r for r in result["results"] if r["backend"] == "llamacpp"}
    shared = result["sharing"]
    lines = [
        "# Policy throughput",
        "",
        f"`{result['command']}` on {result['started_at']}: {result['model']} on {result['device']}; "
        f"machine: {result['machine']['cpu']}, {result['machine']['cores']} cores. "
        "Pattern layout, one exemplar, 4 admissible actions, generate with up to 16 new tokens.",
        "",
        *table(
            ["backend", "mode", "batch", "decisions/s", "tokens/s"],
            [
                [
                    r["backend"],
                    r["mode"],
                    r["batch"],
                    f"{r['decisions_per_s']:.2f}",
                    f"{r['tokens_per_s']:.0f}",
                ]
                for r in result["results"]
            ],
        ),
        "",
        "score / generate at batch 1: "
        f"{faster(by['score', 1], by['generate', 1]):.2f}x; batch 8 / batch 1 for score: "
        f"{faster(by['score', 8], by['score', 1]):.2f}x, "
        f"for generate: {faster(by['generate', 8], by['generate', 1]):.2f}x; "
        + (
            f"llama.cpp / transformers at batch 1: score {faster(native['score'], by['score', 1]):.2f}x, "
            f"generate {faster(native['generate'], by['generate', 1]):.2f}x."
            if native
            else f"llama.cpp: not measured, {result['llamacpp_skipped']}."
        ),
        "",
        f"Scoring the main job's prompts step by step (8 random 4x4 maps stepped side by side by random "
        f"moves, no exemplars, {shared['prompt_tokens']:.0f} tokens, {shared['batches']} batches "
        f"after a warm-up on other maps): {shared['seconds_per_batch']['shared']:.2f} s per batch with "
        f"the recent prompts' rows kept, {shared['seconds_per_batch']['whole']:.2f} s "
        f"with every prompt whole: {shared['speedup']:.2f}x; "
        f"largest score gap {shared['max_score_gap']:.1e}.",
    ]
    return "\n".join(lines) + "\n"


DECISIONS = {"full": 32, "quick": 8}


def section(context: Context, progress: Progress) -> dict:
    """Decisions/s of generate and score at batch 1 and 8 (`--num-envs 8`), on a GPU when there is one,
    and scoring with the recent prompts' key/value rows kept against whole prompts. Also writes
    policy.json and policy.md in this part's own format."""
    task = progress.add_task("policy throughput", total=CONFIGURATIONS)
    result = run(DECISIONS[context.mode], partial(progress.advance, task))
    result["command"] = context.command
    write_json(context.out / "policy.json", result)
    (context.out / "policy.md").write_text(render(result))
    by = {(r["backend"], r["mode"], r["batch"]): r["decisions_per_s"] for r in result["results"]}
    return {
        "model": result["model"],
        "device": result["device"],
        "decisions": DECISIONS[context.mode],
        "rows": result["results"],
        "ratios": {
            "score_vs_generate_batch1": ratio(by["hf", "score", 1], by["hf", "generate", 1]),
            "score_vs_generate_batch8": ratio(by["hf", "score", 8], by["hf", "generate", 8]),
            "batch8_vs_batch1_generate": ratio(by["hf", "generate", 8], by["hf", "generate", 1]),
            "batch8_vs_batch1_score": ratio(by["hf", "score", 8], by["hf", "score", 1]),
            "llamacpp_vs_hf_generate": ratio(by.get(("llamacpp", "generate", 1)), by["hf", "generate", 1]),
            "llamacpp_vs_hf_score": ratio(by.get(("llamacpp", "score", 1)), by["hf", "score", 1]),
        },
        "sharing": result["sharing"],
    }

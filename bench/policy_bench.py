"""Policy throughput: transformers generate vs score at batch 1 and 8, llama.cpp at batch 1, and
scoring with a shared prompt beginning against whole prompts.

    python -m bench.policy_bench [--decisions 32] [--out bench/results]

The packaged SmolLM2-135M-Instruct decides on FrozenLake-like prompts with one exemplar (the
advice-following benchmark's prompts). Decisions/s counts situations decided per second of wall
time; tokens/s counts prompt plus generated tokens processed per second. Both decide modes see the
same prompts; each configuration runs after one warm-up batch.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from datetime import datetime, timezone
from functools import partial
from pathlib import Path

import numpy as np
from rich.progress import Progress

from bench.advice_following import MOVES, TASK, trial
from bench.machine import describe_machine, load_average
from bench.report import table
from envs import make_env
from rlem.exemplars import PATTERN_TEMPLATE_DIR, ExemplarConfig, HFTokenizer, build_prompt, load_templates
from rlem.policies.base import Situation
from rlem.policies.hf import HFConfig, HFPolicy, packaged_model
from rlem.policies.llamacpp import LlamaCppConfig, LlamaCppPolicy
from rlem.policies.scoring import Scorer

# hf generate and score at batch 1 and 8, shared against whole prompts, llama.cpp generate and score
CONFIGURATIONS = 7


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


def measure(policy: HFPolicy, cases: list[Situation], batch: int) -> dict:
    """Decide all cases in batches of `batch` after one warm-up batch; return the rates."""
    policy.decide(cases[:batch], training=False)
    tokens, started = 0, time.perf_counter()
    for start in range(0, len(cases), batch):
        for decision in policy.decide(cases[start : start + batch], training=False):
            tokens += decision.prompt_tokens + decision.generated_tokens
    seconds = time.perf_counter() - started
    return {"decisions_per_s": len(cases) / seconds, "tokens_per_s": tokens / seconds, "seconds": seconds}


def sharing(policy: HFPolicy, decisions: int) -> dict:
    """Scoring the main job's prompts (random 4x4 FrozenLake maps, batches of 8) with the shared
    beginning against every prompt whole, batch by batch side by side, and the largest score gap."""
    tokenizer, templates = HFTokenizer(policy.tokenizer), load_templates(PATTERN_TEMPLATE_DIR)
    env, batches = make_env("frozenlake:4x4:random:20"), []
    for start in range(0, decisions, 8):
        prompts, candidates = [], []
        for seed in range(start, start + 8):
            seen = env.reset(seed=seed)
            text = build_prompt(
                seen.task,
                seen.text,
                seen.available_actions,
                [],
                ExemplarConfig(token_budget=2048),
                tokenizer,
                templates,
            ).text
            prompts.append(policy.encode(text))
            candidates.append([policy.candidate_ids(text, a) for a in seen.available_actions])
        batches.append((prompts, candidates))
    scorers = {
        "shared": Scorer(policy.model, policy.pad_id),
        "whole": Scorer(policy.model, policy.pad_id, False),
    }
    seconds, scores = {name: 0.0 for name in scorers}, {name: [] for name in scorers}
    for scorer in scorers.values():
        scorer.score(*batches[0])  # warm-up
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
    cases = situations(decisions, base)
    rows = []
    for mode in ("generate", "score"):
        policy = HFPolicy(base.config.model_copy(update={"decide": mode}), base.model, base.tokenizer)
        for batch in (1, 8):
            row = {"backend": "hf", "mode": mode, "batch": batch, "decisions": decisions}
            rows.append(row | measure(policy, cases, batch))
            advance(1)
    shared = sharing(base, decisions)
    advance(1)
    for mode in ("generate", "score"):
        native = LlamaCppPolicy(LlamaCppConfig(decide=mode, max_tokens=16, seed=0))
        row = {"backend": "llamacpp", "mode": mode, "batch": 1, "decisions": decisions}
        rows.append(row | measure(native, cases, 1))
        native.close()
        advance(1)
    device = str(next(base.model.parameters()).device)
    return {
        "benchmark": "policy_throughput",
        "command": "python -m bench.policy_bench" + (f" --decisions {decisions}" if decisions != 32 else ""),
        "model": packaged_model().name,
        "device": device,
        "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": describe_machine(None, load_average()),
        "results": rows,
        "sharing": shared,
    }


def ratio(a: dict, b: dict) -> float:
    """Decisions/s of a over b, measured side by side in the same run."""
    return a["decisions_per_s"] / b["decisions_per_s"]


def main() -> None:
    """Run and write policy.json and policy.md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", type=int, default=32)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    args = parser.parse_args()
    with Progress() as progress:
        task = progress.add_task("policy throughput", total=CONFIGURATIONS)
        result = run(args.decisions, partial(progress.advance, task))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "policy.json").write_text(json.dumps(result, indent=1) + "\n")
    text = render(result)
    (args.out / "policy.md").write_text(text)
    print(text)


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
        f"{ratio(by['score', 1], by['generate', 1]):.2f}x; batch 8 / batch 1 for score: "
        f"{ratio(by['score', 8], by['score', 1]):.2f}x, "
        f"for generate: {ratio(by['generate', 8], by['generate', 1]):.2f}x; "
        f"llama.cpp / transformers at batch 1: score {ratio(native['score'], by['score', 1]):.2f}x, "
        f"generate {ratio(native['generate'], by['generate', 1]):.2f}x.",
        "",
        f"Scoring the main job's prompts (random 4x4 maps, {shared['prompt_tokens']:.0f} tokens, "
        f"{shared['batches']} batches of 8, side by side): {shared['seconds_per_batch']['shared']:.2f} s "
        f"per batch with the shared beginning computed once, {shared['seconds_per_batch']['whole']:.2f} s "
        f"with every prompt whole: {shared['speedup']:.2f}x; "
        f"largest score gap {shared['max_score_gap']:.1e}.",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()

"""How often the default model takes the action an exemplar encourages, per prompt layout.

    python -m bench.advice_following [--trials 20] [--out bench/results]

FrozenLake-like prompts: one exemplar (another cell of the same map) whose advice encourages one
of the four moves at random; the model decides in score mode. A model that ignored the advice
would follow it about 1 time in 4. Compares the paper's layout (chat format) with the
pattern-completion layout (raw completion), on the packaged SmolLM2-135M-Instruct.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from rich.progress import Progress

from bench.machine import describe_machine, load_average
from bench.markdown import table
from memory_store import ActionRecord, ExperienceRecord, Retrieved
from rlem.agent.exemplars import (
    DEFAULT_TEMPLATE_DIR,
    PATTERN_TEMPLATE_DIR,
    ExemplarConfig,
    HFTokenizer,
    build_prompt,
    load_templates,
)
from rlem.policies.backends.hf import HFConfig, HFPolicy, packaged_model
from rlem.policies.base import Situation, followed_advice

MOVES = ("move left", "move down", "move right", "move up")
TASK = "Walk on the frozen lake from S to the goal G without stepping into a hole H."
MAP = ["SFFF", "FHFH", "FFFH", "HFFG"]
LAYOUTS = {"paper": (DEFAULT_TEMPLATE_DIR, True), "pattern": (PATTERN_TEMPLATE_DIR, False)}
NOW = datetime.now(UTC)


def observation(row: int, col: int) -> str:
    """The map with the agent's cell marked, in words and as a grid."""
    grid = [
        "".join("A" if (r, c) == (row, col) else ch for c, ch in enumerate(line))
        for r, line in enumerate(MAP)
    ]
    return f"You are at row {row + 1}, column {col + 1} (marked A).\n" + "\n".join(grid)


def trial(rng: np.random.Generator) -> tuple[Retrieved, str, str]:
    """(exemplar with random advice, current observation, encouraged move)."""
    cells = [(r, c) for r in range(4) for c in range(4) if MAP[r][c] in "SF"]
    here, there = rng.choice(len(cells), size=2, replace=False)
    good = MOVES[int(rng.integers(4))]
    actions = tuple(ActionRecord(m, "", 1.0 if m == good else 0.0, 0.0, 1) for m in MOVES)
    record = ExperienceRecord(
        1, TASK, observation(*cells[there]), MOVES, "", 1, 0.0, 0.0, (), NOW, NOW, actions
    )
    return Retrieved(0.9, record), observation(*cells[here]), good


def run(trials: int, seed: int) -> dict:
    """Advice-following rate of each layout over the same trials."""
    base = HFPolicy(HFConfig(model=packaged_model(), decide="score"))
    tokenizer = HFTokenizer(base.tokenizer)
    cases = [trial(np.random.default_rng(seed + i)) for i in range(trials)]
    rows = []
    with Progress() as progress:
        for layout, (directory, chat) in LAYOUTS.items():
            policy = HFPolicy(base.config.model_copy(update={"chat": chat}), base.model, base.tokenizer)
            assert policy.chat == chat, "the layout under test needs its own prompt format"
            templates = load_templates(directory)
            task = progress.add_task(f"{layout} layout", total=trials)
            followed, started = 0, time.perf_counter()
            for hit, current, _ in cases:
                prompt = build_prompt(
                    TASK, current, MOVES, [hit], ExemplarConfig(token_budget=2048), tokenizer, templates
                )
                situation = Situation(
                    TASK, current, MOVES, (hit,), prompt=prompt.text, encouraged=prompt.encouraged
                )
                followed += bool(
                    followed_advice(situation.encouraged, policy.decide([situation], training=False)[0])
                )
                progress.advance(task)
            rows.append(
                {
                    "layout": layout,
                    "chat_format": chat,
                    "trials": trials,
                    "followed": followed,
                    "rate": followed / trials,
                    "seconds": round(time.perf_counter() - started, 2),
                }
            )
    return {
        "benchmark": "advice_following",
        "command": "python -m bench.advice_following" + (f" --trials {trials}" if trials != 20 else ""),
        "model": packaged_model().name,
        "decide": "score",
        "chance_rate": 1 / len(MOVES),
        "started_at": NOW.isoformat(timespec="seconds"),
        "machine": describe_machine(None, load_average()),
        "results": rows,
    }


def main() -> None:
    """Run and write advice_following.json and .md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    args = parser.parse_args()
    result = run(args.trials, args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "advice_following.json").write_text(json.dumps(result, indent=1) + "\n")
    lines = [
        "# Advice following of the default model",
        "",
        f"`{result['command']}` on {result['started_at']}: {result['model']}, score mode; "
        f"chance is {result['chance_rate']:.2f}. Machine: {result['machine']['cpu']}, "
        f"{result['machine']['cores']} cores.",
        "",
        *table(
            ["layout", "chat format", "followed", "trials", "rate"],
            [
                [r["layout"], r["chat_format"], r["followed"], r["trials"], f"{r['rate']:.2f}"]
                for r in result["results"]
            ],
        ),
    ]
    (args.out / "advice_following.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

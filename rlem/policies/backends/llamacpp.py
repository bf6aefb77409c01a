"""llama-cpp-python policy: the fast path on CPU, for GGUF models (install the `llamacpp` extra).

`generate` uses the shared generate/retry/fallback flow; `score` evaluates the prompt once and
then each candidate action on top of it (rewinding the key/value cache to the prompt's end), so a
further candidate costs only its own tokens.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from rlem.errors import RlemError
from rlem.policies.backends.baselines import MemoryGreedyPolicy
from rlem.policies.backends.echo import continuation
from rlem.policies.backends.generation import Completion, decide_by_generation
from rlem.policies.backends.matching import DEFAULT_THRESHOLD
from rlem.policies.base import Decision, Policy, Situation


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Log-probabilities from one row of logits."""
    shifted = logits - logits.max()
    return shifted - np.log(np.exp(shifted).sum())


class LlamaCppConfig(BaseModel):
    """Settings of the llama.cpp policy."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: Path | None = None
    decide: Literal["generate", "score"] = "score"
    context: int = Field(default=4096, ge=256)
    threads: int | None = None
    max_tokens: int = Field(default=32, ge=1)
    # Raw completion suits the small packaged model and the pattern layout; chat format, large ones.
    chat: bool = False
    match_threshold: float = Field(default=DEFAULT_THRESHOLD, gt=0, le=1)
    seed: int | None = None


class LlamaCppPolicy(Policy):
    """A GGUF model run in-process by llama.cpp."""

    name = "llamacpp"

    def __init__(self, config: LlamaCppConfig):
        try:
            from llama_cpp import Llama
        except ImportError:
            raise RlemError(
                "the llamacpp policy needs llama-cpp-python, an extra of rlem: pip install 'rlem[llamacpp]' "
                "(or RLEM_EXTRAS=llamacpp python3 dev.py setup)"
            ) from None
        from rlem.policies.backends.hf import packaged_model

        path = config.model or packaged_model()
        if not path.exists():
            raise RlemError(f"model {path} does not exist: pass a .gguf file")
        self.config = config
        self.llm = Llama(
            model_path=str(path),
            n_ctx=config.context,
            n_threads=config.threads,
            logits_all=True,
            seed=config.seed or 0,
            verbose=False,
        )
        self.fallback = MemoryGreedyPolicy(seed=config.seed)

    def complete_one(self, prompt: str) -> Completion:
        """One greedy completion, in chat format if configured."""
        if self.config.chat:
            answer = self.llm.create_chat_completion(
                messages=[{"role": "user", "content": prompt}],
                max_tokens=self.config.max_tokens,
                temperature=0.0,
            )
            text = answer["choices"][0]["message"].get("content") or ""
        else:
            answer = self.llm.create_completion(prompt, max_tokens=self.config.max_tokens, temperature=0.0)
            text = answer["choices"][0].get("text") or ""
        usage = answer.get("usage") or {}
        return Completion(text, int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0)))

    def action_logprobs(self, prompt: str, actions: Sequence[str]) -> tuple[list[float], int]:
        """Mean log-probability of each action's tokens after the prompt, and the prompt's length.

        The prompt is evaluated once; for each action the context is rewound to the prompt's end.
        (Read from the logits directly: llama-cpp-python 0.3's echoed `token_logprobs` are those of
        the token after each token, one position off.)
        """
        prefix = self.llm.tokenize(prompt.encode(), add_bos=True, special=True)
        self.llm.reset()
        self.llm.eval(prefix)
        start = self.llm.n_tokens
        first = log_softmax(self.llm.scores[start - 1])
        means = []
        for action in actions:
            tokens = self.llm.tokenize(continuation(prompt, action).encode(), add_bos=False, special=False)
            self.llm.n_tokens = start
            self.llm.eval(tokens)
            total = first[tokens[0]] + sum(
                log_softmax(self.llm.scores[start + k - 1])[token]
                for k, token in enumerate(tokens[1:], start=1)
            )
            means.append(float(total) / len(tokens))
        return means, len(prefix)

    def score(self, situation: Situation) -> Decision:
        """The admissible action with the highest mean log-probability after the prompt."""
        start = time.perf_counter()
        means, prompt_tokens = self.action_logprobs(situation.prompt, situation.available_actions)
        best = max(range(len(means)), key=means.__getitem__)
        return Decision(
            situation.available_actions[best],
            f"log-likelihood {means[best]:.3f}",
            latency_s=time.perf_counter() - start,
            prompt_tokens=prompt_tokens,
        )

    def decide(self, situations: Sequence[Situation], *, training: bool) -> list[Decision]:
        """Decide for each situation in turn (llama.cpp runs one sequence at a time here)."""
        if not situations:
            return []
        if self.config.decide == "generate":
            complete = lambda prompts: [self.complete_one(p) for p in prompts]  # noqa: E731
            return decide_by_generation(situations, complete, self.config.match_threshold, self.fallback)
        return [self.score(s) for s in situations]

    def close(self) -> None:
        """Free the model."""
        self.llm.close()

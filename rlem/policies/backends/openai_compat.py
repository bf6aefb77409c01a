"""A policy served by any OpenAI-compatible server: vLLM, Ollama, llama.cpp's server, hosted APIs.

`generate` asks the chat endpoint for an answer (see generation.py); `score` asks the completions
endpoint to echo each prompt+action with log-probabilities and ranks actions by the mean
log-probability of their own tokens (servers that support `echo`, such as vLLM). llama-cpp-python's
server (0.3) echoes each token with the log-probability of the token after it, one position off
(checked against transformers on the same weights): with it, use `generate`.
Requests for the situations of a batch go out concurrently. 429 and 5xx answers and dropped
connections are retried with exponential backoff; other 4xx answers are errors at once.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from rlem.errors import RlemError
from rlem.policies.backends.baselines import MemoryGreedyPolicy
from rlem.policies.backends.echo import action_logprob, joined
from rlem.policies.backends.generation import Completion, decide_by_generation
from rlem.policies.backends.matching import DEFAULT_THRESHOLD
from rlem.policies.base import Decision, Policy, Situation


class OpenAIConfig(BaseModel):
    """Where the server is and how to talk to it; the API key is read from an environment variable."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    base_url: str = "http://127.0.0.1:8000/v1"
    model: str
    api_key_env: str = "OPENAI_API_KEY"
    decide: Literal["generate", "score"] = "generate"
    max_tokens: int = Field(default=32, ge=1)
    timeout_s: float = Field(default=60.0, gt=0)
    max_retries: int = Field(default=4, ge=0)
    backoff_s: float = Field(default=0.5, ge=0)
    concurrency: int = Field(default=8, ge=1)
    match_threshold: float = Field(default=DEFAULT_THRESHOLD, gt=0, le=1)
    seed: int | None = None


class ServerError(RlemError):
    """The server refused a request, or kept failing after every retry."""


class OpenAIPolicy(Policy):
    """Chooses actions through an OpenAI-compatible HTTP API."""

    name = "openai"

    def __init__(self, config: OpenAIConfig):
        self.config = config
        self.api_key = os.environ.get(config.api_key_env, "")
        self.fallback = MemoryGreedyPolicy(seed=config.seed)
        self.pool = ThreadPoolExecutor(max_workers=config.concurrency)

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST JSON and return the JSON answer, retrying 429, 5xx and connection failures."""
        url = self.config.base_url.rstrip("/") + path
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        data = json.dumps(body).encode()
        for attempt in range(self.config.max_retries + 1):
            request = urllib.request.Request(url, data=data, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=self.config.timeout_s) as response:
                    return json.loads(response.read())
            except urllib.error.HTTPError as exc:
                detail = exc.read().decode(errors="replace")[:300].replace("\n", " ")
                if exc.code != 429 and exc.code < 500:
                    raise ServerError(f"{url} refused the request ({exc.code}): {detail}") from None
                problem = f"HTTP {exc.code}: {detail}"
            except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
                problem = str(getattr(exc, "reason", exc))
            if attempt < self.config.max_retries:
                time.sleep(self.config.backoff_s * 2**attempt)
        raise ServerError(f"{url} failed {self.config.max_retries + 1} times, last with {problem}")

    def chat(self, prompt: str) -> Completion:
        """One chat completion, greedy."""
        answer = self.post(
            "/chat/completions",
            {
                "model": self.config.model,
                "messages": [{"role": "user", "content": prompt}],
                "max_tokens": self.config.max_tokens,
                "temperature": 0.0,
            },
        )
        usage = answer.get("usage") or {}
        text = answer["choices"][0]["message"].get("content") or ""
        return Completion(text, int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0)))

    def complete(self, prompts: Sequence[str]) -> list[Completion]:
        """Chat completions for a batch of prompts, requested concurrently."""
        return list(self.pool.map(self.chat, prompts))

    def action_logprob(self, prompt: str, action: str) -> tuple[float, int]:
        """(mean log-probability of the action's tokens after the prompt, prompt tokens)."""
        text = joined(prompt, action)
        answer = self.post(
            "/completions",
            {
                "model": self.config.model,
                "prompt": text,
                "max_tokens": 1,
                "echo": True,
                "logprobs": 1,
                "temperature": 0.0,
            },
        )
        scored = action_logprob(answer["choices"][0], prompt, text)
        if scored is None:
            raise ServerError(f"{self.config.base_url} does not echo log-probabilities: use decide=generate")
        return scored

    def score(self, situation: Situation) -> Decision:
        """The admissible action with the highest mean log-probability."""
        start = time.perf_counter()
        results = [self.action_logprob(situation.prompt, action) for action in situation.available_actions]
        best = max(range(len(results)), key=lambda i: results[i][0])
        return Decision(
            situation.available_actions[best],
            f"log-likelihood {results[best][0]:.3f}",
            latency_s=time.perf_counter() - start,
            prompt_tokens=results[best][1],
        )

    def decide(self, situations: Sequence[Situation], *, training: bool) -> list[Decision]:
        """Generate or score for every situation, concurrently."""
        if not situations:
            return []
        if self.config.decide == "generate":
            return decide_by_generation(situations, self.complete, self.config.match_threshold, self.fallback)
        return list(self.pool.map(self.score, situations))

    def close(self) -> None:
        """Stop the request threads."""
        self.pool.shutdown(wait=True)

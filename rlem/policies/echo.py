"""Scoring an action from an echoed completion: the log-probabilities of its own tokens.

OpenAI-style completion endpoints (and llama-cpp-python's `create_completion`) can echo the prompt
with each token's log-probability and text offset; the action's tokens are those at or after the
end of the prompt.
"""

from __future__ import annotations

from typing import Any


def joined(prompt: str, action: str) -> str:
    """The prompt followed by the action, separated by a space unless the prompt ends in one."""
    return prompt + ("" if not prompt or prompt[-1].isspace() else " ") + action


def action_logprob(choice: dict[str, Any], prompt: str) -> tuple[float, int] | None:
    """(mean log-probability of the tokens after `prompt`, tokens before it), or None without logprobs.

    The echoed text ends with one generated token (max_tokens=1), which is not the action's.
    """
    logprobs = choice.get("logprobs") or {}
    offsets, values = logprobs.get("text_offset"), logprobs.get("token_logprobs")
    if not offsets or not values:
        return None
    start = len(prompt)
    own = [
        v for offset, v in zip(offsets[:-1], values[:-1], strict=True) if offset >= start and v is not None
    ]
    before = sum(1 for offset in offsets[:-1] if offset < start)
    return (sum(own) / len(own) if own else float("-inf")), before

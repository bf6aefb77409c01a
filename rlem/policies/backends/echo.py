"""Scoring an action from an echoed completion: the log-probabilities of its own tokens.

OpenAI-style completion endpoints (and llama-cpp-python's `create_completion`) can echo the prompt
with each token's log-probability and text offset; the action's tokens are those from the end of
the prompt to the end of the text sent.
"""

from __future__ import annotations

from typing import Any


def continuation(prompt: str, action: str) -> str:
    """The action as it follows the prompt: after a space, unless the prompt ends in one."""
    return ("" if not prompt or prompt[-1].isspace() else " ") + action


def joined(prompt: str, action: str) -> str:
    """The prompt followed by the action."""
    return prompt + continuation(prompt, action)


def action_logprob(choice: dict[str, Any], prompt: str, text: str) -> tuple[float, int] | None:
    """(mean log-probability of the tokens of `text` after `prompt`, tokens before), or None.

    `text` is what was sent (prompt and action); tokens starting at or beyond its end were
    generated, and servers differ on whether they list them, so they are cut by offset.
    """
    logprobs = choice.get("logprobs") or {}
    offsets, values = logprobs.get("text_offset"), logprobs.get("token_logprobs")
    if not offsets or not values:
        return None
    start, end = len(prompt), len(text)
    own = [v for offset, v in zip(offsets, values, strict=True) if start <= offset < end and v is not None]
    before = sum(1 for offset in offsets if offset < start)
    return (sum(own) / len(own) if own else float("-inf")), before

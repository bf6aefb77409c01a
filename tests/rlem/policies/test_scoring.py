"""Batched, cache-sharing candidate scoring equals scoring each prompt+candidate from scratch."""

from __future__ import annotations

import pytest
import torch

from rlem.policies.scoring import score_candidates


def naive(model, prompt: list[int], candidate: list[int]) -> float:
    ids = torch.tensor([prompt + candidate])
    with torch.no_grad():
        logprobs = torch.log_softmax(model(input_ids=ids).logits.float(), dim=-1)
    return sum(float(logprobs[0, len(prompt) + k - 1, t]) for k, t in enumerate(candidate)) / len(candidate)


def test_batched_scores_match_one_by_one(tiny_lm):
    model, tokenizer = tiny_lm
    encode = lambda text: tokenizer(text, add_special_tokens=False)["input_ids"]  # noqa: E731
    prompts = [encode("you stand at the gate . what now ?"), encode("a short one")]
    candidates = [
        [encode("go north"), encode("open the heavy wooden door"), encode("wait")],
        [encode("left"), encode("right")],
    ]
    batched = score_candidates(model, prompts, candidates, tokenizer.pad_token_id)
    for i, prompt in enumerate(prompts):
        expected = [naive(model, prompt, c) for c in candidates[i]]
        assert batched[i] == pytest.approx(expected, abs=1e-4)

"""Ranking admissible actions by a causal LM's length-normalised log-likelihood after the prompt.

All prompts of a batch run in one forward pass (left-padded); their key/value cache is then
repeated once per candidate action, and every candidate of every prompt is scored in a second
forward pass over the cached prefix: the prompt is never recomputed per candidate.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence

import torch


def cache_argument(model: torch.nn.Module) -> str:
    """The forward() keyword for a key/value cache: `cache` in transformers 5, `past_key_values` before."""
    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


def last_logits_only(model: torch.nn.Module) -> dict:
    """Ask for the last position's logits only, where the model allows: a prompt's full logits are
    its length times the vocabulary in floats, most of a small model's prompt pass on a CPU."""
    return {"logits_to_keep": 1} if "logits_to_keep" in inspect.signature(model.forward).parameters else {}


def left_pad(rows: Sequence[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Token rows padded on the left to one length, with their attention mask."""
    width = max(len(row) for row in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, width - len(row) :] = torch.tensor(row, dtype=torch.long)
        mask[i, width - len(row) :] = 1
    return ids, mask


@torch.no_grad()
def score_candidates(
    model: torch.nn.Module,
    prompts: Sequence[list[int]],
    candidates: Sequence[Sequence[list[int]]],
    pad_id: int,
) -> list[list[float]]:
    """Mean log-probability of each candidate's tokens after its prompt: one list per prompt.

    `prompts[i]` are token ids; `candidates[i][j]` the (non-empty) token ids of its j-th action.
    """
    device = next(model.parameters()).device
    prefix, prefix_mask = left_pad(prompts, pad_id)
    out = model(
        input_ids=prefix.to(device),
        attention_mask=prefix_mask.to(device),
        use_cache=True,
        **last_logits_only(model),
    )
    cache = out.cache if hasattr(out, "cache") else out.past_key_values
    last_logprobs = torch.log_softmax(out.logits[:, -1, :].float(), dim=-1)

    # One row per (prompt, candidate): repeat each prompt's cache row as often as the widest prompt
    # has candidates, then keep the rows that exist.
    widest = max(len(c) for c in candidates)
    rows = [(i, j) for i, options in enumerate(candidates) for j in range(len(options))]
    cache.batch_repeat_interleave(widest)
    cache.batch_select_indices(torch.tensor([i * widest + j for i, j in rows], device=device))

    length = max(len(candidates[i][j]) for i, j in rows)
    ids = torch.full((len(rows), length), pad_id, dtype=torch.long)
    tail_mask = torch.zeros((len(rows), length), dtype=torch.long)
    for r, (i, j) in enumerate(rows):
        tokens = candidates[i][j]
        ids[r, : len(tokens)] = torch.tensor(tokens, dtype=torch.long)
        tail_mask[r, : len(tokens)] = 1
    owner = torch.tensor([i for i, _ in rows])
    mask = torch.cat([prefix_mask[owner], tail_mask], dim=1)
    # Positions continue from each prompt's real length, whatever its left padding.
    positions = prefix_mask[owner].sum(dim=1, keepdim=True) + torch.arange(length).unsqueeze(0)
    tail = model(
        input_ids=ids.to(device),
        attention_mask=mask.to(device),
        position_ids=positions.to(device),
        use_cache=True,
        **{cache_argument(model): cache},
    )
    tail_logprobs = torch.log_softmax(tail.logits.float(), dim=-1)

    scores: list[list[float]] = [[] for _ in prompts]
    for r, (i, j) in enumerate(rows):
        tokens = candidates[i][j]
        total = last_logprobs[i, tokens[0]]
        for k in range(1, len(tokens)):
            total = total + tail_logprobs[r, k - 1, tokens[k]]
        scores[i].append(float(total) / len(tokens))
    return scores

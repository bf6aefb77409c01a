"""Ranking admissible actions by a causal LM's length-normalised log-likelihood after the prompt.

Three forward passes serve a whole batch, and no token is computed twice:
1. the prompts' shared beginning (instructions, a fixed map), once, and not again while the next
   batches begin the same way;
2. the rest of each prompt, left-padded, on top of it;
3. each candidate's tokens but its last, once per distinct (prompt, tokens), on its prompt's cache.
Positions are given explicitly and count real tokens only, so padding never shifts them.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Sequence
from typing import Any

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


def cache_of(out: Any) -> Any:
    """The key/value cache a forward pass returned, under either transformers' name."""
    return out.cache if hasattr(out, "cache") else out.past_key_values


class Scorer:
    """Candidate scoring with one model; keeps the key/value cache of the last shared beginning.

    `share=False` computes every prompt whole: the reference that tests and bench/policy_bench.py
    compare the shared path with.
    """

    def __init__(self, model: torch.nn.Module, pad_id: int, share: bool = True):
        self.model, self.pad_id, self.share = model, pad_id, share
        self.device = next(model.parameters()).device
        self.cache_keyword = cache_argument(model)
        self.last_only = last_logits_only(model)
        self.head: tuple[int, ...] = ()
        self.head_cache: Any = None

    @torch.no_grad()
    def score(
        self, prompts: Sequence[list[int]], candidates: Sequence[Sequence[list[int]]]
    ) -> list[list[float]]:
        """Mean log-probability of each candidate's tokens after its prompt: one list per prompt.

        `prompts[i]` are token ids; `candidates[i][j]` the (non-empty) token ids of its j-th action.
        """
        head = self.shared_head(prompts)
        cache = self.cache_for(head)
        if cache is not None:
            cache.batch_repeat_interleave(len(prompts))
        rest, rest_mask = left_pad([p[len(head) :] for p in prompts], self.pad_id)
        prefix_mask = torch.cat([torch.ones((len(prompts), len(head)), dtype=torch.long), rest_mask], dim=1)
        out = self.model(
            input_ids=rest.to(self.device),
            attention_mask=prefix_mask.to(self.device),
            position_ids=(len(head) + rest_mask.cumsum(dim=1) - 1).clamp(min=0).to(self.device),
            use_cache=True,
            **{self.cache_keyword: cache},
            **self.last_only,
        )
        last_logprobs = torch.log_softmax(out.logits[:, -1, :].float(), dim=-1)

        # A candidate's first token is scored by the prompt pass and its last token needs no pass of
        # its own: the tail pass runs each distinct (prompt, candidate but its last token) once, so
        # " move left" and " move up" share the row " move".
        rows: dict[tuple[int, tuple[int, ...]], int] = {}
        row_of = [
            [
                rows.setdefault((i, tuple(tokens[:-1])), len(rows)) if len(tokens) > 1 else -1
                for tokens in options
            ]
            for i, options in enumerate(candidates)
        ]
        tail_logprobs = self.tail(cache_of(out), prefix_mask, list(rows)) if rows else None

        scores: list[list[float]] = []
        for i, options in enumerate(candidates):
            scores.append([])
            for tokens, r in zip(options, row_of[i], strict=True):
                total = last_logprobs[i, tokens[0]]
                for k in range(1, len(tokens)):
                    total = total + tail_logprobs[r, k - 1, tokens[k]]
                scores[i].append(float(total) / len(tokens))
        return scores

    def shared_head(self, prompts: Sequence[list[int]]) -> tuple[int, ...]:
        """The beginning all prompts share, leaving each at least one token of its own. A lone prompt
        shares only the kept head, when it begins with it."""
        if not self.share:
            return ()
        shortest = min(len(p) for p in prompts) - 1
        if len(prompts) == 1:
            kept = len(self.head)
            return self.head if kept <= shortest and tuple(prompts[0][:kept]) == self.head else ()
        first, n = prompts[0], 0
        while n < shortest and all(p[n] == first[n] for p in prompts):
            n += 1
        return tuple(first[:n])

    def cache_for(self, head: tuple[int, ...]) -> Any:
        """A copy of `head`'s key/value cache (None for no head), computed only past the kept head
        when `head` extends it; `head` is kept in its place."""
        if not head:
            return None
        known = len(self.head) if head[: len(self.head)] == self.head else 0
        if len(head) > known:
            out = self.model(
                input_ids=torch.tensor([head[known:]], dtype=torch.long, device=self.device),
                position_ids=torch.arange(known, len(head), device=self.device).unsqueeze(0),
                use_cache=True,
                # A copy: an interrupted pass must not leave the kept cache longer than its head.
                **{self.cache_keyword: copy.deepcopy(self.head_cache) if known else None},
                **self.last_only,
            )
            self.head, self.head_cache = head, cache_of(out)
        return copy.deepcopy(self.head_cache)

    def tail(
        self, cache: Any, prefix_mask: torch.Tensor, rows: list[tuple[int, tuple[int, ...]]]
    ) -> torch.Tensor:
        """Log-probabilities after each token of each (prompt index, tokens) row, on its prompt's cache."""
        owner = torch.tensor([i for i, _ in rows])
        cache.batch_select_indices(owner.to(self.device))
        length = max(len(tokens) for _, tokens in rows)
        ids = torch.full((len(rows), length), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), length), dtype=torch.long)
        for r, (_, tokens) in enumerate(rows):
            ids[r, : len(tokens)] = torch.tensor(tokens, dtype=torch.long)
            mask[r, : len(tokens)] = 1
        positions = prefix_mask[owner].sum(dim=1, keepdim=True) + torch.arange(length).unsqueeze(0)
        out = self.model(
            input_ids=ids.to(self.device),
            attention_mask=torch.cat([prefix_mask[owner], mask], dim=1).to(self.device),
            position_ids=positions.to(self.device),
            use_cache=True,
            **{self.cache_keyword: cache},
        )
        return torch.log_softmax(out.logits.float(), dim=-1)

"""Ranking admissible actions by a causal LM's length-normalised log-likelihood after the prompt.

Two forward passes serve a whole batch, and a prompt's beginning is computed once, not at every step:
1. each prompt past the longest beginning it shares with one of the last prompts scored (the
   instructions, an episode's map and exemplars stay put from one step to the next), left-padded,
   on top of that prompt's kept key/value rows;
2. each candidate's tokens but its last, once per distinct (prompt, tokens), on its prompt's cache.
Positions are given explicitly and count real tokens only, so padding never shifts them.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
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


def layer_tensors(cache: Any) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Each layer's (keys, values), (batch, key/value heads, tokens, head size), under either layout."""
    if hasattr(cache, "layers"):
        return [(layer.keys, layer.values) for layer in cache.layers]
    return list(zip(cache.key_cache, cache.value_cache, strict=True))


@dataclass(frozen=True)
class KeptRow:
    """One earlier prompt's token ids and each layer's (keys, values) for them: (heads, tokens, size)."""

    ids: list[int]
    layers: list[tuple[torch.Tensor, torch.Tensor]]


class Kept:
    """The key/value rows of the last `size` prompts scored, for later prompts to begin from."""

    def __init__(self, size: int):
        self.size = size
        self.rows: list[KeptRow] = []
        self.ids = np.full((0, 0), -1, dtype=np.int64)  # the rows' ids, -1 past each one's end

    def add(self, prompts: Sequence[list[int]], mask: torch.Tensor, cache: Any) -> None:
        """Keep a pass's rows (`mask` marks each prompt's real tokens among its padded columns),
        dropping the oldest beyond `size`."""
        if not self.size:
            return
        layers = layer_tensors(cache)
        new = []
        for i, prompt in enumerate(prompts):
            columns = mask[i].nonzero().squeeze(1).to(layers[0][0].device)
            kv = [(k[i].index_select(1, columns), v[i].index_select(1, columns)) for k, v in layers]
            new.append(KeptRow(list(prompt), kv))
        self.rows = (new + self.rows)[: self.size]
        self.ids = np.full((len(self.rows), max(len(r.ids) for r in self.rows)), -1, dtype=np.int64)
        for i, row in enumerate(self.rows):
            self.ids[i, : len(row.ids)] = row.ids

    def longest_beginning(self, prompt: list[int]) -> tuple[int, int]:
        """(kept row, length) of the longest beginning `prompt` shares with a kept prompt; (0, 0) for none."""
        if not self.rows:
            return 0, 0
        width = min(len(prompt), self.ids.shape[1])
        same = self.ids[:, :width] == np.asarray(prompt[:width])
        lengths = np.cumprod(same, axis=1).sum(axis=1)
        best = int(lengths.argmax())
        return best, int(lengths[best])

    def cache(self, sources: list[int], lengths: list[int]) -> tuple[Any, torch.Tensor]:
        """A cache of each source row's first `lengths[i]` tokens, left-padded to one width, and its mask."""
        from transformers import DynamicCache

        _, mask = left_pad([self.rows[s].ids[:n] for s, n in zip(sources, lengths, strict=True)], 0)
        width = mask.shape[1]
        cache = DynamicCache()
        for layer, (keys, _) in enumerate(self.rows[0].layers):
            heads, _, size = keys.shape
            batch = [keys.new_zeros((len(sources), heads, width, size)) for _ in range(2)]
            for i, (source, n) in enumerate(zip(sources, lengths, strict=True)):
                for part, kept in zip(batch, self.rows[source].layers[layer], strict=True):
                    part[i, :, width - n :] = kept[:, :n]
            cache.update(*batch, layer)
        return cache, mask


class Scorer:
    """Candidate scoring with one model; keeps the key/value rows of the last `keep` prompts.

    `keep=0` computes every prompt whole: the reference that tests and bench/parts/policy.py
    compare the kept path with.
    """

    def __init__(self, model: torch.nn.Module, pad_id: int, keep: int = 32):
        self.model, self.pad_id = model, pad_id
        self.device = next(model.parameters()).device
        self.cache_keyword = cache_argument(model)
        self.last_only = last_logits_only(model)
        self.kept = Kept(keep)

    @torch.no_grad()
    def score(
        self, prompts: Sequence[list[int]], candidates: Sequence[Sequence[list[int]]]
    ) -> list[list[float]]:
        """Mean log-probability of each candidate's tokens after its prompt: one list per prompt.

        `prompts[i]` are token ids; `candidates[i][j]` the (non-empty) token ids of its j-th action.
        """
        sources = [self.kept.longest_beginning(p) for p in prompts]
        # Each prompt keeps a token of its own: the pass over it gives the first candidate token.
        reused = [min(n, len(p) - 1) for (_, n), p in zip(sources, prompts, strict=True)]
        cache, reused_mask = None, torch.zeros((len(prompts), 0), dtype=torch.long)
        if max(reused) > 0:
            cache, reused_mask = self.kept.cache([s for s, _ in sources], reused)
        rest, rest_mask = left_pad([p[n:] for p, n in zip(prompts, reused, strict=True)], self.pad_id)
        prefix_mask = torch.cat([reused_mask, rest_mask], dim=1)
        positions = torch.tensor(reused).unsqueeze(1) + rest_mask.cumsum(dim=1) - 1
        out = self.model(
            input_ids=rest.to(self.device),
            attention_mask=prefix_mask.to(self.device),
            position_ids=positions.clamp(min=0).to(self.device),
            use_cache=True,
            **{self.cache_keyword: cache},
            **self.last_only,
        )
        self.kept.add(prompts, prefix_mask, cache_of(out))
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

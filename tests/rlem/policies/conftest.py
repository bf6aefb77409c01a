"""A tiny causal LM built from a config (random weights, nothing downloaded) with a real tokenizer."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def tiny_lm():
    """(model, tokenizer): a 2-layer Llama over the packaged MiniLM's real word-piece vocabulary."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from memory_store.embedder import packaged_model_path

    tokenizer = AutoTokenizer.from_pretrained(str(packaged_model_path()), local_files_only=True)
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        pad_token_id=tokenizer.pad_token_id,
    )
    model = LlamaForCausalLM(config).eval()
    return model, tokenizer

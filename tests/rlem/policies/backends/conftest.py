"""A tiny causal LM built from a config (random weights, nothing downloaded) with a real tokenizer."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def tiny_lm():
    """(model, tokenizer): a 2-layer Llama over the packaged MiniLM's real word-piece vocabulary."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from memory_store.vectors.embedder import packaged_model_path

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


@pytest.fixture(scope="session")
def smollm2():
    """The packaged SmolLM2-135M-Instruct in the transformers policy (score mode), loaded once."""
    from rlem.policies.backends.hf import HFConfig, HFPolicy, packaged_model

    return HFPolicy(HFConfig(model=packaged_model(), decide="score"))


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory):
    """llama-cpp-python's OpenAI-compatible server on loopback, serving the packaged SmolLM2 GGUF."""
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    from rlem.policies.backends.hf import packaged_model

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(packaged_model()),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        "2048",
    ]
    # A file, not a pipe: llama.cpp logs a lot, and a full pipe would stall the server.
    log = tmp_path_factory.mktemp("llama-server") / "server.log"
    server = subprocess.Popen(command, stdout=log.open("w"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(url + "/models", timeout=2).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    server.kill()
                    pytest.fail(f"llama_cpp.server did not start: {log.read_text()[-2000:]}")
                time.sleep(0.5)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)

"""Policy backends: the baselines, transformers (hf), llama.cpp and OpenAI-compatible servers,
and what they share."""

"""Policies: LLM backends and baselines behind one interface (see base.py)."""

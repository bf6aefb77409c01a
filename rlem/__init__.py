"""RLEM: Reinforcement Learning with Experience Memory (REMEMBERER, arXiv 2306.07929).

An LLM agent acts in text environments, guided by similar past experiences retrieved from a
persistent memory (`memory_store`); learning is Q-learning written back to that memory.
"""

__version__ = "0.1.0"

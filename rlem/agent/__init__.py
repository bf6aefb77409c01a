"""The agent layer: sessions, what a policy is shown (retrieval, values, exemplar prompts), and
the run loop with its metrics."""

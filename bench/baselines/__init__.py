"""Baselines the benchmarks compare RLEM with: `bench.baselines.tabular`, tabular Q-learning."""

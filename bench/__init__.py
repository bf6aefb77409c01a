"""Benchmarks of RLEM (scripts, not tests), run from a source checkout.

- `rlem bench [--quick] [--only PART,...]` (`bench.suite`): the suite, one part per module of
  `bench.parts` (retrieval, writes, steps, policy, learning), rendered by `bench.suite_report` and
  `bench.suite_plots` into bench/results/.
- `python -m bench.learning`: the learning matrix and SmolLM2's runs (`bench.learning_report`,
  `bench.learning_plots`); its experiments are `rlem run` configs (`bench.run_configs`).
- `python -m bench.baselines.tabular`: tabular Q-learning, the learning matrix's baseline.
- `python -m bench.advice_following`: how often the model takes the action an exemplar advises.
- Shared pieces: `bench.synthetic` (clustered vectors, a store filled in bulk), `bench.linear_scan`
  (the paper's retrieval loop), `bench.bandwidth`, `bench.machine`, `bench.markdown`.
"""

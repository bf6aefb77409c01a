"""The parts of `rlem bench`, one module each, named as `rlem bench --only` names them.

Each part module has `section(context, progress)`, which measures and returns the part's section of
bench.json: `retrieval` (FAISS, the store's nearest-state search and the paper's linear loop),
`writes` (update throughput with concurrent writer processes, helped by `writers`), `steps` (an
agent step without the LLM), `policy` (decisions/s of the LLM policies), `service` (`rlem serve`
under concurrent clients), `gpu` (the GPU against the CPU) and `learning` (runs `python -m
bench.learning`). What they share is in `context`.
"""

"""Benchmarks of RLEM (scripts, not tests): `python -m bench.store_bench [--quick]`."""

"""Benchmarks: `make bench` (python -m bench.run) and python -m bench.history_cost.

They report; they never assert on timings.
"""

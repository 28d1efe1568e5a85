"""Benchmarks against the local stack (`python -m bench.load`)."""

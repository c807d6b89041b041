"""Benchmarks (tasks, tests, canonical solutions) and the samples files users bring."""

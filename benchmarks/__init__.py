"""Benchmarks (``python -m benchmarks.<name>``), timed as ratios within one process."""

import experiments  # noqa: F401  (a one-line message for Ctrl-C)

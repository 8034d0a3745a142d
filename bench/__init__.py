"""Benchmarks: scripts run with ``uv run python bench/NAME.py``; not part of the package."""

"""Benchmarks that measure wheelhouse against pip and uv; ``python bench/run.py`` runs them all."""

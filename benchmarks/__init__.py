"""Reproducible benchmarks (``make bench``); each prints figures next to their targets."""

"""Helpers for bench/vector.py: data sets, ground truth and engine adapters."""

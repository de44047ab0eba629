"""Benchmarks: ratios against a baseline, printed, never asserted in a test."""

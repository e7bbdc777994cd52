"""Poort's load generator and benchmark scenarios.

``python -m bench`` sets up throwaway Poort instances (SQLite and PostgreSQL), serves each
under gunicorn, drives it from a separate load-generator process on loopback, and writes a
Markdown table of throughput, latency percentiles, server CPU and worker memory, each figure
also as a ratio to a bare Flask "ok" endpoint served with the same gunicorn settings.

Performance is measured here, never asserted in the test suite. See docs/PERFORMANCE.md.
"""

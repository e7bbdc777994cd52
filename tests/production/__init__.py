"""The production tier: real `poort serve` processes, private Redis and PostgreSQL servers.

Run it alone with ``pytest tests/production``; see docs/testing.md.
"""

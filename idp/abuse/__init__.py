"""Abuse protection: send limits, budgets, fraud signals, guessing locks, human checks."""

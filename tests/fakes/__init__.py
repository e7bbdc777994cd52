"""Fakes for every external service Poort talks to; no test reaches a real one."""

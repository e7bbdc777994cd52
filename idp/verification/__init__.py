"""Verification: one-time-code challenges, verifiers, resolution, sending with failover, the log."""

"""Poort's built-in SMS providers, one module each, registered as ``idp.sms_providers``
entry points in pyproject.toml exactly as a third-party distribution would register its own.
"""

"""Test helpers for plugin authors: contract suites a plugin's own tests subclass.

These modules import pytest; import them from tests only, never from a plugin at run time.
"""

"""Test helpers (not tests): loopback servers, index builders, paths and child-process environments.

Fixtures live in tests/conftest.py; what they and the tests build on lives here.
"""

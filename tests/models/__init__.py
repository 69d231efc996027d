"""Tests of siamface.models (a package so that test_registry.py may share its basename)."""

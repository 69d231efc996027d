"""Tests of siamface.losses (a package so that test_registry.py may share its basename)."""

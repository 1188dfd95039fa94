"""Scones Unlimited vehicle-classification workflow: local runtime, CLI and monitoring."""

__version__ = "0.1.0"

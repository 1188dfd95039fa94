"""Read configuration from environment variables strictly: a missing or bad value fails early."""

from __future__ import annotations

import os

from scones_domain.errors import MissingConfiguration


def env_str(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise MissingConfiguration(f"environment variable {name} is not set")
    return value


def env_int(name: str, *, minimum: int = 1) -> int:
    text = env_str(name)
    try:
        value = int(float(text)) if float(text).is_integer() else None
    except ValueError:
        value = None
    if value is None or value < minimum:
        raise MissingConfiguration(f"{name}={text!r} is not an integer >= {minimum}")
    return value


def env_probability(name: str) -> float:
    text = env_str(name)
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        raise MissingConfiguration(f"{name}={text!r} is not a number between 0 and 1")
    return value


def env_labels(name: str) -> tuple[str, ...]:
    labels = tuple(label.strip() for label in env_str(name).split(","))
    if len(labels) < 2 or not all(labels) or len(set(labels)) != len(labels):
        raise MissingConfiguration(f"{name} must list at least two distinct comma-separated labels")
    return labels

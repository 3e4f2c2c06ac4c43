"""Shared fixtures and hypothesis profiles (``ci`` is thorough, ``dev`` is quick)."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

DATA = Path(__file__).parent / "data"

settings.register_profile(
    "ci", max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "dev", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


def read_lines(name: str) -> list[str]:
    """Lines of a bundled capture (gzipped under tests/data)."""
    path = DATA / name
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:  # type: ignore[operator]
        return handle.read().splitlines()


@pytest.fixture(scope="session")
def truth() -> dict[str, Any]:
    with gzip.open(DATA / "sample-truth.json.gz", "rt", encoding="utf-8") as handle:
        return json.load(handle)


@pytest.fixture(scope="session")
def clean_lines() -> list[str]:
    return read_lines("sample-clean.jsonl.gz")


@pytest.fixture(scope="session")
def dirty_lines() -> list[str]:
    return read_lines("sample-dirty.jsonl.gz")

"""Fixtures shared by the unit tests (the environment is set in the root conftest.py)."""
from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def project_root() -> Path:
    return ROOT


@pytest.fixture
def fixture_notebooks() -> Path:
    return ROOT / "tests" / "fixtures" / "notebooks"

"""Shared fixtures: the SYNTHETIC demonstration cohort's and study's results, computed once per
session (Results are frozen, so tests can share them), and the ``slow`` marker's meaning.

Markers (pyproject.toml): ``slow`` (more than a few seconds: the R cross-check, registry-sized
files, the PDF, subprocess-heavy CLI tests), ``browser`` (headless Chromium).  ``make test`` runs
everything; ``pytest -m "not slow and not browser"`` is the quick loop while editing."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def demo_results():
    """analyse() of the demonstration cohort (one table) with the default options."""
    from ltfu.analysis import AnalysisOptions, analyse
    from ltfu.demo import load_demo

    return analyse(load_demo(), AnalysisOptions())


@pytest.fixture(scope="session")
def demo_study_results():
    """analyse() of the demonstration study (four tables) with the default options."""
    from ltfu.analysis import AnalysisOptions, analyse
    from ltfu.demo import load_demo_study

    return analyse(load_demo_study(), AnalysisOptions())

"""The README's recipe for a registry too large for `ltfu report` (endpoints derived in DuckDB SQL,
then the engine functions) gives the report's own numbers: the block is read from the README and
run on a simulated registry, so the README cannot drift from what works."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from ltfu import endpoints as ep
from ltfu.cohort import load_cohort
from ltfu.simulate import write_registry
from ltfu.stats import kaplan_meier, logrank, median_follow_up

pytest.importorskip("duckdb")

README = Path(__file__).resolve().parents[1] / "README.md"


def _recipe() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("**A registry too large for `ltfu report`**")
    block = re.search(r"```python\n(.*?)```", text[start:], re.S)
    assert block is not None, "the README's registry recipe has no python block"
    return block.group(1)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    path = write_registry(tmp_path_factory.mktemp("recipe") / "registry.parquet", 3000, seed=12)
    code = _recipe()
    assert "'registry.parquet'" in code
    scope: dict = {}
    exec(code.replace("'registry.parquet'", repr(str(path))), scope)   # the README's own block
    return path, scope


def _same(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a.view(np.uint8), b.view(np.uint8))


def test_overall_survival_and_follow_up_equal_the_reports(run):
    path, got = run
    cohort = load_cohort(path)
    os_ = ep.overall_survival(cohort)
    km = kaplan_meier(os_.time, os_.status)
    for field in ("time", "n_risk", "n_event", "n_censor", "survival", "std_err", "ci_lower", "ci_upper"):
        assert _same(getattr(got["os_all"], field), getattr(km, field)), field
    fu = ep.follow_up(cohort)
    want = median_follow_up(fu.time, fu.status)
    assert got["follow_up"] == want


def test_centres_counted_in_one_scan_equal_each_centres_rows(run):
    path, got = run
    cohort = load_cohort(path)
    os_ = ep.overall_survival(cohort)
    centre = cohort.data["centre"].to_numpy().astype(str)          # the cohort keeps the file's row order
    by = got["os_by_centre"]
    assert sorted(by) == sorted(set(centre)) and sum(k.n for k in by.values()) == os_.n
    for level in sorted(by)[:5]:
        km = kaplan_meier(os_.time[centre == level], os_.status[centre == level])
        assert _same(by[level].survival, km.survival) and _same(by[level].time, km.time), level
    lr = logrank(os_.time, os_.status, centre)
    assert got["centres"].statistic == lr.statistic and got["centres"].df == lr.df

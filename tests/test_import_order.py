"""Importing ltfu's modules in any order gives the same ltfu, and importing or using ltfu changes no
process-wide setting (issue 15): the problem codes do not depend on which module was imported
first, matplotlib's backend and rcParams and csv's field size limit are as the user left them."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

MODULES = ["ltfu.cohort.adam", "ltfu.study", "ltfu.cohort", "ltfu.report", "ltfu.plot", "ltfu.analysis",
           "ltfu.cli", "ltfu.persistence", "ltfu.safety", "ltfu.stats", "ltfu"]

PROBE = r"""
import csv, importlib, json, sys
import matplotlib
# the backend as set, read without resolving it (matplotlib.get_backend() imports pyplot)
backend = dict.__getitem__(matplotlib.rcParams, "backend")
def snapshot():      # raw values: reading rcParams["backend"] the usual way resolves it (and imports pyplot)
    return {k: repr(dict.__getitem__(matplotlib.rcParams, k)) for k in matplotlib.rcParams.keys()}
before = snapshot()
limit = csv.field_size_limit()
for m in [a for a in sys.argv[1:] if a != "--use"]:
    importlib.import_module(m)
import ltfu
from ltfu.cohort import PROBLEM_CODES
codes = sorted(PROBLEM_CODES)
if "--use" not in sys.argv:
    print(json.dumps({"codes": codes}))
    sys.exit(0)
# use ltfu: load a CSV through the careful reader, draw a figure
import tempfile, pathlib
from ltfu.demo import load_demo
from ltfu.cohort import load_cohort
d = pathlib.Path(tempfile.mkdtemp())
f = d / "t.csv"
load_demo().data.to_csv(f, index=False)
load_cohort(f)
from ltfu import plot, stats
plot.km([("all", stats.kaplan_meier([1.0, 2.0, 3.0], [1, 0, 1]))])
pyplot = "matplotlib.pyplot" in sys.modules
after = snapshot()
print(json.dumps({"codes": codes, "backend_kept": dict.__getitem__(matplotlib.rcParams, "backend") == backend,
                  "rc_changed": sorted(k for k in before if before[k] != after.get(k)),
                  "csv_limit_kept": csv.field_size_limit() == limit,
                  "pyplot": pyplot}))
"""


def _probe(order):
    proc = subprocess.run([sys.executable, "-c", PROBE, *order],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def reference():
    return _probe(["ltfu", "--use"])


@pytest.mark.parametrize("order", [MODULES, MODULES[::-1], ["ltfu.cohort"]], ids=["forward", "reverse", "cohort-only"])
def test_same_ltfu_whatever_the_import_order(order, reference):
    got = _probe(order)
    assert got["codes"] == reference["codes"]
    assert "ADAM_MISSING_VARIABLE" in got["codes"]          # the ADaM codes are there without importing adam


def test_no_process_wide_setting_is_changed(reference):
    assert reference["backend_kept"]
    assert reference["rc_changed"] == []
    assert reference["csv_limit_kept"]
    assert not reference["pyplot"]

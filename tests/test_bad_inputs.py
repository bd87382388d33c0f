"""The bad-input corpus (tests/bad_inputs, made by make_corpus.py): every file gives exactly its
documented problem codes, or a clear load error, or (when clean enough) a full report; never a
traceback, and the file is never modified."""

import datetime as dt
import hashlib
import json
import sys
from pathlib import Path

import pytest

import inproc
from ltfu.analysis import AnalysisOptions, analyse
from ltfu.cohort import load, to_cohort, validate
from ltfu.errors import LoadError
from ltfu.report import write_report

HERE = Path(__file__).parent / "bad_inputs"
MANIFEST = json.loads((HERE / "manifest.json").read_text())
TODAY = dt.date(2026, 11, 24)      # fixed, so "future date" cases do not age


def _path(case, tmp_path):
    if case["runtime"]:
        sys.path.insert(0, str(HERE))
        import make_corpus

        p = tmp_path / case["file"]
        p.write_bytes(make_corpus.content(case["file"]))
        return p
    return HERE / "files" / case["file"]


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def test_corpus_is_large_enough():
    assert len(MANIFEST) >= 60
    assert sum(bool(c["load_error"]) for c in MANIFEST) >= 8
    assert sum(bool(c["report"]) for c in MANIFEST) >= 15


@pytest.mark.parametrize("case", MANIFEST, ids=[c["file"] for c in MANIFEST])
def test_each_bad_input_gives_its_exact_outcome(case, tmp_path):
    path = _path(case, tmp_path)
    before = _sha(path)
    if case["load_error"]:
        with pytest.raises(LoadError, match=case["load_error"]):
            load(path, sheet=case["sheet"])
    else:
        table = load(path, sheet=case["sheet"])
        problems = validate(table, today=TODAY)
        codes = sorted({p.code for p in problems})
        assert codes == case["codes"], [p.to_dict() for p in problems]
        for p in problems:
            assert p.message and p.fix and p.severity in ("error", "warning")
            assert p.value is None or len(p.value) <= 60
        errors = [p for p in problems if p.severity == "error"]
        assert bool(case["report"]) == (not errors)
        if case["report"]:
            cohort = to_cohort(table, today=TODAY)
            results = analyse(cohort, AnalysisOptions())
            out = write_report(results, tmp_path / "rep", formats=("json", "csv"))
            assert json.loads(out.read_text())["n_patients"] == cohort.n
    assert _sha(path) == before


@pytest.mark.parametrize("name", ["duplicate_id.csv", "empty.csv", "ambiguous_dates.csv", "one_patient.csv"])
def test_cli_on_the_corpus_exits_cleanly(name, tmp_path):
    case = next(c for c in MANIFEST if c["file"] == name)
    path = _path(case, tmp_path)
    before = _sha(path)
    proc = inproc.run("validate", path)         # an uncaught exception would fail the test here
    assert "Traceback" not in proc.stdout + proc.stderr
    assert proc.returncode == (0 if case["report"] else 1)
    if case["report"]:
        rep = inproc.run("report", path, "--out", tmp_path / "r", "--quiet", "--formats", "json")
        assert rep.returncode == 0, rep.stderr
    assert _sha(path) == before

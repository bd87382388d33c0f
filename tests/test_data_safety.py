"""Issue 7, security of outputs: de-identification, byte-identical results, input never modified,
an interrupted run leaves the previous report intact, and random damage to a valid cohort gives a
list of problems or a report, nothing else."""

import hashlib
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import inproc
from ltfu.analysis import AnalysisOptions, analyse
from ltfu.cohort import load_cohort
from ltfu.demo import demo_path
from ltfu.errors import DataError


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def ltfu(*args):
    """ltfu in a process of its own, where the process is the point (results.json the same from
    two processes; a killed run); the others run in this one (tests/inproc.py)."""
    return subprocess.run([sys.executable, "-m", "ltfu.cli", *map(str, args)], capture_output=True,
                          text=True, timeout=600)


@pytest.fixture(scope="module")
def identified_csv(tmp_path_factory):
    """The demo cohort with realistic-looking ids and a free-text column, as a user file."""
    d = tmp_path_factory.mktemp("ident")
    df = pd.read_csv(demo_path(), comment="#", dtype=str)
    df["patient_id"] = [f"MRN-{884200 + i}-XZ" for i in range(len(df))]
    df["comment"] = [f"seen by Dr Holloway{i} at Ward 7" for i in range(len(df))]
    df = df.drop(columns=[c for c in ("synthetic",) if c in df])
    f = d / "trial.csv"
    df.to_csv(f, index=False)
    return f, df


@pytest.mark.slow
def test_deidentified_report_contains_no_id_date_or_free_text(identified_csv, tmp_path):
    f, df = identified_csv
    before = sha(f)
    out = tmp_path / "rep"
    p = inproc.run("report", f, "--out", out, "--deidentify", "--quiet")
    assert p.returncode == 0, p.stderr
    assert sha(f) == before
    date_cols = [c for c in df.columns if c.endswith("_date")]
    needles = set(df["patient_id"]) | {v for c in date_cols for v in df[c].dropna()} | set(df["comment"])
    needles |= {f.name}
    files = [q for q in out.rglob("*") if q.is_file()]
    assert any(q.suffix == ".html" for q in files) and any(q.suffix == ".pdf" for q in files)
    for q in files:
        blob = q.read_bytes()
        if q.suffix == ".pdf":  # text in a PDF may be compressed: check the extracted text too
            txt = subprocess.run(["pdftotext", str(q), "-"], capture_output=True).stdout \
                if shutil_which("pdftotext") else b""
            blob += txt
        for needle in needles:
            assert needle.encode() not in blob, f"{needle!r} found in {q.name}"


def test_a_deidentified_run_stopped_by_errors_prints_no_id_value_or_column_name(identified_csv, tmp_path):
    """stderr is kept in CI and batch logs: the error listing of a --deidentify run names problems
    by code, row and data-model field only (a bad-input hunt found ids, cells and column names)."""
    _, df = identified_csv
    bad = df.copy()
    bad["nhs_number_4857773456"] = "x"                            # a column name that identifies
    bad.loc[2, "patient_id"] = bad.loc[1, "patient_id"]           # DUPLICATE_ID quotes the first row's id
    bad.loc[3, "last_contact_date"] = "2031-01-01"                # FUTURE_DATE quotes the cell
    bad.loc[4, "conditioning"] = "Mrs HOLLINGSWORTH\x1b"         # CONTROL_CHARACTER quotes the cell
    f = tmp_path / "bad.csv"
    bad.to_csv(f, index=False)
    p = inproc.run("report", f, "--out", tmp_path / "rep", "--deidentify", "--quiet")
    assert p.returncode == 1 and not (tmp_path / "rep").exists()
    for code in ("DUPLICATE_ID", "FUTURE_DATE", "CONTROL_CHARACTER", "UNKNOWN_COLUMN"):
        assert code in p.stderr
    for needle in (bad.loc[1, "patient_id"], "2031-01-01", "HOLLINGSWORTH", "nhs_number", "Holloway", "bad.csv"):
        assert needle not in p.stderr + p.stdout, needle
    assert "`ltfu validate` lists them" in p.stderr
    plain = inproc.run("report", f, "--out", tmp_path / "rep", "--quiet")       # without it, the values are shown
    assert plain.returncode == 1 and bad.loc[1, "patient_id"] in plain.stderr and "2031-01-01" in plain.stderr


def shutil_which(name):
    import shutil

    return shutil.which(name)


@pytest.mark.slow
def test_results_json_is_byte_identical_for_the_same_input(identified_csv, tmp_path):
    f, _ = identified_csv
    for k in (1, 2):
        assert ltfu("report", f, "--out", tmp_path / f"r{k}", "--formats", "json", "--quiet").returncode == 0
    a = (tmp_path / "r1" / "results.json").read_bytes()
    b = (tmp_path / "r2" / "results.json").read_bytes()
    assert a == b
    json.loads(a)  # strict JSON (no NaN)


@pytest.mark.slow
def test_interrupted_run_leaves_previous_report_intact(identified_csv, tmp_path):
    f, _ = identified_csv
    out = tmp_path / "rep"
    assert inproc.run("report", f, "--out", out, "--quiet").returncode == 0
    snapshot = {q.relative_to(out): sha(q) for q in out.rglob("*") if q.is_file()}
    for delay in (0.5, 1.5, 3.0):
        proc = subprocess.Popen([sys.executable, "-m", "ltfu.cli", "report", str(f), "--out", str(out),
                                 "--quiet"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        now = {q.relative_to(out): sha(q) for q in out.rglob("*") if q.is_file()}
        assert now == snapshot, f"report changed after a kill at {delay} s"
    # leftovers of killed runs are only temporary siblings, never inside the report
    assert all(not p.name.startswith(out.name) or p == out or ".tmp" in p.name or ".old" in p.name
               for p in tmp_path.iterdir())


MUTATIONS = st.sampled_from(["", "abc", "-5", "999999", "2016-13-45", "01/02/2016", "<script>",
                             "=1+1", "1,5", "NaN", "yes", "CR", "\u00e9\u00e8", "0", "1e309"])


@settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@pytest.mark.slow
@given(st.lists(st.tuples(st.integers(0, 52), st.integers(0, 40), MUTATIONS), min_size=1, max_size=6))
def test_random_damage_gives_problems_or_a_cohort(tmp_path, changes):
    """Any damage to valid data: either validation problems (DataError with every problem listed)
    or a cohort that the analysis runs on. Never another exception."""
    df = pd.read_csv(demo_path(), comment="#", dtype=str, keep_default_na=False)
    for row, col, value in changes:
        df.iat[row % len(df), col % df.shape[1]] = value
    f = tmp_path / "mutated.csv"
    df.to_csv(f, index=False)
    before = sha(f)
    try:
        cohort = load_cohort(f)
    except DataError as exc:
        assert exc.problems and all(p.severity in ("error", "warning") for p in exc.problems)
        assert any(p.severity == "error" for p in exc.problems)
    else:
        res = analyse(cohort, AnalysisOptions())
        assert res.numbers["n_patients"] == len(df)
    assert sha(f) == before


@pytest.mark.slow
def test_a_killed_report_leaves_no_figure_worker_behind(tmp_path):
    """SIGKILL of `ltfu report` while its figures are drawn in worker processes: the workers end
    too (Linux's parent-death signal), instead of waiting for work forever."""
    import os

    if not os.path.exists("/proc/self/task"):
        pytest.skip("needs Linux /proc")
    env = {**os.environ, "LTFU_FIGURE_WORKERS": "2"}
    proc = subprocess.Popen([sys.executable, "-m", "ltfu.cli", "report", "--demo", "--out", str(tmp_path / "r"),
                             "--quiet"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    children: list[int] = []
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None and not children:
        try:
            text = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text()
        except OSError:
            text = ""
        children = [int(c) for c in text.split()]
        time.sleep(0.05)
    assert children, "the report finished before its figure workers were seen"
    proc.send_signal(signal.SIGKILL)
    proc.wait()

    def alive(pid):
        try:
            with open(f"/proc/{pid}/stat") as fh:
                return fh.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
        except OSError:
            return False

    deadline = time.time() + 10
    while time.time() < deadline and any(alive(c) for c in children):
        time.sleep(0.1)
    left = [c for c in children if alive(c)]
    for c in left:                      # do not leave them to the next test either
        os.kill(c, signal.SIGKILL)
    assert not left, f"figure workers {left} outlived the killed report"

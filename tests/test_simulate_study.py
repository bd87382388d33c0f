"""``ltfu simulate --out DIR``: the four tables of a SYNTHETIC study at registry scale.

The folder must load as a study without errors (so that the benchmarks measure analyses, not
refusals), hold the patients asked for with about 5 events and 15 assessments each (the ratios
of issue 17's scale target: 1e5 patients, 1.5e6 assessments, 5e5 events), be the same for the same
seed, say that it is synthetic, and follow ltfu's output rules (``ltfu.outputs``): a folder is
written as a report is (new, empty, or one ltfu wrote), a file needs ``--overwrite``, an unknown
extension is a usage error, and a directory ltfu did not write is never touched.
"""

import hashlib
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import ltfu
from ltfu.errors import OutputError
from ltfu.simulate import simulate, write_registry
from ltfu.simulate_study import simulate_tables
from test_out_safety import hidden_leftovers, one_line_error, run, tree

TABLES = ("patients", "events", "assessments", "therapies")
N = 1500


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    out = tmp_path_factory.mktemp("sim") / "study"
    assert write_registry(out, N, seed=11) == out
    return out


def _digests(folder: Path) -> dict:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_the_four_tables_load_as_a_study_without_errors(folder):
    assert sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")) == \
        ["README.md", *sorted(f"{t}.parquet" for t in TABLES)]
    problems = ltfu.study.validate_study(folder)
    assert [p for p in problems if p.severity == "error"] == []
    study = ltfu.load_study(folder)          # raises on any error
    # nothing was dropped by the validation: every row of every table is in the study
    for name in ("events", "assessments", "therapies"):
        assert len(getattr(study, name)) == len(pd.read_parquet(folder / f"{name}.parquet")), name
    assert study.cohort.n == N
    assert study.assessments["value"].notna().sum() + study.assessments["result"].notna().sum() == \
        len(study.assessments)


def test_row_counts(folder):
    n = {t: len(pd.read_parquet(folder / f"{t}.parquet")) for t in TABLES}
    assert n["patients"] == N
    # issue 17's registry: about 15 assessment rows and 5 events per patient
    assert 13 <= n["assessments"] / N <= 17
    assert 4 <= n["events"] / N <= 6
    assert 0.5 <= n["therapies"] / N <= 1.5
    assert pd.read_parquet(folder / "patients.parquet")["patient_id"].is_unique


@pytest.mark.parametrize("n", [1, 2, 37])
def test_small_studies_are_complete_and_valid(n, tmp_path):
    out = write_registry(tmp_path / "s", n, seed=3)
    assert len(pd.read_parquet(out / "patients.parquet")) == n
    assert [p for p in ltfu.study.validate_study(out) if p.severity == "error"] == []


def test_same_seed_same_bytes_other_seed_other_data(folder, tmp_path):
    again = write_registry(tmp_path / "again", N, seed=11)
    assert _digests(again) == _digests(folder)          # the manifest too: it lists the same files
    for t in TABLES:
        pd.testing.assert_frame_equal(pd.read_parquet(again / f"{t}.parquet"), pd.read_parquet(folder / f"{t}.parquet"))
    other = write_registry(tmp_path / "other", N, seed=12)
    assert not pd.read_parquet(other / "events.parquet").equals(pd.read_parquet(folder / "events.parquet"))


def test_in_memory_tables_are_deterministic():
    p = simulate(300, seed=5)
    a, b = simulate_tables(p, seed=5), simulate_tables(simulate(300, seed=5), seed=5)
    for t in ("events", "assessments", "therapies"):
        pd.testing.assert_frame_equal(a[t], b[t])


def test_labelled_synthetic(folder):
    assert "SYNTHETIC" in (folder / "README.md").read_text()
    for t in TABLES:
        import pyarrow.parquet as pq

        meta = pq.read_schema(folder / f"{t}.parquet").metadata or {}
        assert b"SYNTHETIC" in meta.get(b"ltfu", b""), t


def test_cli_writes_a_folder_and_says_synthetic(tmp_path):
    out = tmp_path / "reg"
    p = run("simulate", "--patients", "30", "--seed", "2", "--out", out)
    assert p.returncode == 0, p.stderr
    assert "SYNTHETIC" in p.stdout
    assert sorted(x.name for x in out.iterdir() if not x.name.startswith(".")) == \
        ["README.md", *sorted(f"{t}.parquet" for t in TABLES)]
    assert hidden_leftovers(tmp_path) == []
    # a second run replaces the folder ltfu wrote (same seed: same tables)
    before = _digests(out)
    q = run("simulate", "--patients", "30", "--seed", "2", "--out", f"{out}/")
    assert q.returncode == 0, q.stderr
    assert _digests(out) == before
    assert hidden_leftovers(tmp_path) == []


# --------------------------------------------------------------------------------------------------
# output path rules


def test_a_directory_ltfu_did_not_write_is_never_touched(tmp_path):
    d = tmp_path / "mine"
    d.mkdir()
    (d / "notes.txt").write_text("mine\n")
    (d / "patients.parquet").write_bytes(b"not ltfu's")
    before = tree(tmp_path)
    for extra in ((), ("--overwrite",)):
        p = run("simulate", "--patients", "10", "--out", d, *extra)
        assert p.returncode == 2
        assert "did not write" in one_line_error(p.stderr)
        assert tree(tmp_path) == before
    with pytest.raises(OutputError):
        write_registry(d, 10)
    assert tree(tmp_path) == before


def test_a_changed_simulated_folder_is_not_replaced(tmp_path):
    out = write_registry(tmp_path / "s", 20, seed=1)
    (out / "events.parquet").write_bytes(b"edited by hand")
    (out / "extra.csv").write_text("mine\n")
    before = tree(tmp_path)
    p = run("simulate", "--patients", "20", "--out", out)
    assert p.returncode == 2
    one_line_error(p.stderr)
    assert tree(tmp_path) == before


def test_an_existing_file_needs_overwrite(tmp_path):
    f = tmp_path / "reg.parquet"
    f.write_bytes(b"precious")
    p = run("simulate", "--patients", "10", "--out", f)
    assert p.returncode == 2
    assert "--overwrite" in one_line_error(p.stderr)
    assert f.read_bytes() == b"precious"
    q = run("simulate", "--patients", "10", "--out", f, "--overwrite")
    assert q.returncode == 0, q.stderr
    assert len(pd.read_parquet(f)) == 10
    assert sorted(os.listdir(tmp_path)) == ["reg.parquet"]


def test_an_existing_file_is_not_a_folder(tmp_path):
    f = tmp_path / "reg"             # no extension: a folder is meant, but a file is there
    f.write_text("precious\n")
    for extra in ((), ("--overwrite",)):
        p = run("simulate", "--patients", "10", "--out", f, *extra)
        assert p.returncode == 2
        assert "existing file" in one_line_error(p.stderr)
        assert f.read_text() == "precious\n"


@pytest.mark.parametrize("name", ["reg.xlsx", "reg.txt", "reg.json"])
def test_unknown_extension_is_a_usage_error(name, tmp_path):
    p = run("simulate", "--patients", "10", "--out", tmp_path / name)
    assert p.returncode == 2
    accepted = one_line_error(p.stderr).rsplit("accepted:", 1)[1]
    assert ".csv" in accepted and ".parquet" in accepted
    assert list(tmp_path.iterdir()) == []


def test_values_are_in_the_canonical_units_after_loading(folder):
    study = ltfu.load_study(folder)
    a = study.assessments
    for test, (lo, hi) in {"anc_per_ul": (0, 1e5), "igg_g_per_l": (0, 100), "haemoglobin_g_per_dl": (1, 25)}.items():
        v = a.loc[a["test"] == test, "value"].to_numpy(float)
        assert v.size and np.all((v >= lo) & (v <= hi)), test

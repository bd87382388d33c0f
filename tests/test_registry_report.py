"""``ltfu report`` on a table beyond the cells ltfu holds in memory: prepared (validated and typed)
in row batches, then the sections that come from counts counted by DuckDB.  Their numbers equal the
in-memory report's of the same table; the sections fitted on the patients' rows are named as not
computed; options the path cannot honour are usage errors; nothing is left behind."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from ltfu.analysis import AnalysisOptions, analyse
from ltfu.cli import main
from ltfu.cohort import load_cohort
from ltfu.cohort.raw import Limits
from ltfu.registry import AT_SCALE, prepare
from ltfu.simulate import write_registry

pytest.importorskip("duckdb")

SECTIONS = ("baseline", "response", "follow_up")
ROW_FITTED = ("association",)                       # safety: the logistic models


@pytest.fixture
def registry(tmp_path, monkeypatch):
    path = write_registry(tmp_path / "registry.parquet", 1500, seed=21)
    full = json.loads(json.dumps(analyse(load_cohort(path), AnalysisOptions()).numbers, default=str))
    monkeypatch.setattr("ltfu.cohort.raw.LIMITS", Limits(max_cells=10_000))     # the file is now "too large"
    monkeypatch.setattr("ltfu.cohort.stream.BATCH_CELLS", 5_000)
    return path, full


def _json(numbers):
    return json.loads(json.dumps(numbers, default=str))


def _close(a, b, where=""):
    """Equal, floats to 1e-9 relative (cox_from's sums are DuckDB's, in its order)."""
    if isinstance(a, dict):
        assert set(a) == set(b), (where, set(a) ^ set(b))
        for k in a:
            _close(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _close(x, y, f"{where}[{i}]")
    elif isinstance(a, float) and isinstance(b, float):
        assert abs(a - b) <= 1e-9 * max(abs(a), abs(b), 1e-12), (where, a, b)
    else:
        assert a == b, (where, a, b)


def _check(got, full):
    for key in SECTIONS:
        assert got[key] == full[key], key
    _close(got["safety"].pop("association"), full["safety"]["association"], "association")      # fitted: 1e-9
    assert got["safety"] == {k: v for k, v in full["safety"].items() if k not in ROW_FITTED}
    want = {k: v for k, v in full["survival"].items() if k != "by"}
    # Fine-Gray: fitted on counted (burden, time, status) cells with frequency weights (1e-9)
    fitted = [k for k in want["relapse_competing"] if k.startswith("fine_gray")]
    assert sorted(fitted) == ["fine_gray_nrm", "fine_gray_relapse"]
    _close({k: got["survival"]["relapse_competing"].pop(k) for k in fitted},
           {k: want["relapse_competing"].pop(k) for k in fitted}, "fine_gray")
    models, want_models = got["survival"].pop("cox"), want.pop("cox")
    # the transplant analyses: Mantel-Byar fitted by cox_from (1e-9), the rest counted
    _close(got["survival"].pop("allo_hct"), want.pop("allo_hct"), "allo_hct")
    assert got["survival"] == want                                      # counted: bit for bit
    for key in ("efs", "os"):                 # the multivariable models' proportional-hazards checks too
        assert set(models[key]["proportional_hazards"]) >= {"terms", "statistic", "p_value", "global"}
    _close(models, want_models, "cox")                                  # fitted by cox_from: to 1e-9
    assert got["n_patients"] == full["n_patients"] and got["definitions"] == full["definitions"]
    # the warnings listed as the in-memory report lists them (a hunt found only their codes counted)
    assert got["validation_warnings"] == full["validation_warnings"] and full["validation_warnings"]
    assert got["meta"]["computed"] == AT_SCALE and got["meta"]["sha256"] == full["meta"]["sha256"]


def test_a_registry_beyond_memory_gets_the_reports_counted_sections(registry, tmp_path, capsys):
    path, full = registry
    out = tmp_path / "rep"
    assert main(["report", str(path), "--out", str(out), "--formats", "json,csv,html", "--quiet"]) == 0
    assert "computed from counts and sums in DuckDB" in capsys.readouterr().out
    got = json.loads((out / "results.json").read_text())
    _check(got, full)
    html = (out / "report.html").read_text()
    assert "registry scale" in html and "proportional-hazards checks" in html and "forest_efs" in html
    assert "Proportional-hazards check" in html and "simon_makuch_efs" in html and "Fine-Gray" in html
    assert sorted(p.name for p in tmp_path.iterdir()) == ["registry.parquet", "rep"]     # no temporary left


def test_a_prepared_table_is_reported_as_it_is(registry, tmp_path):
    path, full = registry
    prepared = prepare(path, tmp_path / "prepared.parquet").path
    out = tmp_path / "rep"
    assert main(["report", str(prepared), "--out", str(out), "--formats", "json", "--quiet"]) == 0
    _check(json.loads((out / "results.json").read_text()), full)
    # made with the default options: other ones are refused, not silently ignored
    assert main(["report", str(prepared), "--out", str(tmp_path / "r2"), "--burden-threshold", "20"]) == 2
    assert not (tmp_path / "r2").exists()


@pytest.mark.parametrize("option", [["--by", "centre"], ["--deidentify"], ["--engine", "numpy"]])
def test_what_the_counted_report_cannot_honour_is_a_usage_error(registry, tmp_path, option, capsys):
    path, _ = registry
    assert main(["report", str(path), "--out", str(tmp_path / "rep"), *option]) == 2
    assert "not available for a table this size" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["registry.parquet"]


def test_errors_in_the_registry_write_nothing(tmp_path, monkeypatch, capsys):
    import pandas as pd

    path = write_registry(tmp_path / "registry.parquet", 300, seed=2)
    df = pd.read_parquet(path)
    df.loc[7, "crs_grade"] = 9
    df.to_parquet(path, index=False)
    assert main(["report", str(path), "--out", str(tmp_path / "rep"), "--quiet"]) == 1     # in memory
    in_memory = capsys.readouterr().err.strip().splitlines()[-1]
    monkeypatch.setattr("ltfu.cohort.raw.LIMITS", Limits(max_cells=1_000))
    assert main(["report", str(path), "--out", str(tmp_path / "rep"), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "OUT_OF_RANGE" in err
    # the last line as the in-memory report says it (a hunt found it worded otherwise)
    assert err.strip().splitlines()[-1] == in_memory and "1 error(s) in the data" in in_memory
    assert sorted(p.name for p in tmp_path.iterdir()) == ["registry.parquet"]


def test_the_api_reports_a_prepared_table_with_its_own_options(tmp_path):
    from ltfu.errors import InvalidInputError
    from ltfu.registry import analyse as analyse_prepared
    from ltfu.registry import survival

    path = write_registry(tmp_path / "registry.parquet", 400, seed=8)
    prepared = prepare(path, tmp_path / "p.parquet", efs_nonresponder="assessment", censor_at_hct=True).path
    got = analyse_prepared(prepared)                  # no options: those it was prepared with
    opts = AnalysisOptions(efs_nonresponder="assessment", censor_at_hct=True)
    full = analyse(load_cohort(path), opts)
    want = full.numbers
    assert _json(got.numbers["survival"]["efs"]) == _json(want["survival"]["efs"])
    # the definitions and defaults in force, in the in-memory report's order
    assert got.table("definitions").rows == full.table("definitions").rows
    assert got.meta["options"] == opts.to_dict()
    # the confidence options reach every curve, the transplant landmark's medians included (they
    # stayed log-log at 95% on both paths: an audit against R found it; tests/test_timedep.py)
    ci = AnalysisOptions(efs_nonresponder="assessment", censor_at_hct=True, conf_type="log", conf_level=0.9)
    counted = _json(analyse_prepared(prepared, ci).numbers["survival"]["allo_hct"])
    _close(counted, _json(analyse(load_cohort(path), ci).numbers["survival"]["allo_hct"]), "allo_hct")
    default = _json(got.numbers["survival"]["allo_hct"])
    limits = [(e, arm, b) for e in ("efs", "os") if "landmark" in default[e]     # EFS censored at the HCT: none
              for arm in ("exposed", "unexposed") for b in ("lower", "upper")
              if default[e]["landmark"][f"median_{arm}_months_from_landmark"][b] is not None]
    assert limits and all(counted[e]["landmark"][f"median_{arm}_months_from_landmark"][b]
                          != default[e]["landmark"][f"median_{arm}_months_from_landmark"][b] for e, arm, b in limits)
    with pytest.raises(InvalidInputError, match="prepared with other endpoint options"):
        analyse_prepared(prepared, AnalysisOptions())
    import duckdb

    with pytest.raises(InvalidInputError, match="definitions"):     # a relation carries none
        survival(duckdb.connect().read_parquet(str(prepared)))


def test_the_prepared_table_is_built_beside_out_and_a_killed_runs_is_removed(registry, tmp_path):
    """Never in the system's temporary folder (it is patient data): beside --out, its parents made
    for it; what a killed run left there (its marker no longer held) goes with the next run."""
    path, _ = registry
    out = tmp_path / "new" / "deeper" / "rep"
    stale = tmp_path / "new" / "deeper" / ".rep.tmp-dead0001"
    stale.mkdir(parents=True)
    (stale / ".ltfu-partial").write_text("ltfu is building the report 'rep' here (pid 1)\n")
    (stale / "prepared.parquet").write_bytes(b"left by a killed run")
    assert main(["report", str(path), "--out", str(out), "--formats", "json", "--quiet"]) == 0
    assert sorted(p.name for p in out.parent.iterdir()) == ["rep"]


def test_nothing_is_left_when_the_registry_has_errors_and_out_needed_new_folders(tmp_path, monkeypatch):
    import pandas as pd

    path = write_registry(tmp_path / "registry.parquet", 300, seed=2)
    df = pd.read_parquet(path)
    df.loc[3, "age"] = -1
    df.to_parquet(path, index=False)
    monkeypatch.setattr("ltfu.cohort.raw.LIMITS", Limits(max_cells=1_000))
    assert main(["report", str(path), "--out", str(tmp_path / "a" / "b" / "rep"), "--quiet"]) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["registry.parquet"]


def test_a_cutoff_before_every_infusion_is_one_usage_error(registry, tmp_path, capsys):
    path, _ = registry
    assert main(["report", str(path), "--out", str(tmp_path / "rep"), "--cutoff", "2000-01-01", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "before every patient's infusion" in err and "CUTOFF_BEFORE_INFUSION" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["registry.parquet"]


def test_many_warnings_are_listed_table_level_and_counted_by_code(tmp_path, monkeypatch):
    """Beyond WARNING_LINES_MAX the prepared table keeps the table-level warnings word for word and
    counts the row-level ones by code."""
    import ltfu.registry as registry
    from ltfu.simulate import simulate

    df = simulate(60, seed=3)
    dead = df.index[df["death_date"].notna()][:4]
    df.loc[dead, "death_date"] = df.loc[dead, "last_contact_date"] + pd.Timedelta(days=3)   # after last contact
    path = tmp_path / "r.parquet"
    df.to_parquet(path, index=False)
    monkeypatch.setattr(registry, "WARNING_LINES_MAX", 2)
    prepared = prepare(path, tmp_path / "p.parquet")
    lines = registry._meta(prepared.path)["warning_lines"]
    assert sum(w.code == "DEATH_AFTER_LAST_CONTACT" for w in prepared.warnings) == 4
    assert "DEATH_AFTER_LAST_CONTACT (4 rows of the patient table)" in lines
    assert any(line.startswith("UNKNOWN_COLUMN (product): ") for line in lines)
    assert registry.analyse(prepared.path).numbers["validation_warnings"] == lines

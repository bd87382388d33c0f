"""CDISC ADaM input: ADSL + ADTTE in XPT and CSV, the documented mapping, problems, and the CLI."""

import json

import numpy as np
import pandas as pd
import pytest

import inproc
from ltfu.cohort.adam import load_adam
from ltfu.errors import DataError
from ltfu.stats import kaplan_meier

ADSL = pd.DataFrame({"USUBJID": ["S1", "S2", "S3", "S4", "S5", "S6"], "AGE": [40, 55, 61, 33, 70, 48],
                     "BURDEN": ["LOW", "HIGH", "HIGH", "LOW", "HIGH", "LOW"]})
ADTTE = pd.DataFrame({
    "USUBJID": ["S1", "S2", "S3", "S4", "S5", "S6"] * 2,
    "PARAMCD": ["OS"] * 6 + ["EFS"] * 6,
    "PARAM": ["Overall survival"] * 6 + ["Event-free survival"] * 6,
    "AVAL": [20.0, 5.5, 12.0, 30.0, 3.0, 24.0, 10.0, 2.0, 6.0, 30.0, 1.0, 8.0],
    "AVALU": ["MONTHS"] * 12,
    "CNSR": [1, 0, 0, 1, 0, 1, 0, 0, 0, 1, 0, 0],
})


def write(tmp_path, adsl=ADSL, adtte=ADTTE, kind="csv"):
    a, t = tmp_path / f"adsl.{kind}", tmp_path / f"adtte.{kind}"
    if kind == "csv":
        adsl.to_csv(a, index=False)
        adtte.to_csv(t, index=False)
    else:
        import pyreadstat

        pyreadstat.write_xport(adsl, str(a), file_format_version=8)
        pyreadstat.write_xport(adtte, str(t), file_format_version=8)
    return a, t


@pytest.mark.parametrize("kind", ["csv", "xpt"])
def test_mapping(tmp_path, kind):
    data = load_adam(*write(tmp_path, kind=kind))
    assert sorted(data.endpoints) == ["EFS", "OS"]
    os_ = data.endpoints["OS"]
    assert os_.param == "Overall survival"
    np.testing.assert_allclose(os_.time, np.array([20.0, 5.5, 12.0, 30.0, 3.0, 24.0]) * 30.4375)
    assert os_.event.tolist() == [0, 1, 1, 0, 1, 0]              # event = CNSR == 0
    assert data.covariates.loc["S3", "AGE"] == 61
    # S = 5/6, 4/6, then 1/2 exactly at 12 months and flat to the last time (30): R's median is the
    # midpoint (12 + 30) / 2 = 21 months
    assert kaplan_meier(os_.time, os_.event).median.value / 30.4375 == pytest.approx(21.0)


def test_startdt_adt_derive_aval_and_problems_are_listed(tmp_path):
    adtte = ADTTE.drop(columns=["AVAL", "AVALU"]).assign(STARTDT="2015-01-01", ADT="2015-01-31")
    data = load_adam(*write(tmp_path, adtte=adtte))
    assert data.endpoints["OS"].time[0] == 31.0                   # ADT - STARTDT + 1
    bad = ADTTE.astype({"CNSR": float})
    bad.loc[0, "USUBJID"] = "S99"
    bad.loc[1, "CNSR"] = 2.5
    bad.loc[2, "AVAL"] = -1
    bad.loc[7, "PARAMCD"] = "EFS"
    bad.loc[8, "USUBJID"] = "S2"
    with pytest.raises(DataError) as exc:
        load_adam(*write(tmp_path, adtte=bad))
    codes = sorted({p.code for p in exc.value.problems})
    assert codes == ["ADAM_UNKNOWN_SUBJECT", "BAD_CODE", "DUPLICATE_ID", "OUT_OF_RANGE"]


def test_missing_variables(tmp_path):
    with pytest.raises(DataError) as exc:
        load_adam(*write(tmp_path, adtte=ADTTE.drop(columns=["CNSR"])))
    assert [p.code for p in exc.value.problems] == ["ADAM_MISSING_VARIABLE"]


def test_cli(tmp_path):
    a, t = write(tmp_path)
    p = inproc.run("adam", a, t, "--by", "burden", "--format", "json")
    assert p.returncode == 0, p.stderr
    rows = json.loads(p.stdout)
    os_all = next(r for r in rows if r["paramcd"] == "OS" and r["group"] == "all")
    assert os_all["n"] == 6 and os_all["events"] == 3 and os_all["median_months"] == pytest.approx(21.0)
    assert os_all["logrank"]["df"] == 1


@pytest.mark.slow
def test_adam_report(tmp_path):
    """Issue 16 (4): `ltfu adam --out` writes a report: a Kaplan-Meier figure with its risk table per
    PARAMCD and group, medians with NE for an inestimable limit, log-rank, the Cox hazard ratio of a
    two-level --by, and the time unit it assumed."""
    adtte = ADTTE.drop(columns=["AVALU"]).assign(AVAL=ADTTE["AVAL"] * 30.4375)   # days, no AVALU
    adtte.loc[8, "AVAL"] = 12.0 * 30.4375          # EFS of S3 (HIGH) after two LOW events: no separation
    a, t = write(tmp_path, adtte=adtte)
    out = tmp_path / "rep"
    p = inproc.run("adam", a, t, "--by", "burden", "--out", out, "--formats", "json,csv,html")
    assert p.returncode == 0, p.stderr
    res = json.loads((out / "results.json").read_text())
    os_ = res["parameters"]["OS"]
    assert os_["groups"]["all"]["median_months"] == pytest.approx(21.0)
    assert os_["logrank"]["df"] == 1
    assert "may be infinite" in os_["cox"]["error"]             # OS: every LOW subject censored
    efs = res["parameters"]["EFS"]
    assert efs["cox"]["comparison"] == "LOW vs HIGH" and len(efs["cox"]["hazard_ratio"]) == 1
    html = (out / "report.html").read_text()
    assert "AVAL was taken as days" in html and "km_OS" in html
    table = (out / "tables" / "adam_OS.csv").read_text()
    assert "NE" in table                                   # an upper limit not reached
    assert "NR" not in table

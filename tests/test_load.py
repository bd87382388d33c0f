"""Every loader reads the same small cohort back identically (files written in a temp folder), and
dates are read without guessing."""

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ltfu.cohort import load, load_cohort
from ltfu.cohort.dates import EXCEL_1900, parse_dates
from ltfu.errors import DataError

COHORT = pd.DataFrame({
    "patient_id": ["A1", "A2", "A3"],
    "infusion_date": ["2015-01-10", "2015-02-20", "2015-03-15"],
    "last_contact_date": ["2016-01-10", "2015-08-01", "2016-02-01"],
    "death_date": ["", "2015-08-01", ""],
    "response_date": ["2015-02-07", "2015-03-20", ""],
    "relapse_date": ["", "2015-06-01", ""],
    "data_cutoff_date": ["2016-03-01"] * 3,
    "best_response": ["CR", "CRi", "PD"],
    "marrow_blasts_pct": ["2.5", "40", "7"],
    "extramedullary": ["no", "no", "yes"],
    "crs_grade": ["1", "3", "0"],
    "age": ["44", "61", "37"],
    "conditioning": ["Cyclophosphamide", "Fludarabine/cyclophosphamide", "Other"],
})
EXPECTED_DAYS = {"last_contact_day": [365.0, 162.0, 323.0], "death_day": [np.nan, 162.0, np.nan],
                 "response_day": [28.0, 28.0, np.nan], "relapse_day": [np.nan, 101.0, np.nan]}


def _check(cohort):
    d = cohort.data
    assert d["patient_id"].tolist() == ["A1", "A2", "A3"]
    for col, want in EXPECTED_DAYS.items():
        np.testing.assert_array_equal(d[col].to_numpy(float), want, err_msg=col)
    assert d["burden"].tolist() == ["low", "high", "high"]
    assert d["crs_grade"].tolist() == [1, 3, 0]
    assert d["age"].tolist() == [44.0, 61.0, 37.0]
    assert cohort.cutoff_date == "2016-03-01"


def _texts(column) -> list:
    """A text column's values, None where missing (a categorical's missing is NaN)."""
    return [None if pd.isna(v) else v for v in column]


def _write(df, path):
    suffix = path.suffix
    if suffix in (".csv", ".txt"):
        df.to_csv(path, index=False)
    elif suffix == ".tsv":
        df.to_csv(path, index=False, sep="\t")
    elif suffix == ".xlsx":
        df.to_excel(path, index=False, sheet_name="patients")
    elif suffix == ".parquet":
        df.to_parquet(path, index=False)
    elif suffix == ".xpt":
        import pyreadstat

        pyreadstat.write_xport(df, str(path), file_format_version=8)


@pytest.mark.parametrize("name", ["c.csv", "c.tsv", "c.txt", "c.xlsx", "c.parquet", "c.xpt"])
def test_round_trip(tmp_path, name):
    path = tmp_path / name
    _write(COHORT, path)
    before = path.read_bytes()
    cohort = load_cohort(path, sheet="patients" if name.endswith("xlsx") else None)
    _check(cohort)
    assert path.read_bytes() == before
    assert cohort.sha256 == __import__("hashlib").sha256(before).hexdigest()


def test_typed_parquet_and_sas_dates(tmp_path):
    """Dates stored as real dates (Parquet timestamps, SAS dates) read the same as ISO text."""
    typed = COHORT.copy()
    for c in [c for c in typed if c.endswith("_date")]:
        typed[c] = pd.to_datetime(typed[c].replace("", None))
    for c in ("marrow_blasts_pct", "age"):
        typed[c] = pd.to_numeric(typed[c])
    typed["crs_grade"] = typed["crs_grade"].astype(int)
    p = tmp_path / "typed.parquet"
    typed.to_parquet(p, index=False)
    _check(load_cohort(p))
    x = tmp_path / "typed.xpt"
    import pyreadstat

    sas = typed.copy()
    for c in [c for c in sas if c.endswith("_date")]:
        sas[c] = sas[c].dt.date
    pyreadstat.write_xport(sas, str(x), file_format_version=8)
    _check(load_cohort(x))


def test_semicolon_bom_and_latin1(tmp_path):
    semi = tmp_path / "semi.csv"
    COHORT.to_csv(semi, index=False, sep=";")
    _check(load_cohort(semi))
    bom = tmp_path / "bom.csv"
    bom.write_bytes(b"\xef\xbb\xbf" + COHORT.to_csv(index=False).encode())
    _check(load_cohort(bom))
    lat = tmp_path / "latin.csv"
    lat.write_bytes(COHORT.assign(conditioning="Cyclophosphamide (r\u00e9duite)").to_csv(index=False).encode("latin-1"))
    t = load(lat)
    assert [p.code for p in t.problems] == ["LATIN1"]
    assert t.data["conditioning"][0] == "Cyclophosphamide (r\u00e9duite)"


def test_cutoff_option_censors_later_events(tmp_path):
    p = tmp_path / "c.csv"
    COHORT.to_csv(p, index=False)
    cohort = load_cohort(p, cutoff=dt.date(2015, 7, 1))
    # A2 died on day 162 (2015-08-01), after the cut-off (day 131): counted in one warning
    assert [w.code for w in cohort.warnings] == ["AFTER_CUTOFF"]
    assert cohort.data["data_cutoff_day"].tolist() == [172.0, 131.0, 108.0]


def test_load_cohort_raises_with_every_problem(tmp_path):
    p = tmp_path / "bad.csv"
    COHORT.assign(age=["x", "61", "-3"], crs_grade=["1", "9", "0"]).to_csv(p, index=False)
    with pytest.raises(DataError) as exc:
        load_cohort(p)
    assert sorted((q.code, q.row, q.field) for q in exc.value.problems) == [
        ("BAD_NUMBER", 2, "age"), ("OUT_OF_RANGE", 3, "crs_grade"), ("OUT_OF_RANGE", 4, "age")]


@pytest.mark.parametrize("values, order, expected", [
    (["2016-03-01"], None, ["2016-03-01"]),
    (["01/03/2016"], "dmy", ["2016-03-01"]),
    (["01/03/2016"], "mdy", ["2016-01-03"]),
    (["25/03/2016"], None, ["2016-03-25"]),          # unambiguous on its own
    (["03/25/2016"], None, ["2016-03-25"]),
    (["02-Mar-2016", "2 March 2016", "02MAR2016", "Mar 2, 2016"], None, ["2016-03-02"] * 4),
    ([42430, 42430.0], None, ["2016-03-01"] * 2),    # numbers from an XLSX: Excel serials (1900 system)
    ([dt.date(2016, 3, 1), pd.Timestamp("2016-03-01 13:45")], None, ["2016-03-01"] * 2),
])
def test_dates(values, order, expected):
    out, issues = parse_dates(values, order=order, epoch=EXCEL_1900)
    assert issues == []
    assert [str(v) for v in out] == expected


def test_ambiguous_date_is_a_problem_not_a_guess():
    out, issues = parse_dates(["01/03/2016", "2016-02-30", "soon"], order=None)
    assert np.isnat(out).all()
    assert [(i, c) for i, c, _ in issues] == [(0, "AMBIGUOUS_DATE"), (1, "BAD_DATE"), (2, "BAD_DATE")]


def test_sas7bdat_fixture():
    """tests/fixtures/cohort.sas7bdat was written by haven (tests/fixtures/make_sas7bdat.R): SAS dates
    arrive as dates and CDISC names map to the data model."""
    path = Path(__file__).parent / "fixtures" / "cohort.sas7bdat"
    before = path.read_bytes()
    cohort = load_cohort(path)
    d = cohort.data
    assert d["patient_id"].tolist() == ["A1", "A2", "A3"]
    assert d["last_contact_day"].tolist() == [365.0, 162.0, 323.0]
    assert d["death_day"].fillna(-1).tolist() == [-1, 162.0, -1]
    assert d["burden"].tolist() == ["low", "high", "high"]
    assert [w.code for w in cohort.warnings] == ["NO_CUTOFF"]
    assert path.read_bytes() == before


@pytest.mark.parametrize("name", ["c.csv", "c.xlsx", "c.parquet", "c.xpt"])
def test_none_is_a_conditioning_regimen_but_missing_elsewhere(tmp_path, name):
    # "None" in conditioning says no lymphodepletion was given (schema.NONE_IS_A_VALUE): a value,
    # counted as such; "NA" there, and "None" in any other field, is missing
    df = COHORT.assign(conditioning=["None", " none ", "NA"], centre=["None", "MSK", "NULL"],
                       crs_scale=["ASTCT 2019", "None", "Lee 2014"])
    path = tmp_path / name
    _write(df, path)
    d = load_cohort(path, sheet="patients" if name.endswith("xlsx") else None).data
    assert _texts(d["conditioning"]) == ["None", "none", None]
    assert _texts(d["centre"]) == [None, "MSK", None]
    assert _texts(d["crs_scale"]) == ["ASTCT 2019", None, "Lee 2014"]


TEXT_COLUMNS = ("best_response", "mrd_negative", "relapse_cd19", "sex", "crs_scale", "neurotox_scale",
                "conditioning", "centre", "burden")


@pytest.mark.parametrize("name", ["c.csv", "c.parquet"])
def test_the_patient_tables_texts_are_categorical_with_the_objects_values(tmp_path, name):
    """The validated cohort's text columns (codes, free text, the derived burden) are pandas
    Categoricals (one byte a row where an object pointer took eight), categories sorted as
    astype("category") sorts them, missing NaN; their values are the object path's, cell for cell
    (``_codes`` and ``_text`` without ``categorical``), on messy spellings, spaces and gaps; a
    field the file lacks is an empty categorical."""
    from ltfu.cohort.parse import _codes, _Collector, _text
    from ltfu.cohort.schema import FIELD_BY_NAME

    raw = COHORT.assign(best_response=["cr", " CRi", "NA"], sex=["f", "M", ""], centre=["  MSK", "MSK ", "None"],
                        conditioning=["Flu/Cy", None, "None"], marrow_blasts_pct=[2.0, 30.0, None],
                        extramedullary=["no", "no", ""])
    path = tmp_path / name
    _write(raw.drop(columns=["crs_scale"], errors="ignore"), path)
    d = load_cohort(path).data
    for c in TEXT_COLUMNS:
        assert isinstance(d[c].dtype, pd.CategoricalDtype), c
        cats = list(d[c].cat.categories)
        assert cats == sorted(cats) and d[c].cat.codes.dtype == np.int8, c
    assert list(d["crs_scale"].cat.categories) == [] and d["crs_scale"].isna().all()
    got = lambda c: _texts(d[c])
    assert got("best_response") == ["CR", "CRi", None] and got("burden") == ["low", "high", None]
    col = _Collector(np.arange(3), np.array(["a", "b", "c"], dtype=object), {})
    for c in ("best_response", "sex"):
        assert got(c) == list(_codes(pd.Series(raw[c], dtype=object), c, col))
    assert got("centre") == ["MSK", "MSK", None] == list(_text(pd.Series(raw["centre"], dtype=object)))
    assert got("conditioning") == ["Flu/Cy", None, "None"]
    assert FIELD_BY_NAME["centre"].type == "text" and FIELD_BY_NAME["sex"].type == "code"

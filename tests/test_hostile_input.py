"""Hostile input: what the bad-input corpus (tests/bad_inputs) cannot hold as a file of exact codes.

* silent misreads: exact values (dates read with the file's own epoch), exact counts (one root
  cause, one problem), configurable plausibility bounds, control characters shown escaped;
* CDISC ADaM row-level validation;
* column-name rules (units, word order) and every column reported;
* resource limits: each generated here at test time, small, with the limits lowered through
  ``Limits`` (and one XLSX at the real limit, refused from its XML bytes before openpyxl parses it).
  Nothing here is timed (the README's rule): the tests check that the limit is what answers.
"""

import io
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import inproc
from ltfu.cohort import PROBLEM_CODES, load, load_cohort, to_cohort, validate
from ltfu.cohort.dates import EXCEL_1900, EXCEL_1904, SAS_DATE, SAS_DATETIME, parse_dates
from ltfu.cohort.load import LIMITS, SNIFF_CHARS, Limits, _read_csv_fast, _scan_xml, _sniff_sample
from ltfu.cohort.problems import truncate, visible
from ltfu.cohort.schema import match_column
from ltfu.errors import DataError, LoadError

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE / "bad_inputs"))
import make_corpus as corpus  # noqa: E402

TODAY = "2026-11-24"
BASE = corpus.BASE


def _csv(tmp_path, df, name="t.csv"):
    p = tmp_path / name
    p.write_text(df.to_csv(index=False))
    return p


def _codes(problems):
    return sorted(p.code for p in problems)


# ---- 1. impossible dates and follow-up ----------------------------------------------------------

def test_dates_before_the_floor_or_follow_up_beyond_the_bound_are_problems_and_configurable():
    df = corpus.edit(infusion_date={0: "0001-01-01", 1: "1985-06-01"})
    found = [p for p in validate(df, today=TODAY) if p.code == "IMPLAUSIBLE_DATE"]
    assert [(p.row, p.field, p.value) for p in found] == [(2, "infusion_date", "0001-01-01"),
                                                          (3, "infusion_date", "1985-06-01")]
    # nothing else follows from an implausible infusion date (it is left out, not used)
    assert _codes(validate(df, today=TODAY)) == ["IMPLAUSIBLE_DATE"] * 2
    # a trial that started earlier lowers the floor
    assert _codes(validate(df, today=TODAY, date_floor="1980-01-01")) == ["IMPLAUSIBLE_DATE"]
    days = pd.DataFrame({"patient_id": ["A", "B", "C"], "last_contact_day": ["100", "1e7", "20000"],
                         "data_cutoff_day": ["30000"] * 3})
    found = [(p.row, p.value) for p in validate(days, today=TODAY) if p.code == "IMPLAUSIBLE_DATE"]
    assert found == [(3, "day 1e+07"), (4, "day 20000"), (2, "day 30000"), (3, "day 30000"), (4, "day 30000")]
    assert _codes(validate(days, today=TODAY, max_follow_up_years=100)) == ["IMPLAUSIBLE_DATE"]


def test_a_date_after_today_stays_future_date():
    assert _codes(validate(corpus.edit(last_contact_date={0: "2099-01-01"}), today=TODAY)) == ["FUTURE_DATE"]


# ---- 2. epochs ---------------------------------------------------------------------------------

def test_numbers_are_dates_only_with_the_files_own_epoch():
    d = lambda values, epoch: [str(x) for x in parse_dates(values, order=None, epoch=epoch)[0]]
    assert d([42430], EXCEL_1900) == ["2016-03-01"]
    assert d([42430], EXCEL_1904) == ["2020-03-02"]          # 1,462 days later, as Excel on a Mac
    assert d([20514], SAS_DATE) == ["2016-03-01"]
    assert d([20514 * 86400 + 3600.5], SAS_DATETIME) == ["2016-03-01"]
    out, issues = parse_dates([42430, "42430", 1.5, float("inf")], order=None, epoch=None)
    assert np.isnat(out).all() and [c for _, c, _ in issues] == ["BAD_DATE"] * 4
    assert "bare number" in issues[0][2]
    out, issues = parse_dates(["42430", 0, 41649.5], order=None, epoch=EXCEL_1900)   # text, serial 0, a fraction
    assert np.isnat(out).all() and len(issues) == 3


def test_xlsx_1904_workbook_and_sas_date_numbers_read_the_right_days():
    want = (pd.to_datetime(BASE["infusion_date"]).to_numpy().astype("datetime64[D]"))
    table = load(HERE / "bad_inputs" / "files" / "date1904.xlsx")
    cohort = to_cohort(table, today=TODAY)
    np.testing.assert_array_equal(cohort.data["infusion_date"].to_numpy().astype("datetime64[D]"), want)
    sas = to_cohort(load(HERE / "bad_inputs" / "files" / "sas_date_numbers.xpt"), today=TODAY)
    np.testing.assert_array_equal(sas.data["infusion_date"].to_numpy().astype("datetime64[D]"), want)
    plain = load(HERE / "bad_inputs" / "files" / "sas_plain_numbers.xpt")
    bad = [p for p in validate(plain, today=TODAY) if p.code == "BAD_DATE"]
    assert len(bad) == 6 * 2 + 3 and all("bare number" in p.message for p in bad)   # 2 full columns + 3 deaths


def test_an_in_memory_table_never_reads_numbers_as_dates():
    df = BASE.copy()
    df["infusion_date"] = [41649] * len(df)
    assert _codes(validate(df, today=TODAY)) == ["BAD_DATE"] * len(df)


# ---- 8 (dates): one mistyped date is one problem -------------------------------------------------

def test_one_month_first_date_in_a_day_first_file_is_one_problem(tmp_path):
    rng = np.random.default_rng(3)
    n = 3000
    inf = pd.Timestamp("2015-01-01") + pd.to_timedelta(rng.integers(0, 900, n), "D")
    df = pd.DataFrame({"patient_id": [f"P{i}" for i in range(n)], "infusion_date": inf.strftime("%d/%m/%Y"),
                       "last_contact_date": (inf + pd.Timedelta(days=400)).strftime("%d/%m/%Y"),
                       "data_cutoff_date": "31/12/2019"})
    df.loc[7, "infusion_date"] = "03/25/2015"
    problems = validate(load(_csv(tmp_path, df)), today=TODAY)
    assert [(p.code, p.row) for p in problems] == [("AMBIGUOUS_DATE", 9)]
    assert "only 1 month-first" in problems[0].message


# ---- 3. near-duplicate ids ---------------------------------------------------------------------

def test_ids_are_compared_normalised_and_case_variants_warned():
    df = corpus.edit(patient_id={1: "P01\u200b", 2: "\uff30\uff10\uff11", 3: "p01", 4: "P05\u00ad"})
    problems = validate(df, today=TODAY)
    got = [(p.code, p.row, p.value) for p in problems if p.code in ("DUPLICATE_ID", "ID_CASE_VARIANT")]
    assert got == [("DUPLICATE_ID", 2, "P01"), ("DUPLICATE_ID", 3, "P01\\u200b"),
                   ("DUPLICATE_ID", 4, "\uff30\uff10\uff11"), ("ID_CASE_VARIANT", 5, "p01")]
    assert "row 2" in problems[1].message and "invisible" in problems[1].message
    assert [p.severity for p in problems if p.code == "ID_CASE_VARIANT"] == ["warning"]


def test_a_registry_of_plain_ids_takes_the_whole_column_path(tmp_path):
    ids = [f"R{i:07d}" for i in range(5000)]
    df = pd.DataFrame({"patient_id": ids, "last_contact_day": 10})
    df.loc[10, "patient_id"] = "r0000003"
    problems = validate(load(_csv(tmp_path, df)), today=TODAY)
    assert [(p.code, p.row) for p in problems if p.code != "NO_CUTOFF"] == [("ID_CASE_VARIANT", 12)]


# ---- 4. control characters ---------------------------------------------------------------------

CONTROLS = ["\x00", "\x01", "\x1b", "\x7f", "\x85", "\x9b", "\u202a", "\u202e", "\u2066", "\u2069", "\n", "\r"]


@pytest.mark.parametrize("ch", CONTROLS)
def test_every_control_character_is_a_problem_shown_escaped(ch):
    df = corpus.edit(conditioning={2: f"Cy{ch}x"})
    problems = validate(df, today=TODAY)
    assert [(p.code, p.row, p.field) for p in problems] == [("CONTROL_CHARACTER", 4, "conditioning")]
    assert problems[0].value == visible(f"Cy{ch}x") and ch not in problems[0].value
    assert re.fullmatch(r"Cy\\(x[0-9a-f]{2}|u[0-9a-f]{4})x", problems[0].value)


def test_tab_and_ordinary_unicode_are_not_control_characters():
    df = corpus.edit(conditioning={2: "Cy\tFlu \u00e9\u2013\u201cq\u201d \u00b5 \u00a0"})
    assert validate(df, today=TODAY) == []


def test_control_characters_in_ids_column_names_and_parquet(tmp_path):
    df = corpus.edit(patient_id={1: "P\x0102"}).assign(**{"note\x1b": "ok"})
    problems = validate(df, today=TODAY)
    assert [(p.code, p.row, p.value) for p in problems if p.code == "CONTROL_CHARACTER"] == [
        ("CONTROL_CHARACTER", None, "note\\x1b"), ("CONTROL_CHARACTER", 3, "P\\x0102")]
    assert all("\x01" not in (p.patient_id or "") for p in problems)
    table = load(HERE / "bad_inputs" / "files" / "nul_in_string.parquet")
    with pytest.raises(DataError) as exc:
        to_cohort(table, today=TODAY)
    (p,) = exc.value.problems
    assert (p.code, p.row, p.field, p.value) == ("CONTROL_CHARACTER", 4, "conditioning", "Cy\\x00Flu")


def test_a_problem_never_carries_a_raw_control_character():
    s = "".join(chr(c) for c in range(0, 0xA0)) + "\u202e\u2066\u200b\ufeff"
    shown = truncate(s * 3)
    assert len(shown) <= 60 and not re.search(r"[\x00-\x08\x0a-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u200b]", shown)


def test_cli_prints_control_characters_escaped(tmp_path):
    p = _csv(tmp_path, corpus.edit(conditioning={2: "Cy\x1b[2J"}))
    out = inproc.run("validate", p, "--format", "json")
    assert out.returncode == 1 and "\x1b" not in out.stdout + out.stderr
    assert json.loads(out.stdout)[0]["value"] == "Cy\\x1b[2J"


# ---- 5. ADaM -----------------------------------------------------------------------------------

ADSL = pd.DataFrame({"USUBJID": ["S1", "S2", "S3", ""], "AGE": [40, 55, 61, 30]})
ADTTE = pd.DataFrame({"USUBJID": ["S1", "S2", "S3", "S1", "S2", "S3", ""],
                      "PARAMCD": ["OS", "OS", "OS", "EFS", "EFS", "", "OS"],
                      "AVAL": ["20", "inf", "12", "10", "2", "6", "5"],
                      "CNSR": ["1", "0", "inf", "0", "0", "0", "1"]})


def _adam(tmp_path, adsl=ADSL, adtte=ADTTE):
    a, t = tmp_path / "adsl.csv", tmp_path / "adtte.csv"
    adsl.to_csv(a, index=False)
    adtte.to_csv(t, index=False)
    return a, t


def test_adam_rows_are_validated_like_the_patient_table(tmp_path):
    from ltfu.cohort.adam import load_adam

    with pytest.raises(DataError) as exc:
        load_adam(*_adam(tmp_path))
    got = sorted((p.code, p.row, p.patient_id, p.field, p.value) for p in exc.value.problems)
    assert got == [
        ("BAD_CODE", 4, "S3", "ADTTE.CNSR", "inf"),             # inf is not "censored"
        ("BAD_NUMBER", 3, "S2", "ADTTE.AVAL", "inf"),           # with its row, subject and variable
        ("MISSING_VALUE", 5, None, "ADSL.USUBJID", None),       # a blank id is no subject ...
        ("MISSING_VALUE", 7, "S3", "ADTTE.PARAMCD", None),      # ... and a blank PARAMCD no parameter
        ("MISSING_VALUE", 8, None, "ADTTE.USUBJID", None),      # (and it matches no blank ADSL id)
    ]
    assert all(p.fix for p in exc.value.problems)


def test_adam_lists_every_problem_even_with_a_variable_missing(tmp_path):
    from ltfu.cohort.adam import load_adam

    adtte = ADTTE.drop(columns=["CNSR"]).assign(AVAL=["1e6", "x", "3", "4", "5", "6", "7"],
                                                 AVALU=["DAYS"] * 6 + ["FORTNIGHTS"])
    with pytest.raises(DataError) as exc:
        load_adam(*_adam(tmp_path, adtte=adtte))
    codes = _codes(exc.value.problems)
    assert codes == ["ADAM_MISSING_VARIABLE", "BAD_CODE", "BAD_NUMBER", "IMPLAUSIBLE_DATE", "MISSING_VALUE",
                     "MISSING_VALUE", "MISSING_VALUE"]


def test_adam_control_characters_and_dates(tmp_path):
    from ltfu.cohort.adam import load_adam

    adsl = ADSL.iloc[:3].assign(ARM=["A", "B\x07", "A"])
    adtte = ADTTE.iloc[:5].drop(columns=["AVAL"]).assign(CNSR=["1", "0", "0", "0", "0"],
                                                         STARTDT=["2015-01-01", "0001-01-01", "2015-01-01",
                                                                  "2015-01-01", "2015-01-01"],
                                                         ADT=["2015-02-01", "2016-01-01", "soon", "2014-12-01",
                                                              "2015-03-01"])
    with pytest.raises(DataError) as exc:
        load_adam(*_adam(tmp_path, adsl=adsl, adtte=adtte))
    got = sorted((p.code, p.row, p.field) for p in exc.value.problems)
    assert got == [("BAD_DATE", 4, "ADTTE.ADT"), ("CONTROL_CHARACTER", 3, "ADSL.ARM"),
                   ("DATE_BEFORE_INFUSION", 5, "ADTTE.ADT"), ("IMPLAUSIBLE_DATE", 3, "ADTTE.STARTDT")]


def test_adam_problem_codes_do_not_depend_on_import_order():
    code = ("import ltfu.cohort.problems as p; "
            "print(all(c in p.PROBLEM_CODES for c in ('ADAM_UNKNOWN_SUBJECT', 'ADAM_MISSING_VARIABLE')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "True", out.stderr
    assert "setdefault" not in (HERE.parent / "src" / "ltfu" / "cohort" / "adam.py").read_text()


# ---- 9. one root cause, one problem ------------------------------------------------------------

def test_a_negative_day_is_reported_once():
    df = pd.DataFrame({"patient_id": ["A", "B"], "last_contact_day": [100, -5], "relapse_day": ["", "-7"],
                       "data_cutoff_day": [200, 200]})
    got = [(p.code, p.row, p.field) for p in validate(df, today=TODAY)]
    assert sorted(got) == [("DATE_BEFORE_INFUSION", 3, "last_contact_day"), ("DATE_BEFORE_INFUSION", 3, "relapse_day")]


def test_an_unreadable_infusion_date_gives_only_its_own_problem():
    df = corpus.edit(infusion_date={1: "soon"}, crs_death={1: "yes"}, crs_grade={1: "5"})
    assert [(p.code, p.row) for p in validate(df, today=TODAY)] == [("BAD_DATE", 3)]


# ---- 10, 11. columns ---------------------------------------------------------------------------

@pytest.mark.parametrize("header, field, problem", [
    ("Dose (cells/kg)", "dose_cells_per_kg", False), ("Age [years]", "age", False), ("Age (y)", "age", False),
    ("Marrow blasts (%)", "marrow_blasts_pct", False), ("Blasts %", "marrow_blasts_pct", False),
    ("Date of infusion", "infusion_date", False), ("Infusion date", "infusion_date", False),
    ("Last follow-up date", "last_contact_date", False), ("Date last known alive", "last_contact_date", False),
    ("Date of last contact", "last_contact_date", False), ("Date of death", "death_date", False),
    ("date of relapse", "relapse_date", False), ("Data cut-off date", "data_cutoff_date", False),
    ("CRS grade (ASTCT 2019)", "crs_grade", False), ("Relapse day (days)", "relapse_day", False),
    ("Age (months)", "age", True), ("Dose (x10^6 cells/kg)", "dose_cells_per_kg", True), ("Dose (%)",
                                                                                           "dose_cells_per_kg", True),
    ("Marrow blasts (fraction)", "marrow_blasts_pct", True), ("Relapse day (weeks)", "relapse_day", True),
    ("Date of birth", None, False), ("Weight (kg)", None, False),
])
def test_header_rules(header, field, problem):
    m = match_column(header)
    assert (m.field, m.unit_problem is not None) == (field, problem)


def test_every_unknown_column_is_reported_also_when_projected(tmp_path):
    df = BASE.assign(**{"Weight (kg)": "70", "relapse_dat": "x", "synthetic": "no"})
    p = _csv(tmp_path, df)
    for problems in (validate(load(p), today=TODAY), load_cohort(p).warnings):
        unknown = {q.field: q.message for q in problems if q.code == "UNKNOWN_COLUMN"}
        assert set(unknown) == {"Weight (kg)", "relapse_dat"}           # the demo's marker is not reported
        assert "did you mean 'relapse_date'" in unknown["relapse_dat"]
    cohort = load_cohort(_csv(tmp_path, BASE.assign(**{"Dose (cells/kg)": "1e6"}), "dose.csv"))
    assert cohort.data["dose_cells_per_kg"].tolist() == [1e6] * len(BASE)    # no longer dropped


def test_a_wrong_unit_is_one_problem_and_the_column_is_not_read():
    problems = validate(BASE.rename(columns={"age": "Age (months)"}), today=TODAY)
    assert [(p.code, p.field) for p in problems] == [("WRONG_UNIT", "Age (months)")]
    assert "years" in problems[0].message


# ---- 12. missing columns, Excel sheets ---------------------------------------------------------

def test_present_columns_are_checked_when_required_ones_are_missing():
    df = corpus.edit(age={1: "x"}, death_date={1: "soon"}, crs_grade={3: "9"}).drop(
        columns=["patient_id", "infusion_date", "last_contact_date"])
    got = sorted((p.code, p.row, p.field) for p in validate(df, today=TODAY))
    assert got == [("BAD_DATE", 3, "death_date"), ("BAD_NUMBER", 3, "age"), ("MISSING_COLUMN", None, "infusion_date"),
                   ("MISSING_COLUMN", None, "last_contact_date"), ("MISSING_COLUMN", None, "patient_id"),
                   ("OUT_OF_RANGE", 5, "crs_grade")]


def test_an_empty_first_sheet_names_the_sheet_with_the_table(tmp_path):
    import openpyxl

    wb = openpyxl.Workbook()
    wb.active.title = "cover"
    ws = wb.create_sheet("data")
    ws.append(list(BASE.columns))
    ws.append(list(BASE.iloc[0]))
    p = tmp_path / "t.xlsx"
    wb.save(p)
    with pytest.raises(LoadError, match=r"first sheet 'cover' is empty.*use --sheet 'data'"):
        load(p)
    assert len(load(p, sheet="data").data) == 1


# ---- 6. XLSX limits ----------------------------------------------------------------------------

def _rows(n, start=2, width=1):
    """<row> elements n rows of `width` numeric cells, from row `start`."""
    from openpyxl.utils import get_column_letter

    letters = [get_column_letter(c) for c in range(1, width + 1)]
    for r in range(start, start + n):
        yield (f'<row r="{r}">' + "".join(f'<c r="{x}{r}"><v>{r}</v></c>' for x in letters) + "</row>").encode()


def _header(width=1):
    return corpus.xlsx_rows([["patient_id", *[f"c{i}" for i in range(2, width + 1)]]])


@pytest.mark.parametrize("dimension", [None, "A1:A5", "A1:A1000"], ids=["absent", "too small", "true"])
def test_xlsx_rows_beyond_the_limit_are_refused_from_the_xml_bytes(tmp_path, dimension):
    p = tmp_path / "bomb.xlsx"
    p.write_bytes(corpus.raw_xlsx([_header(), *_rows(999)], dimension=dimension))
    small = Limits(max_xlsx_cells=500)
    with pytest.raises(LoadError, match=r"1,000 cells in 1,000 rows.*max_xlsx_cells"):
        load(p, limits=small)
    assert len(load(p).data) == 999                  # within the real limit: every row, whatever the dimension says


def test_xlsx_declared_dimension_wide_sheets_shared_strings_and_unzipped_size(tmp_path):
    p = tmp_path / "d.xlsx"
    p.write_bytes(corpus.raw_xlsx(_header(), dimension="A1:C400"))
    with pytest.raises(LoadError, match=r"declares 400 rows x 3 columns.*max_xlsx_cells"):
        load(p, limits=Limits(max_xlsx_cells=1000))
    with pytest.raises(LoadError, match=r"declares .* columns.*max_columns"):
        load(p, limits=Limits(max_columns=2))
    p.write_bytes(corpus.raw_xlsx([_header(12), *_rows(2, width=12)]))
    with pytest.raises(LoadError, match=r"column 12.*max_columns"):
        load(p, limits=Limits(max_columns=10))
    p.write_bytes(corpus.raw_xlsx(b'<row r="1"><c r="A1" t="s"><v>0</v></c></row>',
                                  shared=[b"s%d" % i for i in range(2000)]))
    with pytest.raises(LoadError, match=r"2,000 distinct texts"):
        load(p, limits=Limits(max_xlsx_cells=1000))
    with pytest.raises(LoadError, match=r"unzips to .*max_unpacked_bytes"):
        load(p, limits=Limits(max_unpacked_bytes=10_000))


@pytest.mark.slow
def test_xlsx_bomb_at_the_real_limit(tmp_path):
    """One more cell than the real limit, in a zip a few hundred KB: refused from its bytes."""
    p = tmp_path / "bomb.xlsx"
    n = LIMITS.max_xlsx_cells
    rows = (b'<row r="%d"><c r="A%d"><v>1</v></c></row>' % (r, r) for r in range(2, n + 2))
    p.write_bytes(corpus.raw_xlsx([_header(), *rows]))
    with pytest.raises(LoadError, match=f"{n + 1:,} cells.*max_xlsx_cells"):
        load(p)


def test_merged_cells_and_formulas_are_found_in_read_only_mode(tmp_path):
    rows = corpus.xlsx_rows([["patient_id", "age"], ["A", 40], ["B", None]])
    rows = rows.replace(b'<c r="B2"><v>40</v></c>', b'<c r="B2"><f>30+10</f><v>40</v></c>')
    p = tmp_path / "m.xlsx"
    xml = corpus.raw_xlsx(rows)
    import zipfile

    src = zipfile.ZipFile(io.BytesIO(xml))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for info in src.infolist():
            data = src.read(info)
            if info.filename.endswith("sheet1.xml"):
                data = data.replace(b"</sheetData>", b'</sheetData><mergeCells count="1"><mergeCell ref="A2:A3"/>'
                                                     b"</mergeCells>")
            z.writestr(info, data)
    p.write_bytes(out.getvalue())
    t = load(p)
    assert [(q.code, q.row, q.field) for q in t.problems] == [("MERGED_CELLS", 2, None), ("FORMULA", 2, "age")]


def test_xml_scan_finds_tags_cut_by_chunk_ends():
    text = b"".join(b'<row r="%d"><c r="A%d"/><x:c r="B%d"><v>1</v></x:c></row><mergeCell ref="A%d:B%d"/>'
                    % (i, i, i, i, i) for i in range(1, 200))
    from ltfu.cohort.load import _CELL_TAG, _MERGE_REF, _ROW_NUMBER

    for size in (1, 7, 64, 1 << 20):
        merged, cells, rows = _scan_xml(io.BytesIO(text), [_MERGE_REF, _CELL_TAG, _ROW_NUMBER], chunk_size=size)
        assert (len(merged), cells, max(map(int, rows))) == (199, 398, 199)


# ---- 7. columns --------------------------------------------------------------------------------

@pytest.mark.slow
def test_ten_thousand_extra_columns_are_kept_and_each_reported(tmp_path):
    extra = pd.DataFrame(np.ones((len(BASE), 10_000), dtype=int), columns=[f"x{i}" for i in range(10_000)])
    p = _csv(tmp_path, pd.concat([BASE, extra], axis=1))
    table = load(p)
    problems = validate(table, today=TODAY)
    assert _codes(problems) == ["UNKNOWN_COLUMN"] * 10_000
    model = to_cohort(BASE, today=TODAY).data.shape[1]
    assert to_cohort(table, today=TODAY).data.shape[1] == model + 10_000    # every extra column kept


@pytest.mark.parametrize("careful", [False, True])
def test_columns_beyond_the_limit_are_refused_from_the_header(tmp_path, careful):
    text = ",".join(f"c{i}" for i in range(50)) + "\n" + ",".join("1" * 50) + "\n"
    p = tmp_path / "w.csv"
    p.write_bytes((text + ("\n\n" if careful else "")).encode("latin-1" if careful else "utf-8"))
    with pytest.raises(LoadError, match=r"50 columns, more than the 40 .*max_columns"):
        load(p, limits=Limits(max_columns=40))


@pytest.mark.parametrize("careful", [False, True])
def test_a_csv_beyond_max_cells_is_refused_before_validation(tmp_path, careful):
    """A CSV declares no size: it is counted once parsed (by either reader), the projected columns
    only, and refused with what to do (before, no CSV was ever limited)."""
    df = pd.DataFrame({"patient_id": [f"P{i}" for i in range(100)], "last_contact_day": np.arange(100.0),
                       "notes": "x"})
    p = tmp_path / "t.csv"
    p.write_bytes(df.to_csv(index=False).encode("latin-1" if careful else "utf-8") + (b"\n\n" if careful else b""))
    with pytest.raises(LoadError, match=r"100 rows x 3 columns, more than the 250 cells .*max_cells") as refused:
        load(p, limits=Limits(max_cells=250))
    assert "Parquet" in str(refused.value) and "ltfu validate" in str(refused.value)
    assert len(load(p, limits=Limits(max_cells=250), columns=["patient_id", "last_contact_day"]).data) == 100
    assert len(load(p, limits=Limits(max_cells=300)).data) == 100


def test_parquet_and_sas_sizes_are_checked_from_metadata(tmp_path):
    import pyreadstat

    df = pd.DataFrame({"patient_id": [f"P{i}" for i in range(100)], "last_contact_day": np.arange(100.0)})
    p, x = tmp_path / "t.parquet", tmp_path / "t.xpt"
    df.to_parquet(p, index=False)
    pyreadstat.write_xport(df, str(x), file_format_version=8)
    for path in (p, x):
        with pytest.raises(LoadError, match="max_cells") as refused:
            load(path, limits=Limits(max_cells=150))
        assert "kaplan_meier_from" in str(refused.value)          # and what to do instead
        with pytest.raises(LoadError, match="max_columns"):
            load(path, limits=Limits(max_columns=1))
        assert len(load(path).data) == 100
    with pytest.raises(LoadError, match="max_unpacked_bytes"):
        load(p, limits=Limits(max_unpacked_bytes=100))


# ---- 8. huge cells and long lines --------------------------------------------------------------

def test_a_cell_longer_than_a_reading_block_takes_the_fast_path(tmp_path):
    p = _csv(tmp_path, corpus.edit(conditioning={1: "x" * ((1 << 24) + 10)}))
    assert _read_csv_fast(p.read_bytes(), p, None) is not None          # one block, not the careful reader
    problems = validate(load(p), today=TODAY)
    assert [(q.code, q.row) for q in problems] == [("CELL_TOO_LONG", 3)]
    json.dumps([q.to_dict() for q in problems])                         # the row is a plain int


def test_the_careful_reader_does_not_hold_a_giant_cell(tmp_path, monkeypatch):
    monkeypatch.setattr(sys.modules["ltfu.cohort.read_csv"], "MAX_PARSED_CELL", 50_000)
    df = corpus.edit(conditioning={1: "x" * 60_000, 2: "y" * 20_000})
    p = tmp_path / "l.csv"
    p.write_bytes(df.to_csv(index=False).replace("Cy", "C\u00e9").encode("latin-1"))   # latin-1: careful reader
    t = load(p)
    assert [(q.code, q.row) for q in t.problems] == [("LATIN1", None), ("CELL_TOO_LONG", 3), ("CELL_TOO_LONG", 4)]
    assert list(t.row_numbers) == [2, 4, 5, 6, 7]                      # row 3 not read; row 4 read, truncated
    json.dumps([q.to_dict() for q in t.problems])


def test_sniffing_looks_at_a_bounded_sample(tmp_path, monkeypatch):
    lines = ["a;b;c\n", "1;" + "x" * (3 * SNIFF_CHARS) + ";3\n", "4;5;6\n"]
    assert _sniff_sample(lines) == lines[0]
    assert _sniff_sample(["y" * (2 * SNIFF_CHARS)]) == "y" * (2 * SNIFF_CHARS)     # the header, whatever its size
    p = tmp_path / "s.csv"
    p.write_text("patient_id;last_contact_day\n" + "P1;" + "9" * (3 * SNIFF_CHARS) + "\n\nP2;5\n")
    t = load(p)
    assert list(t.data.columns) == ["patient_id", "last_contact_day"] and len(t.data) == 2
    # 9,000-character ids with apostrophes: csv.Sniffer's regex is quadratic in its sample (272 s)
    import csv

    seen = []
    sniff = csv.Sniffer.sniff
    monkeypatch.setattr(csv.Sniffer, "sniff", lambda self, sample, **kw: seen.append(len(sample)) or
                        sniff(self, sample, **kw))
    ids = pd.DataFrame({"patient_id": [f"P{i}" + " 'x" * 3000 for i in range(30)], "last_contact_day": 5})
    for careful in (False, True):
        p = _csv(tmp_path, ids, "ids.csv")
        if careful:
            p.write_bytes(p.read_bytes() + b"\n\n")          # a blank line: the careful reader
        assert len(load(p).data) == 30
    assert seen and max(seen) <= SNIFF_CHARS


# ---- the README's code table is the code table -------------------------------------------------

def test_readme_problem_code_table_matches_problem_codes():
    readme = (HERE.parent / "README.md").read_text()
    table = dict(re.findall(r"^\| `([A-Z0-9_]+)` \| (error|warning) \|", readme, flags=re.M))
    assert table == {code: sev for code, (sev, _, _) in PROBLEM_CODES.items()}

"""Hostile input against the outputs: what a report, a CSV table, a terminal or an API argument
lets through.  De-identified reports publish only controlled values; the file is named, never its
path; terminal output shows control characters instead of obeying them; CSV cells cannot start a
formula, even indented; long text cannot break the PDF; options and counts are checked; Ctrl-C
ends a run with one line."""

import contextlib
import csv
import dataclasses
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import ltfu
from ltfu import deid
from ltfu.analysis import AnalysisOptions, Plan, analyse
from ltfu.analysis import data as data_section
from ltfu.analysis.reproduction import rows as reproduction_rows
from ltfu.cli import app
from ltfu.cohort import load_cohort
from ltfu.demo import demo_path
from ltfu.errors import InvalidInputError
from ltfu.report import write_report
from ltfu.report.writer import neutralise
from ltfu.terminal import visible

SRC = str(Path(ltfu.__file__).resolve().parents[1])
FREE_TEXT = "FluCy for MRN884200 on 2015-01-10"
SCALE_TEXT = "Lee 2014 (graded 2016-01-01 by Dr Holloway)"
CLOSE_COLUMN = "date_of_death_MRN1"


def env(columns=200):
    return {**os.environ, "PYTHONPATH": SRC, "COLUMNS": str(columns)}


def demo_frame():
    df = pd.read_csv(demo_path(), comment="#", dtype=str, keep_default_na=False)
    return df.drop(columns=["synthetic"])


def invoke(*args, columns=200):
    return CliRunner().invoke(app, [str(a) for a in args], env={"COLUMNS": str(columns)})


# ------------------------------------------------------------------------------------------------
# 1-3. de-identification, checksum, source path

@pytest.fixture(scope="module")
def hostile_csv(tmp_path_factory):
    d = tmp_path_factory.mktemp("hostile")
    df = demo_frame()
    df["patient_id"] = [f"MRN884200-{i:03d}" for i in range(len(df))]
    df["conditioning"] = FREE_TEXT
    df["crs_scale"] = SCALE_TEXT
    df["neurotox_scale"] = SCALE_TEXT
    df[CLOSE_COLUMN] = ""
    f = d / "trial_hostile_export.csv"
    df.to_csv(f, index=False)
    return f, list(df.columns)


@pytest.mark.slow
def test_deidentified_report_publishes_only_controlled_values(hostile_csv, tmp_path):
    f, columns = hostile_csv
    out = tmp_path / "rep"
    p = invoke("report", f, "--out", out, "--deidentify", "--quiet")
    assert p.exit_code == 0, p.stderr
    assert not any(n in p.stdout + p.stderr for n in ("MRN884200", "Holloway", "2015-01-10"))
    digest = hashlib.sha256(f.read_bytes()).hexdigest()
    needles = ["MRN884200", "Holloway", "2015-01-10", "2016-01-01", "FluCy for", CLOSE_COLUMN, digest,
               f.stem, str(f.parent)]
    files = [q for q in out.rglob("*") if q.is_file()]
    assert {"report.html", "report.pdf", "results.json", "baseline.csv"} <= {q.name for q in files}
    pdftotext = shutil.which("pdftotext")
    for q in files:
        blob = q.read_bytes()
        if q.suffix == ".pdf" and pdftotext:          # PDF text may be compressed: the extracted text too
            blob += subprocess.run([pdftotext, str(q), "-"], capture_output=True, check=True).stdout
        for needle in needles:
            assert needle.encode() not in blob, f"{needle!r} found in {q.name}"
    r = json.loads((out / "results.json").read_text())
    assert set(r["baseline"]["conditioning"]["all"]["counts"]) == {"Flu/Cy"}
    assert r["safety"]["crs_scales"] == r["safety"]["neurotox_scales"] == ["Lee 2014"]
    assert r["meta"]["sha256"] is None and r["meta"]["source"] == deid.WITHHELD
    # the close column is named by its position in the file, never by its name
    html = (out / "report.html").read_text()
    assert f"UNKNOWN_COLUMN (column {columns.index(CLOSE_COLUMN) + 1})" in html
    if not pdftotext:
        pytest.skip("pdftotext is not installed: the PDF's compressed text was not scanned")


@pytest.mark.parametrize("text, category", [
    (FREE_TEXT, "Flu/Cy"), ("Fludarabine 30 mg/m2 + cyclophosphamide 500 mg/m2", "Flu/Cy"), ("flu/cy", "Flu/Cy"),
    ("Cyclophosphamide", "Cy"), ("CY 1 g/m2 (Dr X)", "Cy"), ("bendamustine 90", "Bendamustine"),
    ("Flu/Cy then bendamustine", "other"), ("fludarabine", "other"), ("none given by MRN1", "other"),
    ("=HYPERLINK(\"http://x\")", "other"), ("x" * 3500, "other"),
    ("None", "None"), (" none given ", "None"), ("No lymphodepletion", "None"), ("no", "None"),
    ("no fludarabine", "other"), ("none, cyclophosphamide", "other"),
])
def test_conditioning_maps_to_its_categories(text, category):
    assert deid.categorise("conditioning", text) == category
    assert deid.categorise("conditioning", category) == category          # idempotent


@pytest.mark.parametrize("text, category", [
    (SCALE_TEXT, "Lee 2014"), ("ASTCT 2019 consensus", "ASTCT 2019"), ("Lee 2019", "ASTCT 2019"),
    ("icans", "ASTCT 2019"), ("CTCAE v4.03", "CTCAE v4"), ("ctcae version 5.0", "CTCAE v5"), ("CTCAE", "CTCAE"),
    ("Penn scale", "Penn"), ("MSKCC (Park 2018)", "MSKCC"), ("CARTOX-10", "CARTOX"),
    ("Lee 2014 and CTCAE v4", "other"), ("institutional, Dr Holloway", "other"),
])
def test_grading_scales_map_to_their_categories(text, category):
    for field in ("crs_scale", "neurotox_scale"):
        assert deid.categorise(field, text) == category
        assert deid.categorise(field, category) == category
        assert category in deid.SCALES


def test_source_is_the_file_name_and_checksum_only_on_request(hostile_csv, monkeypatch):
    f, _ = hostile_csv
    absolute = load_cohort(f)
    monkeypatch.chdir(f.parent)
    relative = load_cohort(Path(f.name))

    def meta(cohort, **opts):
        return data_section.meta(Plan.build(cohort, AnalysisOptions(**opts)))

    # the same file typed relatively or absolutely: the same report, without the directory
    assert meta(relative) == meta(absolute)
    assert meta(absolute)["source"] == f.name and meta(absolute)["sha256"] == absolute.sha256
    assert meta(relative, record_path=True)["source"] == str(f.resolve())
    # a de-identified report withholds name and checksum, unless asked
    assert meta(absolute, deidentify=True)["sha256"] is None
    assert meta(absolute, deidentify=True)["source"] == deid.WITHHELD
    assert meta(absolute, deidentify=True, keep_checksum=True)["sha256"] == absolute.sha256


def test_deidentified_warnings_name_columns_by_position():
    from ltfu.cohort import Problem

    p = Problem("UNKNOWN_COLUMN", "warning", None, "MRN1", CLOSE_COLUMN, "x", "did you mean", "rename")
    header = ("patient_id", "infusion_date", CLOSE_COLUMN)
    assert deid.field_label(CLOSE_COLUMN, header) == "column 3"
    assert deid.field_label(CLOSE_COLUMN) == "a column (name withheld)"
    assert deid.field_label("Date of Death") == "death_date"              # a model column: its field name
    (q,) = deid.deidentify_problems([p], header)
    assert (q.field, q.patient_id, q.value) == ("column 3", None, None)


def test_a_study_tables_columns_are_never_named_by_the_patient_tables_positions():
    """A study table's own field keeps its name; its other columns are withheld, never "column N"
    of the patient table's header (the report's warnings and the error listing name them alike)."""
    from ltfu.cohort import Problem

    header = ("patient_id", "infusion_date", "ae_term_free_text")
    own = Problem("MISSING_VALUE", "warning", 4, "MRN1", "onset_date", "", "missing", "fill it", table="events")
    other = Problem("UNKNOWN_COLUMN", "warning", None, None, "ae_term_free_text", None, "unknown", "rename",
                    table="events")
    for made in (deid.deidentify_problems([own, other], header), deid.deidentify_listing([own, other], header)):
        assert [q.field for q in made] == ["onset_date", "a column (name withheld)"]
        assert all(q.patient_id is None and q.value is None for q in made)
    patient_table = Problem("UNKNOWN_COLUMN", "warning", None, None, "ae_term_free_text", None, "unknown", "rename")
    assert deid.deidentify_problems([patient_table], header)[0].field == "column 3"


# ------------------------------------------------------------------------------------------------
# 4. terminal injection and many problems

HOSTILE_IDS = ["\x1b[1A\x1b[2Kfake OK line", "P\x1b[2J\x1b]0;owned\x07", "\x1b]8;;http://evil/\x1b\\click\x1b]8;;\x1b\\",
               "P\u202eevil", "P\x9b31m"]


@pytest.fixture(scope="module")
def escape_csv(tmp_path_factory):
    f = tmp_path_factory.mktemp("esc") / "esc.csv"
    rows = [["patient_id", "infusion_date", "last_contact_date", "crs_grade", "date_of_death\x1b[31m"]]
    rows += [[pid, "2016-01-10", "2016-05-01", "7\x1b[5m", ""] for pid in HOSTILE_IDS]
    with f.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)
    return f


@pytest.mark.parametrize("columns", [80, 200])
def test_validate_prints_control_characters_visibly(escape_csv, columns):
    r = invoke("validate", escape_csv, columns=columns)
    out = r.stdout + r.stderr
    assert r.exit_code == 1
    for bad in ("\x1b", "\x07", "\x9b", "\u202e"):
        assert bad not in out
    flat = "".join(out.replace("\u2502", " ").split())              # a table folds long cells
    for shown in ("\\x1b[1A\\x1b[2Kfake OK line", "\\x07", "\\x9b31m", "\\u202eevil", "7\\x1b[5m"):
        assert "".join(shown.split()) in flat, shown
    # JSON output carries the problems' values as validation records them: control characters
    # written visibly (CONTROL_CHARACTER's rule), so nothing acts on a terminal that prints the JSON
    r = invoke("validate", escape_csv, "--format", "json", columns=columns)
    assert not any(ch in r.stdout for ch in ("\x1b", "\x07", "\x9b", "\u202e"))
    assert {visible(h) for h in HOSTILE_IDS} <= {q["patient_id"] for q in json.loads(r.stdout)}


def test_visible_escapes_every_control_character():
    assert visible("a\x1b[2Jb\tc\u2028d\x7f\x85") == "a\\x1b[2Jb\\tc\\u2028d\\x7f\\x85"
    assert visible("Müller 李 ok") == "Müller 李 ok"


PRINT_MANY = """
import sys, time
from ltfu.cohort.problems import Problem
from ltfu.cli import _print_problems
problems = [Problem("BAD_DATE", "error", i + 2, f"P{i}", "death_date", "2016-13-45", "a date cannot be read",
                    "use ISO dates") for i in range(100_000)]
t = time.perf_counter()
_print_problems(problems)
print("ELAPSED", time.perf_counter() - t, file=sys.stderr)
"""


@pytest.mark.parametrize("columns", [80, 200])
def test_100k_problems_print_in_seconds(columns):
    try:
        p = subprocess.run([sys.executable, "-c", PRINT_MANY], capture_output=True, text=True, env=env(columns),
                           timeout=45)
    except subprocess.TimeoutExpired:
        pytest.fail("printing 100,000 problems took more than 45 s")
    assert p.returncode == 0, p.stderr
    elapsed = float(p.stderr.split("ELAPSED")[1])
    assert elapsed < 15, elapsed
    assert "P99999" in p.stdout and p.stdout.count("BAD_DATE") >= 100_000


# ------------------------------------------------------------------------------------------------
# 5-6. CSV formulas and long text in the PDF

FORMULAS = ["=HYPERLINK(\"http://evil/\",\"x\")", "=cmd|' /C calc'!A0", "\uff1d1+1", "\u3000+SUM(1)", "\xa0@SUM(1)",
            "\t-2+3", "\uff20A1", "\uff0b1", "\uff0d1"]
LONG = "long " * 700                                          # 3,500 characters


def test_neutralise_after_leading_whitespace_and_full_width_signs():
    formulas = FORMULAS + [f"    {v}" for v in FORMULAS] + [f"\t\xa0 {v}" for v in FORMULAS]
    assert [v for v in formulas if not neutralise(v).startswith("'")] == []
    for plain in ("Cy", "    Cy", "Flu/Cy", "12 (23%)", "'quoted"):
        assert neutralise(plain) == plain


@pytest.fixture(scope="module")
def formula_report(tmp_path_factory):
    d = tmp_path_factory.mktemp("formula")
    df = demo_frame()
    values = FORMULAS + [LONG]
    df["conditioning"] = [values[i % len(values)] for i in range(len(df))]
    f = d / "formula.csv"
    df.to_csv(f, index=False)
    out = d / "rep"
    results = analyse(load_cohort(f))
    write_report(results, out, formats=("csv",))
    # the PDF without its figures (drawing them is slow and beside the point here)
    from ltfu.report.pdf import render_pdf

    bare = dataclasses.replace(results, sections=tuple(dataclasses.replace(s, figures=()) for s in results.sections))
    render_pdf(bare, {}, out / "report.pdf")
    return out


def test_indented_formulas_in_baseline_csv_are_neutralised(formula_report):
    with (formula_report / "tables" / "baseline.csv").open(encoding="utf-8") as fh:
        cells = [c for row in csv.reader(fh) for c in row]
    signs = ("=", "+", "-", "@", "\uff1d", "\uff0b", "\uff0d", "\uff20")
    hits = [c for c in cells if c.lstrip("'").lstrip(" \t\xa0\u3000").startswith(signs)]
    assert any("HYPERLINK" in c for c in hits)                      # the planted rows are there
    assert all(c.startswith("'") for c in hits), [c for c in hits if not c.startswith("'")]


def test_long_text_is_truncated_in_the_pdf_with_a_note(formula_report):
    pdf = formula_report / "report.pdf"
    assert pdf.exists() and pdf.stat().st_size > 10_000
    if not shutil.which("pdftotext"):
        pytest.skip("pdftotext is not installed: the note was not checked")
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    assert re.search(r"\(truncated; 3,5\d\d characters\)", " ".join(text.split()))


# ------------------------------------------------------------------------------------------------
# 7. options

@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "-1", "0", "100.5"])
def test_burden_threshold_outside_0_100_is_a_usage_error(value):
    for args in (("validate", demo_path(), "--format", "json"), ("endpoints", "--demo")):
        r = invoke(*args, f"--burden-threshold={value}")
        assert r.exit_code == 2, (args, r.stdout, r.stderr)
        assert "--burden-threshold" in r.stderr and isinstance(r.exception, (SystemExit, type(None)))


@pytest.mark.parametrize("value", ["nan", "inf", "-5", "0"])
def test_landmark_days_not_positive_finite_is_a_usage_error(value, tmp_path):
    r = invoke("report", "--demo", "--formats", "json", "--out", tmp_path / "r", f"--landmark-days={value}")
    assert r.exit_code == 2 and "--landmark-days" in r.stderr
    assert not (tmp_path / "r").exists()
    with pytest.raises(InvalidInputError, match="landmark_days"):
        AnalysisOptions(landmark_days=float(value))


@pytest.mark.parametrize("command", ["validate", "report"])
def test_cutoff_before_every_infusion_is_one_usage_error(command, tmp_path):
    extra = ("--out", tmp_path / "r", "--formats", "json") if command == "report" else ()
    r = invoke(command, demo_path(), "--cutoff", "1990-01-01", *extra)
    assert r.exit_code == 2
    out = (r.stdout + r.stderr).strip()
    assert "CUTOFF_BEFORE_INFUSION" not in out and len(out.splitlines()) == 1 and "--cutoff" in out


def test_a_cutoff_before_some_infusions_is_shown_as_given_not_as_the_file_wrote_it(tmp_path):
    """--cutoff replaces the file's data_cutoff_date: the patients infused after it are errors whose
    value is the date given (the file's 2016-12-01 played no part), in memory and in row batches."""
    from ltfu.cohort import load, validate
    from ltfu.cohort.stream import validate_parquet

    r = invoke("validate", demo_path(), "--cutoff", "2015-03-01")
    assert r.exit_code == 1
    out = r.stdout + r.stderr
    assert "2015-03-01" in out and "2016-12-01" not in out
    df = pd.read_csv(demo_path(), comment="#")
    df.to_parquet(tmp_path / "d.parquet", index=False)
    whole = [p for p in validate(load(tmp_path / "d.parquet"), cutoff="2015-03-01")
             if p.code == "CUTOFF_BEFORE_INFUSION"]
    batched = [p for p in validate_parquet(tmp_path / "d.parquet", cutoff="2015-03-01").problems
               if p.code == "CUTOFF_BEFORE_INFUSION"]
    assert len(whole) == 15 and {p.value for p in whole} == {"2015-03-01"}
    assert "cut-off given for the analysis (not the file's) is before the infusion (day -104)" in whole[0].message
    assert [(p.row, p.value, p.message) for p in batched] == [(p.row, p.value, p.message) for p in whole]
    plain = [p for p in validate(load(tmp_path / "d.parquet")) if p.code == "CUTOFF_BEFORE_INFUSION"]
    assert plain == []                                     # the file's own cut-off is after every infusion


def test_cutoff_in_the_future_is_a_warning():
    r = invoke("validate", demo_path(), "--cutoff", "2999-01-01")
    assert r.exit_code == 0
    assert "warning" in r.stderr and "2999-01-01" in r.stderr and "future" in r.stderr


def test_sheet_on_a_file_that_is_not_excel_is_a_usage_error():
    r = invoke("validate", demo_path(), "--sheet", "patients")
    assert r.exit_code == 2 and "--sheet" in r.stderr


@pytest.fixture(scope="module")
def adam_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("adam")
    n = 12
    pd.DataFrame({"USUBJID": [f"S{i}" for i in range(n)], "AGE": [40 + i for i in range(n)],
                  "SITE": [f"C{i}" for i in range(n)], "ARM": ["A", "B"] * 6,
                  "ARMN": [1, 2] * 6}).to_csv(d / "adsl.csv", index=False)
    pd.DataFrame({"USUBJID": [f"S{i}" for i in range(n)] * 2, "PARAMCD": ["OS"] * n + ["EFS"] * n,
                  "AVAL": list(range(1, n + 1)) * 2, "CNSR": [0, 1] * n}).to_csv(d / "adtte.csv", index=False)
    return d / "adsl.csv", d / "adtte.csv"


def test_adam_param_naming_no_paramcd_is_a_usage_error_listing_those_present(adam_files):
    r = invoke("adam", *adam_files, "--param", "OS", "--param", "PFS")
    assert r.exit_code == 2
    assert "PFS" in r.stderr and "EFS" in r.stderr and "OS" in r.stderr
    assert invoke("adam", *adam_files, "--param", "os", "--format", "json").exit_code == 0


@pytest.mark.parametrize("var, what", [("AGE", "numeric"), ("ARMN", "numeric"), ("SITE", "12 distinct")])
def test_adam_by_numeric_or_many_levels_is_a_usage_error(adam_files, var, what):
    r = invoke("adam", *adam_files, "--by", var)
    assert r.exit_code == 2 and what in r.stderr and "AGEGR1" in r.stderr     # says how to cut it
    assert invoke("adam", *adam_files, "--by", "ARM", "--format", "json").exit_code == 0


COMMANDS = ["", "schema", "validate", "report", "demo", "endpoints", "simulate", "adam"]


def test_help_renders_literally():
    for command in COMMANDS:
        r = invoke(*([command] if command else []), "--help", columns=100)
        assert r.exit_code == 0
        for raw in ("%%", "{path}", "{adsl}", "<list[str]>", "list["):
            assert raw not in r.stdout, (command, raw, r.stdout)


def test_schema_wraps_on_word_boundaries():
    from ltfu.cohort.schema import FIELDS

    words = {"ltfu", "data", "model:", "one", "row", "per", "infused", "patient", "field", "type", "required",
             "allowed", "values", "aliases", "meaning", "yes", "allowed:", "aliases:", "meaning:"}
    for f in FIELDS:
        words |= {f.name, f.type, f"({f.type},", f"({f.type})", "required)"}
        words |= set(", ".join(map(str, f.allowed)).split()) | set(", ".join(f.aliases).split())
        words |= set(f.meaning.split())
    for columns in (80, 120, 200):
        r = invoke("schema", columns=columns)
        assert r.exit_code == 0
        tokens = r.stdout.translate({ord(c): " " for c in "│┃┏┓┗┛┡┩━─┳┻╇┼└┘┌┐├┤┬┴═║"}).split()
        cut = [t for t in tokens if t not in words]
        assert not cut, (columns, cut[:10])


# ------------------------------------------------------------------------------------------------
# 8. synthetic marking, seeds, duplicate columns, Ctrl-C

@pytest.fixture(scope="module")
def high_burden_user_file(tmp_path_factory):
    d = tmp_path_factory.mktemp("synth")
    df = pd.read_csv(demo_path(), comment="#", dtype=str, keep_default_na=False)   # keeps synthetic=yes
    df["marrow_blasts_pct"] = "50"                                                  # no low-burden patient
    df["patient_id"] = [f"U{i}" for i in range(len(df))]
    f = d / "user.csv"
    df.to_csv(f, index=False)
    return f


def test_a_user_files_synthetic_column_is_an_ordinary_column(high_burden_user_file):
    res = analyse(load_cohort(high_burden_user_file))
    assert res.synthetic is False and "reproduction" not in res.numbers
    assert "SYNTHETIC" not in res.title
    r = invoke("endpoints", high_burden_user_file)
    assert r.exit_code == 0 and "SYNTHETIC" not in r.stdout
    # the reproduction table copes with a cohort that lacks a group (no KeyError)
    rows, _ = reproduction_rows(res.numbers)
    assert any(row["item"] == "survival.low_burden.efs_median" and row["this_cohort"] is None for row in rows)


def test_only_the_packaged_demo_is_synthetic(tmp_path):
    from ltfu.demo import is_packaged_demo, load_demo, write_demo

    cohort = load_demo()
    assert cohort.synthetic and is_packaged_demo(cohort)
    assert is_packaged_demo(load_cohort(write_demo(tmp_path / "copy.csv")))         # `ltfu demo` writes the same bytes
    edited = tmp_path / "edited.csv"
    edited.write_bytes(demo_path().read_bytes().replace(b"DEMO-001", b"USER-001"))
    assert not is_packaged_demo(load_cohort(edited))


def test_simulate_negative_seed_is_a_usage_error(tmp_path):
    r = invoke("simulate", "--patients", "5", "--seed", "-1", "--out", tmp_path / "s.csv")
    assert r.exit_code == 2 and isinstance(r.exception, (SystemExit, type(None)))
    assert not (tmp_path / "s.csv").exists()


def test_validate_dataframe_with_two_patient_id_columns():
    df = pd.DataFrame([["P1", "2016-01-10", "2016-05-01", "P1"]],
                      columns=["patient_id", "infusion_date", "last_contact_date", "patient_id"])
    problems = ltfu.validate(df)
    assert any(p.code == "DUPLICATE_COLUMN" and p.field == "patient_id" for p in problems)


def test_ctrl_c_during_report_exits_130_with_one_line(tmp_path):
    out = tmp_path / "rep"
    proc = subprocess.Popen([sys.executable, "-m", "ltfu.cli", "report", "--demo", "--out", str(out), "--quiet"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env())
    time.sleep(2.5)
    assert proc.poll() is None, "the report finished before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert stderr == "interrupted; nothing was written\n" and stdout == ""
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".rep.tmp")]


# ------------------------------------------------------------------------------------------------
# 9. masked and complex input to ltfu.stats

@pytest.mark.parametrize("bad, word", [
    (np.ma.masked_array([5.0, 8, 12, 20], mask=[0, 0, 1, 0]), "masked"),
    (np.array([5.0, 8, 12, 20]) + 1j, "complex"),
    ([5.0, 8, 12 + 3j, 20], "complex"),
])
def test_stats_refuse_masked_and_complex_arrays(bad, word):
    from ltfu import stats

    e = [1, 0, 1, 1]
    with pytest.raises(InvalidInputError, match=f"time: {word}"):
        stats.kaplan_meier(bad, e)
    with pytest.raises(InvalidInputError, match=word):
        stats.logrank(bad, e, [0, 0, 1, 1])
    with pytest.raises(InvalidInputError, match=f"X: {word}"):
        stats.cox(bad, [5.0, 8, 12, 20], e)


def _swallowing(fill):
    """``fill`` followed by a Ctrl-C that a library catches and drops (a bare except)."""
    from ltfu import interrupt

    def run(*args, **kwargs):
        result = fill(*args, **kwargs)
        with contextlib.suppress(BaseException):      # the library's bare except
            interrupt.handler(signal.SIGINT, None)
        return result
    return run


def test_a_swallowed_ctrl_c_still_commits_nothing_and_exits_130(tmp_path, monkeypatch, capsys):
    """Under load a Ctrl-C was lost inside a library and the report written, exit 0 (or exit 1):
    the handler also records the press, and every commit checks the record."""
    import ltfu.outputs.files as files
    import ltfu.outputs.transaction as transaction
    from ltfu import cli

    monkeypatch.setattr(transaction, "write_manifest", _swallowing(transaction.write_manifest))
    out = tmp_path / "rep"
    assert cli.main(["report", "--demo", "--out", str(out), "--formats", "json", "--quiet"]) == 130
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".rep")]
    assert capsys.readouterr().err.endswith("interrupted; nothing was written\n")
    real = files.write_file_atomic
    monkeypatch.setattr(files, "write_file_atomic", lambda path, fill, **kw: real(path, _swallowing(fill), **kw))
    monkeypatch.setattr("ltfu.outputs.write_file_atomic", files.write_file_atomic)
    demo = tmp_path / "demo.csv"
    assert cli.main(["demo", "--out", str(demo)]) == 130
    assert not demo.exists() and list(tmp_path.iterdir()) == []
    monkeypatch.undo()
    from ltfu import interrupt
    from ltfu.demo import write_demo

    assert not interrupt.received()                                # the record is the run's, cleared after it
    assert write_demo(demo).exists()                               # so the Python API goes on writing

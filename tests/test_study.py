"""A study of several tables: loading from a folder, a workbook or ADaM datasets, the cross-table
bad-input corpus (tests/bad_inputs/studies, made by make_study_corpus.py), the demonstration study,
and the command line on studies."""

import datetime as dt
import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import inproc
import ltfu
from ltfu.analysis import AnalysisOptions, analyse
from ltfu.errors import DataError
from ltfu.report import write_report
from ltfu.study import validate_study

HERE = Path(__file__).parent
STUDY = HERE / "fixtures" / "safety_study"
CORPUS = HERE / "bad_inputs" / "studies"
MANIFEST = json.loads((HERE / "bad_inputs" / "studies.json").read_text())
TODAY = dt.date(2026, 11, 24)


def _tree_sha(folder: Path) -> dict:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_study_corpus_is_large_enough():
    assert len(MANIFEST) >= 25
    assert sum(c["report"] for c in MANIFEST) >= 5


@pytest.mark.parametrize("case", MANIFEST, ids=[c["case"] for c in MANIFEST])
def test_each_bad_study_gives_its_exact_problems(case, tmp_path):
    folder = CORPUS / case["case"]
    before = _tree_sha(folder)
    problems = [p for p in validate_study(folder, today=TODAY) if p.code != "AFTER_CUTOFF"]
    assert sorted({p.code for p in problems}) == case["codes"], [p.to_dict() for p in problems]
    for p in problems:
        assert p.message and p.fix and p.severity in ("error", "warning")
        if p.row is not None:                   # a row's problem names its table, row, patient, field
            assert p.table in ("events", "assessments", "therapies") and p.patient_id and p.field
    errors = [p for p in problems if p.severity == "error"]
    assert bool(case["report"]) == (not errors)
    if case["report"]:
        study = ltfu.load_study(folder, today=TODAY)
        out = write_report(analyse(study, AnalysisOptions()), tmp_path / "rep", formats=("json",))
        assert "long_term_safety" in json.loads(out.read_text())
    else:
        with pytest.raises(DataError) as err:
            ltfu.load_study(folder, today=TODAY)
        assert len([p for p in err.value.problems if p.severity == "error"]) == len(errors)
    assert _tree_sha(folder) == before


def test_every_problem_of_every_table_at_once():
    problems = validate_study(CORPUS / "many_at_once", today=TODAY)
    where = {(p.table, p.code, p.row, p.patient_id) for p in problems if p.table}
    assert where == {("events", "DATE_BEFORE_INFUSION", 2, "S01"), ("events", "UNKNOWN_PATIENT", 21, "S77"),
                     ("assessments", "BAD_UNIT", 3, "S01"), ("therapies", "AFTER_FOLLOW_UP", 5, "S09"),
                     ("therapies", "END_BEFORE_START", 5, "S09")}


def test_duplicate_rows_are_counted_once():
    clean = ltfu.load_study(CORPUS / "clean", today=TODAY)
    dup = ltfu.load_study(CORPUS / "duplicate_event", today=TODAY)
    assert len(dup.events) == len(clean.events)
    assert any(p.code == "DUPLICATE_ROW" and p.table == "events" for p in dup.warnings)


def test_typed_tables_by_hand():
    s = ltfu.load_study(STUDY, today=TODAY)
    e = s.events.set_index("term")
    assert e.loc["Breast cancer", "onset_day"] == (dt.date(2018, 3, 1) - dt.date(2015, 1, 1)).days
    assert e.loc["Sepsis", "outcome"] == "fatal" and e.loc["Sepsis", "grade"] == 5
    a = s.assessments
    # 520 mg/dL of IgG is 5.2 g/L; 0.05 x10^9/L B cells are 50 per microlitre
    assert a.loc[1, "value"] == pytest.approx(5.2) and a.loc[2, "value"] == pytest.approx(50.0)
    assert a.loc[7, "result"] == "negative" and np.isnan(a.loc[7, "value"])
    t = s.therapies.set_index("type")
    assert t.loc["allo_hct", "start_day"] == (dt.date(2015, 12, 1) - dt.date(2015, 9, 1)).days


def test_a_workbook_gives_the_same_study_as_a_folder(tmp_path):
    book = tmp_path / "study.xlsx"
    with pd.ExcelWriter(book) as w:
        for f in sorted(STUDY.glob("*.csv")):
            pd.read_csv(f, dtype=str, keep_default_na=False).to_excel(w, sheet_name=f.stem.capitalize(), index=False)
        pd.DataFrame({"x": [1]}).to_excel(w, sheet_name="notes", index=False)
    a, b = ltfu.load_study(STUDY, today=TODAY), ltfu.load_study(book, today=TODAY)
    for name in ("events", "assessments", "therapies"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name), check_dtype=False)
    assert [p.code for p in b.warnings if p.table is None and p.code == "UNKNOWN_TABLE"] == ["UNKNOWN_TABLE"]


def test_a_single_patient_table_still_loads_as_a_study():
    s = ltfu.load_study(STUDY / "patients.csv", today=TODAY)
    assert s.cohort.n == 12 and not s.longitudinal


def test_adam_datasets(tmp_path):
    """ADSL + ADAE + ADLB: AEDECOD, AEBODSYS (no AECAT), AETOXGR, ASTDT, AENDT, AESER, AEOUT, AEREL;
    PARAMCD, AVAL, AVALU, ADT; the ADLB parameters ltfu does not analyse are left out, counted."""
    p = pd.read_csv(STUDY / "patients.csv", dtype=str, keep_default_na=False)
    adsl = p.rename(columns={"patient_id": "USUBJID", "infusion_date": "TRTSDT", "last_contact_date": "LSTALVDT",
                             "death_date": "DTHDT"}).assign(STUDYID="X1", ARM="CAR T")
    adsl.to_csv(tmp_path / "adsl.csv", index=False)
    adae = pd.DataFrame({
        "STUDYID": "X1", "USUBJID": ["S01", "S02", "S05", "S06", "S11"], "AESEQ": [1, 1, 1, 1, 1],
        "AEDECOD": ["Pneumonia", "Hypogammaglobulinaemia", "Myelodysplastic syndrome", "Rash", "Tremor"],
        "AEBODSYS": ["Infections and infestations", "Immune system disorders",
                     "Neoplasms benign, malignant and unspecified (incl cysts and polyps)",
                     "Skin and subcutaneous tissue disorders", "Nervous system disorders"],
        "AETOXGR": ["3", "2", "4", "1", "1"], "ASTDT": ["2015-02-01", "2015-06-01", "2017-01-01", "2016-01-01",
                                                       "2017-01-01"],
        "AENDT": ["2015-03-01", "", "", "2016-02-01", ""], "AESER": ["Y", "N", "Y", "N", "N"],
        "AEOUT": ["RECOVERED/RESOLVED", "NOT RECOVERED/NOT RESOLVED", "NOT RECOVERED/NOT RESOLVED",
                  "RECOVERED/RESOLVED", "UNKNOWN"],
        "AEREL": ["NOT RELATED", "POSSIBLE", "PROBABLE", "REMOTE", "RELATED"]})
    adae.to_csv(tmp_path / "adae.csv", index=False)
    adlb = pd.DataFrame({"STUDYID": "X1", "USUBJID": ["S01", "S01", "S03", "S10"],
                         "PARAMCD": ["IGG", "ALT", "IGG", "BCELL"], "AVAL": ["410", "33", "6", "0.02"],
                         "AVALU": ["mg/dL", "U/L", "g/L", "10^9/L"],
                         "ADT": ["2016-01-02", "2016-01-02", "2016-03-20", "2017-03-01"]})
    adlb.to_csv(tmp_path / "adlb.csv", index=False)
    s = ltfu.load_study(tmp_path, today=TODAY)
    assert s.events["category"].tolist() == ["infection", "hypogammaglobulinaemia", "second_primary_malignancy",
                                             "other", "neurological"]
    assert s.events["outcome"].tolist()[:3] == ["recovered", "ongoing", "ongoing"]
    assert s.events["related"].tolist() == ["unrelated", "possible", "related", "unlikely", "related"]
    assert s.events["serious"].tolist() == [True, False, True, False, False]
    assert s.assessments["test"].tolist() == ["igg_g_per_l", "igg_g_per_l", "b_cells_per_ul"]
    assert s.assessments["value"].tolist() == pytest.approx([4.1, 6.0, 20.0])
    unused = [p for p in s.warnings if p.code == "UNUSED_ROWS"]
    assert len(unused) == 1 and unused[0].table == "assessments" and "ALT" in unused[0].message
    # the ADaM variables ltfu does not use: one warning per dataset, not one per variable
    assert sorted(str(p.table) for p in s.warnings if p.code == "UNKNOWN_COLUMN") == ["None", "assessments", "events"]


def test_the_demo_study_as_workbook_and_folder(tmp_path):
    from ltfu.demo import load_demo_study, write_demo

    ref = load_demo_study()
    assert ref.cohort.synthetic and ref.cohort.n == 53 and len(ref.events) and len(ref.assessments)
    book = write_demo(tmp_path / "study.xlsx")
    folder = write_demo(tmp_path / "study")
    assert (folder / "README.md").read_text().startswith("SYNTHETIC")
    assert all(f.read_text().startswith("# SYNTHETIC") for f in folder.glob("*.csv"))
    for path in (book, folder):
        s = ltfu.load_study(path)
        assert s.cohort.synthetic, path
        assert [w.code for w in s.warnings] == [], path     # its own README is no unknown table
        assert len(s.events) == len(ref.events) and len(s.assessments) == len(ref.assessments)
        assert len(s.therapies) == len(ref.therapies)
    # a folder ltfu did not write is never replaced; one it wrote is
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep")
    with pytest.raises(ltfu.errors.OutputError):
        write_demo(mine)
    assert (mine / "notes.txt").read_text() == "keep"
    assert write_demo(folder) == folder


@pytest.mark.slow
def test_cli_on_a_study(tmp_path):
    bad = inproc.run("validate", CORPUS / "many_at_once")
    assert bad.returncode == 1 and "Traceback" not in bad.stdout + bad.stderr
    assert "events" in bad.stdout and "therapies" in bad.stdout and "UNKNOWN_PATIENT" in bad.stdout
    rep = inproc.run("report", STUDY, "--out", tmp_path / "r", "--formats", "json,html", "--safety-stop-at",
                   "anticancer", "-q")
    assert rep.returncode == 0, rep.stderr
    numbers = json.loads((tmp_path / "r" / "results.json").read_text())
    assert numbers["long_term_safety"]["stop_at"] == "anticancer"
    html = (tmp_path / "r" / "report.html").read_text()
    assert "Long-term safety" in html and "per 100 patient-years" in html


def test_deidentified_study_report_carries_no_term_or_id(tmp_path):
    study = ltfu.load_study(STUDY, today=TODAY)
    out = write_report(analyse(study, AnalysisOptions(deidentify=True)), tmp_path / "r", formats=("json", "html"))
    text = out.read_text() + (tmp_path / "r" / "report.html").read_text()
    for secret in ("Breast cancer", "Aspergillosis", "S01", "S12", "2015-02-01"):
        assert secret not in text

"""A study folder's warnings reach the report, and a missing events table is not "0 events"
(found by a bad-input hunt on study folders, 2026-11-26)."""

import json

import pytest

from ltfu.analysis import AnalysisOptions, analyse
from ltfu.demo import _write_csv_tables
from ltfu.study import load_study


def _folder(tmp_path):
    folder = tmp_path / "study"
    folder.mkdir()
    _write_csv_tables(folder)
    return folder


def test_an_events_file_under_another_name_is_not_zero_events(tmp_path):
    """AE.csv is named after no table: it is not read (UNKNOWN_TABLE). The report said 0 adverse
    events over 64 patient-years, and results.json held no warning at all."""
    folder = _folder(tmp_path)
    n_events = sum(1 for line in (folder / "events.csv").read_text().splitlines()[2:] if line.strip())
    assert n_events > 0
    (folder / "events.csv").rename(folder / "AE.csv")
    results = analyse(load_study(folder), AnalysisOptions())
    safety = results.numbers["long_term_safety"]
    assert safety["events"] is None and safety["events_beyond_time_at_risk"] is None
    assert "no events table" in safety["note"]
    assert not any(t.name.startswith("safety_rates") for t in results.tables)
    warned = results.numbers["validation_warnings"]
    assert any(w.startswith("UNKNOWN_TABLE") and "'AE.csv'" in w and "name it events.csv" in w for w in warned)
    assert "(None)" not in " ".join(results.warnings)
    summary = dict(next(t for t in results.tables if t.name == "data_summary").rows)
    assert summary["validation warnings"] == len(warned)
    json.dumps(results.numbers)                     # plain JSON


def test_a_header_only_events_table_is_zero_events(tmp_path):
    """A present but empty events table says that no event was recorded: 0, with rates of 0."""
    folder = _folder(tmp_path)
    lines = (folder / "events.csv").read_text().splitlines()
    (folder / "events.csv").write_text("\n".join(lines[:2]) + "\n")
    safety = analyse(load_study(folder), AnalysisOptions()).numbers["long_term_safety"]
    assert safety["events"] == 0 and "note" not in safety


def test_repeated_rows_of_other_tables_are_warnings_of_the_report(tmp_path):
    """A repeated event row is counted once (DUPLICATE_ROW, a warning). The report's data summary
    said 'validation warnings 0' and no output named the repeat."""
    folder = _folder(tmp_path)
    for name in ("events", "assessments"):
        lines = (folder / f"{name}.csv").read_text().splitlines()
        (folder / f"{name}.csv").write_text("\n".join([*lines, lines[2]]) + "\n")
    results = analyse(load_study(folder), AnalysisOptions())
    warned = results.numbers["validation_warnings"]
    assert sum(w.startswith("DUPLICATE_ROW (events:") for w in warned) == 1
    assert sum(w.startswith("DUPLICATE_ROW (assessments:") for w in warned) == 1
    summary = dict(next(t for t in results.tables if t.name == "data_summary").rows)
    assert summary["validation warnings"] == len(warned) == len(results.warnings)
    # de-identified: the kind, table and field, never the message (which quotes the row)
    deid = analyse(load_study(folder), AnalysisOptions(deidentify=True)).numbers["validation_warnings"]
    assert sorted(w.split(":")[0] for w in deid) == ["DUPLICATE_ROW (assessments", "DUPLICATE_ROW (events"]
    assert not any("row 3" in w for w in deid)


def test_a_second_sheet_of_a_table_workbook_is_named_not_lost(tmp_path):
    """events.xlsx with the events on its first sheet and one more row on a second sheet: that row
    was never read, and validation said "No problems found"."""
    import pandas as pd

    from ltfu.study import validate_study

    folder = _folder(tmp_path)
    events = pd.read_csv(folder / "events.csv", comment="#")
    (folder / "events.csv").unlink()
    with pd.ExcelWriter(folder / "events.xlsx") as xw:
        events.to_excel(xw, sheet_name="events", index=False)
        events.head(1).assign(patient_id="DEMO-999").to_excel(xw, sheet_name="more_events", index=False)
        pd.DataFrame({"note": ["synthetic"]}).to_excel(xw, sheet_name="README", index=False)
    problems = validate_study(folder)
    unread = [p for p in problems if p.code == "UNKNOWN_TABLE" and "more_events" in (p.value or "")]
    assert len(unread) == 1 and unread[0].severity == "warning"
    assert "'more_events' of 'events.xlsx' was not read" in unread[0].message
    assert not any("README" in (p.value or "") and "events.xlsx" in (p.value or "") for p in problems)
    results = analyse(load_study(folder), AnalysisOptions())
    assert results.numbers["long_term_safety"]["events"] == len(events)
    assert any("more_events" in w for w in results.numbers["validation_warnings"])


def test_an_unreadable_table_file_is_one_problem_among_the_others(tmp_path):
    """An empty therapies.csv stopped validation: the events table's planted problems, and the other
    empty files, were not listed."""
    from ltfu.errors import DataError
    from ltfu.study import validate_study

    folder = _folder(tmp_path)
    (folder / "therapies.csv").write_bytes(b"")
    (folder / "assessments.csv").write_bytes(b"")
    lines = (folder / "events.csv").read_text().splitlines()
    header = lines[1].split(",")
    bad = dict(zip(header, lines[2].split(",")))
    bad["patient_id"] = "DEMO-999"
    (folder / "events.csv").write_text("\n".join([*lines, ",".join(bad[c] for c in header)]) + "\n")
    problems = validate_study(folder)
    unreadable = sorted(p.value for p in problems if p.code == "UNREADABLE_TABLE")
    assert unreadable == ["assessments.csv", "therapies.csv"]
    assert all(p.severity == "error" and "empty" in p.message for p in problems if p.code == "UNREADABLE_TABLE")
    assert any(p.code == "UNKNOWN_PATIENT" and p.patient_id == "DEMO-999" for p in problems)
    with pytest.raises(DataError):
        load_study(folder)


def test_a_folder_table_workbook_is_read_from_the_sheet_named_after_its_table(tmp_path):
    """events.xlsx whose first sheet is notes: the message called it the patient table and advised
    --sheet, which a folder refuses. The sheet named events is read; without one, the problem says
    to name it so."""
    import pandas as pd

    from ltfu.study import validate_study

    folder = _folder(tmp_path)
    events = pd.read_csv(folder / "events.csv", comment="#")
    (folder / "events.csv").unlink()
    with pd.ExcelWriter(folder / "events.xlsx") as xw:
        pd.DataFrame({"note": ["synthetic events"]}).to_excel(xw, sheet_name="Notes", index=False)
        events.to_excel(xw, sheet_name="Events", index=False)
    results = analyse(load_study(folder), AnalysisOptions())
    assert results.numbers["long_term_safety"]["events"] == len(events)
    assert any("'Notes' of 'events.xlsx' was not read" in w for w in results.numbers["validation_warnings"])

    with pd.ExcelWriter(folder / "events.xlsx") as xw:
        pd.DataFrame({"note": ["synthetic events"]}).to_excel(xw, sheet_name="Notes", index=False)
        events.to_excel(xw, sheet_name="Sheet2", index=False)
    problems = [p for p in validate_study(folder) if p.code == "UNREADABLE_TABLE"]
    assert len(problems) == 1 and "holds no events table" in problems[0].message
    assert "name that sheet 'events'" in problems[0].message and "--sheet" not in problems[0].message


def _problems(folder):
    from ltfu.study import check_study, find_tables

    problems, _ = check_study(find_tables(folder))
    return problems


def test_date_problems_show_the_cell_and_missing_tokens_are_shown(tmp_path):
    """A date rule's problem showed the computed day ('day -36'), which the file does not hold, and a
    value cell 'nan' was 'a required value is empty' with no value: the cell is shown now, the
    computed day in the message, and a token says it reads as missing."""
    folder = _folder(tmp_path)
    lines = (folder / "events.csv").read_text().splitlines()
    first = lines[2].split(",")
    first[4] = "2010-01-01"                                       # onset before DEMO-003's infusion
    lines[2] = ",".join(first)
    (folder / "events.csv").write_text("\n".join(lines) + "\n")
    with (folder / "assessments.csv").open("a") as f:
        f.write("DEMO-001,2015-03-10,x,igg_g_per_l,nan,g/L\n")
    problems = _problems(folder)
    [early] = [p for p in problems if p.code == "DATE_BEFORE_INFUSION"]
    assert early.value == "2010-01-01" and "(day -" in early.message and early.field == "onset_date"
    [missing] = [p for p in problems if p.code == "MISSING_VALUE"]
    assert missing.value == "nan" and "'nan' reads as missing" in missing.message


def test_an_unknown_patient_differing_by_case_names_the_patient(tmp_path):
    folder = _folder(tmp_path)
    lines = (folder / "events.csv").read_text().splitlines()
    lines[2] = lines[2].replace("DEMO-003", "demo-003", 1)
    (folder / "events.csv").write_text("\n".join(lines) + "\n")
    [p] = [p for p in _problems(folder) if p.code == "UNKNOWN_PATIENT"]
    assert p.value == "demo-003" and "'DEMO-003'" in p.message and "upper/lower case" in p.message


def test_patient_table_date_rules_show_the_cell(tmp_path):
    import pandas as pd

    from ltfu.cohort import load, validate
    from ltfu.demo import demo_path

    df = pd.read_csv(demo_path(), comment="#", dtype=str, keep_default_na=False)
    df.loc[0, "death_date"] = "01 Jan 2014"                       # before the infusion, in the file's own form
    df.loc[1, "infusion_date"] = "NULL"
    path = tmp_path / "p.csv"
    df.to_csv(path, index=False)
    problems = validate(load(path))
    [early] = [p for p in problems if p.code == "DATE_BEFORE_INFUSION"]
    assert (early.row, early.value, early.field) == (2, "01 Jan 2014", "death_date") and "(day -" in early.message
    [missing] = [p for p in problems if p.code == "MISSING_VALUE"]
    assert (missing.row, missing.value) == (3, "NULL") and "reads as missing" in missing.message

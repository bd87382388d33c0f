#!/usr/bin/env python3
"""Write the cross-table bad-input corpus: tests/bad_inputs/studies/<case>/ (a study folder each)
and studies.json (its manifest).

Each case is the small study of tests/fixtures/safety_study damaged in one way, with the exact
problem codes it must give (sorted, errors and warnings) and whether it is clean enough for a report.
Run it from the repository root after changing a case:
    .venv/bin/python tests/bad_inputs/make_study_corpus.py
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd

HERE = Path(__file__).parent
OUT = HERE / "studies"
BASE = Path(__file__).parents[1] / "fixtures" / "safety_study"


def base() -> dict[str, pd.DataFrame]:
    return {p.stem: pd.read_csv(p, dtype=str, keep_default_na=False) for p in sorted(BASE.glob("*.csv"))}


CASES: list[dict] = []


def case(name, codes, *, report=False, note="", **edits):
    """``edits``: table -> function(DataFrame) -> DataFrame (None drops the table); extra files by
    name as ``extra={"file.csv": DataFrame}``."""
    CASES.append({"case": name, "codes": sorted(codes), "report": report, "note": note, "edits": edits})


def set_cell(table, row, column, value):
    def f(df):
        df = df.copy()
        df.loc[row, column] = value
        return df
    return {table: f}


def add_row(table, **values):
    def f(df):
        return pd.concat([df, pd.DataFrame([{c: values.get(c, "") for c in df.columns}])], ignore_index=True)
    return {table: f}


case("clean", [], report=True, note="the fixture itself: only the patient table's cut-off warning",
     )
case("unknown_patient", ["UNKNOWN_PATIENT"], note="an event of a patient not in the patient table",
     **add_row("events", patient_id="S99", term="Sepsis", category="infection", subtype="bacterial",
               onset_date="2016-01-01"))
case("onset_before_infusion", ["DATE_BEFORE_INFUSION"], **set_cell("events", 0, "onset_date", "2014-12-01"))
case("event_after_death", ["AFTER_FOLLOW_UP"], note="S04 died 2015-09-10",
     **add_row("events", patient_id="S04", term="Pneumonia", category="infection", subtype="bacterial",
               onset_date="2015-10-01"))
case("assessment_after_last_contact", ["AFTER_FOLLOW_UP"], note="S03 last seen 2017-06-30",
     **add_row("assessments", patient_id="S03", date="2018-01-01", visit="year 3", test="igg_g_per_l", value="5",
               unit="g/L"))
case("therapy_after_death", ["AFTER_FOLLOW_UP"],
     **add_row("therapies", patient_id="S02", type="anticancer", start_date="2016-05-01"))
case("resolution_before_onset", ["END_BEFORE_START"], **set_cell("events", 1, "resolution_date", "2015-01-15"))
case("therapy_end_before_start", ["END_BEFORE_START"], **set_cell("therapies", 1, "end_date", "2015-12-01"))
case("duplicate_event", ["DUPLICATE_ROW"], report=True, note="counted once",
     events=lambda df: pd.concat([df, df.iloc[[6]]], ignore_index=True))
case("unknown_unit", ["BAD_UNIT"], **set_cell("assessments", 0, "unit", "mmol/L"))
case("impossible_haemoglobin", ["IMPLAUSIBLE_VALUE"], note="60 g/dL",
     **add_row("assessments", patient_id="S05", date="2017-06-01", visit="year 2", test="haemoglobin_g_per_dl",
               value="60", unit="g/dL"))
case("negative_b_cells", ["IMPLAUSIBLE_VALUE"], **set_cell("assessments", 6, "value", "-3"))
case("unconverted_scale", ["IMPLAUSIBLE_VALUE"], note="IgG 4100 g/L: the value was in mg/L, the unit says g/L",
     **set_cell("assessments", 0, "value", "4100"))
case("value_not_a_number", ["BAD_NUMBER"], **set_cell("assessments", 3, "value", "6,0 g/L"))
case("bad_rcl_code", ["BAD_CODE"], **set_cell("assessments", 7, "value", "pos?"))
case("unknown_test", ["BAD_CODE"], **set_cell("assessments", 3, "test", "iga_g_per_l"))
case("unknown_category", ["BAD_CODE"], **set_cell("events", 10, "category", "cardiac"))
case("subtype_of_another_category", ["BAD_CODE"], note="t_cell is a malignancy subtype, not an infection's",
     **set_cell("events", 0, "subtype", "t_cell"))
case("grade_six", ["OUT_OF_RANGE"], **set_cell("events", 0, "grade", "6"))
case("missing_onset", ["MISSING_VALUE"], **set_cell("events", 2, "onset_date", ""))
case("no_onset_column", ["MISSING_COLUMN"], events=lambda df: df.drop(columns=["onset_date"]))
case("future_onset", ["FUTURE_DATE"], **set_cell("events", 3, "onset_date", "2031-01-01"))
case("control_character_in_term", ["CONTROL_CHARACTER"], **set_cell("events", 4, "term", "Asper\x1b[2Kgillosis"))
case("extra_column", ["UNKNOWN_COLUMN"], report=True,
     events=lambda df: df.assign(reporter=["site"] * len(df)))
case("days_instead_of_dates", [], report=True, note="onset_day and resolution_day instead of dates",
     events=lambda df: df.drop(columns=["onset_date", "resolution_date"]).assign(
         onset_day=["31", "31", "495", "1155", "28", "59", "61", "132", "366", "580", "366", "366", "1704", "31",
                    "92", "731", "92", "1095", "30"], resolution_day=[""] * len(df)))
case("unknown_table_file", ["UNKNOWN_TABLE"], report=True, note="event.csv (singular) is not read; said so",
     extra={"event.csv": "copy:events"})
case("many_at_once", ["AFTER_FOLLOW_UP", "BAD_UNIT", "DATE_BEFORE_INFUSION", "END_BEFORE_START", "UNKNOWN_PATIENT"],
     note="every problem of every table listed in one pass",
     events=lambda df: pd.concat([df.assign(onset_date=df["onset_date"].where(df.index != 0, "2014-12-01")),
                                  pd.DataFrame([{**{c: "" for c in df.columns}, "patient_id": "S77", "term": "Flu",
                                                 "category": "infection", "onset_date": "2016-01-01"}])],
                                 ignore_index=True),
     assessments=lambda df: df.assign(unit=df["unit"].where(df.index != 1, "furlongs")),
     therapies=lambda df: pd.concat([df, pd.DataFrame([{"patient_id": "S09", "type": "anticancer",
                                                        "start_date": "2016-09-01", "end_date": "2016-08-01"}])],
                                    ignore_index=True))


def main():
    if OUT.exists():
        shutil.rmtree(OUT)
    manifest = []
    for c in CASES:
        folder = OUT / c["case"]
        folder.mkdir(parents=True)
        tables = base()
        extra = c["edits"].get("extra", {})
        for name, df in tables.items():
            f = c["edits"].get(name)
            df = f(df) if f is not None else df
            df.to_csv(folder / f"{name}.csv", index=False)
        for fname, what in extra.items():
            shutil.copy(folder / f"{what.split(':', 1)[1]}.csv", folder / fname)
        manifest.append({k: c[k] for k in ("case", "codes", "report", "note")})
    (HERE / "studies.json").write_text(json.dumps(manifest, indent=1) + "\n")
    print(f"wrote {len(manifest)} study cases to {OUT}")


if __name__ == "__main__":
    main()

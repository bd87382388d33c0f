#!/usr/bin/env python3
"""Write the bad-input corpus and its manifest (tests/bad_inputs/files, manifest.json).

Each case is a small patient table damaged in one way, with the exact problem codes it must give
(``codes``: error and warning codes, as a sorted list), or ``load_error`` when the file cannot be
read at all, or ``report`` when it is clean enough that a full report must be produced.
Run it from the repository root after changing a case:  .venv/bin/python tests/bad_inputs/make_corpus.py
"""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pandas as pd

HERE = Path(__file__).parent
FILES = HERE / "files"

BASE = pd.DataFrame({
    "patient_id": ["P01", "P02", "P03", "P04", "P05", "P06"],
    "infusion_date": ["2014-01-10", "2014-03-05", "2014-06-20", "2015-01-15", "2015-04-02", "2015-07-30"],
    "last_contact_date": ["2016-06-30", "2014-09-01", "2016-06-30", "2015-08-20", "2016-06-30", "2016-01-12"],
    "death_date": ["", "2014-09-01", "", "2015-08-20", "", "2016-01-12"],
    "response_date": ["2014-02-07", "2014-04-02", "2014-07-18", "2015-02-12", "2015-04-30", "2015-08-27"],
    "relapse_date": ["", "2014-07-01", "2015-02-01", "2015-05-05", "", ""],
    "allo_hct_date": ["2014-04-15", "", "", "", "2015-07-01", ""],
    "data_cutoff_date": ["2016-06-30"] * 6,
    "best_response": ["CR", "CR", "CRi", "CR", "CR", "PD"],
    "mrd_negative": ["yes", "no", "yes", "no", "yes", "unknown"],
    "marrow_blasts_pct": ["1.2", "45", "3.5", "80", "0", "60"],
    "extramedullary": ["no", "no", "no", "yes", "no", "no"],
    "relapse_cd19": ["", "positive", "negative", "positive", "", ""],
    "crs_grade": ["1", "3", "0", "4", "2", "3"],
    "crs_scale": ["ASTCT 2019"] * 6,
    "neurotox_grade": ["0", "3", "1", "4", "0", "2"],
    "neurotox_scale": ["ASTCT 2019"] * 6,
    "crs_death": ["no"] * 6,
    "age": ["34", "52", "61", "44", "29", "70"],
    "sex": ["F", "M", "M", "F", "M", "M"],
    "conditioning": ["Cy", "Flu/Cy", "Cy", "Cy", "Flu/Cy", "Cy"],
})


def csv_text(df, sep=",", **kw):
    return df.to_csv(index=False, sep=sep, **kw)


def edit(**changes):
    """BASE with cells changed: edit(age={2: 'x'}) sets row 2's age."""
    df = BASE.copy()
    for col, cells in changes.items():
        for row, value in cells.items():
            df.at[row, col] = value
    return df


CASES = []


def case(name, data, *, codes=None, load_error=None, report=False, sheet=None, note="", runtime=False):
    """``runtime``: too large to commit; the test writes it from this script into a temporary folder."""
    CASES.append({"file": name, "codes": sorted(codes or []), "load_error": load_error, "report": report,
                  "sheet": sheet, "note": note, "runtime": runtime, "_data": data})


def content(name):
    data = next(c["_data"] for c in CASES if c["file"] == name)
    data = data() if callable(data) else data
    return data.encode("utf-8") if isinstance(data, str) else data


# ---- files that cannot be read ----------------------------------------------------------------
case("empty.csv", b"", load_error="empty", note="zero bytes")
case("whitespace_only.csv", b"\n\n   \n", load_error="empty", note="only blank lines")
case("comments_only.csv", b"# a comment\n# another\n", load_error="no header", note="only comment lines")
case("nul_bytes.csv", csv_text(BASE).encode().replace(b"P03", b"P\x0003"), load_error="NUL", note="NUL byte")
case("unknown_type.docx", b"PK\x03\x04 not a table", load_error="unknown file type", note="wrong extension")
case("garbage.parquet", b"this is not parquet at all", load_error="cannot be read as parquet")
case("garbage.xlsx", b"PK\x03\x04garbage", load_error="cannot be read as xlsx")
case("garbage.xpt", b"HEADER RECORD***garbage", load_error="cannot be read as xpt")
# ---- structure ---------------------------------------------------------------------------------
case("only_header.csv", ",".join(BASE.columns) + "\n", codes=["EMPTY_TABLE"])
case("mixed_delimiters.csv", csv_text(BASE).replace("P04,2015-01-15", "P04;2015-01-15"), codes=["ROW_LENGTH"],
     note="one row uses ; between its first two fields")
case("truncated.csv", csv_text(BASE)[:-60], codes=["ROW_LENGTH"], note="the last row is cut off")
case("unclosed_quote.csv", csv_text(BASE).replace("Flu/Cy", '"Flu/Cy', 1), codes=["UNCLOSED_QUOTE"],
     note="without the check, the four rows after it would vanish into one cell")
case("repeated_header.csv", csv_text(BASE.iloc[:3]) + csv_text(BASE.iloc[3:]), codes=["REPEATED_HEADER"],
     report=True)
case("duplicate_column.csv", csv_text(BASE.assign(age2=BASE["age"]).rename(columns={"age2": "age"})),
     codes=["DUPLICATE_COLUMN"])
case("alias_duplicate.csv", csv_text(BASE.assign(USUBJID=BASE["patient_id"])), codes=["DUPLICATE_COLUMN"],
     note="patient_id and USUBJID name the same field")
case("missing_infusion_column.csv", csv_text(BASE.drop(columns=["infusion_date"])), codes=["MISSING_COLUMN"])
case("missing_last_contact_column.csv", csv_text(BASE.drop(columns=["last_contact_date"])),
     codes=["MISSING_COLUMN"])
case("misspelt_column.csv", csv_text(BASE.rename(columns={"infusion_date": "infusion_dat"})),
     codes=["MISSING_COLUMN", "UNKNOWN_COLUMN"], note="did you mean infusion_date")
case("cell_10mb.csv", lambda: csv_text(edit(conditioning={1: "x" * 10_000_001})), codes=["CELL_TOO_LONG"],
     runtime=True)
# ---- encodings and delimiters (clean) ------------------------------------------------------------
case("bom.csv", b"\xef\xbb\xbf" + csv_text(BASE).encode(), report=True)
case("latin1.csv", csv_text(edit(conditioning={0: "Cyclophosphamide (mélange)"})).encode("latin-1"),
     codes=["LATIN1"], report=True)
case("semicolon.csv", csv_text(BASE, sep=";"), report=True)
case("tab.tsv", csv_text(BASE, sep="\t"), report=True)
case("pipe.txt", csv_text(BASE, sep="|"), report=True)
case("crlf.csv", csv_text(BASE, lineterminator="\r\n"), report=True)
case("comment_header.csv", "# exported 2016-07-01 by the registry\n" + csv_text(BASE), report=True)
case("upper_case_aliases.csv", csv_text(BASE.rename(columns={"patient_id": "USUBJID", "infusion_date": "TRTSDT",
                                                            "death_date": "DTHDT", "age": "AGE"})),
     report=True, note="CDISC-style names")
case("days_not_dates.csv", csv_text(pd.DataFrame({
    "patient_id": ["A", "B", "C"], "last_contact_day": [400, 120, 800], "death_day": ["", 120, ""],
    "response_day": [28, 30, 27], "relapse_day": ["", 90, ""], "data_cutoff_day": [900, 900, 900],
    "best_response": ["CR", "CR", "CR"]})), report=True, note="every date given as days since infusion")
case("day_and_date.csv", csv_text(BASE.assign(death_day=["", 180, "", 217, "", 166])), codes=["DAY_AND_DATE"],
     report=True)
# ---- dates --------------------------------------------------------------------------------------
case("three_date_formats.csv", csv_text(edit(infusion_date={0: "10/01/2014", 1: "05-Mar-2014", 2: "20JUN2014"},
                                             last_contact_date={3: "20/08/2015"})), report=True,
     note="ISO, day-first settled by 20/08/2015, month names")
case("excel_serials.csv", csv_text(edit(infusion_date={0: "41649", 1: "41703"})), codes=["BAD_DATE"],
     note="numbers in a CSV date column: a CSV does not say what they count from (Excel 1900 or 1904, SAS "
          "1960), so they are refused, not read as Excel serials")
case("ambiguous_dates.csv", csv_text(edit(infusion_date={0: "01/02/2014", 1: "03/04/2014"})),
     codes=["AMBIGUOUS_DATE"], note="both fields <= 12 and nothing settles the order")
case("conflicting_date_orders.csv", csv_text(edit(infusion_date={0: "25/01/2014", 1: "03/14/2014",
                                                                2: "06/07/2014"})),
     codes=["AMBIGUOUS_DATE"], note="the file proves both day-first and month-first")
case("impossible_date.csv", csv_text(edit(relapse_date={2: "2015-02-30"})), codes=["BAD_DATE"])
case("nonsense_date.csv", csv_text(edit(death_date={1: "soon"})), codes=["BAD_DATE"])
case("future_date.csv", csv_text(edit(last_contact_date={0: "2099-01-01"})), codes=["FUTURE_DATE"])
case("negative_day.csv", csv_text(pd.DataFrame({"patient_id": ["A", "B"], "last_contact_day": [100, -5]})),
     codes=["DATE_BEFORE_INFUSION", "NO_CUTOFF"])
# ---- values -------------------------------------------------------------------------------------
case("duplicate_id.csv", csv_text(edit(patient_id={4: "P01"})), codes=["DUPLICATE_ID"])
case("missing_id.csv", csv_text(edit(patient_id={2: ""})), codes=["MISSING_VALUE"])
case("missing_infusion_value.csv", csv_text(edit(infusion_date={3: ""})), codes=["MISSING_VALUE"])
case("missing_last_contact_value.csv", csv_text(edit(last_contact_date={0: ""})), codes=["MISSING_VALUE"])
case("comma_decimal.csv", csv_text(edit(marrow_blasts_pct={0: "1,2"})), codes=["BAD_NUMBER"])
case("free_text_number.csv", csv_text(edit(age={1: "about 50"})), codes=["BAD_NUMBER"])
case("formula_in_number.csv", csv_text(edit(age={1: "=A1+1"})), codes=["BAD_NUMBER"])
case("formula_in_text.csv", csv_text(edit(conditioning={2: "=HYPERLINK(\"http://x\")"})), report=True,
     note="kept as text; CSV outputs neutralise it")
case("negative_age.csv", csv_text(edit(age={3: "-4"})), codes=["OUT_OF_RANGE"])
case("blasts_over_100.csv", csv_text(edit(marrow_blasts_pct={1: "140"})), codes=["OUT_OF_RANGE"])
case("grade_7.csv", csv_text(edit(crs_grade={1: "7"})), codes=["OUT_OF_RANGE"])
case("grade_fraction.csv", csv_text(edit(neurotox_grade={1: "2.5"})), codes=["BAD_NUMBER"])
case("bad_response_code.csv", csv_text(edit(best_response={0: "complete"})), codes=["BAD_CODE"])
case("bad_yes_no.csv", csv_text(edit(extramedullary={2: "maybe"})), codes=["BAD_CODE"])
case("synonym_codes.csv", csv_text(edit(extramedullary={0: "N", 1: "0", 3: "Yes"}, sex={0: "female"},
                                        mrd_negative={0: "negative"})), report=True, note="accepted synonyms")
# ---- consistency --------------------------------------------------------------------------------
case("death_before_infusion.csv", csv_text(edit(death_date={1: "2013-12-01"}, last_contact_date={1: "2013-12-01"},
                                               relapse_date={1: ""}, response_date={1: ""}, relapse_cd19={1: ""})),
     codes=["DATE_BEFORE_INFUSION"])
case("relapse_before_response.csv", csv_text(edit(relapse_date={2: "2014-07-01"})),
     codes=["RELAPSE_BEFORE_RESPONSE"])
case("relapse_after_last_contact.csv", csv_text(edit(relapse_date={3: "2015-09-01"})),
     codes=["EVENT_AFTER_LAST_CONTACT"], note="relapse after the patient's death (the last contact)")
case("contact_after_death.csv", csv_text(edit(last_contact_date={1: "2014-12-01"})), codes=["CONTACT_AFTER_DEATH"])
case("death_after_last_contact.csv", csv_text(edit(death_date={5: "2016-02-01"})),
     codes=["DEATH_AFTER_LAST_CONTACT"], report=True)
case("cr_relapse_no_response_date.csv", csv_text(edit(response_date={1: ""})),
     codes=["CR_RELAPSE_NO_RESPONSE_DATE"])
case("crs_death_grade_3.csv", csv_text(edit(crs_death={1: "yes"})), codes=["CRS_DEATH_GRADE"])
case("crs_death_without_death.csv", csv_text(edit(crs_death={0: "yes"}, crs_grade={0: "5"})),
     codes=["CRS_DEATH_NO_DEATH"])
case("cd19_without_relapse.csv", csv_text(edit(relapse_cd19={0: "negative"})), codes=["CD19_WITHOUT_RELAPSE"])
case("relapse_after_progression.csv", csv_text(edit(relapse_date={5: "2015-12-01"})),
     codes=["RELAPSE_WITHOUT_RESPONSE"], report=True)
case("events_after_cutoff.csv", csv_text(edit(data_cutoff_date={i: "2015-12-31" for i in range(6)})),
     codes=["AFTER_CUTOFF"], report=True, note="censored at the cut-off")
case("cutoff_before_infusion.csv", csv_text(edit(data_cutoff_date={5: "2015-06-01"})),
     codes=["AFTER_CUTOFF", "CUTOFF_BEFORE_INFUSION"])
case("no_cutoff.csv", csv_text(BASE.drop(columns=["data_cutoff_date"])), codes=["NO_CUTOFF"], report=True)
# ---- degenerate but valid: a report must come out ------------------------------------------------
case("one_patient.csv", csv_text(BASE.iloc[:1]), report=True)
case("all_censored_day0.csv", csv_text(BASE.assign(last_contact_date=BASE["infusion_date"], death_date="",
                                                   response_date="", relapse_date="", allo_hct_date="",
                                                   relapse_cd19="", best_response="")), report=True)
case("all_dead_day0.csv", csv_text(BASE.assign(last_contact_date=BASE["infusion_date"],
                                               death_date=BASE["infusion_date"], response_date="", relapse_date="",
                                               allo_hct_date="", relapse_cd19="", best_response="NE")), report=True)
case("no_optional_columns.csv", csv_text(BASE[["patient_id", "infusion_date", "last_contact_date", "death_date"]]),
     codes=["NO_CUTOFF"], report=True)


def _xlsx(kind):
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "patients"
    if kind == "blank_rows_first":
        ws.append([])
        ws.append([])
    ws.append(list(BASE.columns))
    for row in BASE.itertuples(index=False):
        values = list(row)
        values[1] = pd.Timestamp(values[1]).to_pydatetime()           # real Excel dates
        ws.append([None if v == "" else v for v in values])
    if kind == "merged":
        ws.merge_cells("O3:O4")
    if kind == "formula":
        ws["S4"] = "=40+4"
    bio = io.BytesIO()
    wb.create_sheet("notes").append(["free text"])
    wb.save(bio)
    return bio.getvalue()


case("valid.xlsx", lambda: _xlsx("plain"), report=True)
case("blank_rows_first.xlsx", lambda: _xlsx("blank_rows_first"), report=True)
case("merged_cells.xlsx", lambda: _xlsx("merged"), codes=["MERGED_CELLS"])
case("formula_cell.xlsx", lambda: _xlsx("formula"), codes=["FORMULA"])
case("missing_sheet.xlsx", lambda: _xlsx("plain"), load_error="no sheet", sheet="Sheet9")


def _parquet(kind):
    import pyarrow as pa
    import pyarrow.parquet as pq

    df = BASE.replace("", None)
    for c in ("infusion_date", "last_contact_date", "death_date", "response_date", "relapse_date", "allo_hct_date",
              "data_cutoff_date"):
        df[c] = pd.to_datetime(df[c])
    for c in ("marrow_blasts_pct", "age"):
        df[c] = pd.to_numeric(df[c])
    if kind == "text_in_number":
        df["age"] = df["age"].astype(str)            # a text column with one word in it
        df.loc[2, "age"] = "sixty"
    bio = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), bio)
    data = bio.getvalue()
    return data[: len(data) // 2] if kind == "truncated" else data


case("typed.parquet", lambda: _parquet("plain"), report=True)
case("text_in_number.parquet", lambda: _parquet("text_in_number"), codes=["BAD_NUMBER"])
case("truncated.parquet", lambda: _parquet("truncated"), load_error="cannot be read as parquet")


def _xpt(kind):
    import tempfile

    import pyreadstat

    df = BASE.rename(columns={"patient_id": "USUBJID", "infusion_date": "TRTSDT", "last_contact_date": "LSTALVDT",
                              "death_date": "DTHDT"})[["USUBJID", "TRTSDT", "LSTALVDT", "DTHDT", "age"]].copy()
    for c in ("TRTSDT", "LSTALVDT", "DTHDT"):
        df[c] = pd.to_datetime(df[c].replace("", None)).dt.date
    df["age"] = pd.to_numeric(df["age"])
    if kind == "dup":
        df.loc[3, "USUBJID"] = "P01"
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "x.xpt"
        pyreadstat.write_xport(df, str(path), file_format_version=8)
        return path.read_bytes()


case("adsl_like.xpt", lambda: _xpt("plain"), codes=["NO_CUTOFF"], report=True, note="SAS transport, CDISC names")
case("duplicate_id.xpt", lambda: _xpt("dup"), codes=["DUPLICATE_ID", "NO_CUTOFF"])


def main():
    if FILES.exists():
        shutil.rmtree(FILES)
    FILES.mkdir(parents=True)
    manifest = []
    for c in CASES:
        if not c["runtime"]:
            (FILES / c["file"]).write_bytes(content(c["file"]))
        manifest.append({k: v for k, v in c.items() if k != "_data"})
    (HERE / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    print(f"{len(manifest)} files written to {FILES}")


if __name__ == "__main__":
    main()

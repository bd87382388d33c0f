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
# ---- hostile input: silent misreads that must be problems (tests/test_hostile_input.py has the rest) ----
case("year_0001.csv", csv_text(edit(infusion_date={0: "0001-01-01"})), codes=["IMPLAUSIBLE_DATE"],
     note="an infusion in year 1 would give 24,000 months of follow-up")
case("number_1_date.csv", csv_text(edit(infusion_date={0: "1"})), codes=["BAD_DATE"],
     note="a bare number in a CSV date column is not a date (it was read as the Excel serial 1900-01-01)")
case("day_1e7.csv", csv_text(pd.DataFrame({"patient_id": ["A", "B"], "last_contact_day": ["100", "1e7"]})),
     codes=["IMPLAUSIBLE_DATE", "NO_CUTOFF"], note="27,000 years of follow-up")
case("near_duplicate_ids.csv", csv_text(edit(patient_id={1: "P01\u200b", 2: "\uff30\uff10\uff11"})),
     codes=["DUPLICATE_ID"], note="P01 with a zero-width space, and full-width P01: the same patient three times")
case("case_variant_id.csv", csv_text(edit(patient_id={1: "p01"})), codes=["ID_CASE_VARIANT"], report=True,
     note="p01 and P01 differ only by case: a warning")
case("control_in_id.csv", csv_text(edit(patient_id={1: "P\x0102"})), codes=["CONTROL_CHARACTER"],
     note="an invisible control character that broke SVG output")
case("escape_in_text.csv", csv_text(edit(conditioning={2: "Cy\x1b[31m red"})), codes=["CONTROL_CHARACTER"],
     note="a terminal escape sequence in free text")
case("bidi_override.csv", csv_text(edit(crs_scale={3: "ASTCT \u202e9102"})), codes=["CONTROL_CHARACTER"],
     note="a right-to-left override that makes text display reversed")
case("line_break_in_cell.csv", csv_text(edit(conditioning={4: "Flu\nCy"})), codes=["CONTROL_CHARACTER"],
     note="a quoted line break inside a cell")
case("bad_infusion_crs_death.csv", csv_text(edit(infusion_date={1: "soon"}, crs_death={1: "yes"},
                                                 crs_grade={1: "5"})),
     codes=["BAD_DATE"], note="one root cause: the death date is there, only the infusion date is unreadable")
case("unknown_columns.csv", csv_text(BASE.assign(**{"Weight (kg)": "70", "comment": "none"})),
     codes=["UNKNOWN_COLUMN"], report=True, note="columns of no field are always reported, never dropped silently")
case("clinical_headers.csv", csv_text(BASE.assign(dose_cells_per_kg="1000000").rename(columns={
    "patient_id": "Patient ID", "infusion_date": "Date of infusion", "last_contact_date": "Last follow-up date",
    "death_date": "Date of death", "response_date": "Response date", "relapse_date": "Date of relapse",
    "allo_hct_date": "Transplant date", "data_cutoff_date": "Data cut-off date", "best_response": "Best response",
    "mrd_negative": "MRD negative", "marrow_blasts_pct": "Marrow blasts (%)", "extramedullary": "Extramedullary",
    "relapse_cd19": "Relapse CD19", "crs_grade": "CRS grade (ASTCT)", "crs_scale": "CRS scale",
    "neurotox_grade": "Neurotox grade", "neurotox_scale": "Neurotox scale", "crs_death": "CRS death",
    "age": "Age [years]", "sex": "Sex", "conditioning": "Conditioning", "dose_cells_per_kg": "Dose (cells/kg)"})),
     report=True, note="headers as clinical exports write them: units in brackets, 'Date of X', word order")
case("wrong_unit.csv", csv_text(BASE.rename(columns={"age": "Age (months)"})), codes=["WRONG_UNIT"],
     note="age in months would be read as years")
case("missing_columns_values_checked.csv", csv_text(edit(age={1: "x"}, death_date={1: "soon"},
                                                         relapse_date={2: "2014-07-01"})
                                                    .drop(columns=["patient_id", "infusion_date"])),
     codes=["BAD_DATE", "BAD_NUMBER", "MISSING_COLUMN", "RELAPSE_BEFORE_RESPONSE"],
     note="required columns missing: every present column is still checked")
case("one_mistyped_date.csv", lambda: _day_first(), codes=["AMBIGUOUS_DATE"],
     note="a day-first file with one month-first date: that date is the problem, not every ambiguous one")
case("columns_beyond_limit.csv", lambda: ",".join(["patient_id"] + [f"c{i}" for i in range(16_384)]) + "\n"
     + ",".join(["P01"] + ["1"] * 16_384) + "\n", load_error="max_columns", runtime=True,
     note="16,385 columns: refused from the header, before any row is read")


def _day_first():
    df = BASE.copy()
    for c in ("infusion_date", "last_contact_date", "death_date", "response_date", "relapse_date",
              "allo_hct_date", "data_cutoff_date"):
        df[c] = pd.to_datetime(df[c].replace("", None)).dt.strftime("%d/%m/%Y").fillna("")
    df.at[1, "relapse_date"] = "07/31/2014"
    return csv_text(df)


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
    if kind == "serial_1":
        ws["B2"] = 1                          # Excel serial 1 = 1900-01-01
    if kind == "text_serial":
        ws["B2"] = "41649"                    # text, not a number Excel stored
    if kind == "date1904":                    # old Mac Excel: serials count from 1904-01-01
        wb.epoch = openpyxl.utils.datetime.CALENDAR_MAC_1904
        for r, value in enumerate(BASE["infusion_date"], start=2):
            ws.cell(r, 2).value = (pd.Timestamp(value) - pd.Timestamp("1904-01-01")).days
    bio = io.BytesIO()
    notes = wb.create_sheet("notes", 0 if kind == "notes_first" else None)
    notes.append(["free text"])
    wb.save(bio)
    return bio.getvalue()


def raw_xlsx(rows_xml, *, dimension=None, date1904=False, shared=None, sheet="patients"):
    """A minimal XLSX written by hand, for what openpyxl will not write: a declared dimension that is
    absent or wrong, a sheet far larger than its zip.  ``rows_xml``: the <sheetData> content, bytes
    or an iterable of bytes; ``shared``: the shared strings (bytes each), or None."""
    import zipfile

    main = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
    rels = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    bio = io.BytesIO()
    with zipfile.ZipFile(bio, "w", zipfile.ZIP_DEFLATED) as z:
        sst = ('<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-'
               'officedocument.spreadsheetml.sharedStrings+xml"/>') if shared is not None else ""
        z.writestr("[Content_Types].xml", '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.'
                   'openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="'
                   'application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" '
                   'ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/'
                   'vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/'
                   'worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.'
                   f'spreadsheetml.worksheet+xml"/>{sst}</Types>')
        z.writestr("_rels/.rels", '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.'
                   'openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="'
                   f'{rels}/officeDocument" Target="xl/workbook.xml"/></Relationships>')
        z.writestr("xl/workbook.xml", f'<?xml version="1.0" encoding="UTF-8"?><workbook {main} xmlns:r="{rels}">'
                   + ('<workbookPr date1904="1"/>' if date1904 else "")
                   + f'<sheets><sheet name="{sheet}" sheetId="1" r:id="rId1"/></sheets></workbook>')
        z.writestr("xl/_rels/workbook.xml.rels", '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="'
                   'http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="'
                   f'{rels}/worksheet" Target="worksheets/sheet1.xml"/>'
                   + (f'<Relationship Id="rId2" Type="{rels}/sharedStrings" Target="sharedStrings.xml"/>'
                      if shared is not None else "") + "</Relationships>")
        with z.open("xl/worksheets/sheet1.xml", "w") as f:
            f.write(f'<?xml version="1.0" encoding="UTF-8"?><worksheet {main}>'.encode())
            if dimension:
                f.write(f'<dimension ref="{dimension}"/>'.encode())
            f.write(b"<sheetData>")
            for part in ([rows_xml] if isinstance(rows_xml, bytes) else rows_xml):
                f.write(part)
            f.write(b"</sheetData></worksheet>")
        if shared is not None:
            with z.open("xl/sharedStrings.xml", "w") as f:
                f.write(f'<?xml version="1.0" encoding="UTF-8"?><sst {main}>'.encode())
                for text in shared:
                    f.write(b"<si><t>" + text + b"</t></si>")
                f.write(b"</sst>")
    return bio.getvalue()


def xlsx_rows(table):
    """<row> elements for a small table of texts and numbers (inline strings, so no shared strings)."""
    from xml.sax.saxutils import escape

    from openpyxl.utils import get_column_letter

    out = []
    for r, values in enumerate(table, start=1):
        cells = []
        for c, v in enumerate(values, start=1):
            ref = f"{get_column_letter(c)}{r}"
            if isinstance(v, (int, float)):
                cells.append(f'<c r="{ref}"><v>{v}</v></c>')
            elif v not in (None, ""):
                cells.append(f'<c r="{ref}" t="inlineStr"><is><t>{escape(str(v))}</t></is></c>')
        out.append(f'<row r="{r}">{"".join(cells)}</row>')
    return "".join(out).encode()


case("valid.xlsx", lambda: _xlsx("plain"), report=True)
case("blank_rows_first.xlsx", lambda: _xlsx("blank_rows_first"), report=True)
case("merged_cells.xlsx", lambda: _xlsx("merged"), codes=["MERGED_CELLS"])
case("formula_cell.xlsx", lambda: _xlsx("formula"), codes=["FORMULA"])
case("missing_sheet.xlsx", lambda: _xlsx("plain"), load_error="no sheet", sheet="Sheet9")
case("serial_1.xlsx", lambda: _xlsx("serial_1"), codes=["IMPLAUSIBLE_DATE"],
     note="the number 1 in a date column is the Excel serial for 1900-01-01: before the plausible floor")
case("text_serial.xlsx", lambda: _xlsx("text_serial"), codes=["BAD_DATE"],
     note="text that looks like a serial is not one: only numbers Excel stored are")
case("date1904.xlsx", lambda: _xlsx("date1904"), report=True,
     note="a Mac 1904-system workbook: its serial numbers are read with its own epoch, not 4 years early")
case("notes_first_sheet.xlsx", lambda: _xlsx("notes_first"), load_error="use --sheet 'patients'",
     note="the first sheet is a notes sheet: say which sheet holds the table")
case("declared_huge_dimension.xlsx", lambda: raw_xlsx(xlsx_rows([list(BASE.columns), list(BASE.iloc[0])]),
                                                      dimension="A1:U2000000"),
     load_error="max_xlsx_cells", note="declares 2,000,000 rows x 21 columns: refused before any row is read")


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
    if kind == "nul_in_string":
        df.loc[3, "conditioning"] = "Cy\x00Flu"         # a NUL inside a string (was written raw into outputs)
    if kind == "numeric_dates":                        # days since some epoch Parquet does not record
        df["infusion_date"] = (df["infusion_date"] - pd.Timestamp("1970-01-01")).dt.days
    bio = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), bio)
    data = bio.getvalue()
    return data[: len(data) // 2] if kind == "truncated" else data


case("typed.parquet", lambda: _parquet("plain"), report=True)
case("text_in_number.parquet", lambda: _parquet("text_in_number"), codes=["BAD_NUMBER"])
case("truncated.parquet", lambda: _parquet("truncated"), load_error="cannot be read as parquet")
case("nul_in_string.parquet", lambda: _parquet("nul_in_string"), codes=["CONTROL_CHARACTER"])
case("numeric_dates.parquet", lambda: _parquet("numeric_dates"), codes=["BAD_DATE"],
     note="integers in a date column: Parquet does not say what they count from")


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
    formats = None
    if kind in ("nldate", "plain_numbers"):           # dates stored as SAS numbers: days since 1960-01-01
        for c in ("TRTSDT", "LSTALVDT", "DTHDT"):
            df[c] = (pd.to_datetime(df[c]) - pd.Timestamp("1960-01-01")).dt.days.astype(float)
        # NLDATE is a SAS date format that pyreadstat does not convert; without a format, no epoch is known
        formats = {c: "NLDATE20" for c in ("TRTSDT", "LSTALVDT", "DTHDT")} if kind == "nldate" else None
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "x.xpt"
        pyreadstat.write_xport(df, str(path), file_format_version=8, variable_format=formats)
        return path.read_bytes()


case("adsl_like.xpt", lambda: _xpt("plain"), codes=["NO_CUTOFF"], report=True, note="SAS transport, CDISC names")
case("duplicate_id.xpt", lambda: _xpt("dup"), codes=["DUPLICATE_ID", "NO_CUTOFF"])
case("sas_date_numbers.xpt", lambda: _xpt("nldate"), codes=["NO_CUTOFF"], report=True,
     note="numbers with a SAS date format count days from 1960-01-01 (they were read as Excel serials, 60 years early)")
case("sas_plain_numbers.xpt", lambda: _xpt("plain_numbers"), codes=["BAD_DATE", "NO_CUTOFF"],
     note="numbers in SAS date columns without a date format: the epoch is not known, so they are refused")


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

"""A problem found in a patient table, and the table of every problem code.

Codes are stable: scripts and tests may rely on them.  Every code, the ADaM ones included, is
defined here (nothing adds codes at import time, so the table never depends on import order).
Values are truncated to 60 characters, control characters in them are shown escaped (``\\x1b``),
and a problem never carries a whole row.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_VALUE = 60

# code: (severity, meaning, what to do)
PROBLEM_CODES = {
    # reading the file
    "LATIN1": ("warning", "the file is not UTF-8 and was read as Latin-1", "save the file as UTF-8"),
    "ROW_LENGTH": ("error", "a record has more or fewer fields than the header",
                   "check delimiters, quotes and whether the file is truncated"),
    "UNCLOSED_QUOTE": ("error", "a quoted CSV field is never closed, so the rest of the file would be one cell",
                       "close or remove the quote"),
    "REPEATED_HEADER": ("warning", "the header row appears again inside the data (skipped)",
                        "remove the repeated header rows"),
    "DUPLICATE_COLUMN": ("error", "two columns are (or mean) the same field", "keep one of them"),
    "MERGED_CELLS": ("error", "Excel merged cells leave all but the first cell empty", "unmerge and fill in"),
    "FORMULA": ("error", "an Excel cell holds a formula", "paste values instead of formulas"),
    "CELL_TOO_LONG": ("error", "a cell is longer than 10,000 characters", "check the export"),
    "CONTROL_CHARACTER": ("error", "a text cell (or column name) holds a control character (C0 other than tab, "
                          "DEL, C1) or a bidirectional override (U+202A-202E, U+2066-2069)",
                          "remove the character; it is invisible and breaks outputs"),
    # columns
    "EMPTY_TABLE": ("error", "the table has a header but no patients", "add the patient rows"),
    "MISSING_COLUMN": ("error", "a required column is absent", "add the column (see `ltfu schema`)"),
    "UNKNOWN_COLUMN": ("warning", "a column matches no field or alias of the data model, so no analysis uses it",
                       "rename it as suggested (see `ltfu schema`), or ignore it if it is an extra covariate"),
    "WRONG_UNIT": ("error", "a column's unit in brackets is not the unit its field is read in (e.g. Age (months))",
                   "convert the values to the field's unit and name the column with it, e.g. Age (years)"),
    "DAY_AND_DATE": ("warning", "both a date and its *_day form are given; the date is used",
                     "keep one of the two columns"),
    # values
    "MISSING_VALUE": ("error", "a required value is empty", "fill it in"),
    "DUPLICATE_ID": ("error", "the same patient_id appears on more than one row (also when the ids differ only "
                     "by invisible characters or full-width forms)",
                     "one row per infused patient; merge or renumber"),
    "ID_CASE_VARIANT": ("warning", "patient ids differ only by upper/lower case (demo-002 and DEMO-002)",
                        "check whether they are the same patient; write each id one way"),
    "BAD_DATE": ("error", "a date cannot be read", "use ISO dates, YYYY-MM-DD"),
    "AMBIGUOUS_DATE": ("error", "day and month cannot be told apart", "use ISO dates, YYYY-MM-DD"),
    "FUTURE_DATE": ("error", "a date lies in the future", "correct the date"),
    "IMPLAUSIBLE_DATE": ("error", "a date is before the plausible floor (default 1990-01-01), or a time from "
                         "infusion is longer than plausible follow-up (default 50 years)",
                         "correct the value (an export or typing error, such as a number read as a date)"),
    "BAD_NUMBER": ("error", "a number cannot be read", "write plain numbers with a dot as decimal mark"),
    "OUT_OF_RANGE": ("error", "a number is outside the field's range", "correct the value"),
    "BAD_CODE": ("error", "a value is not one of the field's allowed codes", "use an allowed value"),
    # consistency
    "DATE_BEFORE_INFUSION": ("error", "an event or contact is dated before the infusion", "correct the dates"),
    "RELAPSE_BEFORE_RESPONSE": ("error", "relapse is dated before the response", "correct the dates"),
    "EVENT_AFTER_LAST_CONTACT": ("error", "an event (other than death) is after the last contact",
                                 "the last contact is at least the latest event: update it"),
    "CONTACT_AFTER_DEATH": ("error", "the last contact is after the death date", "correct one of them"),
    "DEATH_AFTER_LAST_CONTACT": ("warning", "death is after the recorded last contact; the death date is "
                                 "used as the last contact", "set last contact to the death date"),
    "CR_RELAPSE_NO_RESPONSE_DATE": ("error", "a CR/CRi patient who relapsed has no response date",
                                    "add the response date"),
    "RELAPSE_WITHOUT_RESPONSE": ("warning", "a relapse is recorded for a patient without CR/CRi",
                                 "check best_response (EFS counts the non-response instead)"),
    "CRS_DEATH_GRADE": ("error", "crs_death is yes but crs_grade is not 5 (or grade 5 without crs_death)",
                        "make them agree"),
    "CRS_DEATH_NO_DEATH": ("error", "crs_death is yes but there is no death date", "add the death date"),
    "CD19_WITHOUT_RELAPSE": ("error", "relapse_cd19 is given for a patient without relapse",
                             "remove it or add the relapse date"),
    "CUTOFF_BEFORE_INFUSION": ("error", "the data cut-off is before the infusion", "correct the cut-off"),
    "AFTER_CUTOFF": ("warning", "events after the data cut-off are ignored; those patients are censored "
                     "at the cut-off", "none needed; check the cut-off date"),
    # the study's longitudinal tables (events, assessments, therapies); Problem.table names the table
    "UNKNOWN_PATIENT": ("error", "a row refers to a patient_id that is not in the patient table",
                        "add the patient to the patient table, or correct the id"),
    "AFTER_FOLLOW_UP": ("error", "an event, assessment or therapy is dated after the patient's death or last contact",
                        "correct the date, or update the patient's last contact (the latest date the patient was "
                        "known alive)"),
    "END_BEFORE_START": ("error", "a resolution or end date is before the onset or start", "correct one of them"),
    "DUPLICATE_ROW": ("warning", "the same patient, item and day appear on more than one row (counted once)",
                      "remove the repeated rows, or correct the day if they are different events"),
    "BAD_UNIT": ("error", "an assessment's unit is unknown or cannot be converted to its test's unit",
                 "use the test's unit (see `ltfu schema`) or one ltfu converts (e.g. x10^9/L, mg/dL)"),
    "IMPLAUSIBLE_VALUE": ("error", "an assessment's value is outside what the test can measure",
                          "correct the value or its unit"),
    "UNREADABLE_TABLE": ("error", "a table file of the study folder cannot be read (empty, damaged, or not "
                         "the format its name says); the other tables are still checked",
                         "export the table again, or remove the file if the study has no such table"),
    "UNKNOWN_TABLE": ("warning", "a file in the study folder is named after no table of the study, so it was not read",
                      "name it patients, events, assessments or therapies (or adsl, adae, adlb), or ignore it"),
    "UNUSED_ROWS": ("warning", "rows of an ADaM dataset that no ltfu analysis uses were left out (their count and "
                    "kinds are given)", "none needed; map the parameter or category if it should be analysed"),
    "NO_CUTOFF": ("warning", "no data cut-off given; follow-up runs to each patient's last contact",
                  "give data_cutoff_date or --cutoff"),
    # CDISC ADaM (ltfu adam)
    "ADAM_UNKNOWN_SUBJECT": ("error", "an ADTTE subject is not in ADSL",
                             "add the subject to ADSL or remove the ADTTE rows"),
    "ADAM_MISSING_VARIABLE": ("error", "a required ADaM variable is absent",
                              "ADTTE needs USUBJID, PARAMCD, AVAL (or STARTDT and ADT) and CNSR; ADSL needs USUBJID"),
    "ADAM_UNREADABLE": ("error", "an ADaM dataset cannot be read (empty, damaged, or not the format its name says); "
                        "the other is still checked", "export the dataset again"),
    "ADAM_PARAMCD_CASE": ("error", "PARAMCD values differ only by upper/lower case, which would split one parameter "
                          "in two", "write each PARAMCD one way"),
    "ADAM_PARAM_LABELS": ("warning", "one PARAMCD carries more than one PARAM label; the most frequent is used",
                          "write one PARAM per PARAMCD"),
    "ADAM_AVALU_BLANK": ("warning", "AVALU is empty on some rows while other rows give a unit other than days; "
                         "the empty ones are read as days", "give AVALU on every row"),
    "ADAM_AVAL_DATES": ("warning", "AVAL disagrees with ADT - STARTDT + 1 by more than the rounding of its unit; "
                        "AVAL is used", "check AVAL, AVALU and the dates"),
}


# C0 controls except tab, DEL, C1 controls, and the bidirectional embeddings, overrides and isolates
CONTROL_CHARACTERS = "[\x00-\x08\x0a-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]"
_CONTROL = re.compile(CONTROL_CHARACTERS)


# shown escaped as well, though not a problem by themselves: invisible format characters (zero-width
# spaces and joiners, soft hyphen, direction marks, word joiner, byte-order mark)
_INVISIBLE = re.compile(CONTROL_CHARACTERS[:-1] + "\u00ad\u200b-\u200f\u2028\u2029\u2060-\u2064\u206a-\u206f\ufeff]")


def visible(text: str) -> str:
    """``text`` with every control character (see CONTROL_CHARACTERS) and invisible format character
    written as an escape: ``\\x1b``, ``\\x00``, ``\\u202e``, ``\\u200b``; other text unchanged."""
    return _INVISIBLE.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100
                          else f"\\u{ord(m.group()):04x}", text)


def truncate(value) -> str | None:
    """A value as a problem shows it: control characters made visible, at most 60 characters."""
    if value is None:
        return None
    s = str(value)
    if len(s) > 4 * MAX_VALUE:      # never escape a whole long cell
        s = s[:4 * MAX_VALUE]
    s = visible(s)
    return s if len(s) <= MAX_VALUE else s[:MAX_VALUE - 3] + "..."


@dataclass(frozen=True)
class Problem:
    """One problem: stable ``code``, ``severity`` ("error"|"warning"), ``row`` as in the file,
    ``patient_id``, ``field`` (the column as named in the file), ``value`` (truncated), ``message``
    and ``fix`` (what to do); ``table`` names the study table (events, assessments, therapies) when
    the problem is not in the patient table."""

    code: str
    severity: str
    row: int | None
    patient_id: str | None
    field: str | None
    value: str | None
    message: str
    fix: str
    table: str | None = None

    def __post_init__(self):
        object.__setattr__(self, "value", truncate(self.value))
        object.__setattr__(self, "patient_id", truncate(self.patient_id))

    def to_dict(self) -> dict:
        d = {"code": self.code, "severity": self.severity, "row": self.row, "patient_id": self.patient_id,
             "field": self.field, "value": self.value, "message": self.message, "fix": self.fix}
        if self.table is not None:
            d["table"] = self.table
        return d

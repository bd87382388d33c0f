"""A problem found in a patient table, and the table of every problem code.

Codes are stable: scripts and tests may rely on them.  Values are truncated to 60 characters and
a problem never carries a whole row.
"""

from __future__ import annotations

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
    # columns
    "EMPTY_TABLE": ("error", "the table has a header but no patients", "add the patient rows"),
    "MISSING_COLUMN": ("error", "a required column is absent", "add the column (see `ltfu schema`)"),
    "UNKNOWN_COLUMN": ("warning", "a column is not in the data model but looks like a field",
                       "rename it as suggested, or ignore if it is an extra covariate"),
    "DAY_AND_DATE": ("warning", "both a date and its *_day form are given; the date is used",
                     "keep one of the two columns"),
    # values
    "MISSING_VALUE": ("error", "a required value is empty", "fill it in"),
    "DUPLICATE_ID": ("error", "the same patient_id appears on more than one row",
                     "one row per infused patient; merge or renumber"),
    "BAD_DATE": ("error", "a date cannot be read", "use ISO dates, YYYY-MM-DD"),
    "AMBIGUOUS_DATE": ("error", "day and month cannot be told apart", "use ISO dates, YYYY-MM-DD"),
    "FUTURE_DATE": ("error", "a date lies in the future", "correct the date"),
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
    "NO_CUTOFF": ("warning", "no data cut-off given; follow-up runs to each patient's last contact",
                  "give data_cutoff_date or --cutoff"),
}


def truncate(value) -> str | None:
    if value is None:
        return None
    s = str(value).replace("\x00", "")
    return s if len(s) <= MAX_VALUE else s[:MAX_VALUE - 3] + "..."


@dataclass(frozen=True)
class Problem:
    """One problem: stable ``code``, ``severity`` ("error"|"warning"), ``row`` as in the file,
    ``patient_id``, ``field`` (the column as named in the file), ``value`` (truncated), ``message``
    and ``fix`` (what to do)."""

    code: str
    severity: str
    row: int | None
    patient_id: str | None
    field: str | None
    value: str | None
    message: str
    fix: str

    def __post_init__(self):
        object.__setattr__(self, "value", truncate(self.value))
        object.__setattr__(self, "patient_id", truncate(self.patient_id))

    def to_dict(self) -> dict:
        return {"code": self.code, "severity": self.severity, "row": self.row, "patient_id": self.patient_id,
                "field": self.field, "value": self.value, "message": self.message, "fix": self.fix}

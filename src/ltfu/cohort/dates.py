"""Reading dates as trial data have them, without guessing.

Accepted: ISO (2016-03-01, 2016/03/01, with or without a time), dates with a month name
(02-Mar-2016, 2 March 2016, 02MAR2016 as SAS DATE9), date or datetime objects (Excel date cells,
SAS dates, Parquet dates and timestamps), numeric day/month forms (01/03/2016, 1.3.2016), and
numbers only where the file itself says what they count from (its *epoch*):

* **XLSX**: a cell that Excel stored as a number, in a date column, is a serial day of the
  workbook's own date system: the 1900 system (day 1 = 1900-01-01, with Excel's phantom
  1900-02-29, so serial n = 1899-12-30 + n days) or, when the workbook is flagged ``date1904``
  (old Mac Excel), the 1904 system (serial n = 1904-01-01 + n days).  Cells with a date format
  already arrive as dates.  Text that looks like a number is not a serial.
* **SAS7BDAT / XPT**: a numeric variable with a SAS date format (DATE9., YYMMDD10., E8601DA.,
  NLDATE. ...) counts days since 1960-01-01, one with a datetime format (DATETIME20., E8601DT.
  ...) seconds since 1960-01-01.  Formats that pyreadstat knows arrive as dates already.
* **Everything else** (CSV/TSV text, Parquet numbers, a SAS number without a date format, an
  in-memory DataFrame): the epoch is unknown, so a bare number such as ``1`` or ``41649`` in a
  date column is a BAD_DATE problem saying so, never a date.

A numeric day/month form is ambiguous when both fields are 12 or less and differ.  The order is
decided per file: a value whose first field exceeds 12 proves day-first, one whose second field
exceeds 12 proves month-first.  If the file proves neither, every ambiguous value is an
AMBIGUOUS_DATE problem (write ISO dates).  If it proves both, the side with fewer proving values
is the error: each of its proving values is an AMBIGUOUS_DATE problem naming how many values
prove the other order, and the file is read in the majority's order (one mistyped date gives one
problem, not one per ambiguous date of the file); with as many proofs on each side, every
ambiguous value is a problem.  Nothing is ever guessed.

Plausibility (checked in validation, not here): a date before the floor (default 1990-01-01) is
IMPLAUSIBLE_DATE, one after today FUTURE_DATE.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Epoch:
    """What a number in a date column counts from: ``origin`` + n ``unit`` ("D" days, "s" seconds)."""

    origin: np.datetime64
    unit: str
    name: str
    minimum: float          # the smallest valid number (Excel serials start at 1)


EXCEL_1900 = Epoch(np.datetime64("1899-12-30", "D"), "D", "an Excel serial day (1900 date system)", 1)
EXCEL_1904 = Epoch(np.datetime64("1904-01-01", "D"), "D", "an Excel serial day (1904 date system)", 0)
SAS_DATE = Epoch(np.datetime64("1960-01-01", "D"), "D", "a SAS date (days since 1960-01-01)", -3e6)
SAS_DATETIME = Epoch(np.datetime64("1960-01-01", "D"), "s", "a SAS datetime (seconds since 1960-01-01)", -3e6 * 86400)
EXCEL_EPOCH = EXCEL_1900.origin
_MAX_DAYS = 3_000_000                     # about 8,000 years either side: anything beyond is not a date


def excel_epoch(workbook_epoch) -> Epoch:
    """The Epoch of an openpyxl workbook's ``epoch`` (1899-12-30 or, for date1904, 1904-01-01)."""
    return EXCEL_1904 if pd.Timestamp(workbook_epoch).year == 1904 else EXCEL_1900


def _from_number(x: float, epoch: Epoch | None):
    """(date or None, message) for a number in a date column."""
    if epoch is None:
        return None, ("a bare number is not a date here: this file type does not say what it counts from "
                      "(Excel serial, SAS date, ...); write ISO dates (YYYY-MM-DD)")
    if not np.isfinite(x) or x < epoch.minimum:
        return None, f"{x:g} is not {epoch.name}"
    days = x / 86400 if epoch.unit == "s" else x
    if epoch.unit == "D" and not float(x).is_integer():
        return None, f"{x:g} is not a whole number, so not {epoch.name}"
    if abs(days) > _MAX_DAYS:
        return None, f"{x:g} is not {epoch.name}"
    return epoch.origin + np.timedelta64(int(np.floor(days)), "D"), None

_ISO = re.compile(r"^(\d{4})[-/](\d{1,2})[-/](\d{1,2})(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?$")
_DMY_NUM = re.compile(r"^(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{2}|\d{4})$")
_MONTH = re.compile(r"^(\d{1,2})[\s\-/]?([A-Za-z]{3,9})[\s\-/,]*(\d{4})$")
_MONTH_FIRST = re.compile(r"^([A-Za-z]{3,9})[\s\-/]+(\d{1,2}),?[\s\-/]+(\d{4})$")
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_MONTHS = {m.lower(): i for i, m in enumerate(
    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], start=1)}


def _month(name: str):
    return _MONTHS.get(name[:3].lower()) if name[:3].lower() in _MONTHS and (
        len(name) == 3 or name.lower() in {
            "january", "february", "march", "april", "may", "june", "july", "august", "september",
            "october", "november", "december", "sept"}) else None


def _make(y, m, d):
    try:
        return np.datetime64(dt.date(int(y), int(m), int(d)), "D")
    except ValueError:
        return None


def _year(y: str) -> int:
    year = int(y)
    if year < 100:  # two-digit year: 00-69 -> 2000s, 70-99 -> 1900s (documented, as Excel does)
        return 2000 + year if year < 70 else 1900 + year
    return year


def order_evidence(values) -> tuple[bool, bool]:
    """(day-first proven, month-first proven) from numeric d/m/y strings among ``values``."""
    day_first = month_first = False
    for v in values:
        m = _DMY_NUM.match(str(v).strip()) if isinstance(v, str) else None
        if m:
            a, b = int(m.group(1)), int(m.group(2))
            day_first |= a > 12 >= b
            month_first |= b > 12 >= a
    return day_first, month_first


def order_counts(values) -> tuple[int, int]:
    """(number of values proving day-first, number proving month-first) among ``values``."""
    day_first = month_first = 0
    for v in values:
        m = _DMY_NUM.match(v.strip()) if isinstance(v, str) else None
        if m:
            a, b = int(m.group(1)), int(m.group(2))
            day_first += a > 12 >= b
            month_first += b > 12 >= a
    return day_first, month_first


def decide_order(day_first: int, month_first: int):
    """The file's order from its proof counts: "dmy", "mdy", None (nothing proven) or "conflict"
    (as many proofs each way); see the module docstring."""
    if day_first and month_first:
        return "dmy" if day_first > month_first else "mdy" if month_first > day_first else "conflict"
    return "dmy" if day_first else "mdy" if month_first else None


def parse_dates(values, *, order: str | None, epoch: Epoch | None = None, evidence=(0, 0)):
    """Parse a sequence of raw values into datetime64[D] (NaT for missing or bad).

    ``order`` is "dmy", "mdy", None (undecided) or "conflict".  ``epoch``: what a number (a numeric
    Python value, never text) counts from; None refuses numbers (see the module docstring).
    ``evidence``: the file's (day-first, month-first) proof counts, named in the message of a
    value that proves the minority order.  Returns ``(dates, issues)`` where issues is a list of
    ``(index, code, message)`` with code BAD_DATE or AMBIGUOUS_DATE.
    """
    if isinstance(values, pd.Series) and pd.api.types.is_datetime64_any_dtype(values):
        return values.dt.tz_localize(None).to_numpy().astype("datetime64[D]") \
            if getattr(values.dt, "tz", None) else values.to_numpy().astype("datetime64[D]"), []
    vals = list(values)
    out = np.full(len(vals), np.datetime64("NaT"), dtype="datetime64[D]")
    issues = []
    todo: list[int] | range = range(len(vals))
    # fast path: ISO strings parsed in one vectorised call; only the rest goes through the loop
    strs = pd.Series(vals, dtype="object")
    is_str = strs.map(lambda v: isinstance(v, str))
    if is_str.any():
        iso = pd.to_datetime(strs[is_str].str.strip(), format="%Y-%m-%d", errors="coerce")
        ok = iso.notna()
        out[np.flatnonzero(is_str.to_numpy())[ok.to_numpy()]] = iso[ok].to_numpy().astype("datetime64[D]")
        done = set(np.flatnonzero(is_str.to_numpy())[ok.to_numpy()].tolist())
        todo = [i for i in range(len(vals)) if i not in done]
    for i in todo:
        v = vals[i]
        if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NaT:
            continue
        if isinstance(v, (pd.Timestamp, dt.datetime, dt.date, np.datetime64)):
            ts = pd.Timestamp(v)
            if pd.isna(ts):
                continue
            out[i] = np.datetime64(ts.date(), "D")
            continue
        if isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_)):
            d, msg = _from_number(float(v), epoch)
            if d is None:
                issues.append((i, "BAD_DATE", msg))
            else:
                out[i] = d
            continue
        s = str(v).strip()
        if s == "" or s.upper() in ("NA", "N/A", "NAN", "NULL", "NONE", "."):
            continue
        if _NUMBER.match(s):
            issues.append((i, "BAD_DATE", "a bare number is not a date (text is never read as an Excel serial "
                                          "or SAS date); write ISO dates (YYYY-MM-DD)"))
            continue
        m = _ISO.match(s)
        if m:
            d = _make(m.group(1), m.group(2), m.group(3))
            if d is None:
                issues.append((i, "BAD_DATE", "not a calendar date"))
            else:
                out[i] = d
            continue
        m = _MONTH.match(s) or _MONTH_FIRST.match(s)
        if m:
            if m.re is _MONTH:
                day, mon, year = m.group(1), _month(m.group(2)), m.group(3)
            else:
                mon, day, year = _month(m.group(1)), m.group(2), m.group(3)
            d = _make(year, mon, day) if mon else None
            if d is None:
                issues.append((i, "BAD_DATE", "not a calendar date"))
            else:
                out[i] = d
            continue
        m = _DMY_NUM.match(s)
        if m:
            a, b, y = int(m.group(1)), int(m.group(2)), _year(m.group(3))
            proves = "dmy" if a > 12 >= b else "mdy" if b > 12 >= a else None
            if proves and order in ("dmy", "mdy") and proves != order:
                mine, theirs = (evidence[0], evidence[1]) if proves == "dmy" else (evidence[1], evidence[0])
                this, other = ("day", "month") if proves == "dmy" else ("month", "day")
                issues.append((i, "AMBIGUOUS_DATE",
                               f"{this}-first, while {theirs:,} date(s) in the file are {other}-first and only "
                               f"{mine:,} {this}-first: correct this date"))
                continue
            if a == b or (a > 12 >= b):          # unambiguous: equal fields, or day-first proven
                d = _make(y, b, a)
            elif b > 12 >= a:                    # unambiguous month-first
                d = _make(y, a, b)
            elif a > 12 and b > 12:
                d = None
            elif order in ("dmy", "mdy"):
                d = _make(y, b, a) if order == "dmy" else _make(y, a, b)
            else:
                issues.append((i, "AMBIGUOUS_DATE",
                               "day and month cannot be told apart (both 12 or less) and no other date "
                               "in the file settles the order" if order is None else
                               "the file mixes day-first and month-first dates"))
                continue
            if d is None:
                issues.append((i, "BAD_DATE", "not a calendar date"))
            else:
                out[i] = d
            continue
        issues.append((i, "BAD_DATE", "not a date ltfu can read"))
    return out, issues

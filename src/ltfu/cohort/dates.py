"""Reading dates as trial data have them, without guessing.

Accepted: ISO (2016-03-01, 2016/03/01, with or without a time), dates with a month name
(02-Mar-2016, 2 March 2016, 02MAR2016 as SAS DATE9), Excel serial numbers (1900 date system:
day 1 = 1900-01-01, with Excel's phantom 1900-02-29, so serial n = 1899-12-30 + n days), date or
datetime objects (Excel, SAS, Parquet), and numeric day/month forms (01/03/2016, 1.3.2016).

A numeric day/month form is ambiguous when both fields are 12 or less and differ.  The order is
decided per file: a value whose first field exceeds 12 proves day-first, one whose second field
exceeds 12 proves month-first.  If the file proves neither, every ambiguous value is an
AMBIGUOUS_DATE problem (write ISO dates); if it proves both, the column is inconsistent
(AMBIGUOUS_DATE as well).  Nothing is ever guessed.
"""

from __future__ import annotations

import datetime as dt
import re

import numpy as np
import pandas as pd

EXCEL_EPOCH = np.datetime64("1899-12-30")
EXCEL_MIN, EXCEL_MAX = 1, 109574          # 1900-01-01 .. 2199-12-31

_ISO = re.compile(r"^(\d{4})[-/](\d{1,2})[-/](\d{1,2})(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?$")
_DMY_NUM = re.compile(r"^(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{2}|\d{4})$")
_MONTH = re.compile(r"^(\d{1,2})[\s\-/]?([A-Za-z]{3,9})[\s\-/,]*(\d{4})$")
_MONTH_FIRST = re.compile(r"^([A-Za-z]{3,9})[\s\-/]+(\d{1,2}),?[\s\-/]+(\d{4})$")
_NUMBER = re.compile(r"^\d+(\.0+)?$")
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
    y = int(y)
    if y < 100:  # two-digit year: 00-69 -> 2000s, 70-99 -> 1900s (documented, as Excel does)
        return 2000 + y if y < 70 else 1900 + y
    return y


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


def parse_dates(values, *, order: str | None):
    """Parse a sequence of raw values into datetime64[D] (NaT for missing or bad).

    ``order`` is "dmy", "mdy", None (undecided) or "conflict".  Returns ``(dates, issues)`` where
    issues is a list of ``(index, code, message)`` with code BAD_DATE or AMBIGUOUS_DATE.
    """
    if isinstance(values, pd.Series) and pd.api.types.is_datetime64_any_dtype(values):
        return values.dt.tz_localize(None).to_numpy().astype("datetime64[D]") \
            if getattr(values.dt, "tz", None) else values.to_numpy().astype("datetime64[D]"), []
    vals = list(values)
    out = np.full(len(vals), np.datetime64("NaT"), dtype="datetime64[D]")
    issues = []
    todo = range(len(vals))
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
        if isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool):
            serial = float(v)
            if serial.is_integer() and EXCEL_MIN <= serial <= EXCEL_MAX:
                out[i] = EXCEL_EPOCH + np.timedelta64(int(serial), "D")
            else:
                issues.append((i, "BAD_DATE", "a number that is not a whole Excel date serial"))
            continue
        s = str(v).strip()
        if s == "" or s.upper() in ("NA", "N/A", "NAN", "NULL", "NONE", "."):
            continue
        if _NUMBER.match(s):
            serial = float(s)
            if EXCEL_MIN <= serial <= EXCEL_MAX:
                out[i] = EXCEL_EPOCH + np.timedelta64(int(serial), "D")
            else:
                issues.append((i, "BAD_DATE", "a number that is not an Excel date serial"))
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

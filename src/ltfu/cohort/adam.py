"""CDISC ADaM input: ADSL (one row per subject) plus ADTTE (one row per subject and parameter).

ltfu analyses the ADTTE parameters directly, with ADSL columns as covariates.  Mapping:

| ADaM variable      | meaning in ltfu                                                             |
|--------------------|-----------------------------------------------------------------------------|
| ADSL.USUBJID       | patient id; ADSL keeps one row per subject                                  |
| ADSL (all others)  | covariates, kept as read (e.g. AGE, SEX, a burden flag)                      |
| ADTTE.USUBJID      | must appear in ADSL (ADAM_UNKNOWN_SUBJECT otherwise)                         |
| ADTTE.PARAMCD      | the endpoint's code (OS, EFS, PFS, DOR...); PARAM its label if present       |
| ADTTE.AVAL         | time to event or censoring, converted to days using AVALU                    |
| ADTTE.AVALU        | DAYS (default when absent), WEEKS (x 7), MONTHS (x 30.4375), YEARS (x 365.25) |
| ADTTE.CNSR         | 0 = event, any positive integer = censored (CDISC); event = (CNSR == 0)      |
| ADTTE.STARTDT, ADT | used only when AVAL is missing: AVAL = ADT - STARTDT + 1 days (ADaM rule)     |

Validation is the patient table's, row by row, every problem at once (a missing variable does not
stop the checks of the others): each problem names the row as the file shows it, the USUBJID, the
variable (``ADTTE.AVAL``) and the value.  Blank USUBJID or PARAMCD are MISSING_VALUE (a blank id
never matches a blank one); AVAL and CNSR must be finite (BAD_NUMBER, BAD_CODE); a time longer
than plausible follow-up (default 50 years) is IMPLAUSIBLE_DATE; STARTDT and ADT are read like
the patient table's dates (the file's epoch, the 1990-01-01 floor, no future dates); control
characters in any text are CONTROL_CHARACTER; ADSL ids are checked for duplicates as patient ids
are (invisible characters and full-width forms ignored, case variants warned).  The codes are in
``ltfu.cohort.problems`` with the others, ADAM_UNKNOWN_SUBJECT and ADAM_MISSING_VARIABLE among them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from ltfu.cohort.dates import decide_order, order_counts, parse_dates
from ltfu.cohort.load import load
from ltfu.cohort.parse import (
    _MISSING_BUT_NONE,
    _as_written,
    _check_ids,
    _Collector,
    _control_rows,
    _dates_of_distinct,
    _distinct,
    _is_missing,
    _numbers,
    _rows_of,
    _text,
)
from ltfu.cohort.schema import Field
from ltfu.cohort.validate import DEFAULT_DATE_FLOOR, DEFAULT_MAX_FOLLOW_UP_YEARS
from ltfu.errors import DataError, LoadError

UNIT_DAYS = {"DAYS": 1.0, "DAY": 1.0, "D": 1.0, "WEEKS": 7.0, "WEEK": 7.0, "MONTHS": 30.4375, "MONTH": 30.4375,
             "YEARS": 365.25, "YEAR": 365.25}
_AVAL = Field("AVAL", "number", low=0, meaning="time to event or censoring")
_CNSR_MESSAGE = "CNSR must be 0 (event) or a positive integer (censored)"


@dataclass(frozen=True)
class AdamEndpoint:
    paramcd: str
    param: str
    usubjid: np.ndarray
    time: np.ndarray      # days
    event: np.ndarray     # 1 = event (CNSR == 0), 0 = censored

    @property
    def n(self) -> int:
        return int(self.time.size)


@dataclass(frozen=True)
class AdamData:
    covariates: pd.DataFrame          # ADSL, indexed by USUBJID
    endpoints: dict                   # PARAMCD -> AdamEndpoint
    problems: tuple = field(default_factory=tuple)
    sources: tuple = ()


def _upper_columns(df, name, problems):
    """The variables upper-cased (ADaM names are upper case); two columns that are one variable once
    upper-cased (arm and ARM) are DUPLICATE_COLUMN, and only the first is kept."""
    seen: dict[str, str] = {}
    keep = []
    for i, c in enumerate(df.columns):
        upper = str(c).strip().upper()
        if upper in seen:
            problems.append(_Collector.make("DUPLICATE_COLUMN", field=f"{name}.{upper}", value=str(c),
                                            message=f"{str(c)!r} and {seen[upper]!r} are the same variable "
                                                    f"({upper}) once upper-cased", fix="keep one of them"))
            continue
        seen[upper] = str(c)
        keep.append(i)
    out = df.iloc[:, keep]
    out.columns = [str(c).strip().upper() for c in out.columns]
    return out


def _typed(df):
    """Text stripped, with the missing-value tokens but NONE missing (as in the patient table's fields
    where none is an answer); then columns whose every value reads as a number become numeric (CSV
    ADSL arrives as text)."""
    out = df.copy()
    for c in out.columns:
        if isinstance(out[c].dtype, pd.StringDtype):     # the fast CSV reader's text: plain objects here
            out[c] = out[c].astype(object)
        if c == "USUBJID" or out[c].dtype != object:
            continue
        if pd.api.types.infer_dtype(out[c], skipna=True) in ("string", "empty"):
            out[c] = _text(out[c], _MISSING_BUT_NONE)       # NONE is a value (bridging therapy: NONE)
        num = pd.to_numeric(out[c].replace("", None), errors="coerce")
        if num.notna().sum() == out[c].replace("", None).notna().sum() and num.notna().any():
            out[c] = num
    return out


def _control_characters(name, df, col):
    for c in df.columns:
        for i in _control_rows(df[c]):
            col.add("CONTROL_CHARACTER", i, f"{name}.{c}", df[c].iloc[i],
                    message="a control character (shown escaped) in a text cell")


def _cnsr(series, col):
    """CNSR as floats (nan where missing or invalid), each invalid value a problem."""
    codes, values = _distinct(series)
    out = np.full(len(values), np.nan)
    bad, blank = set(), set()
    for k, v in enumerate(values):
        if _is_missing(v):
            blank.add(k)
            continue
        try:
            x = float(v) if not isinstance(v, (bool, np.bool_)) else np.nan
        except (TypeError, ValueError):
            x = np.nan
        if np.isfinite(x) and x >= 0 and float(x).is_integer():
            out[k] = x
        else:
            bad.add(k)
    for i in _rows_of(codes, bad):
        col.add("BAD_CODE", i, "ADTTE.CNSR", values[codes[i]], message=_CNSR_MESSAGE)
    for i in _rows_of(codes, blank):
        col.add_missing(i, "ADTTE.CNSR", values[codes[i]], message="CNSR is empty: " + _CNSR_MESSAGE)
    return out[codes]


def _adam_dates(raw, adtte, names, col, today, floor):
    """STARTDT and ADT as datetime64[D] (NaT where missing or with a problem)."""
    original = {str(c).strip().upper(): c for c in raw.data.columns}
    distinct = {v: _distinct(adtte[v]) for v in names if not pd.api.types.is_datetime64_any_dtype(adtte[v])}
    evidence = order_counts(x for _, values in distinct.values() for x in values if isinstance(x, str))
    order = decide_order(*evidence)
    out = {}
    for v in names:
        epoch = raw.epoch_of(original.get(v, v))
        if v in distinct:
            codes, values = distinct[v]
            parsed = _dates_of_distinct(codes, values, f"ADTTE.{v}", col, order=order, epoch=epoch, evidence=evidence)
        else:
            parsed, _ = parse_dates(adtte[v], order=order, epoch=epoch)
        future, early = parsed > np.datetime64(today), parsed < floor
        for i in np.flatnonzero(future):
            col.add("FUTURE_DATE", i, f"ADTTE.{v}", str(parsed[i]))
        for i in np.flatnonzero(early):
            col.add("IMPLAUSIBLE_DATE", i, f"ADTTE.{v}", str(parsed[i]),
                    message=f"before {floor}, the earliest plausible date")
        parsed[future | early] = np.datetime64("NaT")
        out[v] = parsed
    return out


def _missing_variables(adsl, adtte):
    """ADAM_MISSING_VARIABLE problems: USUBJID, PARAMCD, CNSR, and AVAL or both dates; EMPTY_TABLE
    for a dataset with a header and no rows."""
    problems = []
    for name, df, required in (("ADSL", adsl, ("USUBJID",)), ("ADTTE", adtte, ("USUBJID", "PARAMCD", "CNSR"))):
        if df is None:                  # unreadable: said once (ADAM_UNREADABLE)
            continue
        for v in required:
            if v not in df.columns:
                problems.append(_Collector.make("ADAM_MISSING_VARIABLE", field=f"{name}.{v}",
                                                message=f"{name} has no {v} variable"))
        if len(df) == 0:
            problems.append(_Collector.make("EMPTY_TABLE", field=name, message=f"{name} has a header but no rows",
                                            fix=f"export {name} with its rows"))
    if adtte is not None and "AVAL" not in adtte.columns and not {"STARTDT", "ADT"} <= set(adtte.columns):
        problems.append(_Collector.make("ADAM_MISSING_VARIABLE", field="ADTTE.AVAL",
                                        message="ADTTE has neither AVAL nor STARTDT and ADT"))
    return problems


def _adsl_ids(adsl, adsl_raw):
    """ADSL's USUBJID (None where absent) and its collector, with ids and text checked."""
    adsl_ids = _text(adsl["USUBJID"]) if "USUBJID" in adsl else np.full(len(adsl), None, dtype=object)
    sl = _Collector(adsl_raw.row_numbers, adsl_ids, {"patient_id": "ADSL.USUBJID"})
    if "USUBJID" in adsl:
        # in ADaM words (the patient table's name a patient_id and an infused patient)
        _check_ids(adsl_ids, sl, duplicate=("the same USUBJID appears on more than one ADSL row",
                                            "one row per subject in ADSL: remove or merge the repeated rows"))
    _control_characters("ADSL", adsl, sl)
    return adsl_ids, sl


def _adtte_keys(adtte, adtte_raw):
    """ADTTE's USUBJID and PARAMCD (None where absent or empty, each empty one a problem) and the
    collector of ADTTE's problems."""
    n = len(adtte)
    ids = _text(adtte["USUBJID"]) if "USUBJID" in adtte else np.full(n, None, dtype=object)
    tte = _Collector(adtte_raw.row_numbers, ids, {})
    _control_characters("ADTTE", adtte, tte)
    if "USUBJID" in adtte:
        for i in np.flatnonzero(pd.isna(ids)):
            tte.add_missing(i, "ADTTE.USUBJID", adtte["USUBJID"].iloc[i], message="USUBJID is empty")
    paramcd = _text(adtte["PARAMCD"]) if "PARAMCD" in adtte else np.full(n, None, dtype=object)
    if "PARAMCD" in adtte:
        for i in np.flatnonzero(pd.isna(paramcd)):
            tte.add_missing(i, "ADTTE.PARAMCD", adtte["PARAMCD"].iloc[i],
                            message="PARAMCD is empty: the row belongs to no parameter")
    return ids, paramcd, tte


def _aval(adtte, adtte_raw, tte, today, floor):
    """AVAL, or ADT - STARTDT + 1 where AVAL is missing; NaN, with a problem, where neither gives it."""
    n = len(adtte)
    aval = _numbers(adtte["AVAL"], "ADTTE.AVAL", tte, field=_AVAL) if "AVAL" in adtte else np.full(n, np.nan)
    aval_given = ~np.array([_is_missing(v) for v in adtte["AVAL"]], bool) if "AVAL" in adtte else np.zeros(n, bool)
    derived = np.full(n, np.nan)
    if {"STARTDT", "ADT"} <= set(adtte.columns):
        need = ~aval_given                     # derived only where AVAL is missing
        dates = _adam_dates(adtte_raw, adtte, ("STARTDT", "ADT"), tte, today, floor)
        start, end = dates["STARTDT"], dates["ADT"]
        with np.errstate(invalid="ignore"):
            derived = (end - start).astype("timedelta64[D]").astype(float) + 1
        derived[np.isnat(start) | np.isnat(end)] = np.nan
        with np.errstate(invalid="ignore"):   # also where AVAL is given: the dates contradict each other
            for i in np.flatnonzero(derived < 1):
                tte.add("DATE_BEFORE_INFUSION", i, "ADTTE.ADT", _as_written(adtte["ADT"].iloc[i]),
                        message=f"ADT is before STARTDT ({_as_written(adtte['STARTDT'].iloc[i])})")
        derived[derived < 1] = np.nan
        aval = np.where(need, derived, aval)
        written = lambda v: ~np.array([_is_missing(x) for x in adtte[v]], bool)
        unexplained = need & np.isnan(aval) & ~(written("STARTDT") & written("ADT"))
    else:
        unexplained = ~aval_given
    if "AVAL" in adtte or {"STARTDT", "ADT"} <= set(adtte.columns):
        for i in np.flatnonzero(unexplained):
            tte.add_missing(i, "ADTTE.AVAL", adtte["AVAL"].iloc[i] if "AVAL" in adtte else None,
                            message="AVAL is empty (and cannot be derived from STARTDT and ADT)")
    return aval, np.where(aval_given, derived, np.nan)


def _in_days(adtte, aval, tte, max_follow_up_years, from_dates):
    """AVAL converted to days by AVALU (days when empty); unknown units and implausibly long
    follow-up are problems, and so (a warning) is an AVAL given beside STARTDT and ADT that
    disagrees with ADT - STARTDT + 1 (``from_dates``) by more than a day and half its unit."""
    if "AVALU" in adtte:
        unit = np.array(["" if u is None else u.upper() for u in _text(adtte["AVALU"])], dtype=object)
    else:
        unit = np.full(len(adtte), "", dtype=object)
    factor = np.array([UNIT_DAYS.get(u, np.nan) if u else 1.0 for u in unit])
    for i in np.flatnonzero(np.isnan(factor)):
        tte.add("BAD_CODE", i, "ADTTE.AVALU", unit[i], message="allowed: DAYS, WEEKS, MONTHS, YEARS")
    blank = (unit == "") & (aval == aval)           # a time given without its unit
    others = sorted({u for u in unit[unit != ""] if UNIT_DAYS.get(u, 1.0) != 1.0})
    if blank.any() and others:                      # one warning, not one per row
        tte.add("ADAM_AVALU_BLANK", None, "ADTTE.AVALU",
                message=f"{int(blank.sum())} row(s) with an AVAL have no AVALU while others give "
                        f"{', '.join(others)}; the empty ones are read as days")
    days = aval * factor
    with np.errstate(invalid="ignore"):
        off = np.abs(days - from_dates) > 1 + factor / 2
    for i in np.flatnonzero(off):
        tte.add("ADAM_AVAL_DATES", i, "ADTTE.AVAL", f"{aval[i]:g}",
                message=f"AVAL is {days[i]:g} days; ADT - STARTDT + 1 is {from_dates[i]:g} days")
    with np.errstate(invalid="ignore"):
        long = days > float(max_follow_up_years) * 365.25
    for i in np.flatnonzero(long):
        tte.add("IMPLAUSIBLE_DATE", i, "ADTTE.AVAL", aval[i],
                message=f"{days[i] / 365.25:,.0f} years, more than the plausible {max_follow_up_years:g} years of "
                        "follow-up", fix="correct AVAL or AVALU")
    return days


def _check_subjects(adsl, adtte, adsl_ids, ids, paramcd, tte):
    """ADTTE subjects missing from ADSL (unless ADSL is unreadable or empty: one problem said so),
    subjects with two rows for one parameter, PARAMCDs that differ only by case."""
    _paramcd_case(paramcd, tte)
    if adsl is not None and len(adsl) and "USUBJID" in adsl and "USUBJID" in adtte:
        known = {v for v in adsl_ids if v is not None}
        for i in np.flatnonzero(np.array([v is not None and v not in known for v in ids], bool)):
            tte.add("ADAM_UNKNOWN_SUBJECT", i, "ADTTE.USUBJID", ids[i])
    both = np.array([a is not None and b is not None for a, b in zip(ids, paramcd)], bool)
    keys = pd.Series([(a, b) if ok else None for a, b, ok in zip(ids, paramcd, both)], dtype=object)
    for i in np.flatnonzero((keys.notna() & keys.duplicated(keep=False)).to_numpy()):
        tte.add("DUPLICATE_ID", i, "ADTTE.USUBJID+PARAMCD", f"{ids[i]} {paramcd[i]}",
                message="a subject has more than one row for this parameter",
                fix="one row per subject and parameter (ADTTE): remove or merge the repeated rows")


def _paramcd_case(paramcd, tte):
    """ADAM_PARAMCD_CASE for each row whose PARAMCD differs only by case from a more frequent one
    (os beside OS), which would otherwise be a parameter of its own."""
    spelled = pd.Series(paramcd, dtype=object).dropna()
    for _, group in spelled.groupby(spelled.str.casefold()):
        counts = group.value_counts(sort=False)
        if len(counts) < 2:
            continue
        main = _most_frequent(counts)
        for i in group.index[group != main]:
            tte.add("ADAM_PARAMCD_CASE", i, "ADTTE.PARAMCD", paramcd[i],
                    message=f"{paramcd[i]!r} differs only by case from {main!r} ({counts[main]} rows)")


def _most_frequent(counts):
    """The value of ``value_counts(sort=False)`` seen most often; on a tie, the first in the file."""
    return counts.index[int(np.argmax(counts.to_numpy()))]


def _labels(adtte, paramcd, problems):
    """PARAMCD -> its PARAM label (the most frequent; ADAM_PARAM_LABELS when there are several)."""
    if "PARAM" not in adtte:
        return {}
    pairs = pd.DataFrame({"code": paramcd, "label": _text(adtte["PARAM"])}).dropna()
    out = {}
    for code, labels in pairs.groupby("code", sort=False)["label"]:
        counts = labels.value_counts(sort=False)
        out[code] = _most_frequent(counts)
        if len(counts) > 1:
            listed = "; ".join(f"{label!r} ({k} row{'s' if k > 1 else ''})" for label, k in counts.items())
            problems.append(_Collector.make("ADAM_PARAM_LABELS", field="ADTTE.PARAM", value=str(code),
                                            message=f"PARAMCD {code} has {len(counts)} PARAM labels: {listed}; "
                                                    f"{out[code]!r} is used"))
    return out


def _endpoints(ids, paramcd, days, cnsr, params, labels):
    """An AdamEndpoint for each wanted PARAMCD (all, sorted, when ``params`` is None)."""
    present = set(paramcd)
    wanted = sorted(present) if params is None else [p for p in params if p in present]
    endpoints = {}
    for code in wanted:
        m = paramcd == code
        endpoints[code] = AdamEndpoint(code, str(labels.get(code, code)), ids[m].astype(str), days[m],
                                       (cnsr[m] == 0).astype(np.int8))
    return endpoints


def _read(name, path, problems):
    """One dataset as read, or None with an ADAM_UNREADABLE problem (the other is still checked);
    what reading found is named after its dataset."""
    try:
        raw = load(path)
    except LoadError as exc:
        problems.append(_Collector.make("ADAM_UNREADABLE", field=name, message=exc.message))
        return None
    problems.extend(replace(p, table=name) if p.table is None and not str(p.field or "").startswith(name) else p
                    for p in raw.problems)
    return raw


def load_adam(adsl_path, adtte_path, *, params=None, today=None, date_floor=DEFAULT_DATE_FLOOR,
              max_follow_up_years: float = DEFAULT_MAX_FOLLOW_UP_YEARS) -> AdamData:
    """Read ADSL and ADTTE (any format ltfu reads); raises DataError listing every problem of both
    (one that cannot be read is one problem, and the other is still checked)."""
    today = today or dt.date.today()
    floor = np.datetime64(date_floor, "D")
    problems: list = []
    adsl_raw, adtte_raw = _read("ADSL", adsl_path, problems), _read("ADTTE", adtte_path, problems)
    adsl = None if adsl_raw is None else _upper_columns(adsl_raw.data, "ADSL", problems)
    adtte = None if adtte_raw is None else _upper_columns(adtte_raw.data, "ADTTE", problems)
    problems += _missing_variables(adsl, adtte)
    adsl_ids = None
    if adsl is not None:
        adsl_ids, sl = _adsl_ids(adsl, adsl_raw)
        problems += sl.problems
    labels: dict = {}
    if adtte is not None:
        ids, paramcd, tte = _adtte_keys(adtte, adtte_raw)
        aval, from_dates = _aval(adtte, adtte_raw, tte, today, floor)
        days = _in_days(adtte, aval, tte, max_follow_up_years, from_dates)
        cnsr = _cnsr(adtte["CNSR"], tte) if "CNSR" in adtte else np.full(len(adtte), np.nan)
        _check_subjects(adsl, adtte, adsl_ids, ids, paramcd, tte)
        problems += tte.problems
        labels = _labels(adtte, paramcd, problems)
    errors = sum(p.severity == "error" for p in problems)
    if errors:
        raise DataError(f"{errors} error(s) in the ADaM datasets", problems)
    assert adsl is not None and adtte is not None and adsl_raw is not None and adtte_raw is not None
    endpoints = _endpoints(ids, paramcd, days, cnsr, params, labels)
    covariates = _typed(adsl.assign(USUBJID=adsl_ids)).set_index("USUBJID")
    return AdamData(covariates, endpoints, tuple(problems), (adsl_raw.source, adtte_raw.source))

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

Problems use the same Problem type and codes as the patient-table validation, plus
ADAM_UNKNOWN_SUBJECT and ADAM_MISSING_VARIABLE.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ltfu.cohort.dates import parse_dates
from ltfu.cohort.load import load
from ltfu.cohort.problems import PROBLEM_CODES, Problem
from ltfu.errors import DataError

PROBLEM_CODES.setdefault("ADAM_UNKNOWN_SUBJECT", ("error", "an ADTTE subject is not in ADSL",
                                                  "add the subject to ADSL or remove the ADTTE rows"))
PROBLEM_CODES.setdefault("ADAM_MISSING_VARIABLE", ("error", "a required ADaM variable is absent",
                                                   "ADTTE needs USUBJID, PARAMCD, AVAL (or STARTDT and ADT) and "
                                                   "CNSR; ADSL needs USUBJID"))
UNIT_DAYS = {"DAYS": 1.0, "DAY": 1.0, "D": 1.0, "WEEKS": 7.0, "WEEK": 7.0, "MONTHS": 30.4375, "MONTH": 30.4375,
             "YEARS": 365.25, "YEAR": 365.25}


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


def _p(code, row, pid, fld, value, message=None):
    sev, meaning, todo = PROBLEM_CODES[code]
    return Problem(code, sev, row, pid, fld, value, message or meaning, todo)


def _upper_columns(df):
    return df.rename(columns={c: str(c).strip().upper() for c in df.columns})


def _typed(df):
    """Columns whose every value reads as a number become numeric (CSV ADSL arrives as text)."""
    out = df.copy()
    for c in out.columns:
        if isinstance(out[c].dtype, pd.StringDtype):     # the fast CSV reader's text: plain objects here
            out[c] = out[c].astype(object)
        if c == "USUBJID" or out[c].dtype != object:
            continue
        num = pd.to_numeric(out[c].replace("", None), errors="coerce")
        if num.notna().sum() == out[c].replace("", None).notna().sum() and num.notna().any():
            out[c] = num
    return out


def load_adam(adsl_path, adtte_path, *, params=None) -> AdamData:
    """Read ADSL and ADTTE (any format ltfu reads); raises DataError listing every problem."""
    adsl_raw, adtte_raw = load(adsl_path), load(adtte_path)
    problems = [*adsl_raw.problems, *adtte_raw.problems]
    adsl, adtte = _upper_columns(adsl_raw.data), _upper_columns(adtte_raw.data)
    rows = list(adtte_raw.row_numbers)
    for name, df, need in (("ADSL", adsl, ("USUBJID",)), ("ADTTE", adtte, ("USUBJID", "PARAMCD", "CNSR"))):
        for v in need:
            if v not in df.columns:
                problems.append(_p("ADAM_MISSING_VARIABLE", None, None, f"{name}.{v}", None,
                                   f"{name} has no {v} variable"))
    if "AVAL" not in adtte.columns and not {"STARTDT", "ADT"} <= set(adtte.columns):
        problems.append(_p("ADAM_MISSING_VARIABLE", None, None, "ADTTE.AVAL", None,
                           "ADTTE has neither AVAL nor STARTDT and ADT"))
    if any(p.severity == "error" for p in problems):
        raise DataError("the ADaM datasets cannot be used", problems)
    adsl = adsl.assign(USUBJID=adsl["USUBJID"].astype(str).str.strip())
    for i in np.flatnonzero(adsl["USUBJID"].duplicated(keep=False).to_numpy()):
        problems.append(_p("DUPLICATE_ID", adsl_raw.row_numbers[i], adsl["USUBJID"].iloc[i], "ADSL.USUBJID",
                           adsl["USUBJID"].iloc[i]))
    known = set(adsl["USUBJID"])
    ids = adtte["USUBJID"].astype(str).str.strip().to_numpy()
    paramcd = adtte["PARAMCD"].astype(str).str.strip().to_numpy()
    aval = pd.to_numeric(adtte["AVAL"], errors="coerce").to_numpy(float) if "AVAL" in adtte else np.full(len(ids), np.nan)
    if "AVAL" in adtte:
        bad = adtte["AVAL"].notna().to_numpy() & np.isnan(aval) & (adtte["AVAL"].astype(str).str.strip() != "").to_numpy()
        for i in np.flatnonzero(bad):
            problems.append(_p("BAD_NUMBER", rows[i], ids[i], "ADTTE.AVAL", adtte["AVAL"].iloc[i]))
    if np.isnan(aval).any() and {"STARTDT", "ADT"} <= set(adtte.columns):
        start, issues1 = parse_dates(adtte["STARTDT"], order=None)
        end, issues2 = parse_dates(adtte["ADT"], order=None)
        for i, code, msg in issues1 + issues2:
            problems.append(_p(code, rows[i], ids[i], "ADTTE.STARTDT/ADT", None, msg))
        with np.errstate(invalid="ignore"):
            derived = (end - start).astype("timedelta64[D]").astype(float) + 1
        derived[np.isnat(start) | np.isnat(end)] = np.nan
        for i in np.flatnonzero(derived < 1):
            problems.append(_p("DATE_BEFORE_INFUSION", rows[i], ids[i], "ADTTE.ADT", str(end[i]),
                               "ADT is before STARTDT"))
        aval = np.where(np.isnan(aval), derived, aval)
    unit = adtte["AVALU"].astype(str).str.strip().str.upper().to_numpy() if "AVALU" in adtte else np.full(len(ids), "DAYS")
    factor = np.array([UNIT_DAYS.get(u, np.nan) if u not in ("", "NAN", "NONE") else 1.0 for u in unit])
    for i in np.flatnonzero(np.isnan(factor)):
        problems.append(_p("BAD_CODE", rows[i], ids[i], "ADTTE.AVALU", unit[i], "allowed: DAYS, WEEKS, MONTHS, YEARS"))
    cnsr = pd.to_numeric(adtte["CNSR"], errors="coerce").to_numpy(float)
    for i in np.flatnonzero(np.isnan(cnsr) | (cnsr < 0) | (cnsr != np.round(cnsr))):
        problems.append(_p("BAD_CODE", rows[i], ids[i], "ADTTE.CNSR", adtte["CNSR"].iloc[i],
                           "CNSR must be 0 (event) or a positive integer (censored)"))
    for i in np.flatnonzero(np.isnan(aval)):
        problems.append(_p("MISSING_VALUE", rows[i], ids[i], "ADTTE.AVAL", None))
    for i in np.flatnonzero(aval < 0):
        problems.append(_p("OUT_OF_RANGE", rows[i], ids[i], "ADTTE.AVAL", aval[i], "a time cannot be negative"))
    for i in np.flatnonzero(~np.isin(ids, list(known))):
        problems.append(_p("ADAM_UNKNOWN_SUBJECT", rows[i], ids[i], "ADTTE.USUBJID", ids[i]))
    dup = pd.Series(list(zip(ids, paramcd))).duplicated(keep=False).to_numpy()
    for i in np.flatnonzero(dup):
        problems.append(_p("DUPLICATE_ID", rows[i], ids[i], "ADTTE.USUBJID+PARAMCD", f"{ids[i]} {paramcd[i]}",
                           "a subject has more than one row for this parameter"))
    if any(p.severity == "error" for p in problems):
        raise DataError(f"{sum(p.severity == 'error' for p in problems)} error(s) in the ADaM datasets", problems)
    days = aval * factor
    labels = adtte["PARAM"].astype(str).to_numpy() if "PARAM" in adtte else paramcd
    wanted = sorted(set(paramcd)) if params is None else [p for p in params if p in set(paramcd)]
    endpoints = {}
    for code in wanted:
        m = paramcd == code
        endpoints[code] = AdamEndpoint(code, str(labels[m][0]), ids[m], days[m], (cnsr[m] == 0).astype(np.int8))
    return AdamData(_typed(adsl).set_index("USUBJID"), endpoints, tuple(problems),
                    (adsl_raw.source, adtte_raw.source))

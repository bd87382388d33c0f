"""The rules of the longitudinal tables: follow-up, ends after starts, events, assessments (values,
units, plausibility) and therapies, each yielding problems for many rows at once."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ltfu.cohort.parse import _MISSING_TOKENS, _distinct, _is_missing
from ltfu.study.schema import RCL_RESULTS, SUBTYPES, TESTS, unit_factor


def _follow_up_rules(frame, col, first, name, last, death, present):
    """Nothing before the infusion, nothing after death or the last contact."""
    v = frame[first].to_numpy(float)
    with np.errstate(invalid="ignore"):
        for i in np.flatnonzero(present & (v < 0)):
            col.add_dated("DATE_BEFORE_INFUSION", i, name, f"day {v[i]:g}")
        after = present & ((v > last) | (v > death))
    for i in np.flatnonzero(after):
        limit = death[i] if np.isfinite(death[i]) and death[i] < last[i] else last[i]
        col.add_dated("AFTER_FOLLOW_UP", i, name, f"day {v[i]:g} > "
                      f"{'death' if limit == death[i] else 'last contact'} day {limit:g}")


def _end_rules(frame, col, start, stop, name):
    a, b = frame[start].to_numpy(float), frame[stop].to_numpy(float)
    with np.errstate(invalid="ignore"):
        for i in np.flatnonzero(b < a):
            col.add_dated("END_BEFORE_START", i, name, f"day {b[i]:g} < {a[i]:g}")


def _event_rules(frame, df, canon, col, last, death, present):
    _follow_up_rules(frame, col, "onset_day", "onset_date" if "onset_date" in canon else "onset_day", last, death,
                     present)
    _end_rules(frame, col, "onset_day", "resolution_day", "resolution_date" if "resolution_date" in canon
               else "resolution_day")
    cat, sub = frame["category"].to_numpy(object), frame["subtype"].to_numpy(object)
    # a subtype must be one of its category's (SUBTYPES): decided once per distinct (category,
    # subtype) pair, then the offending rows reported in file order
    rows = np.flatnonzero(np.fromiter((c is not None and t is not None for c, t in zip(cat, sub)), bool, len(cat)))
    bad = np.zeros(len(frame), bool)
    if rows.size:
        cc, cu = pd.factorize(cat[rows], use_na_sentinel=False)
        sc, su = pd.factorize(sub[rows], use_na_sentinel=False)
        pair, inverse = np.unique(cc * len(su) + sc, return_inverse=True)
        wrong = np.array([su[k % len(su)] not in SUBTYPES.get(cu[k // len(su)], ()) for k in pair], bool)
        bad[rows[wrong[inverse.reshape(-1)]]] = True
    for i in np.flatnonzero(bad):
        allowed = ", ".join(SUBTYPES.get(cat[i], ())) or "none"
        col.add("BAD_CODE", i, "subtype", sub[i], message=f"not a subtype of {cat[i]} (allowed: {allowed})")


def _parse_number(v):
    """The number in a value cell (as ``float``), or None when it is not one."""
    try:
        return float(str(v).strip()) if isinstance(v, str) else float(v)
    except (TypeError, ValueError):
        return None


_MISSING_TEXT = frozenset(_MISSING_TOKENS)


def _read_value(v):
    """(missing, number or None) of a value cell in one call: ``_is_missing(v)`` and, when not
    missing, ``_parse_number(v)``.  A text that is a number is missing only as "nan" (any case and
    surrounding spaces: the NAN token), the other tokens are not numbers."""
    if type(v) is str:
        try:
            x = float(v.strip())
        except ValueError:
            return v.strip().upper() in _MISSING_TEXT, None
        if x != x and v.strip().upper() == "NAN":
            return True, None
        return False, x
    if _is_missing(v):
        return True, None
    return False, _parse_number(v)


def _units(series):
    """``(codes, values)`` of the unit cells as ``_distinct`` gives them, except that a missing cell
    other than None (NaN, NA, NaT) keeps its own value: ``unit_factor`` takes None for the canonical
    unit but not the others."""
    codes, values = _distinct(series)
    codes = np.asarray(codes, np.int64).copy()
    values = list(values)
    slot = len(values) - 1
    if values and values[slot] is None:
        raw = series.to_numpy(dtype=object)
        for i in np.flatnonzero(codes == slot):
            if raw[i] is not None:
                codes[i] = len(values)
                values.append(raw[i])
    return codes, values


def _assessment_rules(frame, df, canon, col, last, death, present):
    """Each value parsed by its test: rcl_result a code, the others a number in a unit converted to
    the test's canonical unit and within its plausible range.  Every rule is a function of the
    value cell, of the unit cell or of the (test, unit) pair, so it is applied once per distinct
    one and spread back to the rows; the problems are reported in file order, one per row, as a
    loop over the rows checking missing, code, number, unit and range in this order would."""
    _follow_up_rules(frame, col, "day", "date" if "date" in canon else "day", last, death, present)
    n = len(frame)
    tests = frame["test"].to_numpy(object)
    vcodes, vvals = _distinct(df[canon["value"]]) if "value" in canon else (np.zeros(n, np.int64), [None])
    ucodes, uvals = _units(df[canon["unit"]]) if "unit" in canon else (np.zeros(n, np.int64), [None])
    vcodes = np.asarray(vcodes, np.int64)
    names = list(TESTS)
    tcode = np.full(n, -1, np.int64)
    for k, t in enumerate(names):
        tcode[tests == t] = k
    has_test = tcode >= 0
    # per distinct value: missing, the rcl code, the number
    read = [_read_value(v) for v in vvals]
    v_missing = np.fromiter((r[0] for r in read), bool, len(read))
    missing = has_test & v_missing[vcodes]
    rcl = has_test & ~missing & (tcode == names.index("rcl_result"))
    numeric = has_test & ~missing & ~rcl
    v_rcl = np.full(len(vvals), None, dtype=object)
    for k in np.unique(vcodes[rcl]):
        v_rcl[k] = str(vvals[k]).strip().lower()
    rcl_ok = rcl & np.array([c in RCL_RESULTS for c in v_rcl], bool)[vcodes]
    v_isnum = np.fromiter((r[1] is not None for r in read), bool, len(read))
    v_num = np.fromiter((np.nan if r[1] is None else r[1] for r in read), float, len(read))
    bad_number = numeric & ~v_isnum[vcodes]
    parsed = numeric & ~bad_number
    # per distinct (test, unit): the factor to the canonical unit (nan: not convertible)
    pair = tcode * len(uvals) + ucodes
    pairs, inverse = np.unique(np.where(parsed, pair, -1), return_inverse=True)
    pf = np.full(pairs.size, np.nan)
    for j, key in enumerate(pairs):
        if key >= 0:
            f = unit_factor(names[key // len(uvals)], uvals[key % len(uvals)])
            pf[j] = np.nan if f is None else float(f)
    factor = pf[inverse.reshape(-1)]
    bad_unit = parsed & np.isnan(factor)
    converted = parsed & ~bad_unit
    lo = np.array([-np.inf if TESTS[t][1] is None else TESTS[t][1] for t in names], float)
    hi = np.array([np.inf if TESTS[t][2] is None else TESTS[t][2] for t in names], float)
    x = np.full(n, np.nan)
    x[converted] = v_num[vcodes[converted]] * factor[converted]
    t_ok = np.where(has_test, tcode, 0)
    with np.errstate(invalid="ignore"):
        implausible = converted & (~np.isfinite(x) | (x < lo[t_ok]) | (x > hi[t_ok]))
    good = converted & ~implausible
    value = np.where(good, x, np.nan)
    result = np.full(n, None, dtype=object)
    result[rcl_ok] = v_rcl[vcodes[rcl_ok]]
    raw = np.asarray(vvals, dtype=object)
    for i in np.flatnonzero(missing | (rcl & ~rcl_ok) | bad_number | bad_unit | implausible):
        test, v = tests[i], raw[vcodes[i]]
        if missing[i]:
            col.add_missing(i, "value", v)
        elif rcl[i]:
            col.add("BAD_CODE", i, "value", v, message=f"rcl_result: allowed {', '.join(RCL_RESULTS)}")
        elif bad_number[i]:
            col.add("BAD_NUMBER", i, "value", v)
        elif bad_unit[i]:
            u = uvals[ucodes[i]]
            col.add("BAD_UNIT", i, "unit", u, message=f"{test} is measured in {TESTS[test][0]}; "
                    f"{u!r} cannot be converted")
        else:
            lo_, hi_ = TESTS[test][1], TESTS[test][2]
            col.add("IMPLAUSIBLE_VALUE", i, "value", v, message=f"{test} {float(x[i]):g} {TESTS[test][0]} is "
                    f"outside {lo_:g} to {hi_:g}")
    frame["value"], frame["result"] = value, result
    frame.drop(columns=[c for c in ("unit",) if c in frame], inplace=True)


def _therapy_rules(frame, df, canon, col, last, death, present):
    _follow_up_rules(frame, col, "start_day", "start_date" if "start_date" in canon else "start_day", last, death,
                     present)
    _end_rules(frame, col, "start_day", "end_day", "end_date" if "end_date" in canon else "end_day")

"""Validation of a whole study: the patient table as always, then every longitudinal table against
its schema and against the patients, every problem listed at once with its table.

Per table (events, assessments, therapies): columns matched by name and alias (MISSING_COLUMN,
UNKNOWN_COLUMN, DUPLICATE_COLUMN), control characters, each field parsed by its declared type
(``ltfu.cohort.parse.parse_field``), dates turned into days from that patient's infusion (or the
``*_day`` columns), then the cross-table rules: the patient exists (UNKNOWN_PATIENT), nothing before
the infusion (DATE_BEFORE_INFUSION) or after death or the last contact (AFTER_FOLLOW_UP), no end
before its start (END_BEFORE_START), repeated rows (DUPLICATE_ROW), units converted to each test's
canonical unit (BAD_UNIT) and values within what the test measures (IMPLAUSIBLE_VALUE).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import numpy as np
import pandas as pd

from ltfu.cohort.dates import decide_order, order_counts, parse_dates
from ltfu.cohort.load import RawTable, _unique_columns
from ltfu.cohort.parse import (
    _CONTROL,
    _Collector,
    _control_rows,
    _distinct,
    _id_keys,
    _is_missing,
    _rows_of,
    _text,
    parse_field,
)
from ltfu.cohort.schema import Field
from ltfu.study.model import ASSESSMENT_COLUMNS, EVENT_COLUMNS, THERAPY_COLUMNS, empty
from ltfu.study.schema import CATEGORIES, RCL_RESULTS, SUBTYPES, TABLES, TESTS, TableSpec, unit_factor

# spellings of codes as exports write them (CDISC ADAE among them), lower case -> canonical
SYNONYMS = {
    "category": {"infections and infestations": "infection", "infection": "infection", "infections": "infection",
                 "neoplasms benign, malignant and unspecified (incl cysts and polyps)": "second_primary_malignancy",
                 "secondary malignancy": "second_primary_malignancy", "spm": "second_primary_malignancy",
                 "malignancy": "second_primary_malignancy", "nervous system disorders": "neurological",
                 "neurologic": "neurological", "immune system disorders": "autoimmune",
                 "blood and lymphatic system disorders": "haematological", "hematological": "haematological",
                 "hypogammaglobulinemia": "hypogammaglobulinaemia"},
    "subtype": {"hematological": "haematological", "nmsc": "non_melanoma_skin", "t-cell": "t_cell"},
    "outcome": {"recovered/resolved": "recovered", "recovering/resolving": "ongoing", "resolved": "recovered",
                "not recovered/not resolved": "ongoing", "recovered/resolved with sequelae": "recovered",
                "fatal": "fatal", "death": "fatal"},
    "related": {"y": "related", "yes": "related", "n": "unrelated", "no": "unrelated", "not related": "unrelated",
                "possibly related": "possible", "probably related": "related", "probable": "related",
                "unlikely related": "unlikely", "remote": "unlikely"},
    "transgene_test": {"not done": "not_tested", "nd": "not_tested", "pos": "positive", "neg": "negative"},
    "test": {"bcell": "b_cells_per_ul", "cd19abs": "b_cells_per_ul", "cd19": "b_cells_per_ul",
             "cd19pct": "cd19_pct", "cd19p": "cd19_pct", "igg": "igg_g_per_l", "anc": "anc_per_ul",
             "neut": "anc_per_ul", "plat": "platelets_per_ul", "plt": "platelets_per_ul", "hgb": "haemoglobin_g_per_dl",
             "hb": "haemoglobin_g_per_dl", "cartrans": "car_transgene_copies_per_ug",
             "vcn": "car_transgene_copies_per_ug",
             "rcl": "rcl_result", "rcr": "rcl_result"},
    "type": {"allogeneic hct": "allo_hct", "allo-hct": "allo_hct", "allo hct": "allo_hct", "ivig": "ivig",
             "immunoglobulin": "ivig", "chemotherapy": "anticancer", "reinfusion": "car_t_reinfusion"},
}


def _norm(name) -> str:
    return re.sub(r"[\s\-\.]+", "_", str(name).strip().lower()).strip("_")


def _lookup(spec: TableSpec) -> dict:
    out: dict[str, Any] = {}
    for f in spec.fields:
        for a in (f.name, *f.aliases):
            out.setdefault(_norm(a), f.name)
        if f.type == "date":
            out.setdefault(_norm(f.name.replace("date", "day")), f.name.replace("date", "day"))
    return out


def _resolve(spec: TableSpec, columns, col: _Collector, *, adam: bool = False):
    """canonical -> file column, reporting repeated and unknown columns.  An ADaM dataset carries
    many variables ltfu does not use: they are named in one warning, not one each; ADAE's AEBODSYS
    gives the category when the dataset has no AECAT."""
    lookup = _lookup(spec)
    canon: dict[str, Any] = {}
    unknown: list[str] = []
    for c in columns:
        name = lookup.get(_norm(c))
        if name is None:
            unknown.append(c)
        elif name in canon:
            col.add("DUPLICATE_COLUMN", None, c, message=f"{c!r} is another name for {name!r}, already given as "
                    f"{canon[name]!r}", fix="keep one of them")
        else:
            canon[name] = c
    if adam and spec.name == "events" and "category" not in canon:
        soc = next((c for c in unknown if _norm(c) == "aebodsys"), None)
        if soc is not None:
            canon["category"] = soc
            unknown.remove(soc)
    if adam and unknown:
        col.add("UNKNOWN_COLUMN", None, None, f"{len(unknown)} variables", message=f"{len(unknown)} ADaM variable(s) "
                f"of {spec.name} are not used by any analysis: {', '.join(map(str, unknown[:8]))}"
                f"{' ...' if len(unknown) > 8 else ''}", fix="none needed")
        return canon
    for c in unknown:
        col.add("UNKNOWN_COLUMN", None, c, message=f"not a column of the {spec.name} table; no analysis uses it",
                fix=f"rename it to a column of the {spec.name} table (see `ltfu schema`), or ignore it")
    return canon


HYPOGAMMA_TERMS = ("hypogammaglobulinaemia", "hypogammaglobulinemia", "blood immunoglobulin g decreased",
                   "immunoglobulins decreased")


def _adam_category(category: pd.Series, term: pd.Series | None) -> pd.Series:
    """ADAE's category: AECAT or the MedDRA system organ class (AEBODSYS) as SYNONYMS map it; a
    class without an ltfu category is "other"; hypogammaglobulinaemia (an immune-system class
    term) is told by its preferred term.  Missing stays missing (MISSING_VALUE)."""
    table = SYNONYMS["category"]

    def one(v):
        if _is_missing(v):
            return v
        key = str(v).strip().lower()
        return key if key in CATEGORIES else table.get(key, "other")

    out = category.map(one)
    if term is not None:
        hypo = term.astype(str).str.strip().str.lower().isin(HYPOGAMMA_TERMS).to_numpy()
        out = out.where(~hypo, "hypogammaglobulinaemia")
    return out


def _adam_rows(spec: TableSpec, df: pd.DataFrame, rows):
    """ADLB holds every laboratory parameter of the study: the rows of parameters ltfu does not
    analyse are left out, with one warning giving their count (PARAMCD spellings in SYNONYMS)."""
    if spec.name != "assessments":
        return df, rows, []
    test = next((c for c in df.columns if _lookup(spec).get(_norm(c)) == "test"), None)
    if test is None:
        return df, rows, []
    codes = df[test].astype(str).str.strip().str.lower()
    known = codes.isin(set(TESTS)) | codes.isin(set(SYNONYMS["test"]))
    if known.all():
        return df, rows, []
    left = codes[~known]
    kinds = ", ".join(sorted(set(df[test][~known].astype(str)))[:8])
    problem = _Collector.make("UNUSED_ROWS", field=str(test), value=f"{int((~known).sum())} rows",
                              message=f"{int((~known).sum())} ADLB row(s) of {left.nunique()} parameter(s) ltfu does "
                              f"not analyse were left out: {kinds}{' ...' if left.nunique() > 8 else ''}")
    keep = known.to_numpy()
    return df[keep].reset_index(drop=True), np.asarray(rows)[keep], [problem]


def _infusion_lookup(patients: pd.DataFrame):
    """patient id (normalised key) -> (infusion date, last contact day, death day)."""
    keys = _id_keys(patients["patient_id"].to_numpy(object))
    return {k: (inf, last, death) for k, inf, last, death in zip(
        keys, patients["infusion_date"].to_numpy(), patients["last_contact_day"].to_numpy(float),
        patients["death_day"].to_numpy(float))}


def _check_table(raw: RawTable, spec: TableSpec, patients: pd.DataFrame, today, date_floor, adam=False):
    df, _ = _unique_columns(raw.data.reset_index(drop=True))
    rows, early = raw.row_numbers, []
    if adam:
        df, rows, early = _adam_rows(spec, df, rows)
    ids = _text(df[_resolve_only(spec, df.columns).get("patient_id", df.columns[0])]) if len(df.columns) else \
        np.full(len(df), None, dtype=object)
    col = _Collector(rows, ids, {}, table=spec.name)
    col.problems.extend(_with_table([*raw.problems, *early], spec.name))
    canon = _resolve(spec, df.columns, col, adam=adam)
    col.names = canon
    if adam and spec.name == "events" and "category" in canon:
        df = df.copy()
        df[canon["category"]] = _adam_category(df[canon["category"]], df[canon["term"]] if "term" in canon else None)
    for c in df.columns:
        for i in _control_rows(df[c]):
            col.add("CONTROL_CHARACTER", i, c, df[c].iloc[i],
                    message="a control character (shown escaped) in a text cell")
    for name in raw.header:
        if _CONTROL.search(str(name)):
            col.add("CONTROL_CHARACTER", None, None, str(name), message="a column name holds a control character")
    for f in spec.fields:
        alt = f.name.replace("date", "day") if f.type == "date" else None
        if f.required and f.name not in canon and (alt is None or alt not in canon):
            col.add("MISSING_COLUMN", None, f.name, message=f"required column {f.name!r} of the {spec.name} table "
                    "is missing")
    n = len(df)
    out = {"patient_id": ids}
    known = _infusion_lookup(patients)
    keys = _id_keys(ids)
    present = np.array([k in known for k in keys], bool)
    if "patient_id" in canon:
        for i in np.flatnonzero(~present):
            if ids[i] is None:
                col.add("MISSING_VALUE", i, "patient_id")
            else:
                col.add("UNKNOWN_PATIENT", i, "patient_id", ids[i])
    infusion = np.array([known[k][0] if ok else np.datetime64("NaT") for k, ok in zip(keys, present)],
                        dtype="datetime64[D]")
    last = np.array([known[k][1] if ok else np.nan for k, ok in zip(keys, present)], float)
    death = np.array([known[k][2] if ok else np.nan for k, ok in zip(keys, present)], float)
    _dates_to_days(df, spec, canon, col, infusion, out, today, date_floor, raw)
    for f in spec.fields:
        if f.type in ("date", "id") or f.name in out:
            continue
        out[f.name] = parse_field(df[canon[f.name]], f, col, synonyms=SYNONYMS.get(f.name)) if f.name in canon \
            else np.full(n, None, dtype=object)
    frame = pd.DataFrame(out)
    {"events": _event_rules, "assessments": _assessment_rules, "therapies": _therapy_rules}[spec.name](
        frame, df, canon, col, last, death, present)
    keep = present & ~_duplicates(frame, spec, col)
    return col.problems, frame[keep].reset_index(drop=True)


def _resolve_only(spec, columns):
    lookup = _lookup(spec)
    out = {}
    for c in columns:
        name = lookup.get(_norm(c))
        if name is not None:
            out.setdefault(name, c)
    return out


def _with_table(problems, table):
    from dataclasses import replace

    return [replace(p, table=table) for p in problems]


def _dates_to_days(df, spec, canon, col, infusion, out, today, date_floor, raw):
    """Each date column as days from that patient's infusion (or its *_day column)."""
    dates = [f.name for f in spec.fields if f.type == "date"]
    distinct = {d: _distinct(df[canon[d]]) for d in dates if d in canon}
    evidence = order_counts(v for _, values in distinct.values() for v in values if isinstance(v, str))
    order = decide_order(*evidence)
    floor = np.datetime64(date_floor, "D")
    day_field = Field("day", "day", False, (), (), "", None, None)
    for d in dates:
        day = d.replace("date", "day")
        if d in distinct:
            codes, values = distinct[d]
            parsed_values, issues = parse_dates(values, order=order, epoch=raw.epoch_of(canon[d]), evidence=evidence)
            parsed = parsed_values[codes]
            found = {k: (code, msg) for k, code, msg in issues}
            for i in _rows_of(codes, found):
                code, msg = found[codes[i]]
                col.add(code, i, d, values[codes[i]], message=msg)
            bad = (parsed > np.datetime64(today)) | (parsed < floor)
            for i in np.flatnonzero(bad):
                col.add("FUTURE_DATE" if parsed[i] > np.datetime64(today) else "IMPLAUSIBLE_DATE", i, d, str(parsed[i]))
            parsed[bad] = np.datetime64("NaT")
            with np.errstate(invalid="ignore"):
                days = (parsed - infusion).astype("timedelta64[D]").astype(float)
            days[np.isnat(parsed) | np.isnat(infusion)] = np.nan
            missing = np.array([_is_missing(v) for v in values], bool)[codes]
        elif day in canon:
            days = parse_field(df[canon[day]], day_field, col)
            missing = np.isnan(days)
        else:
            days, missing = np.full(len(df), np.nan), np.ones(len(df), bool)
        field = next(f for f in spec.fields if f.name == d)
        if field.required and (d in canon or day in canon):
            for i in np.flatnonzero(missing):
                col.add("MISSING_VALUE", i, d if d in canon else day)
        out[day] = days


def _follow_up_rules(frame, col, first, name, last, death, present):
    """Nothing before the infusion, nothing after death or the last contact."""
    v = frame[first].to_numpy(float)
    with np.errstate(invalid="ignore"):
        for i in np.flatnonzero(present & (v < 0)):
            col.add("DATE_BEFORE_INFUSION", i, name, f"day {v[i]:g}")
        after = present & ((v > last) | (v > death))
    for i in np.flatnonzero(after):
        limit = death[i] if np.isfinite(death[i]) and death[i] < last[i] else last[i]
        col.add("AFTER_FOLLOW_UP", i, name, f"day {v[i]:g} > {'death' if limit == death[i] else 'last contact'} "
                f"day {limit:g}")


def _end_rules(frame, col, start, stop, name):
    a, b = frame[start].to_numpy(float), frame[stop].to_numpy(float)
    with np.errstate(invalid="ignore"):
        for i in np.flatnonzero(b < a):
            col.add("END_BEFORE_START", i, name, f"day {b[i]:g} < {a[i]:g}")


def _event_rules(frame, df, canon, col, last, death, present):
    _follow_up_rules(frame, col, "onset_day", "onset_date" if "onset_date" in canon else "onset_day", last, death,
                     present)
    _end_rules(frame, col, "onset_day", "resolution_day", "resolution_date" if "resolution_date" in canon
               else "resolution_day")
    cat, sub = frame["category"].to_numpy(object), frame["subtype"].to_numpy(object)
    for i in range(len(frame)):
        if sub[i] is not None and cat[i] is not None and sub[i] not in SUBTYPES.get(cat[i], ()):
            allowed = ", ".join(SUBTYPES.get(cat[i], ())) or "none"
            col.add("BAD_CODE", i, "subtype", sub[i], message=f"not a subtype of {cat[i]} (allowed: {allowed})")


def _assessment_rules(frame, df, canon, col, last, death, present):
    _follow_up_rules(frame, col, "day", "date" if "date" in canon else "day", last, death, present)
    tests = frame["test"].to_numpy(object)
    raw_values = df[canon["value"]].to_numpy(object) if "value" in canon else np.full(len(frame), None, object)
    units = df[canon["unit"]].to_numpy(object) if "unit" in canon else np.full(len(frame), None, object)
    value, result = np.full(len(frame), np.nan), np.full(len(frame), None, dtype=object)
    for i, test in enumerate(tests):
        v = raw_values[i]
        if test is None or _is_missing(v):
            if test is not None:
                col.add("MISSING_VALUE", i, "value")
            continue
        if test == "rcl_result":
            code = str(v).strip().lower()
            if code in RCL_RESULTS:
                result[i] = code
            else:
                col.add("BAD_CODE", i, "value", v, message=f"rcl_result: allowed {', '.join(RCL_RESULTS)}")
            continue
        try:
            x = float(str(v).strip()) if isinstance(v, str) else float(v)
        except (TypeError, ValueError):
            col.add("BAD_NUMBER", i, "value", v)
            continue
        factor = unit_factor(test, units[i])
        if factor is None:
            col.add("BAD_UNIT", i, "unit", units[i], message=f"{test} is measured in {TESTS[test][0]}; "
                    f"{units[i]!r} cannot be converted")
            continue
        x *= factor
        lo, hi = TESTS[test][1], TESTS[test][2]
        if not np.isfinite(x) or (lo is not None and x < lo) or (hi is not None and x > hi):
            col.add("IMPLAUSIBLE_VALUE", i, "value", v, message=f"{test} {x:g} {TESTS[test][0]} is outside "
                    f"{lo:g} to {hi:g}")
            continue
        value[i] = x
    frame["value"], frame["result"] = value, result
    frame.drop(columns=[c for c in ("unit",) if c in frame], inplace=True)


def _therapy_rules(frame, df, canon, col, last, death, present):
    _follow_up_rules(frame, col, "start_day", "start_date" if "start_date" in canon else "start_day", last, death,
                     present)
    _end_rules(frame, col, "start_day", "end_day", "end_date" if "end_date" in canon else "end_day")


def _duplicates(frame, spec: TableSpec, col) -> np.ndarray:
    """Rows repeating an earlier row's key (reported, then counted once: the first is kept)."""
    key = [k for k in spec.key if k in frame.columns]
    if len(key) < len(spec.key) or not len(frame):
        return np.zeros(len(frame), bool)
    complete = frame[key].notna().all(axis=1).to_numpy()
    dup = frame.duplicated(subset=key, keep="first").to_numpy() & complete
    if dup.any():
        first = frame[complete].reset_index().groupby(key, sort=False)["index"].transform("min")
        first_of = pd.Series(first.to_numpy(), index=frame.index[complete])
        for i in np.flatnonzero(dup):
            col.add("DUPLICATE_ROW", i, ", ".join(spec.key), None, message=f"the same {', '.join(spec.key)} as row "
                    f"{int(col.rows[first_of[i]])} (counted once)")
    return dup


COLUMNS = {"events": EVENT_COLUMNS, "assessments": ASSESSMENT_COLUMNS, "therapies": THERAPY_COLUMNS}


def validate_tables(files, patients: pd.DataFrame, *, today=None, date_floor="1990-01-01"):
    """(problems, typed tables) of the study's longitudinal tables against the typed patients."""
    today = today or dt.date.today()
    problems, tables = [], {}
    for name, spec in TABLES.items():
        raw = getattr(files, name, None)
        if raw is None:
            tables[name] = empty(COLUMNS[name])
            continue
        p, frame = _check_table(raw, spec, patients, today, date_floor, adam=getattr(files, "adam", False))
        problems += p
        tables[name] = frame[[c for c in COLUMNS[name] if c in frame.columns]]
    return problems, tables

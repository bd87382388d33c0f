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

from ltfu.cohort.dates import decide_order, order_counts
from ltfu.cohort.load import RawTable, _unique_columns
from ltfu.cohort.parse import (
    _CONTROL,
    _Collector,
    _control_rows,
    _dates_of_distinct,
    _distinct,
    _id_keys,
    _is_missing,
    _text,
    parse_field,
)
from ltfu.cohort.schema import Field
from ltfu.study.model import ASSESSMENT_COLUMNS, EVENT_COLUMNS, THERAPY_COLUMNS, empty
from ltfu.study.rules import _assessment_rules, _event_rules, _therapy_rules
from ltfu.study.schema import CATEGORIES, TABLES, TESTS, TableSpec

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


def _patient_rows(patients: pd.DataFrame, keys) -> np.ndarray:
    """For each id key (``_id_keys``), the row of the patient table with that key (the last one if
    several have it), -1 for none."""
    own = _id_keys(patients["patient_id"].to_numpy(object))
    last_row = {k: j for j, k in enumerate(own)}
    index = pd.Index(list(last_row), dtype=object)
    where = index.get_indexer(pd.Index(keys, dtype=object))
    rows = np.fromiter(last_row.values(), np.int64, len(last_row))
    return np.where(where >= 0, rows[np.maximum(where, 0)] if rows.size else -1, -1)


def _take(values: np.ndarray, where: np.ndarray, missing) -> np.ndarray:
    out = values[np.maximum(where, 0)] if values.size else np.full(where.size, missing, dtype=values.dtype)
    out[where < 0] = missing
    return out


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
    col.cells = {f.name: df[canon[f.name]] for f in spec.fields if f.type == "date" and f.name in canon}
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
    where = _patient_rows(patients, _id_keys(ids))
    present = where >= 0
    if "patient_id" in canon:
        unknown = np.flatnonzero(~present)
        folded = {}                    # a patient's id by its case-folded key: the hint for a case variant
        if any(ids[i] is not None for i in unknown):
            folded = {str(k).casefold(): v for k, v in zip(_id_keys(patients["patient_id"].to_numpy(object)),
                                                           patients["patient_id"].to_numpy(object)) if k is not None}
        for i in unknown:
            same = None if ids[i] is None else folded.get(str(_id_keys([ids[i]])[0]).casefold())
            if ids[i] is None:
                col.add_missing(i, "patient_id", df[canon["patient_id"]].iloc[i])
            elif same is not None:
                col.add("UNKNOWN_PATIENT", i, "patient_id", ids[i],
                        message=f"not in the patient table, which has {same!r} (differing only by upper/lower case)",
                        fix="write the id as the patient table does")
            else:
                col.add("UNKNOWN_PATIENT", i, "patient_id", ids[i])
    infusion = _take(patients["infusion_date"].to_numpy().astype("datetime64[D]"), where, np.datetime64("NaT"))
    last = _take(patients["last_contact_day"].to_numpy(float), where, np.nan)
    death = _take(patients["death_day"].to_numpy(float), where, np.nan)
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
            parsed = _dates_of_distinct(codes, values, d, col, order=order, epoch=raw.epoch_of(canon[d]),
                                        evidence=evidence)
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
                col.add_missing(i, d if d in canon else day, df[canon[d] if d in canon else canon[day]].iloc[i])
        out[day] = days


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

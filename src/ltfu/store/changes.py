"""What changed between two cuts of a study store, patient by patient, and the changes an auditor
looks for.

Patients are matched on ``patient_id``; rows of the longitudinal tables on their table's key
(``ltfu.study.schema``: events by patient, term and onset; assessments by patient, test and day;
therapies by patient, type and start).  Days are days from infusion, as stored.

Every change is counted per field (``Diff.changed``).  A change is also *flagged* as retroactive
(``Diff.flags``; ``ltfu study diff --fail-on retroactive`` exits 1 on any) when it alters what the
earlier cut A already said about the time before its cut-off:

``patient_removed``     a patient of A is absent from B;
``infusion_changed``    the infusion date differs;
``date_moved``          a death, relapse, response or allo-HCT day known in A has another value in B;
``date_removed``        ... is absent from B (a relapse removed);
``date_backdated``      such a day absent from A appears in B dated within A's follow-up of that
                        patient (on or before A's last contact and cut-off): A said nothing
                        happened then;
``status_backwards``    dead in A, alive in B; relapsed in A, not in B; CR/CRi in A, not in B;
``follow_up_shrank``    the last contact in B is earlier than in A;
``value_changed``       another value known in A (baseline, toxicity, response, CD19 at relapse)
                        differs in B (values newly filled in are counted, not flagged; a response
                        value is not flagged when A's response assessment was after A's
                        follow-up of the patient);
``row_removed``         a row of A's events, assessments or therapies is absent from B (patient
                        still present);
``row_backdated``       a row new in B is dated within A's follow-up of the patient;
``row_changed``         a matched row's value known in A differs in B (a resolution or end day
                        known in A moved, a measurement's value, an event's grade ...).

Nothing here prints; ``Diff.to_dict`` is the JSON of ``ltfu study diff --format json``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ltfu.store import schema
from ltfu.store.cuts import CutInfo, _infos, _name, _open, resolve
from ltfu.store.schema import StoreError

DAY_FIELDS = ("death_day", "relapse_day", "response_day", "allo_hct_day")
NOT_COMPARED = ("patient_id", "data_cutoff_day")        # the cut-off day is the cut's own date
RESPONSE_FIELDS = ("best_response", "mrd_negative")
COMPLETE = ("CR", "CRi")
#: table -> (key columns, the row's date column, the other compared columns)
ROW_KEYS = {"events": (("patient_id", "term", "onset_day"), "onset_day"),
            "assessments": (("patient_id", "test", "day"), "day"),
            "therapies": (("patient_id", "type", "start_day"), "start_day")}
FAR = 1e12
MATURING_OUTCOMES = ("ongoing", "unknown")          # "no limit" in SQL comparisons of days


@dataclass(frozen=True)
class Flag:
    """One retroactive change: which patient, which table and field, the value in A and in B."""

    kind: str
    patient_id: str
    table: str
    field: str
    before: object
    after: object
    message: str

    def to_dict(self) -> dict:
        return {"kind": self.kind, "patient_id": self.patient_id, "table": self.table, "field": self.field,
                "before": _plain(self.before), "after": _plain(self.after), "message": self.message}


@dataclass(frozen=True)
class Diff:
    cut_a: CutInfo
    cut_b: CutInfo
    added: tuple[str, ...]                 # patient ids in B only
    removed: tuple[str, ...]               # patient ids in A only
    changed: dict                          # patients field -> [(patient_id, before, after)]
    rows: dict                             # table -> {"added": n, "removed": n, "changed": {field: n}}
    flags: tuple[Flag, ...] = field(default=())

    @property
    def retroactive(self) -> bool:
        return bool(self.flags)

    def flag_counts(self) -> dict:
        out: dict = {}
        for f in self.flags:
            out[f.kind] = out.get(f.kind, 0) + 1
        return dict(sorted(out.items()))

    def to_dict(self) -> dict:
        return {"cut_a": self.cut_a.to_dict(), "cut_b": self.cut_b.to_dict(),
                "patients": {"added": list(self.added), "removed": list(self.removed),
                             "changed": {f: [{"patient_id": p, "before": _plain(a), "after": _plain(b)}
                                             for p, a, b in v] for f, v in self.changed.items()}},
                "rows": self.rows, "retroactive": self.retroactive, "flag_counts": self.flag_counts(),
                "flags": [f.to_dict() for f in self.flags]}


def _plain(v):
    """A JSON value: None for missing, int for whole days, ISO for dates."""
    if v is None or v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, (pd.Timestamp, np.datetime64)):
        return str(pd.Timestamp(v).date())
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        if not math.isfinite(v):
            return None
        return int(v) if float(v).is_integer() else float(v)
    return str(v)


def _missing(v) -> bool:
    return v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float) and math.isnan(v))


def _day_text(day, infusion) -> str:
    if _missing(day):
        return "none"
    d = f"day {_plain(day)}"
    if not _missing(infusion):
        d += f" ({(pd.Timestamp(infusion) + pd.Timedelta(days=float(day))).date()})"
    return d


def _patients(con, cut_id: int) -> pd.DataFrame:
    cols = [c for c, _ in schema.PATIENT_COLUMNS]
    return con.execute(f"SELECT {', '.join(cols)} FROM patients WHERE cut_id = ? ORDER BY seq", [cut_id]).df()


def _values(s: pd.Series) -> np.ndarray:
    """A column as a numpy array that compares fast: dates as int64 days, numbers as float, text as object."""
    if pd.api.types.is_datetime64_any_dtype(s.dtype):
        return s.to_numpy("datetime64[D]").view("int64")
    if pd.api.types.is_bool_dtype(s.dtype) or pd.api.types.is_numeric_dtype(s.dtype):
        return s.to_numpy(dtype=float, na_value=np.nan)
    return s.to_numpy(object)


def _differs(a: pd.Series, b: pd.Series) -> np.ndarray:
    """Element-wise 'not the same value', missing equal to missing."""
    na, nb = a.isna().to_numpy(), b.isna().to_numpy()
    with np.errstate(invalid="ignore"):
        eq = np.asarray(_values(a) == _values(b), bool)
    eq = eq & ~na & ~nb
    return ~(eq | (na & nb))


def _patient_changes(pa: pd.DataFrame, pb: pd.DataFrame):
    ids_a, ids_b = pa["patient_id"].astype(str), pb["patient_id"].astype(str)
    in_b, in_a = set(ids_b), set(ids_a)
    removed = tuple(p for p in ids_a if p not in in_b)
    added = tuple(p for p in ids_b if p not in in_a)
    m = pa.merge(pb, on="patient_id", suffixes=("_a", "_b"), how="inner", sort=False)
    pid = m["patient_id"].astype(str).to_numpy()
    flags: list[Flag] = [Flag("patient_removed", p, "patients", "patient_id", p, None,
                              "patient in the earlier cut is absent from the later one") for p in removed]
    changed: dict = {}
    diffs = {}
    for c, _ in schema.PATIENT_COLUMNS:
        if c in NOT_COMPARED:
            continue
        d = _differs(m[f"{c}_a"], m[f"{c}_b"])
        diffs[c] = d
        if d.any():
            idx = np.flatnonzero(d)
            changed[c] = list(zip(pid[idx], m[f"{c}_a"].to_numpy(object)[idx], m[f"{c}_b"].to_numpy(object)[idx]))
    inf_a, inf_b = m["infusion_date_a"], m["infusion_date_b"]
    last_a = m["last_contact_day_a"].to_numpy(float)
    cut_a = m["data_cutoff_day_a"].to_numpy(float)
    end_a = np.fmin(np.where(np.isnan(last_a), FAR, last_a), np.where(np.isnan(cut_a), FAR, cut_a))
    for i in np.flatnonzero(diffs["infusion_date"]):
        flags.append(Flag("infusion_changed", pid[i], "patients", "infusion_date", inf_a.iat[i], inf_b.iat[i],
                          f"infusion date changed from {_plain(inf_a.iat[i])} to {_plain(inf_b.iat[i])}"))
    for c in DAY_FIELDS:
        a, b = m[f"{c}_a"].to_numpy(float), m[f"{c}_b"].to_numpy(float)
        what = c[:-4].replace("_", "-").replace("allo-hct", "allo-HCT")
        with np.errstate(invalid="ignore"):
            flagged = diffs[c] & (np.isfinite(a) | (b <= end_a))     # not a new date after A's follow-up
        for i in np.flatnonzero(flagged):
            before, after = _day_text(a[i], inf_a.iat[i]), _day_text(b[i], inf_b.iat[i])
            if np.isfinite(a[i]) and np.isfinite(b[i]):
                flags.append(Flag("date_moved", pid[i], "patients", c, a[i], b[i],
                                  f"{what} date moved from {before} to {after}"))
            elif np.isfinite(a[i]):
                flags.append(Flag("date_removed", pid[i], "patients", c, a[i], None,
                                  f"{what} at {before} in the earlier cut is gone"))
            elif b[i] <= end_a[i]:
                flags.append(Flag("date_backdated", pid[i], "patients", c, None, b[i],
                                  f"{what} at {after} added, within the earlier cut's follow-up of the patient "
                                  f"(to {_day_text(end_a[i], inf_a.iat[i])})"))
    for c, what in (("death_day", "dead in the earlier cut, alive in the later"),
                    ("relapse_day", "relapsed in the earlier cut, not in the later")):
        a, b = m[f"{c}_a"].to_numpy(float), m[f"{c}_b"].to_numpy(float)
        for i in np.flatnonzero(np.isfinite(a) & np.isnan(b)):
            flags.append(Flag("status_backwards", pid[i], "patients", c, a[i], None, what))
    br_a, br_b = m["best_response_a"].astype(object), m["best_response_b"].astype(object)
    for i in np.flatnonzero(br_a.isin(COMPLETE).to_numpy() & ~br_b.isin(COMPLETE).to_numpy()):
        flags.append(Flag("status_backwards", pid[i], "patients", "best_response", br_a.iat[i], br_b.iat[i],
                          f"best response {_plain(br_a.iat[i])} in the earlier cut, {_plain(br_b.iat[i])} in "
                          "the later"))
    lb = m["last_contact_day_b"].to_numpy(float)
    with np.errstate(invalid="ignore"):
        shrank = np.isfinite(last_a) & (np.isnan(lb) | (lb < last_a))
    for i in np.flatnonzero(shrank):
        flags.append(Flag("follow_up_shrank", pid[i], "patients", "last_contact_day", last_a[i], lb[i],
                          f"last contact moved back from {_day_text(last_a[i], inf_a.iat[i])} to "
                          f"{_day_text(lb[i], inf_b.iat[i])}"))
    resp_a = m["response_day_a"].to_numpy(float)
    relapse_a = m["relapse_day_a"].to_numpy(float)
    for c, _ in schema.PATIENT_COLUMNS:
        if c in NOT_COMPARED or c in DAY_FIELDS or c in ("infusion_date", "last_contact_day"):
            continue
        known_a = m[f"{c}_a"].notna().to_numpy()
        hit = diffs[c] & known_a
        if c in RESPONSE_FIELDS:
            with np.errstate(invalid="ignore"):
                hit &= ~(resp_a > end_a)
        if c == "relapse_cd19":
            hit &= np.isfinite(relapse_a)
        for i in np.flatnonzero(hit):
            flags.append(Flag("value_changed", pid[i], "patients", c, m[f"{c}_a"].iat[i], m[f"{c}_b"].iat[i],
                              f"{c} changed from {_plain(m[f'{c}_a'].iat[i])} to {_plain(m[f'{c}_b'].iat[i])}"))
    return added, removed, changed, flags


def _row_changes(con, table: str, a: int, b: int, fu_end_a: dict, ids_b: set):
    """Rows added, removed and changed in one longitudinal table, and their flags.  One SQL query
    (DuckDB) joins the two cuts' rows on the table's key and returns only the rows that differ;
    the rules run on those.  ``fu_end_a``: each patient of A's end of follow-up in A (days)."""
    keys, day = ROW_KEYS[table]
    cols = [c for c, _ in schema.TABLE_COLUMNS[table]]
    others = [c for c in cols if c not in keys]
    on = " AND ".join(f"x.{k} IS NOT DISTINCT FROM y.{k}" for k in keys)
    select = ", ".join([*(f"coalesce(x.{k}, y.{k}) AS {k}" for k in keys), "x._in AS in_a", "y._in AS in_b",
                        *(f"x.{c} AS a_{c}, y.{c} AS b_{c}" for c in others)])
    differ = " OR ".join(["x._in IS NULL", "y._in IS NULL", *(f"x.{c} IS DISTINCT FROM y.{c}" for c in others)])
    df = con.execute(f"WITH x AS (SELECT *, 1 AS _in FROM {table} WHERE cut_id = {int(a)}), "
                     f"y AS (SELECT *, 1 AS _in FROM {table} WHERE cut_id = {int(b)}) "
                     f"SELECT {select} FROM x FULL OUTER JOIN y ON {on} WHERE {differ}").df()
    only_a, only_b = df["in_b"].isna().to_numpy(), df["in_a"].isna().to_numpy()
    both = ~only_a & ~only_b
    pid = df["patient_id"].astype(str).to_numpy()
    name, when = df[keys[1]].astype(object).to_numpy(), df[day].to_numpy(float)
    end = np.array([fu_end_a.get(p, np.nan) for p in pid], float)
    flags = []
    what = table[:-1] if table != "therapies" else "therapy"
    for i in np.flatnonzero(only_a & np.array([p in ids_b for p in pid], bool)):
        flags.append(Flag("row_removed", pid[i], table, day, _plain(when[i]), None,
                          f"{what} {name[i]} at day {_plain(when[i])} in the earlier cut is gone"))
    with np.errstate(invalid="ignore"):
        backdated = only_b & (when <= end)
    for i in np.flatnonzero(backdated):
        flags.append(Flag("row_backdated", pid[i], table, day, None, _plain(when[i]),
                          f"{what} {name[i]} at day {_plain(when[i])} added, within the earlier cut's follow-up of "
                          f"the patient (to day {_plain(end[i])})"))
    changed = {}
    for c in others:
        va, vb = df[f"a_{c}"], df[f"b_{c}"]
        d = both & _differs(va, vb)
        if d.any():
            changed[c] = int(d.sum())
        hit = d & va.notna().to_numpy()
        if c == "outcome":           # an event ongoing (or of unknown outcome) at A resolved since
            hit &= ~va.isin(MATURING_OUTCOMES).to_numpy()
        xa, xb = va.to_numpy(object), vb.to_numpy(object)
        for i in np.flatnonzero(hit):
            flags.append(Flag("row_changed", pid[i], table, c, _plain(xa[i]), _plain(xb[i]),
                              f"{what} {name[i]} at day {_plain(when[i])}: {c} changed from {_plain(xa[i])} to "
                              f"{_plain(xb[i])}"))
    summary = {"added": int(only_b.sum()), "removed": int(only_a.sum()), "changed": changed}
    return summary, flags


def diff_cuts(path, cut_a, cut_b) -> Diff:
    """The changes from cut ``cut_a`` to cut ``cut_b`` (each named by label, date or number).  The
    earlier cut need not be given first: A is whichever the caller names first."""
    con = _open(path, read_only=True)
    try:
        cuts = _infos(con)
        a, b = resolve(cuts, cut_a), resolve(cuts, cut_b)
        if a.cut_id == b.cut_id:
            raise StoreError(f"diff of a cut with itself ({a.name}): give two different cuts")
        pa, pb = _patients(con, a.cut_id), _patients(con, b.cut_id)
        added, removed, changed, flags = _patient_changes(pa, pb)
        last, cut = pa["last_contact_day"].to_numpy(float), pa["data_cutoff_day"].to_numpy(float)
        fu_end = dict(zip(pa["patient_id"].astype(str), np.fmin(np.where(np.isnan(last), FAR, last),
                                                                  np.where(np.isnan(cut), FAR, cut))))
        ids_b = set(pb["patient_id"].astype(str))
        rows = {}
        for table in ROW_KEYS:
            rows[table], more = _row_changes(con, table, a.cut_id, b.cut_id, fu_end, ids_b)
            flags += more
        return Diff(a, b, added, removed, changed, rows, tuple(flags))
    finally:
        con.close()


__all__ = ["Diff", "Flag", "_name", "diff_cuts"]

"""Per-patient rules of the persistence analyses: follow-up, consecutive runs, B-cell and blood-count
recovery, ICAHT grades, CAR transgene kinetics (definitions in ``ltfu.persistence``)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ltfu.defaults import COMPLETE_RESPONSE
from ltfu.errors import InvalidInputError
from ltfu.persistence.options import CAR_TEST, PersistenceOptions

# ------------------------------------------------------------------------------------------------
# per-patient building blocks

@dataclass(frozen=True)
class _Patients:
    ids: np.ndarray
    end: np.ndarray              # end of follow-up
    death: np.ndarray            # death day if observed by the end, else nan
    relapse: np.ndarray          # relapse day if observed by the end, else nan
    cd19neg: np.ndarray          # relapse observed and CD19-negative
    therapy: np.ndarray          # first further therapy by the end, else nan
    response: np.ndarray         # response day of CR/CRi patients, else nan
    complete: np.ndarray         # CR/CRi

    @property
    def n(self) -> int:
        return int(self.ids.size)


def _col(d: pd.DataFrame, name: str) -> np.ndarray:
    return d[name].to_numpy(dtype=float) if name in d else np.full(len(d), np.nan)


def _observed(day, end):
    with np.errstate(invalid="ignore"):
        return np.where(np.isfinite(day) & (day <= end), day, np.nan)


def _patients(study, o: PersistenceOptions) -> _Patients:
    from ltfu.endpoints import end_of_follow_up

    d = study.cohort.data
    ids = d["patient_id"].astype(str).to_numpy()
    if len(set(ids)) != ids.size:
        raise InvalidInputError("patient_id: repeated patients in the cohort")
    end = end_of_follow_up(study.cohort)
    if np.isnan(end).any():
        raise InvalidInputError(f"patient {ids[np.isnan(end)][0]}: no end of follow-up (last contact)")
    relapse = _observed(_col(d, "relapse_day"), end)
    cd19 = d["relapse_cd19"].astype(object).to_numpy() if "relapse_cd19" in d else np.full(len(d), None)
    text = np.array([isinstance(v, str) for v in cd19], bool)
    negative = np.zeros(ids.size, bool)
    negative[text] = pd.Series(cd19[text], dtype=object).str.strip().str.lower().to_numpy(object) == "negative"
    cd19neg = np.isfinite(relapse) & negative
    first = np.full(ids.size, np.inf)
    t = study.therapies
    if len(t):
        t = t[t["type"].isin(o.further_therapy)]
        start = t["start_day"].to_numpy(float)
        t = t[np.isfinite(start) & (start >= 0)]
        if len(t):
            by = t.groupby(t["patient_id"].astype(str))["start_day"].min()
            first = np.fmin(first, by.reindex(ids).to_numpy(float))
    if "allo_hct" in o.further_therapy:
        hct = _col(d, "allo_hct_day")
        with np.errstate(invalid="ignore"):
            first = np.fmin(first, np.where(hct >= 0, hct, np.nan))
    therapy = _observed(np.where(np.isinf(first), np.nan, first), end)
    complete = d["best_response"].isin(COMPLETE_RESPONSE).fillna(False).to_numpy(bool) \
        if "best_response" in d else np.zeros(ids.size, bool)
    response = np.where(complete, _col(d, "response_day"), np.nan)
    return _Patients(ids, end, _observed(_col(d, "death_day"), end), relapse, cd19neg, therapy, response,
                     complete)


def _pivot(study, tests, how: str):
    """((distinct patient ids, the id of each row as an index into them), days, values) of
    ``_series`` as flat arrays sorted by patient id then day."""
    a = study.assessments
    if not len(a):
        return None
    a = a[a["test"].isin(tests)]
    day = a["day"].to_numpy(float)
    value = a["value"].to_numpy(float)
    with np.errstate(invalid="ignore"):
        keep = np.isfinite(day) & np.isfinite(value) & (day >= 0)
    if not keep.any():
        return None
    # the pivot table (patient, day) x test of the day's min or max, rows sorted by patient then day
    codes, pids = pd.factorize(a["patient_id"].astype(str).to_numpy(object)[keep], sort=True)
    day, value = day[keep], value[keep]
    column = pd.Index(list(tests)).get_indexer(a["test"].to_numpy(object)[keep])
    order = np.lexsort((day, codes))
    codes, day, value, column = codes[order], day[order], value[order], column[order]
    new = np.r_[True, (codes[1:] != codes[:-1]) | (day[1:] != day[:-1])]
    vals = np.full((int(new.sum()), len(tests)), np.nan)
    (np.fmin if how == "min" else np.fmax).at(vals, (np.cumsum(new) - 1, column), value)
    return (np.asarray(pids, dtype=object), codes[new]), day[new], vals[:, 0] if len(tests) == 1 else vals


def _series(study, tests, how: str) -> dict:
    """patient id -> (days, values): the results of ``tests`` on days >= 0, sorted, one per day
    (``how`` = "min" or "max" of a day's results), by day; for several tests the day's value per
    test is a column (values 2-D, NaN where that test was not done)."""
    got = _pivot(study, tests, how)
    if got is None:
        return {}
    (uniq, code), days, vals = got
    pids = uniq[code]
    out = {}
    bounds = np.flatnonzero(np.r_[True, pids[1:] != pids[:-1], True])
    for lo, hi in itertools.pairwise(bounds):
        out[pids[lo]] = (days[lo:hi], vals[lo:hi])
    return out


def _until(series, pid, stop):
    """The patient's results on days <= ``stop``."""
    got = series.get(pid)
    if got is None:
        return np.zeros(0), np.zeros(0)
    days, values = got
    keep = days <= stop
    return days[keep], values[keep]


def first_run(days, ok, k: int) -> tuple[float, float]:
    """(first day, confirming day) of the first run of ``k`` consecutive True in ``ok``, else (nan,
    nan).  ``days`` sorted."""
    ok = np.asarray(ok, bool)
    if ok.size < k:
        return np.nan, np.nan
    run = np.convolve(ok.astype(int), np.ones(k, int), mode="valid") == k
    hit = np.flatnonzero(run)
    if not hit.size:
        return np.nan, np.nan
    i = int(hit[0])
    return float(days[i]), float(days[i + k - 1])


@dataclass(frozen=True)
class _Flat:
    """The results of ``_series`` for the patients of a ``_Patients`` as flat arrays, by patient (in
    the patients' order) then day: the patient's position, the day, the value(s)."""

    row: np.ndarray
    day: np.ndarray
    value: np.ndarray
    max_day: float = 0.0

    def until(self, stop: np.ndarray) -> _Flat:
        """The results on days <= the patient's ``stop`` (a prefix of each patient's results)."""
        keep = self.day <= stop[self.row]
        return _Flat(self.row[keep], self.day[keep], self.value[keep], self.max_day)


def _flat(study, tests, how: str, ids: np.ndarray) -> _Flat:
    """``_series`` as a ``_Flat`` over the patients ``ids`` (results of others left out); with
    ``max_day`` the last day of any patient's results (0 without results)."""
    got = _pivot(study, tests, how)
    if got is None:
        shape = (0,) if len(tests) == 1 else (0, len(tests))
        return _Flat(np.zeros(0, np.int64), np.zeros(0), np.zeros(shape))
    (uniq, code), days, vals = got
    where = pd.Index(ids).get_indexer(uniq)[code]
    keep = np.flatnonzero(where >= 0)
    if np.all(where[keep][1:] >= where[keep][:-1]):             # the patients in id order already
        order = keep
    else:
        order = keep[np.argsort(where[keep], kind="stable")]   # by the patients' order, then day
    return _Flat(where[order].astype(np.int64), days[order], vals[order], float(days.max()))


def _first_runs(f: _Flat, ok: np.ndarray, k: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``first_run`` for every patient at once: (first day, confirming day) per patient position
    (nan: none), runs counted within each patient's own results."""
    first, confirm = np.full(n, np.nan), np.full(n, np.nan)
    m = ok.size
    if m < k or k < 1:
        return first, confirm
    run = ok[:m - k + 1].copy()
    for j in range(1, k):
        run &= ok[j:m - k + 1 + j]
    run &= f.row[:m - k + 1] == f.row[k - 1:]
    hit = np.flatnonzero(run)
    if hit.size:
        who, at = np.unique(f.row[hit], return_index=True)
        first[who] = f.day[hit[at]]
        confirm[who] = f.day[hit[at] + k - 1]
    return first, confirm


def _stop(p: _Patients, *extra) -> np.ndarray:
    """The earliest of the end of follow-up and the observed days in ``extra``."""
    stop = p.end.copy()
    for x in extra:
        stop = np.fmin(stop, x)
    return stop


class _PerPatient:
    """A per-patient result (a frozen dataclass of arrays, one entry per patient, beside scalar
    settings): ``to_frame`` has one column per array field, in the order the fields are declared."""

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame({k: v for k, v in vars(self).items() if isinstance(v, np.ndarray)})


# ---- B cells

@dataclass(frozen=True)
class BCellRecovery(_PerPatient):
    """Per patient: the recovery day (first of the run) and its confirming day (nan: none), the
    Kaplan-Meier time and status (1 recovery, 0 censored), and the competing-risks time and code
    (``B_CELL_CAUSES``; 0 censored)."""

    patient_id: np.ndarray
    recovery_day: np.ndarray
    confirmed_day: np.ndarray
    time: np.ndarray
    status: np.ndarray
    cr_time: np.ndarray
    cause: np.ndarray


def b_cell_recovery(study, options: PersistenceOptions | None = None) -> BCellRecovery:
    """B-cell recovery and the outcomes of the aplasia analyses, per patient (module docstring)."""
    o = options or PersistenceOptions()
    p = _patients(study, o)
    cd19neg_day = np.where(p.cd19neg, p.relapse, np.nan)
    stop = _stop(p, p.therapy, cd19neg_day)
    f = _flat(study, ("cd19_pct", "b_cells_per_ul"), "max", p.ids).until(stop)
    with np.errstate(invalid="ignore"):
        above = (f.value[:, 0] >= o.b_cell_pct) | (f.value[:, 1] >= o.b_cells_per_ul)
    rec, conf = _first_runs(f, above, o.b_cell_consecutive, p.n)
    got = np.isfinite(rec)
    time = np.where(got, rec, stop)
    status = got.astype(np.int8)
    # competing outcomes: the first of recovery, CD19-negative relapse, further therapy, death
    cr_time, cause = np.where(got, rec, p.end), np.where(got, 1, 0).astype(np.int8)
    for code, day in ((4, p.death), (3, p.therapy), (2, cd19neg_day)):      # later codes first: ties go
        with np.errstate(invalid="ignore"):                                # to the lower code
            hit = ~got & np.isfinite(day) & (day <= cr_time)
        cr_time = np.where(hit, day, cr_time)
        cause = np.where(hit, code, cause).astype(np.int8)
    return BCellRecovery(p.ids, rec, conf, time, status, cr_time, cause)


# ---- blood counts

@dataclass(frozen=True)
class CountRecovery(_PerPatient):
    """Per patient: recovery day (nan: none), and time and code (1 recovery, 2 death first, 0 censored)."""

    test: str
    threshold: float
    consecutive: int
    patient_id: np.ndarray
    recovery_day: np.ndarray
    time: np.ndarray
    status: np.ndarray


def count_recovery(study, test: str, threshold: float, *, consecutive: int | None = None,
                   options: PersistenceOptions | None = None) -> CountRecovery:
    """Recovery of a blood count: ``test`` >= ``threshold`` on ``consecutive`` consecutive
    assessments (day = the first), death competing, censored at further therapy and the end of
    follow-up."""
    o = options or PersistenceOptions()
    if test not in ("anc_per_ul", "platelets_per_ul"):
        raise InvalidInputError(f"test: must be anc_per_ul or platelets_per_ul, got {test!r}")
    k = o.count_consecutive if consecutive is None else consecutive
    p = _patients(study, o)
    stop = _stop(p, p.therapy)
    f = _flat(study, (test,), "min", p.ids).until(stop)
    rec = _first_runs(f, f.value >= threshold, k, p.n)[0]
    got = np.isfinite(rec)
    with np.errstate(invalid="ignore"):
        died = ~got & np.isfinite(p.death) & (p.death <= stop)
    time = np.where(got, rec, stop)
    status = np.where(got, 1, np.where(died, 2, 0)).astype(np.int8)
    return CountRecovery(test, float(threshold), int(k), p.ids, rec, time, status)


# ---- ICAHT

@dataclass(frozen=True)
class CarKinetics(_PerPatient):
    """Per patient with CAR transgene results: peak (copies/ug) and its day in the AUC window, AUC of
    log10(copies + 1) over the window (nan with < 2 results), and the loss interval (left, right]
    (right = inf: not lost, right-censored at left)."""

    patient_id: np.ndarray
    n_results: np.ndarray
    peak: np.ndarray
    peak_day: np.ndarray
    auc: np.ndarray
    left: np.ndarray
    right: np.ndarray

    @property
    def lost(self) -> np.ndarray:
        return np.isfinite(self.right)

    def to_frame(self) -> pd.DataFrame:
        f = super().to_frame()
        f["lost"] = self.lost
        return f


def car_kinetics(study, options: PersistenceOptions | None = None) -> CarKinetics:
    """CAR transgene peak, AUC and loss interval per patient with at least one result (module
    docstring); results after further therapy are not used."""
    o = options or PersistenceOptions()
    p = _patients(study, o)
    stop = _stop(p, p.therapy)
    lo, hi = o.auc_window
    f = _flat(study, (CAR_TEST,), "max", p.ids).until(stop)
    n_results = np.bincount(f.row, minlength=p.n)
    has = n_results > 0
    v, day, row = f.value, f.day, f.row
    w = (day >= lo) & (day <= hi)
    # peak: the first maximum in the window
    top = np.full(p.n, np.nan)
    np.fmax.at(top, row[w], v[w])
    peak, peak_day = np.full(p.n, np.nan), np.full(p.n, np.nan)
    cand = np.flatnonzero(w & (v == top[row]))
    who, at = np.unique(row[cand], return_index=True)
    peak[who], peak_day[who] = v[cand[at]], day[cand[at]]
    # AUC: trapezoids between consecutive results in the window, summed as numpy sums them
    auc = np.full(p.n, np.nan)
    wr = np.flatnonzero(w)
    y = np.log10(v[wr] + 1.0)
    x = day[wr]
    pair = row[wr][1:] == row[wr][:-1]
    terms = ((x[1:] - x[:-1]) * (y[1:] + y[:-1]) / 2)[pair]
    owner = row[wr][1:][pair]
    n_terms = np.bincount(owner, minlength=p.n)
    total = np.zeros(p.n)
    short = n_terms[owner] < 8                     # numpy sums fewer than 8 terms one by one
    np.add.at(total, owner[short], terms[short])
    for i in np.unique(owner[~short]):              # and more in pairs
        total[i] = np.sum(terms[owner == i])
    auc[n_terms >= 1] = total[n_terms >= 1]
    # loss of persistence: interval (last detectable before the loss, loss]
    undetectable = v <= o.car_lod
    loss = _first_runs(f, undetectable, o.car_consecutive, p.n)[0]
    lost = np.isfinite(loss)
    with np.errstate(invalid="ignore"):
        before = ~undetectable & (~lost[row] | (day < loss[row]))
    left = np.full(p.n, np.nan)
    np.fmax.at(left, row[before], day[before])
    left = np.where(np.isnan(left), 0.0, left)
    right = np.where(lost, loss, np.inf)
    keep = np.flatnonzero(has)
    return CarKinetics(np.array(p.ids[keep].tolist(), dtype=object), n_results[keep].astype(np.int64),
                       *(a[keep].astype(float) for a in (peak, peak_day, auc, left, right)))



"""Per-patient rules of the persistence analyses: follow-up, consecutive runs, B-cell and blood-count
recovery, ICAHT grades, CAR transgene kinetics (definitions in ``ltfu.persistence``)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

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
    cd19neg = np.isfinite(relapse) & np.array([isinstance(v, str) and v.strip().lower() == "negative"
                                               for v in cd19])
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


def _series(study, tests, how: str) -> dict:
    """patient id -> (days, values): the results of ``tests`` on days >= 0, sorted, one per day
    (``how`` = "min" or "max" of a day's results), by day; for several tests the day's value per
    test is a column (values 2-D, NaN where that test was not done)."""
    a = study.assessments
    if not len(a):
        return {}
    a = a[a["test"].isin(tests)]
    day = a["day"].to_numpy(float)
    value = a["value"].to_numpy(float)
    with np.errstate(invalid="ignore"):
        keep = np.isfinite(day) & np.isfinite(value) & (day >= 0)
    a = pd.DataFrame({"patient_id": a["patient_id"].astype(str).to_numpy()[keep], "day": day[keep],
                      "test": a["test"].to_numpy()[keep], "value": value[keep]})
    wide = a.pivot_table(index=["patient_id", "day"], columns="test", values="value", aggfunc=how)
    wide = wide.reindex(columns=list(tests)).sort_index()
    out = {}
    pids = wide.index.get_level_values(0).to_numpy()
    days = wide.index.get_level_values(1).to_numpy(float)
    vals = wide.to_numpy(float)
    if not pids.size:
        return {}
    bounds = np.flatnonzero(np.r_[True, pids[1:] != pids[:-1], True])
    for lo, hi in itertools.pairwise(bounds):
        v = vals[lo:hi]
        out[pids[lo]] = (days[lo:hi], v[:, 0] if len(tests) == 1 else v)
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


def _stop(p: _Patients, *extra) -> np.ndarray:
    """The earliest of the end of follow-up and the observed days in ``extra``."""
    stop = p.end.copy()
    for x in extra:
        stop = np.fmin(stop, x)
    return stop


# ---- B cells

@dataclass(frozen=True)
class BCellRecovery:
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

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame({k: getattr(self, k) for k in ("patient_id", "recovery_day", "confirmed_day", "time",
                                                           "status", "cr_time", "cause")})


def b_cell_recovery(study, options: PersistenceOptions | None = None) -> BCellRecovery:
    """B-cell recovery and the outcomes of the aplasia analyses, per patient (module docstring)."""
    o = options or PersistenceOptions()
    p = _patients(study, o)
    series = _series(study, ("cd19_pct", "b_cells_per_ul"), "max")
    cd19neg_day = np.where(p.cd19neg, p.relapse, np.nan)
    stop = _stop(p, p.therapy, cd19neg_day)
    rec, conf = np.full(p.n, np.nan), np.full(p.n, np.nan)
    for i, pid in enumerate(p.ids):
        days, v = _until(series, pid, stop[i])
        if not days.size:
            continue
        with np.errstate(invalid="ignore"):
            above = (v[:, 0] >= o.b_cell_pct) | (v[:, 1] >= o.b_cells_per_ul)
        rec[i], conf[i] = first_run(days, above, o.b_cell_consecutive)
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
class CountRecovery:
    """Per patient: recovery day (nan: none), and time and code (1 recovery, 2 death first, 0 censored)."""

    test: str
    threshold: float
    consecutive: int
    patient_id: np.ndarray
    recovery_day: np.ndarray
    time: np.ndarray
    status: np.ndarray

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame({k: getattr(self, k) for k in ("patient_id", "recovery_day", "time", "status")})


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
    series = _series(study, (test,), "min")
    stop = _stop(p, p.therapy)
    rec = np.full(p.n, np.nan)
    for i, pid in enumerate(p.ids):
        days, v = _until(series, pid, stop[i])
        rec[i] = first_run(days, v >= threshold, k)[0]
    got = np.isfinite(rec)
    with np.errstate(invalid="ignore"):
        died = ~got & np.isfinite(p.death) & (p.death <= stop)
    time = np.where(got, rec, stop)
    status = np.where(got, 1, np.where(died, 2, 0)).astype(np.int8)
    return CountRecovery(test, float(threshold), int(k), p.ids, rec, time, status)


# ---- ICAHT

@dataclass(frozen=True)
class ICAHTGrades:
    """Per patient: early grade (nan = NE), days with ANC <= 500 and <= 100 on the grid, whether the
    ANC never rose above 500 in the early window; late grade (nan = NE), the late nadir and the
    number of late results."""

    patient_id: np.ndarray
    early: np.ndarray
    days_500: np.ndarray
    days_100: np.ndarray
    never_above_500: np.ndarray
    late: np.ndarray
    late_nadir: np.ndarray
    late_n: np.ndarray

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame({k: getattr(self, k) for k in ("patient_id", "early", "days_500", "days_100",
                                                           "never_above_500", "late", "late_nadir", "late_n")})


def _episodes_days(days, values, threshold, window_end, stable, how):
    """Days at or below ``threshold`` on the step function of the results (each holds until the
    next, the last until ``window_end`` inclusive); episodes separated by a recovery shorter than
    ``stable`` days are joined with the recovery's days; the total or the longest."""
    hold = np.r_[days[1:], np.inf]
    hold = np.minimum(hold, window_end + 1)
    below = values <= threshold
    episodes = []
    i = 0
    while i < below.size:
        if not below[i]:
            i += 1
            continue
        j = i
        while j + 1 < below.size and below[j + 1]:
            j += 1
        start, stop = float(days[i]), float(hold[j])
        if episodes and start - episodes[-1][1] < stable:
            episodes[-1] = (episodes[-1][0], stop)
        else:
            episodes.append((start, stop))
        i = j + 1
    lengths = [b - a for a, b in episodes]
    if not lengths:
        return 0.0
    return float(sum(lengths) if how == "cumulative" else max(lengths))


def early_icaht_grade(days_500: float, days_100: float, never_above_500: bool) -> int:
    """The early ICAHT grade from the durations (days) with ANC <= 500 and <= 100/uL."""
    grade = 0
    if days_500 >= 1:
        grade = 1
    if days_500 >= 7:
        grade = 2
    if days_500 >= 14 or days_100 >= 7:
        grade = 3
    if days_500 >= 31 or never_above_500 or days_100 >= 14:
        grade = 4
    return grade


def late_icaht_grade(values) -> int:
    """The late ICAHT grade from the ANC results of the late window (non-empty)."""
    v = np.asarray(values, float)
    if not ((v <= 1500).sum() >= 2 or v.size == 1):
        return 0
    nadir = v.min()
    for grade, limit in ((4, 100), (3, 500), (2, 1000), (1, 1500)):
        if nadir <= limit:
            return grade
    return 0


def icaht_grades(study, options: PersistenceOptions | None = None) -> ICAHTGrades:
    """Early and late ICAHT grades per patient (module docstring)."""
    o = options or PersistenceOptions()
    p = _patients(study, o)
    series = _series(study, ("anc_per_ul",), "min")
    stop = _stop(p, p.relapse, p.therapy)
    early, d500, d100 = np.full(p.n, np.nan), np.full(p.n, np.nan), np.full(p.n, np.nan)
    never = np.zeros(p.n, bool)
    late, nadir, late_n = np.full(p.n, np.nan), np.full(p.n, np.nan), np.zeros(p.n, np.int64)
    late_end = np.inf if o.late_icaht_end is None else o.late_icaht_end
    for i, pid in enumerate(p.ids):
        days, v = _until(series, pid, stop[i])
        w_end = min(30.0, stop[i])
        m = days <= w_end
        if m.any():
            dd, vv = days[m], v[m]
            d500[i] = _episodes_days(dd, vv, 500.0, w_end, o.icaht_stable_days, o.icaht_duration)
            d100[i] = _episodes_days(dd, vv, 100.0, w_end, o.icaht_stable_days, o.icaht_duration)
            never[i] = bool((vv <= 500).all() and dd[0] <= o.icaht_start_by)
            early[i] = early_icaht_grade(d500[i], d100[i], never[i])
        m = (days > 30) & (days <= late_end)
        if m.any():
            late[i] = late_icaht_grade(v[m])
            nadir[i] = float(v[m].min())
            late_n[i] = int(m.sum())
    return ICAHTGrades(p.ids, early, d500, d100, never, late, nadir, late_n)


# ---- CAR transgene

@dataclass(frozen=True)
class CarKinetics:
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
        f = pd.DataFrame({k: getattr(self, k) for k in ("patient_id", "n_results", "peak", "peak_day", "auc", "left",
                                                        "right")})
        f["lost"] = self.lost
        return f


def car_kinetics(study, options: PersistenceOptions | None = None) -> CarKinetics:
    """CAR transgene peak, AUC and loss interval per patient with at least one result (module
    docstring); results after further therapy are not used."""
    o = options or PersistenceOptions()
    p = _patients(study, o)
    series = _series(study, (CAR_TEST,), "max")
    stop = _stop(p, p.therapy)
    lo, hi = o.auc_window
    rows = []
    for i, pid in enumerate(p.ids):
        days, v = _until(series, pid, stop[i])
        if not days.size:
            continue
        w = (days >= lo) & (days <= hi)
        peak = peak_day = auc = np.nan
        if w.any():
            j = int(np.argmax(v[w]))
            peak, peak_day = float(v[w][j]), float(days[w][j])
        if w.sum() >= 2:
            y = np.log10(v[w] + 1.0)
            x = days[w]
            auc = float(np.sum((x[1:] - x[:-1]) * (y[1:] + y[:-1]) / 2))
        undetectable = v <= o.car_lod
        loss = first_run(days, undetectable, o.car_consecutive)[0]
        detectable_days = days[~undetectable]
        if np.isfinite(loss):
            before = detectable_days[detectable_days < loss]
            left, right = (float(before.max()) if before.size else 0.0), loss
        else:
            left, right = (float(detectable_days.max()) if detectable_days.size else 0.0), np.inf
        rows.append((pid, int(days.size), peak, peak_day, auc, left, right))
    cols: list[Any] = list(zip(*rows)) if rows else [[]] * 7
    return CarKinetics(np.array(cols[0], dtype=object), np.array(cols[1], np.int64),
                       *(np.array(c, float) for c in cols[2:]))



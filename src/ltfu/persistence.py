"""CAR T-cell persistence and immune reconstitution: B-cell aplasia and recovery, immunoglobulins,
blood-count recovery and cytopenias (ICAHT), and the CAR transgene's kinetics and loss.

Input: a ``ltfu.study.model.Study`` (days from each patient's infusion).  Every rule below is a
default of ``PersistenceOptions``; ``definitions(options)`` gives the same rules as sentences for a
report.  Common rules:

* **Follow-up** ends at the end of follow-up of ``ltfu.endpoints.end_of_follow_up`` (the earlier of
  the last contact, the death date for the dead, and the data cut-off); assessments after it, and
  assessments before day 0, are not used.
* **Further therapy**: the first therapy of type ``anticancer``, ``car_t_reinfusion`` or
  ``allo_hct`` (and the patient table's ``allo_hct_day``) starting on or after day 0 and by the end
  of follow-up.  Assessments after its start day are not used by the recovery, ICAHT and CAR
  analyses (their course is then no longer the CAR T cells'); an assessment on that day is.
* **Consecutive assessments** are consecutive in the patient's own series of that test (whatever
  the gap between them); the day of a recovery is the first of the run, and the run must be
  complete within the usable assessments, so a qualifying value on the last usable assessment
  (nothing after it to confirm it) is not a recovery.  Two results of one test on one day (the
  validated tables do not allow it) count once: the lower for blood counts and IgG, the higher for
  B cells and CAR copies.

Definitions:

* **B-cell recovery**: CD19+ B cells at or above the threshold (``cd19_pct`` >= 1% of lymphocytes
  or ``b_cells_per_ul`` >= 50 cells/uL; either suffices, on the same day) on two consecutive
  B-cell assessment days (a day with either test); the recovery day is the first of the two.
  **B-cell aplasia** is its absence.  Assessments after a CD19-negative relapse or further therapy
  are not used.  The duration of aplasia (Kaplan-Meier, event = recovery) is censored at further
  therapy, at a CD19-negative relapse and at the end of follow-up (death included).  For the
  cumulative incidence, each patient has one outcome, whichever comes first (ties in this order):
  1 = B-cell recovery, 2 = CD19-negative relapse, 3 = further therapy (in remission or after a
  CD19-positive relapse: recovery is then no longer attributable to the CAR T cells), 4 = death;
  0 = censored at the end of follow-up.  A relapse whose CD19 status is not "negative" (positive,
  unknown, missing) is not an event here.
* **Relapse-free survival by B-cell recovery**: CR/CRi patients with a response day, from
  infusion to relapse or death (``ltfu.endpoints`` rules).  At each landmark L (days 90, 180, 270,
  365): patients in remission at L (response by L) and event-free and followed beyond L, grouped by
  a recovery *confirmed* by L (both assessments by L: only what is known at L), followed from L
  (Kaplan-Meier, log-rank).  The Cox model has recovery as a time-dependent covariate: rows
  (response day, recovery day] unrecovered and (recovery day, end] recovered (R ``tmerge``'s
  rules: recovery at or before the response day: recovered from the start; recovery at or after
  the end: never; an event on the recovery day counts unrecovered), delayed entry at the response
  day, Efron ties.  The switch is at the recovery day although it is confirmed at the next
  assessment (a look-ahead of one assessment interval).
* **Hypogammaglobulinaemia**: IgG below 4 g/L, or IVIG given (therapies of type ``ivig`` overlapping
  the window; no end day = ongoing to the end of follow-up).  By year after infusion (year 1 =
  days 0-366, year k = (ceil(365.25 (k - 1)), ceil(365.25 k)], so that the anniversary visit closes
  its year whatever the leap days) among the patients *assessed* that year (an
  IgG result in the year, or IVIG in the year, which replaces the measurement).  IgG by visit:
  every IgG result goes to the nearest scheduled visit (days 28, 90, 180, 270, 365, then 365.25 k
  for year k; a tie to the earlier), one result per patient and visit (the nearest to the visit
  day, the earlier on a tie); median and quartiles as R's ``quantile`` type 7.  IgG under IVIG is
  reported as measured.
* **Neutrophil recovery**: ANC >= 500/uL on 3 consecutive assessments; **platelet recovery**:
  platelets >= 20,000/uL (and, a second definition, >= 50,000/uL) on 3 consecutive assessments;
  the day is the first of them.  Platelet transfusions are not in the data model, so transfusion
  independence (the usual "without transfusion for 7 days") cannot be checked.  Cumulative
  incidence with death before recovery competing (1 = recovery, 2 = death), censored at further
  therapy and at the end of follow-up; NE beyond the group's follow-up.
* **ICAHT** (immune effector cell-associated haematotoxicity; EHA/EBMT consensus, Rejeski et al.,
  Blood 2023;142:865-877).  *Early* (days 0-30), by the days with ANC <= 500/uL and <= 100/uL:
  grade 1: <= 500 for 1-6 days; 2: 7-13 days; 3: >= 14 days, or <= 100 for >= 7 days; 4: never
  above 500 (<= 500 for all 31 days), or <= 100 for >= 14 days; 0: never <= 500.  *Late* (after
  day 30): by the nadir ANC: grade 1 <= 1500, 2 <= 1000, 3 <= 500, 4 <= 100/uL, when non-transient
  (at least two results <= 1500/uL in the window, or the only result there); else 0.  Both windows
  end at relapse, further therapy and the end of follow-up (the late window also at
  ``late_icaht_end``, default none); NE without an ANC result in the window.
  *On the assessment grid*: with counts only at visits, each result is taken to hold from its day
  until the next ANC result (the last until the window's end), so a duration is a number of days
  on that step function (an episode from its first result <= the threshold, none of the unseen
  days before it); recoveries lasting < 3 days (``icaht_stable_days``) do not end an episode and
  their days count in it; the duration is the total of the episodes in days 0-30 (``icaht_duration
  ="cumulative"``) or the longest episode (``"longest"``, Liang et al.'s automated grading).
  "Never above 500" is read on the grid as: every ANC result in the early window <= 500, the first
  by day 7 (``icaht_start_by``), and no recovery before the window ends (which, as in Liang et al.'s
  automated grading, includes death or the last contact before day 30 without recovery).
* **CAR transgene kinetics**: peak = maximum copies/ug DNA in days 0-28 (and its day); AUC(0-28) =
  trapezoid rule on log10(copies + 1) over the results in days 0-28, from the first to the last of
  them (no extrapolation to day 0 or 28; NE with fewer than two).  **Loss of CAR persistence**: the
  first of two consecutive results at or below the limit of detection (default 0 copies/ug:
  undetectable); its time is interval-censored in (last detectable result before it, first of the
  two] (left end 0 when nothing was detectable before), right-censored at the last detectable
  result when not lost.  Turnbull's NPMLE (``ltfu.stats.turnbull``) and, for comparison only, the
  midpoint Kaplan-Meier (``ltfu.stats.midpoint_km``, biased and over-confident).

What could not be verified (the consensus paper's own table was not available to read; the rules
above come from secondary sources: E. C. Liang's automated ICAHT grading "by EHA/EBMT criteria"
(R code, github.com/emilyliangmd/automatedicahtgrading), and Rejeski et al.'s T-ICAHT paper (Blood
2025), whose platelet grading "follows the principal logic of the existing N-ICAHT grading"; the
consensus abstract confirms early = days 0-30 and late = after day +30, graded by depth and
duration of neutropenia): whether the early durations are the
cumulative total of days or the longest episode (T-ICAHT: "cumulative length ... days of
non-stable count recovery (< 3 days) are counted"; Liang: the longest episode; both offered,
cumulative by default); the exact wording of grade 4 ("never above 500" vs "> 30 days", equal on
days 0-30); and the "non-transient" rule of late ICAHT (taken from Liang et al.: graded by the
nadir when a second result is <= 1500/uL or there is only one result).  ``icaht_start_by`` and the
step-function reading of durations are ltfu's, for visit-based data.

Results are frozen dataclasses with ``to_dict()`` (plain JSON: NaN becomes null), overall and by
``group`` (one label per patient of ``study.cohort.data``, or the name of one of its columns;
missing labels are left out of the groups and kept in "overall").
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from ltfu import stats
from ltfu.defaults import COMPLETE_RESPONSE
from ltfu.errors import ConvergenceError, InvalidInputError
from ltfu.stats._common import json_float

DAYS_PER_YEAR = 365.25
FURTHER_THERAPY = ("anticancer", "car_t_reinfusion", "allo_hct")
#: outcome codes of the cumulative incidence of B-cell recovery
B_CELL_CAUSES = {1: "B-cell recovery", 2: "CD19-negative relapse", 3: "further therapy", 4: "death"}
COUNT_CAUSES = {1: "recovery", 2: "death"}
ICAHT_DURATIONS = ("cumulative", "longest")
CAR_TEST = "car_transgene_copies_per_ug"


# ------------------------------------------------------------------------------------------------
# options and definitions

@dataclass(frozen=True)
class PersistenceOptions:
    """Every threshold and window of the persistence analyses (see the module docstring).

    Defaults: ``b_cell_pct`` 1.0 (% of lymphocytes) or ``b_cells_per_ul`` 50.0 (cells/uL), either
    sufficing, on ``b_cell_consecutive`` 2 consecutive assessment days; ``igg_threshold`` 4.0 g/L;
    ``anc_recovery`` 500/uL on ``count_consecutive`` 3 consecutive assessments; ``platelet_recovery``
    (20000, 50000)/uL; further therapy = ``further_therapy`` (anticancer, car_t_reinfusion,
    allo_hct); CAR limit of detection ``car_lod`` 0 copies/ug (a result <= it is undetectable) on
    ``car_consecutive`` 2 consecutive results; ``auc_window`` (0, 28) days; ``landmarks`` (90, 180,
    270, 365) days; ``report_days`` (90, 180, 270, 365, 730) for the aplasia curves and
    ``recovery_days`` (28, 60, 90, 180) for the blood counts; ``igg_visits`` (28, 90, 180, 270, 365)
    then yearly; ICAHT: ``icaht_duration`` "cumulative", ``icaht_stable_days`` 3,
    ``icaht_start_by`` 7, ``late_icaht_end`` None (no limit); ``conf_level`` 0.95 and Kaplan-Meier
    ``conf_type`` "log-log"."""

    b_cell_pct: float = 1.0
    b_cells_per_ul: float = 50.0
    b_cell_consecutive: int = 2
    igg_threshold: float = 4.0
    anc_recovery: float = 500.0
    platelet_recovery: tuple = (20000.0, 50000.0)
    count_consecutive: int = 3
    further_therapy: tuple = FURTHER_THERAPY
    car_lod: float = 0.0
    car_consecutive: int = 2
    auc_window: tuple = (0.0, 28.0)
    landmarks: tuple = (90.0, 180.0, 270.0, 365.0)
    report_days: tuple = (90.0, 180.0, 270.0, 365.0, 730.0)
    recovery_days: tuple = (28.0, 60.0, 90.0, 180.0)
    igg_visits: tuple = (28.0, 90.0, 180.0, 270.0, 365.0)
    icaht_duration: str = "cumulative"
    icaht_stable_days: float = 3.0
    icaht_start_by: float = 7.0
    late_icaht_end: float | None = None
    conf_level: float = 0.95
    conf_type: str = "log-log"

    def __post_init__(self):
        for name in ("b_cell_consecutive", "count_consecutive", "car_consecutive"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise InvalidInputError(f"{name}: must be a whole number >= 1, got {v!r}")
        for name in ("b_cell_pct", "b_cells_per_ul", "igg_threshold", "anc_recovery", "car_lod",
                     "icaht_stable_days", "icaht_start_by"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not np.isfinite(v) or v < 0:
                raise InvalidInputError(f"{name}: must be a non-negative number, got {v!r}")
        if self.icaht_duration not in ICAHT_DURATIONS:
            raise InvalidInputError(f"icaht_duration: must be one of {', '.join(ICAHT_DURATIONS)}; "
                                    f"got {self.icaht_duration!r}")
        if self.late_icaht_end is not None and not self.late_icaht_end > 30:
            raise InvalidInputError(f"late_icaht_end: must be after day 30, got {self.late_icaht_end!r}")
        lo, hi = self.auc_window
        if not 0 <= lo < hi:
            raise InvalidInputError(f"auc_window: must be (start, end) days with 0 <= start < end, got "
                                    f"{self.auc_window!r}")
        unknown = set(self.further_therapy) - {"anticancer", "car_t_reinfusion", "allo_hct", "other"}
        if unknown:
            raise InvalidInputError(f"further_therapy: unknown therapy types {sorted(unknown)}")
        for name in ("platelet_recovery", "landmarks", "report_days", "recovery_days", "igg_visits"):
            v = np.asarray(getattr(self, name), float)
            if v.ndim != 1 or not v.size or not np.isfinite(v).all() or (v < 0).any():
                raise InvalidInputError(f"{name}: must be non-negative numbers, got {getattr(self, name)!r}")
        stats.kaplan_meier([1.0], [1], conf_type=self.conf_type, conf_level=self.conf_level)  # checks both


def _g(x: float) -> str:
    return f"{x:,.10g}"


def definitions(options: PersistenceOptions | None = None) -> tuple[str, ...]:
    """The definitions in force, as sentences for a report (with ``options``' values)."""
    return tuple(_definitions(options or PersistenceOptions()).values())


def _definitions(o: PersistenceOptions) -> dict:
    """The sentences of ``definitions`` by topic (each analysis prints its own topics)."""
    therapy = ", ".join(t.replace("_", " ") for t in o.further_therapy)
    plt = " and, a second definition, ".join(f">= {_g(p)}/uL" for p in o.platelet_recovery)
    late_end = "" if o.late_icaht_end is None else f"; the late window also at day {_g(o.late_icaht_end)}"
    runs = {"cumulative": "the total of the episodes' days", "longest": "the longest episode"}[o.icaht_duration]
    return {
        "days":
            "Days are counted from the CAR T-cell infusion (day 0); follow-up ends at the last contact, death or "
            "the data cut-off, whichever is earliest, and later assessments are not used.",
        "therapy":
            f"Further therapy is the first {therapy} after infusion; assessments after its start are not used "
            "for the recovery, cytopenia and CAR transgene analyses.",
        "b_cells":
            f"B-cell recovery: CD19+ B cells >= {_g(o.b_cell_pct)}% of lymphocytes or >= "
            f"{_g(o.b_cells_per_ul)} cells/uL (either suffices) on {o.b_cell_consecutive} consecutive "
            "assessments, dated at the first of them; a qualifying last assessment with nothing after it is not a "
            "recovery. B-cell aplasia is its absence.",
        "aplasia":
            "Duration of B-cell aplasia: Kaplan-Meier estimate with recovery as the event, censored at further "
            "therapy, at a CD19-negative relapse and at the end of follow-up (death included).",
        "recovery_cif":
            "Cumulative incidence of B-cell recovery: competing events are a CD19-negative relapse, further "
            "therapy (in remission or after a CD19-positive relapse) and death, whichever comes first; Gray's "
            "test compares groups.",
        "relapse":
            "Relapse-free survival by B-cell recovery: complete responders (CR/CRi), from infusion to relapse or "
            f"death. At landmarks (days {', '.join(_g(x) for x in o.landmarks)}) patients in remission and "
            "followed beyond the landmark are grouped by a recovery confirmed by the landmark and followed from "
            "it (Kaplan-Meier, log-rank test). A Cox model treats recovery as a time-dependent covariate "
            "(unrecovered until the recovery day, recovered after it), with entry at the response date.",
        "igg":
            f"Hypogammaglobulinaemia: IgG below {_g(o.igg_threshold)} g/L, or IVIG given, in the period; by year "
            "after infusion among the patients with an IgG result or IVIG that year. IgG results are grouped by "
            f"the nearest scheduled visit (days {', '.join(_g(x) for x in o.igg_visits)}, then yearly).",
        "counts":
            f"Neutrophil recovery: ANC >= {_g(o.anc_recovery)}/uL on {o.count_consecutive} consecutive "
            f"assessments; platelet recovery: {plt} on {o.count_consecutive} consecutive assessments; each dated "
            "at the first of them. Transfusions are not recorded, so transfusion independence cannot be checked. "
            "Cumulative incidence with death competing, censored at further therapy.",
        "icaht":
            "Early ICAHT (days 0-30; EHA/EBMT consensus, Rejeski et al., Blood 2023): grade 1, ANC <= 500/uL for "
            "1-6 days; 2, 7-13 days; 3, 14 days or more, or ANC <= 100/uL for 7 days or more; 4, never above "
            "500/uL, or ANC <= 100/uL for 14 days or more. Late ICAHT (after day 30): by the lowest ANC, grade 1 "
            "<= 1500, 2 <= 1000, 3 <= 500, 4 <= 100/uL, counted when at least two results are <= 1500/uL (or "
            f"only one result exists). Both windows end at relapse, further therapy or the end of "
            f"follow-up{late_end}.",
        "icaht_grid":
            "With blood counts only at visits, each count is taken to last until the next one, so durations are "
            f"measured on the assessment grid; a recovery of less than {_g(o.icaht_stable_days)} days does not "
            f"end an episode, and the duration is {runs}. 'Never above 500/uL' means every count in days 0-30 at "
            f"or below 500/uL, the first by day {_g(o.icaht_start_by)}, with no recovery before the window ends.",
        "car":
            f"CAR transgene: peak = the highest copies/ug DNA in days {_g(o.auc_window[0])}-"
            f"{_g(o.auc_window[1])}; AUC = trapezoid rule on log10(copies + 1) over the results in that window "
            f"(first to last result). Loss of persistence: the first of {o.car_consecutive} consecutive results "
            f"at or below the limit of detection ({_g(o.car_lod)} copies/ug), known only to lie between the last "
            "detectable result and that one (interval-censored; Turnbull's estimate, with a midpoint Kaplan-Meier "
            "for comparison); right-censored at the last detectable result when not lost.",
    }


def _topics(o: PersistenceOptions, *keys) -> str:
    d = _definitions(o)
    return " ".join(d[k] for k in keys)


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
    cols = list(zip(*rows)) if rows else [[]] * 7
    return CarKinetics(np.array(cols[0], dtype=object), np.array(cols[1], np.int64),
                       *(np.array(c, float) for c in cols[2:]))


# ------------------------------------------------------------------------------------------------
# groups and summaries

def _groups(study, group):
    """(labels as str or None, sorted levels) of ``group`` over the patients of ``study.cohort.data``:
    an array (one label per patient) or the name of a cohort column; None -> (None, [])."""
    if group is None:
        return None, []
    n = study.cohort.n
    if isinstance(group, str):
        if group not in study.cohort.data:
            raise InvalidInputError(f"group: no column {group!r} in the patient table")
        group = study.cohort.data[group]
    g = group.to_numpy(dtype=object) if hasattr(group, "to_numpy") else np.asarray(group, dtype=object)
    if g.ndim != 1 or g.size != n:
        raise InvalidInputError(f"group: length {g.size} differs from the number of patients {n}")
    labels = np.array([None if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)) else str(v)
                       for v in g], dtype=object)
    return labels, sorted({v for v in labels if v is not None})


def _subsets(labels, levels, n: int) -> dict:
    """"overall" and each level -> boolean mask over the patients."""
    out = {"overall": np.ones(n, bool)}
    for lev in levels:
        out[lev] = labels == lev
    return out


def _split(subsets: dict, f) -> dict:
    """{"overall": f(overall mask), "groups": {level: f(mask)}} (groups empty without groups)."""
    return {"overall": f(subsets["overall"]), "groups": {k: f(m) for k, m in subsets.items() if k != "overall"}}


def _map(d: dict, f) -> dict:
    return {"overall": f(d["overall"]), "groups": {k: f(v) for k, v in d["groups"].items()}}


def _floats(a) -> list:
    return [json_float(v) for v in np.asarray(a, float)]


def _km_dict(km, days) -> dict | None:
    if km is None:
        return None
    at = km.at(np.asarray(days, float))
    return {"n": km.n, "events": int(km.n_event.sum()), "median": km.median.to_dict(),
            "at": {"day": _floats(days), "survival": _floats(at.survival), "std_err": _floats(at.std_err),
                   "lower": _floats(at.ci_lower), "upper": _floats(at.ci_upper),
                   "n_risk": [int(v) for v in at.n_risk]}}


def _cif_dict(fit, days, causes: dict) -> dict | None:
    if fit is None:
        return None
    out = {"n": fit.n, "events": {name: fit.events.get(code, 0) for code, name in causes.items()}, "at": {}}
    for code, name in causes.items():
        at = fit.at(np.asarray(days, float), cause=code)
        out["at"][name] = {"day": _floats(days), "estimate": _floats(at.estimate), "variance": _floats(at.variance),
                           "lower": _floats(at.lower), "upper": _floats(at.upper)}
    return out


@dataclass(frozen=True)
class CIFFit:
    """A one-group cumulative incidence and its events by code; ``at`` reads any cause, a cause
    without events being 0 (variance 0) up to the group's last follow-up and NE after it, as
    cmprsk's ``timepoints`` on a ``cuminc`` fitted with groups."""

    fit: object
    events: dict

    @property
    def n(self) -> int:
        return int(sum(self.fit.n))

    def at(self, times, *, cause: int):
        t = np.atleast_1d(np.asarray(times, float))
        if cause in self.fit.causes:
            return self.fit.at(t, cause=cause)
        grid, _ = self.fit.curve(cause=self.fit.causes[0])
        zero = np.where(t > grid[-1], np.nan, 0.0)
        return type(self.fit.at(t, cause=self.fit.causes[0]))(t, zero, zero.copy(), np.full(t.size, np.nan),
                                                              np.full(t.size, np.nan))


def _km(time, status, o: PersistenceOptions, entry=None):
    if not np.size(time):
        return None
    return stats.kaplan_meier(time, status, entry=entry, conf_type=o.conf_type, conf_level=o.conf_level)


def _cif(time, status, o: PersistenceOptions) -> CIFFit | None:
    """The cumulative incidence of one group, or None without patients or events."""
    status = np.asarray(status)
    if not np.size(time) or not np.any(status != 0):
        return None
    codes, n = np.unique(status[status != 0], return_counts=True)
    return CIFFit(stats.cumulative_incidence(time, status, conf_level=o.conf_level),
                  {int(c): int(k) for c, k in zip(codes, n)})


def _describe(x) -> dict:
    """n, median, quartiles (R type 7), min, max of the finite values."""
    v = np.asarray(x, float)
    v = v[np.isfinite(v)]
    if not v.size:
        return {"n": 0, "median": None, "q1": None, "q3": None, "min": None, "max": None}
    q1, med, q3 = np.percentile(v, [25, 50, 75])
    return {"n": int(v.size), "median": json_float(med), "q1": json_float(q1), "q3": json_float(q3),
            "min": json_float(v.min()), "max": json_float(v.max())}


def _test_between(f, labels, mask):
    """f(labels[mask]) when there are two or more groups; (result, error message)."""
    if labels is None:
        return None, None
    keep = mask & np.array([v is not None for v in labels])
    if len({v for v in labels[keep]}) < 2:
        return None, "fewer than two groups with patients"
    try:
        return f(keep), None
    except (ConvergenceError, InvalidInputError) as exc:
        return None, str(exc)


# ------------------------------------------------------------------------------------------------
# 1. B-cell aplasia and recovery

@dataclass(frozen=True)
class AplasiaAnalysis:
    """Duration of B-cell aplasia (Kaplan-Meier, event = recovery; ``survival`` = still in
    aplasia) and cumulative incidence of recovery with competing events, overall and by group."""

    patients: BCellRecovery
    days: tuple
    km: dict                   # {"overall": KaplanMeier, "groups": {label: KaplanMeier}}
    cif: dict                  # same, CIFFit
    logrank: object | None
    logrank_error: str | None
    gray: object | None
    gray_error: str | None
    definition: str = ""

    def to_dict(self) -> dict:
        p = self.patients
        return {"definition": self.definition, "n": int(p.patient_id.size),
                "recovered": int((p.status == 1).sum()),
                "outcomes": {name: int((p.cause == code).sum()) for code, name in B_CELL_CAUSES.items()}
                | {"censored": int((p.cause == 0).sum())},
                "causes": {str(k): v for k, v in B_CELL_CAUSES.items()},
                "aplasia_km": _map(self.km, lambda km: _km_dict(km, self.days)),
                "recovery_cif": _map(self.cif, lambda ci: _cif_dict(ci, self.days, B_CELL_CAUSES)),
                "logrank": None if self.logrank is None else self.logrank.to_dict(),
                "logrank_error": self.logrank_error,
                "gray": None if self.gray is None else self.gray.to_dict(), "gray_error": self.gray_error}


def aplasia(study, group=None, options: PersistenceOptions | None = None) -> AplasiaAnalysis:
    """Analysis 1: duration of B-cell aplasia and cumulative incidence of B-cell recovery."""
    o = options or PersistenceOptions()
    b = b_cell_recovery(study, o)
    labels, levels = _groups(study, group)
    subsets = _subsets(labels, levels, b.patient_id.size)
    km = _split(subsets, lambda m: _km(b.time[m], b.status[m], o))
    cif = _split(subsets, lambda m: _cif(b.cr_time[m], b.cause[m], o))
    every = np.ones(b.patient_id.size, bool)
    lr, lr_err = _test_between(lambda k: stats.logrank(b.time[k], b.status[k], labels[k].astype(str)), labels, every)
    gray, gray_err = _test_between(lambda k: stats.gray_test(b.cr_time[k], b.cause[k], labels[k].astype(str)),
                                   labels, every)
    return AplasiaAnalysis(b, tuple(float(x) for x in o.report_days), km, cif, lr, lr_err, gray, gray_err,
                           _topics(o, "b_cells", "aplasia", "recovery_cif"))


# ------------------------------------------------------------------------------------------------
# 2. relapse-free survival by B-cell recovery

@dataclass(frozen=True)
class RecoveryRows:
    """Per CR/CRi patient: entry (response day), exit and event of relapse-free survival (days from
    infusion), and the B-cell recovery day and confirming day (nan: none); with the counting-process
    rows of the time-dependent Cox model (``id``, ``tstart``, ``tstop``, ``event``, ``recovered``)."""

    patient_id: np.ndarray
    entry: np.ndarray
    time: np.ndarray
    event: np.ndarray
    recovery_day: np.ndarray
    confirmed_day: np.ndarray
    rows: pd.DataFrame


def recovery_rows(study, options: PersistenceOptions | None = None) -> RecoveryRows:
    """Relapse-free survival rows of the CR/CRi patients, with B-cell recovery (module docstring)."""
    o = options or PersistenceOptions()
    p = _patients(study, o)
    b = b_cell_recovery(study, o)
    keep = p.complete & np.isfinite(p.response)
    fail = np.fmin(p.relapse, p.death)
    event = np.isfinite(fail)
    time = np.where(event, fail, p.end)
    rec = np.where(b.status == 1, b.recovery_day, np.nan)
    conf = np.where(b.status == 1, b.confirmed_day, np.nan)
    ids, entry, time, event = p.ids[keep], p.response[keep], time[keep], event[keep].astype(np.int8)
    rec, conf = rec[keep], conf[keep]
    rows = []
    for i in np.flatnonzero(time > entry):            # no time at risk after the response: no rows
        x, a, t, e = rec[i], entry[i], time[i], event[i]
        if np.isfinite(x) and a < x < t:
            rows += [(ids[i], a, x, 0, 0), (ids[i], x, t, e, 1)]
        else:
            rows.append((ids[i], a, t, e, int(np.isfinite(x) and x <= a)))
    frame = pd.DataFrame(rows, columns=["id", "tstart", "tstop", "event", "recovered"])
    return RecoveryRows(ids, entry, time, event, rec, conf, frame)


@dataclass(frozen=True)
class RelapseByRecovery:
    """Landmark analyses (``landmarks``: day -> {"overall": Landmark, "groups": {...}}) and the Cox
    model with recovery as a time-dependent covariate (``cox``: {"overall": CoxResult or None,
    "groups": ...}, failures in ``cox_errors``)."""

    rows: RecoveryRows
    landmarks: dict
    cox: dict
    cox_errors: dict
    horizon: float = 365.0
    definition: str = ""

    def to_dict(self) -> dict:
        def lm_dict(lm):
            if lm is None:
                return None
            out = lm.to_dict()
            for name, km in (("exposed", lm.km_exposed), ("unexposed", lm.km_unexposed)):
                at = None if km is None else km.at([self.horizon])
                out[f"rfs_{name}"] = None if at is None else {
                    "days_after_landmark": self.horizon, "survival": json_float(at.survival[0]),
                    "lower": json_float(at.ci_lower[0]), "upper": json_float(at.ci_upper[0])}
            return out

        return {"definition": self.definition, "n": int(self.rows.patient_id.size),
                "events": int(self.rows.event.sum()), "recovered_ever": int(np.isfinite(self.rows.recovery_day).sum()),
                "landmarks": [{"day": float(day), **_map(v, lm_dict)} for day, v in self.landmarks.items()],
                "cox": _map(self.cox, lambda c: None if c is None else c.to_dict()),
                "cox_errors": self.cox_errors,
                "cox_rows": len(self.rows.rows)}


def _landmark(rows: RecoveryRows, mask, day: float, o: PersistenceOptions):
    m = mask & (rows.entry <= day) & (rows.time > day)
    if not m.any():
        return None
    return stats.landmark(rows.time[m], rows.event[m], rows.confirmed_day[m], landmark=day, conf_type=o.conf_type)


def _recovery_cox(rows: RecoveryRows, ids, o: PersistenceOptions):
    r = rows.rows[rows.rows["id"].isin(set(ids))]
    if not len(r):
        raise ConvergenceError("no patients")
    return stats.cox(pd.DataFrame({"recovered": r["recovered"].to_numpy(float)}), r["tstop"].to_numpy(float),
                     r["event"].to_numpy(int), entry=r["tstart"].to_numpy(float), conf_level=o.conf_level)


def relapse_by_recovery(study, group=None, options: PersistenceOptions | None = None) -> RelapseByRecovery:
    """Analysis 2: relapse-free survival by B-cell recovery (landmarks and time-dependent Cox)."""
    o = options or PersistenceOptions()
    rows = recovery_rows(study, o)
    labels, levels = _groups(study, group)
    if labels is not None:
        keep = pd.Series(labels, index=study.cohort.data["patient_id"].astype(str)).reindex(rows.patient_id)
        labels = keep.to_numpy(dtype=object)
    subsets = _subsets(labels, levels, rows.patient_id.size)
    landmarks = {float(d): _split(subsets, lambda m, d=d: _landmark(rows, m, float(d), o)) for d in o.landmarks}
    errors = {}

    def fit(name, m):
        try:
            return _recovery_cox(rows, rows.patient_id[m], o)
        except (ConvergenceError, InvalidInputError) as exc:
            errors[name] = str(exc)
            return None

    cox = {"overall": fit("overall", subsets["overall"]),
           "groups": {k: fit(k, m) for k, m in subsets.items() if k != "overall"}}
    return RelapseByRecovery(rows, landmarks, cox, errors, 365.0, _topics(o, "relapse"))


# ------------------------------------------------------------------------------------------------
# 3. immunoglobulins

def year_bounds(year: int) -> tuple[float, float]:
    """Days (lo, hi] of year ``year`` after infusion: (ceil(365.25 (year - 1)), ceil(365.25 year)],
    year 1 from day 0 inclusive, so that the anniversary visit (365 or 366 days after infusion for
    year 1, 1095 or 1096 for year 3, with the leap days between) closes its year."""
    return float(np.ceil(DAYS_PER_YEAR * (year - 1))), float(np.ceil(DAYS_PER_YEAR * year))


def igg_visit_days(max_day: float, options: PersistenceOptions | None = None) -> tuple[list, list]:
    """(labels, days) of the scheduled IgG visits up to ``max_day`` (yearly after the last)."""
    o = options or PersistenceOptions()
    days = [float(d) for d in o.igg_visits]
    labels = [f"day {d:g}" for d in days]
    k = max(2, int(np.floor(days[-1] / DAYS_PER_YEAR)) + 1)
    while k * DAYS_PER_YEAR - DAYS_PER_YEAR / 2 <= max_day:
        days.append(k * DAYS_PER_YEAR)
        labels.append(f"year {k}")
        k += 1
    return labels, days


@dataclass(frozen=True)
class IgGAnalysis:
    """IgG by scheduled visit (``visits``: one row per patient and visit) and hypogammaglobulinaemia
    and IVIG by year (``years``: per patient and year, assessed / hypogamma / ivig flags)."""

    visits: pd.DataFrame          # patient_id, visit, visit_day, day, value
    visit_labels: tuple
    visit_days: tuple
    years: pd.DataFrame           # patient_id, year, assessed, low_igg, ivig, hypogamma
    labels: object
    levels: tuple
    conf_level: float = 0.95
    definition: str = ""

    def _pids(self, level):
        if level is None:
            return None
        return set(self.labels.index[self.labels == level])

    def to_dict(self) -> dict:
        def visit_rows(level):
            pids = self._pids(level)
            f = self.visits if pids is None else self.visits[self.visits["patient_id"].isin(pids)]
            out = []
            for lab, d in zip(self.visit_labels, self.visit_days):
                out.append({"visit": lab, "day": d, **_describe(f.loc[f["visit"] == lab, "value"])})
            return out

        def year_rows(level):
            pids = self._pids(level)
            f = self.years if pids is None else self.years[self.years["patient_id"].isin(pids)]
            out = []
            for y in sorted(self.years["year"].unique()):
                g = f[(f["year"] == y) & f["assessed"]]
                n = len(g)
                row = {"year": int(y), "assessed": n, "hypogammaglobulinaemia": int(g["hypogamma"].sum()),
                       "igg_below_threshold": int(g["low_igg"].sum()), "ivig": int(g["ivig"].sum())}
                for key, col in (("hypogammaglobulinaemia_proportion", "hypogamma"), ("ivig_proportion", "ivig")):
                    row[key] = None if n == 0 else stats.binomial_ci(int(g[col].sum()), n,
                                                                     conf_level=self.conf_level).to_dict()
                out.append(row)
            return out

        return {"definition": self.definition,
                "visits": {"overall": visit_rows(None), "groups": {lev: visit_rows(lev) for lev in self.levels}},
                "years": {"overall": year_rows(None), "groups": {lev: year_rows(lev) for lev in self.levels}}}


def igg(study, group=None, options: PersistenceOptions | None = None) -> IgGAnalysis:
    """Analysis 3: IgG by visit, hypogammaglobulinaemia and IVIG by year after infusion."""
    o = options or PersistenceOptions()
    p = _patients(study, o)
    series = _series(study, ("igg_g_per_l",), "min")
    labels, levels = _groups(study, group)
    vrows = []
    max_day = max((float(d.max()) for d, _ in series.values() if d.size), default=0.0)
    vlabels, vdays = igg_visit_days(max_day, o)
    vd = np.asarray(vdays)
    for i, pid in enumerate(p.ids):
        days, v = _until(series, pid, p.end[i])
        if not days.size:
            continue
        dist = np.abs(days[:, None] - vd[None, :])
        nearest = np.argmin(dist, axis=1)                  # first minimum: the earlier visit on a tie
        best = {}
        for j, k in enumerate(nearest):
            if k not in best or dist[j, k] < dist[best[k], k]:
                best[k] = j
        for k, j in sorted(best.items()):
            vrows.append((pid, vlabels[k], vd[k], days[j], v[j]))
    visits = pd.DataFrame(vrows, columns=["patient_id", "visit", "visit_day", "day", "value"])
    # hypogammaglobulinaemia by year
    t = study.therapies
    ivig = t[t["type"] == "ivig"] if len(t) else t
    ivig_by = {pid: g for pid, g in ivig.groupby(ivig["patient_id"].astype(str))} if len(ivig) else {}
    n_years = 1
    while p.n and year_bounds(n_years + 1)[0] < np.max(p.end):
        n_years += 1
    yrows = []
    for i, pid in enumerate(p.ids):
        days, v = _until(series, pid, p.end[i])
        g = ivig_by.get(pid)
        for y in range(1, n_years + 1):
            lo, hi = year_bounds(y)
            if y > 1 and lo >= p.end[i]:
                break
            inyear = (days >= lo if y == 1 else days > lo) & (days <= hi)
            low = bool((v[inyear] < o.igg_threshold).any())
            given = False
            if g is not None:
                s = g["start_day"].to_numpy(float)
                e = np.fmin(np.where(np.isnan(g["end_day"].to_numpy(float)), np.inf, g["end_day"].to_numpy(float)),
                            p.end[i])
                with np.errstate(invalid="ignore"):
                    overlap = (s <= min(hi, p.end[i])) & ((e >= lo) if y == 1 else (e > lo))
                given = bool(overlap.any())
            assessed = bool(inyear.any() or given)
            yrows.append((pid, y, assessed, low, given, low or given))
    years = pd.DataFrame(yrows, columns=["patient_id", "year", "assessed", "low_igg", "ivig", "hypogamma"])
    lab = pd.Series(labels if labels is not None else np.full(p.n, None), index=p.ids, dtype=object)
    return IgGAnalysis(visits, tuple(vlabels), tuple(vdays), years, lab, tuple(levels), o.conf_level,
                       _topics(o, "igg"))


# ------------------------------------------------------------------------------------------------
# 4. blood-count recovery and cytopenias

@dataclass(frozen=True)
class HaematologicalRecovery:
    """Cumulative incidence of neutrophil and platelet recovery (death competing) at
    ``recovery_days``, by definition name, overall and by group; Gray's test; and the early and
    late ICAHT grades."""

    recoveries: dict              # name -> CountRecovery
    cif: dict                     # name -> {"overall": CIFFit, "groups": {label: CIFFit}}
    gray: dict                    # name -> (GrayTest or None, error or None)
    icaht: ICAHTGrades
    days: tuple
    labels: object
    levels: tuple
    definition: str = ""

    def cytopenia_table(self) -> dict:
        """Counts by grade (0-4, NE) of early and late ICAHT, overall and by group."""
        def counts(grades, m):
            g = grades[m]
            out = {str(k): int((g == k).sum()) for k in range(5)}
            out["NE"] = int(np.isnan(g).sum())
            return out

        n = self.icaht.patient_id.size
        subsets = _subsets(self.labels, list(self.levels), n)
        return {"early": _split(subsets, lambda m: counts(self.icaht.early, m)),
                "late": _split(subsets, lambda m: counts(self.icaht.late, m))}

    def to_dict(self) -> dict:
        out = {"definition": self.definition, "recovery": {}, "cytopenias": self.cytopenia_table()}
        for name, rec in self.recoveries.items():
            gray, err = self.gray[name]
            out["recovery"][name] = {
                "test": rec.test, "threshold": rec.threshold, "consecutive": rec.consecutive,
                "recovered": int((rec.status == 1).sum()), "deaths_before": int((rec.status == 2).sum()),
                "cif": _map(self.cif[name], lambda ci: _cif_dict(ci, self.days, COUNT_CAUSES)),
                "gray": None if gray is None else gray.to_dict(), "gray_error": err}
        return out


def haematological_recovery(study, group=None, options: PersistenceOptions | None = None) -> HaematologicalRecovery:
    """Analysis 4: neutrophil and platelet recovery, and the ICAHT cytopenia grades."""
    o = options or PersistenceOptions()
    recs = {f"neutrophils_{o.anc_recovery:g}": count_recovery(study, "anc_per_ul", o.anc_recovery, options=o)}
    for thr in o.platelet_recovery:
        recs[f"platelets_{thr:g}"] = count_recovery(study, "platelets_per_ul", thr, options=o)
    n = study.cohort.n
    labels, levels = _groups(study, group)
    subsets = _subsets(labels, levels, n)
    every = np.ones(n, bool)
    cif, gray = {}, {}
    for name, r in recs.items():
        cif[name] = _split(subsets, lambda m, r=r: _cif(r.time[m], r.status[m], o))
        gray[name] = _test_between(lambda k, r=r: stats.gray_test(r.time[k], r.status[k], labels[k].astype(str)),
                                   labels, every)
    return HaematologicalRecovery(recs, cif, gray, icaht_grades(study, o), tuple(float(x) for x in o.recovery_days),
                                  labels, tuple(levels), _topics(o, "counts", "icaht", "icaht_grid"))


# ------------------------------------------------------------------------------------------------
# 5. CAR transgene persistence

@dataclass(frozen=True)
class CarPersistence:
    """CAR transgene peak and AUC per patient and summarised, and time to loss of persistence by
    Turnbull's NPMLE and the midpoint Kaplan-Meier, overall and by group."""

    kinetics: CarKinetics
    turnbull: dict                # {"overall": Turnbull or None, "groups": {...}}
    midpoint: dict                # same, KaplanMeier
    days: tuple
    labels: object                # per kinetics row (None without groups)
    levels: tuple
    definition: str = ""

    def to_dict(self) -> dict:
        k = self.kinetics
        n = k.patient_id.size
        subsets = _subsets(self.labels, list(self.levels), n)

        def summary(m):
            return {"n": int(m.sum()), "peak": _describe(k.peak[m]), "log10_peak": _describe(np.log10(k.peak[m] + 1)),
                    "auc_log10": _describe(k.auc[m]), "lost": int(k.lost[m].sum())}

        def tb(t):
            if t is None:
                return None
            d = np.asarray(self.days, float)
            return {"n": t.n, "converged": t.converged, "median": json_float(t.median),
                    "at": {"day": _floats(d), "survival": _floats(t.at(d, inside="midpoint").survival),
                           "survival_max": _floats(t.at(d, inside="upper").survival),
                           "survival_min": _floats(t.at(d, inside="lower").survival)}}

        patients = [{"patient_id": str(k.patient_id[i]), "n_results": int(k.n_results[i]),
                     "peak": json_float(k.peak[i]), "peak_day": json_float(k.peak_day[i]),
                     "auc_log10": json_float(k.auc[i]),
                     "loss_left": json_float(k.left[i]), "loss_right": json_float(k.right[i]),
                     "lost": bool(k.lost[i])} for i in range(n)]
        return {"definition": self.definition, "patients": patients, "summary": _split(subsets, summary),
                "loss_turnbull": _map(self.turnbull, tb),
                "loss_midpoint_km": _map(self.midpoint, lambda km: _km_dict(km, self.days))}


def car_persistence(study, group=None, options: PersistenceOptions | None = None) -> CarPersistence:
    """Analysis 5: CAR transgene kinetics and time to loss of persistence."""
    o = options or PersistenceOptions()
    k = car_kinetics(study, o)
    labels, levels = _groups(study, group)
    if labels is not None:
        labels = pd.Series(labels, index=study.cohort.data["patient_id"].astype(str)).reindex(
            k.patient_id.astype(str)).to_numpy(dtype=object)
    subsets = _subsets(labels, levels, k.patient_id.size)

    def fit_tb(m):
        return stats.turnbull(k.left[m], k.right[m]) if m.any() and k.lost[m].any() else None

    def fit_mid(m):
        return stats.midpoint_km(k.left[m], k.right[m], conf_type=o.conf_type, conf_level=o.conf_level) \
            if m.any() else None

    return CarPersistence(k, _split(subsets, fit_tb), _split(subsets, fit_mid), tuple(float(x) for x in o.report_days),
                          labels, tuple(levels), _topics(o, "car"))


# ------------------------------------------------------------------------------------------------
# everything

@dataclass(frozen=True)
class PersistenceAnalysis:
    options: PersistenceOptions
    definitions: tuple
    aplasia: AplasiaAnalysis
    relapse: RelapseByRecovery
    igg: IgGAnalysis
    counts: HaematologicalRecovery
    car: CarPersistence
    group_name: str | None = None
    notes: tuple = field(default_factory=tuple)

    def to_dict(self) -> dict:
        opts = {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self.options).items()}
        return {"options": opts, "definitions": list(self.definitions), "group": self.group_name,
                "aplasia": self.aplasia.to_dict(), "relapse_by_recovery": self.relapse.to_dict(),
                "igg": self.igg.to_dict(), "blood_counts": self.counts.to_dict(), "car": self.car.to_dict()}


def analyse(study, group=None, options: PersistenceOptions | None = None, *, group_name: str | None = None
            ) -> PersistenceAnalysis:
    """All five persistence and immune-reconstitution analyses of ``study``, optionally by ``group``
    (one label per patient, or the name of a patient-table column such as "burden", which then also
    names the grouping)."""
    o = options or PersistenceOptions()
    if group_name is None and isinstance(group, str):
        group_name = group
    return PersistenceAnalysis(o, definitions(o), aplasia(study, group, o), relapse_by_recovery(study, group, o),
                               igg(study, group, o), haematological_recovery(study, group, o),
                               car_persistence(study, group, o), group_name)

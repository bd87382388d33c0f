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
  (Kaplan-Meier, log-rank).  The Cox model has recovery as a time-dependent covariate known when
  it is confirmed: rows (response day, confirming day] unrecovered and (confirming day, end]
  recovered (R ``tmerge``'s rules: confirmed at or before the response day: recovered from the
  start; at or after the end: never; an event on the confirming day counts unrecovered), delayed
  entry at the response day, Efron ties.  Not at the recovery day (the first of the two
  assessments): that would use the confirming assessment before it happened, and an event between
  the two (or a confirmation after the event) would count as after a recovery not yet known.
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

from ltfu.persistence.b_cells import (
    AplasiaAnalysis,
    RecoveryRows,
    RelapseByRecovery,
    aplasia,
    recovery_rows,
    relapse_by_recovery,
)
from ltfu.persistence.icaht import ICAHTGrades, early_icaht_grade, icaht_grades, late_icaht_grade
from ltfu.persistence.options import (
    B_CELL_CAUSES,
    CAR_TEST,
    COUNT_CAUSES,
    DAYS_PER_YEAR,
    FURTHER_THERAPY,
    ICAHT_DURATIONS,
    PersistenceOptions,
    definitions,
)
from ltfu.persistence.reconstitution import (
    CarPersistence,
    HaematologicalRecovery,
    IgGAnalysis,
    PersistenceAnalysis,
    analyse,
    car_persistence,
    haematological_recovery,
    igg,
    igg_visit_days,
    year_bounds,
)
from ltfu.persistence.rules import (
    BCellRecovery,
    CarKinetics,
    CountRecovery,
    b_cell_recovery,
    car_kinetics,
    count_recovery,
    first_run,
)
from ltfu.persistence.summaries import CIFFit

__all__ = [
    "B_CELL_CAUSES", "CAR_TEST", "COUNT_CAUSES", "DAYS_PER_YEAR", "FURTHER_THERAPY", "ICAHT_DURATIONS",
    "AplasiaAnalysis", "BCellRecovery", "CIFFit", "CarKinetics", "CarPersistence", "CountRecovery",
    "HaematologicalRecovery", "ICAHTGrades", "IgGAnalysis", "PersistenceAnalysis", "PersistenceOptions",
    "RecoveryRows", "RelapseByRecovery", "analyse", "aplasia", "b_cell_recovery", "car_kinetics",
    "car_persistence", "count_recovery", "definitions", "early_icaht_grade", "first_run", "haematological_recovery",
    "icaht_grades", "igg", "igg_visit_days", "late_icaht_grade", "recovery_rows", "relapse_by_recovery",
    "year_bounds",
]

"""Options of the persistence analyses and the definitions they print (see ``ltfu.persistence``)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ltfu import stats
from ltfu.errors import InvalidInputError

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
            "known when confirmed (unrecovered until the assessment that confirms the recovery, recovered "
            "after it), with entry at the response date.",
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



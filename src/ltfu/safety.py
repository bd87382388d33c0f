"""Long-term safety after a cell or gene therapy: delayed adverse events per person-time, by time
window and group, their cumulative incidence with death competing, second primary malignancies,
and how complete the yearly follow-up is.

Published long-term follow-up reports give incidence per 100 patient-years with exact Poisson
intervals, by window, and the cumulative incidence with death as a competing risk, because crude
percentages grow with follow-up and mislead (FDA guidance on long-term follow-up after gene therapy,
2020; CIBMTR form 4100).  The statistics are ltfu.stats' (``incidence_rate``, ``rate_ratio``,
``cumulative_incidence``, ``gray_test``); this module defines the quantities:

* **Person-time at risk**: from infusion (day 0) to the end of follow-up (the earliest of death, last
  contact and the data cut-off), optionally stopped at the first subsequent anticancer therapy or
  allogeneic transplant (``stop_at``), in years of 365.25 days.
* **First events** of a category: each patient counts at most once, and contributes person-time up
  to that first event.  **All events**: every event, with the whole person-time (recurrent events).
* **Windows** (default 0-3 months, 3-12 months, 1-2, 2-5, 5-15 years): an event belongs to the
  window of its onset day; a patient's person-time in a window is the overlap of [0, end] with it.
* **Cumulative incidence**: time to the first event of the category, death without it competing,
  censored at the end of follow-up; NE beyond the group's last follow-up.
* **Follow-up completeness**: for each yearly visit k (day 365.25 k, window +- ``visit_window``
  days) the patients *expected* (alive at the window's start, with potential follow-up, to the
  cut-off or an earlier death, past its end: a patient who stopped coming is still expected),
  *seen* (an assessment in the window), *missed*, and *lost* (missed, with no later assessment
  and no later contact or death on record); and Clark's completeness index (Clark et al., Lancet
  2002): observed over potential person-time, where potential follow-up runs to the cut-off (or
  death).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ltfu import stats
from ltfu.defaults import VISIT_WINDOW_DAYS
from ltfu.errors import InvalidInputError

DAYS_PER_YEAR = 365.25
#: (label, start day, end day) of the default windows
WINDOWS = (("0-3 months", 0.0, 91.3125), ("3-12 months", 91.3125, 365.25), ("1-2 years", 365.25, 730.5),
           ("2-5 years", 730.5, 1826.25), ("5-15 years", 1826.25, 5478.75))
CATEGORIES = ("second_primary_malignancy", "infection", "neurological", "autoimmune", "haematological",
              "hypogammaglobulinaemia", "other")
STOP_AT = ("none", "anticancer", "allo_hct", "anticancer_or_allo_hct")


@dataclass(frozen=True)
class PersonTime:
    """Per patient: the end of follow-up (days), why it ends there, and the day person-time stops."""

    patient_id: np.ndarray
    end: np.ndarray          # days: min(death, last contact, cut-off)
    dead: np.ndarray         # death observed by the end
    stop: np.ndarray         # days: end, or an earlier therapy that stops the time at risk
    rule: str

    @property
    def years(self) -> float:
        return float(self.stop.sum() / DAYS_PER_YEAR)


def person_time(cohort, therapies: pd.DataFrame | None = None, *, stop_at: str = "none") -> PersonTime:
    """Person-time at risk of every patient of ``cohort`` (see the module docstring)."""
    from ltfu.endpoints import end_of_follow_up

    if stop_at not in STOP_AT:
        raise InvalidInputError(f"stop_at: must be one of {', '.join(STOP_AT)}; got {stop_at!r}")
    d = cohort.data
    end = end_of_follow_up(cohort)
    death = d["death_day"].to_numpy(float) if "death_day" in d else np.full(len(d), np.nan)
    with np.errstate(invalid="ignore"):
        dead = np.isfinite(death) & (death <= end)
    stop = end.copy()
    rule = "infusion to the end of follow-up (death, last contact or data cut-off)"
    if stop_at != "none" and therapies is not None and len(therapies):
        kinds = {"anticancer": ("anticancer",), "allo_hct": ("allo_hct",),
                 "anticancer_or_allo_hct": ("anticancer", "allo_hct")}[stop_at]
        t = therapies[therapies["type"].isin(kinds)]
        first = t.groupby("patient_id")["start_day"].min()
        day = first.reindex(d["patient_id"]).to_numpy(float)
        with np.errstate(invalid="ignore"):
            earlier = np.isfinite(day) & (day < stop)
        stop = np.where(earlier, np.maximum(day, 0.0), stop)
        rule += f", stopped at the first subsequent {' or '.join(k.replace('_', ' ') for k in kinds)}"
    return PersonTime(d["patient_id"].astype(str).to_numpy(), end, dead, stop, rule)


def _events_in(events: pd.DataFrame, pt: PersonTime, category: str | None, subtype: str | None = None):
    """The events of a category (and subtype) that fall within each patient's time at risk."""
    e = events
    if category is not None:
        e = e[e["category"] == category]
    if subtype is not None:
        e = e[e["subtype"] == subtype]
    stop = pd.Series(pt.stop, index=pt.patient_id)
    within = e["onset_day"].to_numpy(float) <= stop.reindex(e["patient_id"].astype(str)).to_numpy(float)
    return e[within]


def events_beyond(events: pd.DataFrame, pt: PersonTime) -> int:
    """How many events fall after their patient's time at risk (not counted by any analysis)."""
    if not len(events):
        return 0
    return int(len(events) - len(_events_in(events, pt, None)))


@dataclass(frozen=True)
class RateRow:
    label: str
    events: int
    patients: int
    person_years: float
    rate: stats.Estimate        # per ``per`` person-years

    def to_dict(self) -> dict:
        return {"label": self.label, "events": self.events, "patients": self.patients,
                "person_years": self.person_years, "rate": self.rate.to_dict()}


def incidence(events: pd.DataFrame, pt: PersonTime, *, category: str | None = None, subtype: str | None = None,
              first_only: bool = True, mask=None, window: tuple[float, float] | None = None, per: float = 100.0,
              conf_level: float = 0.95, label: str = "") -> RateRow:
    """Events per ``per`` person-years (exact Poisson interval) among the patients of ``mask``.

    ``first_only``: each patient's first event counts and his person-time stops at it; otherwise
    every event counts over the whole person-time.  ``window`` = (start, end) days restricts both
    the events (by onset) and the person-time to that window."""
    m = np.ones(pt.patient_id.size, bool) if mask is None else np.asarray(mask, bool)
    e = _events_in(events, pt, category, subtype)
    e = e[e["patient_id"].astype(str).isin(set(pt.patient_id[m]))]
    stop = pt.stop.copy()
    if first_only and len(e):
        first = e.groupby(e["patient_id"].astype(str))["onset_day"].min()
        day = first.reindex(pt.patient_id).to_numpy(float)
        with np.errstate(invalid="ignore"):
            stop = np.where(np.isfinite(day) & (day < stop), day, stop)
        e = e.sort_values("onset_day", kind="stable").drop_duplicates("patient_id")
    lo, hi = (0.0, np.inf) if window is None else window
    days = np.clip(np.minimum(stop, hi) - lo, 0.0, None)[m]
    onset = e["onset_day"].to_numpy(float)
    in_window = (onset >= lo) & (onset < hi) if window is not None else np.ones(onset.size, bool)
    k = int(in_window.sum())
    years = float(days.sum() / DAYS_PER_YEAR)
    if years <= 0:
        rate = stats.Estimate(np.nan, np.nan, np.nan, conf_level)
    else:
        rate = stats.incidence_rate(k, years, per=per, conf_level=conf_level)
    return RateRow(label, k, int(e["patient_id"][in_window].nunique()), years, rate)


def first_event_competing(events: pd.DataFrame, pt: PersonTime, category: str, subtype: str | None = None):
    """(time days, status) per patient: 1 = first event of the category, 2 = death without it,
    0 = censored at the end of the time at risk."""
    e = _events_in(events, pt, category, subtype)
    first = e.groupby(e["patient_id"].astype(str))["onset_day"].min().reindex(pt.patient_id).to_numpy(float)
    with np.errstate(invalid="ignore"):
        has = np.isfinite(first) & (first <= pt.stop)
    died = pt.dead & (pt.end <= pt.stop)
    time = np.where(has, first, pt.stop)
    status = np.where(has, 1, np.where(died, 2, 0))
    return np.maximum(time, 0.0), status


@dataclass(frozen=True)
class Completeness:
    years: tuple[int, ...]
    expected: tuple[int, ...]
    seen: tuple[int, ...]
    missed: tuple[int, ...]
    lost: tuple[int, ...]                 # expected, missed, and no later assessment or contact
    clark_index: float                    # observed / potential person-time

    def to_dict(self) -> dict:
        return {"years": list(self.years), "expected": list(self.expected), "seen": list(self.seen),
                "missed": list(self.missed), "lost": list(self.lost), "clark_index": self.clark_index}


def completeness(cohort, assessments: pd.DataFrame, *, visit_window: float = VISIT_WINDOW_DAYS, max_years: int = 15
                 ) -> Completeness:
    """Yearly visits expected, seen and missed, and Clark's completeness index."""
    from ltfu.endpoints import end_of_follow_up

    d = cohort.data
    ids = d["patient_id"].astype(str).to_numpy()
    end = end_of_follow_up(cohort)
    death = d["death_day"].to_numpy(float) if "death_day" in d else np.full(len(d), np.nan)
    cutoff = d["data_cutoff_day"].to_numpy(float) if "data_cutoff_day" in d else np.full(len(d), np.nan)
    # potential follow-up: to the cut-off (or death before it); without a cut-off, the last contact
    potential = np.where(np.isfinite(cutoff), cutoff, end)
    with np.errstate(invalid="ignore"):
        potential = np.where(np.isfinite(death) & (death < potential), death, potential)
    seen_days = assessments.groupby(assessments["patient_id"].astype(str))["day"].apply(
        lambda s: np.sort(s.to_numpy(float)))
    years, expected, seen, missed, lost = [], [], [], [], []
    horizon = np.nanmax(potential) if potential.size else 0.0
    for k in range(1, max_years + 1):
        visit = k * DAYS_PER_YEAR
        if visit - visit_window > horizon:
            break
        with np.errstate(invalid="ignore"):
            alive = ~(np.isfinite(death) & (death < visit - visit_window))
            eligible = alive & (potential >= visit + visit_window)
        got = np.zeros(ids.size, bool)
        later = end > visit + visit_window          # a later contact (last contact or death)
        for i in np.flatnonzero(eligible):
            days = seen_days.get(ids[i])
            if days is not None and days.size:
                got[i] = np.any(np.abs(days - visit) <= visit_window)
                later[i] |= np.any(days > visit + visit_window)
        years.append(k)
        expected.append(int(eligible.sum()))
        seen.append(int((eligible & got).sum()))
        missed.append(int((eligible & ~got).sum()))
        lost.append(int((eligible & ~got & ~later).sum()))
    while expected and expected[-1] == 0:       # visits no patient has reached yet
        for v in (years, expected, seen, missed, lost):
            v.pop()
    observed = np.clip(end, 0, None).sum()
    pot = np.clip(potential, 0, None).sum()
    return Completeness(tuple(years), tuple(expected), tuple(seen), tuple(missed), tuple(lost),
                        float(observed / pot) if pot > 0 else float("nan"))

"""Endpoints: per-patient time (days) and status arrays, pure functions of a Cohort.

Common rule: each patient is followed to the *end of follow-up* = the last contact or the data
cut-off, whichever is earlier (the last contact of the dead is the death date).  An event after
the end of follow-up is ignored and the patient censored at it.  Day 0 is the infusion.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ltfu.cohort.model import Cohort
from ltfu.defaults import COMPLETE_RESPONSE as COMPLETE


@dataclass(frozen=True)
class Endpoint:
    """Times in days; status 0 = censored, 1 = event (competing endpoints: 1, 2 = causes)."""

    name: str
    label: str
    time: np.ndarray
    status: np.ndarray
    patient_id: np.ndarray
    definition: str
    # which rows of the cohort table it was computed from (a boolean mask; None: not known), so that
    # the analysis gathers cohort columns without an index of every patient id (40 MB at 1e6)
    rows: np.ndarray | None = field(default=None, compare=False, repr=False)

    @property
    def n(self) -> int:
        return int(self.time.size)

    def to_dict(self) -> dict:
        """Summary without patient rows."""
        return {"name": self.name, "label": self.label, "definition": self.definition, "n": self.n,
                "events": {str(int(k)): int((self.status == k).sum()) for k in np.unique(self.status) if k}}


def _col(cohort: Cohort, name: str) -> np.ndarray:
    d = cohort.data
    return d[name].to_numpy(dtype=float) if name in d else np.full(len(d), np.nan)


def end_of_follow_up(cohort: Cohort) -> np.ndarray:
    """min(last contact, data cut-off) in days; the cut-off only shortens follow-up."""
    return np.fmin(_col(cohort, "last_contact_day"), _col(cohort, "data_cutoff_day"))


def _observed(day, end):
    """An event day counts only if it is known and not after the end of follow-up."""
    with np.errstate(invalid="ignore"):
        return np.isfinite(day) & (day <= end)


def _complete_response(cohort: Cohort) -> np.ndarray:
    return cohort.data["best_response"].isin(COMPLETE).fillna(False).to_numpy(bool)


def _ids(cohort: Cohort, mask=None) -> np.ndarray:
    """The patients' ids as text.  Ids that are already all text (a validated cohort's) are the
    cohort's own array, not a copy per endpoint (8 MB each at 1e6 patients, and a pass over every
    id); others are converted."""
    col = cohort.data["patient_id"]
    values = col.to_numpy()
    text = col.dtype == object and pd.api.types.infer_dtype(values, skipna=False) == "string"
    ids = values if text else col.astype(str).to_numpy()
    return ids if mask is None else ids[mask]


def _rows(cohort: Cohort, mask=None) -> np.ndarray:
    """``Endpoint.rows``: the cohort rows behind ``_ids(cohort, mask)``."""
    return np.ones(len(cohort.data), bool) if mask is None else np.asarray(mask, bool)


def _first_event(end, *days):
    """Earliest observed event among ``days``: (time, status)."""
    time = end.copy()
    status = np.zeros(end.size, dtype=np.int8)
    for day in days:
        hit = _observed(day, end) & (day <= time)
        time = np.where(hit, day, time)
        status = np.where(hit, 1, status).astype(np.int8)
    return time, status


def overall_survival(cohort: Cohort) -> Endpoint:
    end = end_of_follow_up(cohort)
    time, status = _first_event(end, _col(cohort, "death_day"))
    return Endpoint("os", "Overall survival", time, status, _ids(cohort),
                    "Infusion to death from any cause; censored at the end of follow-up.", _rows(cohort))


def event_free_survival(cohort: Cohort, *, nonresponder: str = "day0", censor_at_hct: bool = False) -> Endpoint:
    """Events: no CR/CRi (at day 0, or at the response assessment), relapse, death."""
    if nonresponder not in ("day0", "assessment"):
        raise ValueError("nonresponder must be 'day0' or 'assessment'")
    end = end_of_follow_up(cohort)
    death, relapse, resp = _col(cohort, "death_day"), _col(cohort, "relapse_day"), _col(cohort, "response_day")
    time, status = _first_event(end, relapse, death)
    bor = cohort.data["best_response"]
    known = bor.notna().to_numpy()
    failure = known & ~_complete_response(cohort)
    if nonresponder == "day0":
        fail_day = np.zeros(end.size)
    else:  # at the assessment; a patient never assessed (NE, early death) fails at day 0
        fail_day = np.where(np.isfinite(resp), np.fmin(resp, end), 0.0)
    time = np.where(failure, np.fmin(fail_day, time), time)
    status = np.where(failure, 1, status).astype(np.int8)
    hct_rule = ""
    if censor_at_hct:
        hct = _col(cohort, "allo_hct_day")
        cens = ~failure & _observed(hct, end) & (hct < time)
        time = np.where(cens, hct, time)
        status = np.where(cens, 0, status).astype(np.int8)
        hct_rule = " Censored at a subsequent allogeneic HCT."
    when = "day 0" if nonresponder == "day0" else "the response assessment (day 0 if never assessed)"
    return Endpoint("efs", "Event-free survival", time, status, _ids(cohort),
                    f"Infusion to no CR/CRi (an event at {when}), relapse or death, whichever first; "
                    f"censored at the end of follow-up.{hct_rule} A best response of NE (not evaluable) is "
                    "no CR/CRi; patients without a recorded best response count only relapse and death.",
                    _rows(cohort))


def relapse_free_survival(cohort: Cohort, *, censor_at_hct: bool = False) -> Endpoint:
    """Among CR/CRi patients with a response date: from the response to relapse or death."""
    keep = _complete_response(cohort) & np.isfinite(_col(cohort, "response_day"))
    end = end_of_follow_up(cohort)[keep]
    resp = _col(cohort, "response_day")[keep]
    time, status = _first_event(end, _col(cohort, "relapse_day")[keep], _col(cohort, "death_day")[keep])
    rule = ""
    if censor_at_hct:
        hct = _col(cohort, "allo_hct_day")[keep]
        cens = _observed(hct, end) & (hct < time)
        time = np.where(cens, hct, time)
        status = np.where(cens, 0, status).astype(np.int8)
        rule = " Censored at a subsequent allogeneic HCT."
    return Endpoint("rfs", "Relapse-free survival", np.maximum(time - resp, 0.0), status, _ids(cohort, keep),
                    "CR/CRi patients, from the response date to relapse or death, whichever first; "
                    f"censored at the end of follow-up.{rule}", _rows(cohort, keep))


def relapse_competing(cohort: Cohort, *, origin: str = "response") -> Endpoint:
    """CR/CRi patients: 1 = relapse, 2 = death in remission (the competing event), 0 = censored."""
    if origin not in ("response", "infusion"):
        raise ValueError("origin must be 'response' or 'infusion'")
    keep = _complete_response(cohort) & np.isfinite(_col(cohort, "response_day"))
    end = end_of_follow_up(cohort)[keep]
    relapse, death = _col(cohort, "relapse_day")[keep], _col(cohort, "death_day")[keep]
    rel, dead = _observed(relapse, end), _observed(death, end)
    relapse_first = rel & (~dead | (relapse <= death))
    death_first = dead & ~relapse_first
    time = np.where(relapse_first, relapse, np.where(death_first, death, end))
    status = np.where(relapse_first, 1, np.where(death_first, 2, 0)).astype(np.int8)
    start = _col(cohort, "response_day")[keep] if origin == "response" else 0.0
    return Endpoint("relapse_cr", "Relapse (death in remission competing)", np.maximum(time - start, 0.0),
                    status, _ids(cohort, keep),
                    f"CR/CRi patients, from the {origin} date: relapse (cause 1) or death without relapse "
                    "(cause 2), whichever first; censored at the end of follow-up.", _rows(cohort, keep))


def time_to_allo_hct(cohort: Cohort) -> Endpoint:
    """CR/CRi patients, from infusion: 1 = allo-HCT in remission, 2 = relapse or death first."""
    keep = _complete_response(cohort)
    end = end_of_follow_up(cohort)[keep]
    hct = _col(cohort, "allo_hct_day")[keep]
    first_fail, failed = _first_event(end, _col(cohort, "relapse_day")[keep], _col(cohort, "death_day")[keep])
    got = _observed(hct, end) & (~failed.astype(bool) | (hct <= first_fail))
    time = np.where(got, hct, first_fail)
    status = np.where(got, 1, np.where(failed == 1, 2, 0)).astype(np.int8)
    return Endpoint("allo_hct", "Subsequent allogeneic HCT", time, status, _ids(cohort, keep),
                    "CR/CRi patients, from infusion to allogeneic HCT in remission (cause 1), with relapse "
                    "or death before it competing (cause 2); censored at the end of follow-up.",
                    _rows(cohort, keep))


def follow_up(cohort: Cohort) -> Endpoint:
    """Observation time and death, for the reverse Kaplan-Meier median follow-up."""
    os_ = overall_survival(cohort)
    return Endpoint("follow_up", "Follow-up", os_.time, os_.status, os_.patient_id,
                    "Infusion to the end of follow-up (death or last contact or cut-off); the median is "
                    "estimated by reverse Kaplan-Meier (censoring as the event).", os_.rows)


#: every endpoint function by name; each Endpoint carries its one definition (which reflects the
#: options it was computed with, e.g. censoring at a transplant)
ENDPOINTS = {"os": overall_survival, "efs": event_free_survival, "rfs": relapse_free_survival,
             "relapse_cr": relapse_competing, "allo_hct": time_to_allo_hct, "follow_up": follow_up}

"""The validated study: the patient Cohort and the longitudinal tables, typed, times in days.

This is the contract between the study's loading and validation and its analyses (``ltfu.safety``,
``ltfu.persistence``).  Columns of the typed tables (days are days from that patient's infusion;
NaN where absent):

events       ``patient_id`` (str), ``term`` (str), ``category`` (one of schema.CATEGORIES),
             ``subtype`` (str or None), ``onset_day``, ``resolution_day`` (float; NaN = ongoing),
             ``grade`` (Int64, 1-5), ``serious`` (boolean), ``outcome``, ``related``,
             ``transgene_test`` (str or None)
assessments  ``patient_id``, ``day`` (float), ``visit`` (str or None), ``test`` (one of
             schema.TESTS), ``value`` (float, in the test's canonical unit; NaN for rcl_result),
             ``result`` (str: rcl_result's code, else None)
therapies    ``patient_id``, ``type`` (one of schema.THERAPY_TYPES), ``start_day``, ``end_day``
             (float; NaN = ongoing)

A study of a single patient table has empty longitudinal tables (with these columns), and the
efficacy analysis works on ``Study.cohort`` alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from ltfu.cohort.model import Cohort

EVENT_COLUMNS = ("patient_id", "term", "category", "subtype", "onset_day", "resolution_day", "grade", "serious",
                 "outcome", "related", "transgene_test")
ASSESSMENT_COLUMNS = ("patient_id", "day", "visit", "test", "value", "result")
THERAPY_COLUMNS = ("patient_id", "type", "start_day", "end_day")


def empty(columns) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})


@dataclass(frozen=True)
class Study:
    cohort: Cohort
    events: pd.DataFrame = field(default_factory=lambda: empty(EVENT_COLUMNS))
    assessments: pd.DataFrame = field(default_factory=lambda: empty(ASSESSMENT_COLUMNS))
    therapies: pd.DataFrame = field(default_factory=lambda: empty(THERAPY_COLUMNS))
    sources: dict = field(default_factory=dict)         # table -> (file name or sheet, SHA-256)
    warnings: tuple = ()                                # problems of severity "warning", every table
    #: the study's data cuts when it comes from a study store (ltfu.store): (name, ISO cut date,
    #: Study) oldest first, this cut last; two or more add the maturity section to the analysis
    cuts: tuple = field(default=(), repr=False, compare=False)

    @property
    def longitudinal(self) -> bool:
        """Whether the study has any event, assessment or therapy."""
        return bool(len(self.events) or len(self.assessments) or len(self.therapies))

    def __repr__(self) -> str:
        return (f"Study({self.cohort.n} patients, {len(self.events)} events, {len(self.assessments)} assessments, "
                f"{len(self.therapies)} therapies{', SYNTHETIC' if self.cohort.synthetic else ''})")

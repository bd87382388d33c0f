"""The validated cohort: one row per infused patient, typed, times in days from infusion.

This is the contract between data entry (``ltfu.cohort.load``/``validate``) and everything after it
(``ltfu.endpoints``, ``ltfu.analysis``).  Columns of ``Cohort.data``:

identity   ``patient_id`` (str, unique), ``infusion_date`` (datetime64 or NaT when the file gave
           only ``*_day`` columns)
days       ``last_contact_day``, ``death_day``, ``response_day``, ``relapse_day``,
           ``allo_hct_day``, ``data_cutoff_day``: float days since infusion (day 0), NaN if absent.
           ``data_cutoff_day`` is the cut-off date minus the infusion date (NaN: no cut-off).
disease    ``best_response`` (str: CR, CRi, PR, SD, PD, NR, NE or missing),
           ``mrd_negative`` ("yes"/"no"/"unknown" or missing), ``marrow_blasts_pct`` (float),
           ``extramedullary`` (pandas boolean), ``relapse_cd19`` ("positive"/"negative"/"unknown")
toxicity   ``crs_grade``, ``neurotox_grade`` (pandas Int64, 0-5), ``crs_scale``, ``neurotox_scale``
           (str), ``crs_death`` (pandas boolean)
baseline   ``age`` (float), ``sex`` (str), ``ph_positive``, ``prior_allo_hct``,
           ``prior_blinatumomab``, ``prior_inotuzumab`` (pandas boolean), ``prior_lines`` (Int64),
           ``dose_cells_per_kg`` (float), ``conditioning``, ``centre`` (str)
derived    ``burden``: "low" (< threshold % blasts and no extramedullary disease), "high"
           (>= threshold or extramedullary), or missing when neither can be decided.
other      any other column of the file, kept as read (usable as a covariate).

The text columns (``best_response``, ``mrd_negative``, ``relapse_cd19``, ``crs_scale``,
``neurotox_scale``, ``sex``, ``conditioning``, ``centre``, ``burden``) of a validated cohort are
pandas Categoricals of str, categories sorted, missing NaN (``ltfu.cohort.parse._categorical``):
a byte a patient where an object pointer took eight (about 60 MB less at 1e6 patients, shared by the
report's workers).  The analysis accepts them as objects too (a Cohort built through the API).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from ltfu.defaults import BURDEN_THRESHOLD as DEFAULT_BURDEN_THRESHOLD
from ltfu.defaults import DAYS_PER_MONTH  # noqa: F401  (re-exported: months = days / 30.4375)

DAY_COLUMNS = ("last_contact_day", "death_day", "response_day", "relapse_day", "allo_hct_day",
               "data_cutoff_day")


@dataclass(frozen=True)
class Cohort:
    data: pd.DataFrame
    source: str = "<memory>"
    sha256: str | None = None
    burden_threshold: float = DEFAULT_BURDEN_THRESHOLD
    cutoff_date: str | None = None          # ISO date of the data cut-off, when known
    synthetic: bool = False                 # True for the demonstration cohort
    warnings: tuple = field(default_factory=tuple)  # validation Problems of severity "warning"

    @property
    def n(self) -> int:
        return len(self.data)

    def __repr__(self) -> str:
        burden = self.data["burden"].value_counts().to_dict() if "burden" in self.data else {}
        return (f"Cohort({self.n} patients, source={self.source!r}, data cut-off {self.cutoff_date or 'none'}, "
                f"burden low {burden.get('low', 0)} / high {burden.get('high', 0)}, "
                f"{len(self.warnings)} validation warning(s){', SYNTHETIC' if self.synthetic else ''})")

    def to_frame(self) -> pd.DataFrame:
        """A copy of the typed patient table (times in days from infusion)."""
        return self.data.copy()

    def _repr_html_(self) -> str:
        from html import escape

        d = self.data
        rows = [("patients", self.n), ("source", self.source), ("data cut-off", self.cutoff_date or "none"),
                ("synthetic", "yes" if self.synthetic else "no"), ("validation warnings", len(self.warnings))]
        for col in ("best_response", "burden"):
            if col in d:
                rows.append((col.replace("_", " "), ", ".join(f"{k} {v}" for k, v in d[col].value_counts().items())))
        body = "".join(f"<tr><td>{escape(str(k))}</td><td>{escape(str(v))}</td></tr>" for k, v in rows)
        return f"<table><caption>Cohort</caption>{body}</table>"

    def subset(self, mask) -> Cohort:
        """A new Cohort restricted to the rows where ``mask`` is True (e.g. a burden group)."""
        return Cohort(self.data.loc[mask].reset_index(drop=True), self.source, self.sha256,
                      self.burden_threshold, self.cutoff_date, self.synthetic, self.warnings)

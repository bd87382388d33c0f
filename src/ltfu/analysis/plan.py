"""What an analysis computes, decided once from the cohort and the options: the endpoints, the
groups they are compared across, and the covariates of the models.  Every section reads the plan;
none recomputes an endpoint."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ltfu import endpoints as ep
from ltfu.analysis.common import group_masks
from ltfu.analysis.engine import Counter
from ltfu.analysis.options import AnalysisOptions
from ltfu.cohort.model import Cohort

# covariate -> (label, how it is made from the cohort's columns)
COVARIATES = {
    "high_burden": "High disease burden (vs low)",
    "age_per_10y": "Age, per 10 years",
    "log10_dose": "CAR T-cell dose, per log10 cells/kg",
    "prior_allo_hct": "Prior allogeneic HCT",
    "ph_positive": "Philadelphia chromosome positive",
    "prior_blinatumomab": "Prior blinatumomab",
}
METHODS = {"ml": "Maximum likelihood", "firth": "Firth's penalised likelihood"}


def term_label(term: str) -> str:
    """A model term as a reader names it ("High disease burden" for high_burden)."""
    return COVARIATES.get(term, term.replace("_", " "))


TOXICITY_COVARIATES = ("high_burden", "age_per_10y", "log10_dose", "prior_allo_hct", "ph_positive")
TOXICITY_MULTIVARIABLE = ("high_burden", "age_per_10y")   # few severe events: about 10 per term
COX_COVARIATES = ("high_burden", "age_per_10y", "prior_allo_hct", "ph_positive", "prior_blinatumomab")
# the cohort columns that ``covariates`` reads
COVARIATE_COLUMNS = ("burden", "age", "dose_cells_per_kg", "prior_allo_hct", "ph_positive", "prior_blinatumomab")


def _same_memory(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two arrays are views of the same memory with the same layout (so equal)."""
    return (a.dtype == b.dtype and a.shape == b.shape and a.strides == b.strides
            and a.__array_interface__["data"][0] == b.__array_interface__["data"][0])


def covariates(d: pd.DataFrame, names) -> pd.DataFrame:
    """The model terms of ``names`` that the data can support, one column each (NaN = missing):
    burden as 0/1, age per 10 years, log10 dose (only with more than one positive dose), and the
    yes/no characteristics that vary.  The columns are one C-ordered float block, each written
    there as it is made, which a model's design matrix takes as it is
    (``stats._common.design_matrix``: no copy; 40 MB at 1e6 patients and 5 terms)."""
    terms: dict = {}
    for name in names:
        if name == "high_burden":
            terms[name] = lambda: (d["burden"] == "high").astype(float).where(d["burden"].notna())
        elif name == "age_per_10y":
            if "age" in d and d["age"].notna().any():
                terms[name] = lambda: pd.to_numeric(d["age"], errors="coerce") / 10.0
        elif name == "log10_dose":
            if "dose_cells_per_kg" in d and d["dose_cells_per_kg"].notna().any():
                dose = pd.to_numeric(d["dose_cells_per_kg"], errors="coerce")
                if dose.nunique() > 1 and (dose > 0).all():
                    terms[name] = lambda dose=dose: np.log10(dose)
        elif name in d and d[name].astype("boolean").nunique() > 1:
            terms[name] = lambda name=name: d[name].astype("boolean").astype("Float64")
    block = np.empty((len(d), len(terms)))
    for j, make in enumerate(terms.values()):
        block[:, j] = make().to_numpy(float, na_value=np.nan)
    return pd.DataFrame(block, index=d.index, columns=list(terms), copy=False)


@dataclass(frozen=True)
class Plan:
    """The endpoints of the analysis (computed once) and the cohort they come from."""

    cohort: Cohort
    options: AnalysisOptions
    efs: ep.Endpoint
    os: ep.Endpoint
    rfs: ep.Endpoint
    relapse: ep.Endpoint          # relapse with death in remission competing (CR/CRi patients)
    follow_up: ep.Endpoint
    # who counts the risk sets (options.engine), and the curves counted so far, shared by sections
    counter: Counter = field(default_factory=Counter, compare=False, repr=False)

    @classmethod
    def build(cls, cohort: Cohort, options: AnalysisOptions) -> Plan:
        return cls(cohort, options,
                   ep.event_free_survival(cohort, nonresponder=options.efs_nonresponder,
                                          censor_at_hct=options.censor_at_hct),
                   ep.overall_survival(cohort),
                   ep.relapse_free_survival(cohort, censor_at_hct=options.censor_at_hct),
                   ep.relapse_competing(cohort), ep.follow_up(cohort), Counter(options.engine))

    @property
    def survival_endpoints(self) -> dict:
        return {"efs": self.efs, "os": self.os, "rfs": self.rfs}

    def _positions(self, endpoint: ep.Endpoint):
        """The endpoint's rows in the cohort (None when an id is missing or repeated), looked up once
        per endpoint and shared: the sections ask for several columns of the same endpoints, and
        indexing the whole cohort each time cost seconds at 1e6 patients.  An endpoint that knows
        its rows (``Endpoint.rows``) gives them, checked against its ids; otherwise (an endpoint of
        another table) each id is looked up in an index of the cohort's ids."""
        cache = self.counter.shared.setdefault("aligned", {})
        hit = cache.get(id(endpoint))
        if hit is None or hit[0] is not endpoint:
            pos = self._own_rows(endpoint)
            if pos is None:
                index = self.counter.shared.get("patient_index")
                if index is None:
                    index = self.counter.shared["patient_index"] = pd.Index(self.cohort.data["patient_id"])
                pos = index.get_indexer(np.asarray(endpoint.patient_id)) if index.is_unique else None
                pos = None if pos is None or (pos < 0).any() else pos
            hit = cache[id(endpoint)] = (endpoint, pos)
        return hit[1]

    def share(self) -> None:
        """The endpoints' rows in the cohort (``_positions``) looked up now, before worker processes
        are forked: each would otherwise look them up again, reading every patient id (and so
        copying the pages of a million ids, whose reference counts it writes)."""
        for endpoint in (self.efs, self.os, self.rfs, self.relapse, self.follow_up):
            self._positions(endpoint)

    def _own_rows(self, endpoint: ep.Endpoint):
        """``endpoint.rows`` as positions when they are this cohort's rows of its ids, else None."""
        rows = endpoint.rows
        ids = self.cohort.data["patient_id"]
        if rows is None or rows.size != len(ids) or int(rows.sum()) != endpoint.n:
            return None
        pos = self._row_positions(rows)
        values, mine = ids.to_numpy(object), np.asarray(endpoint.patient_id, object)
        if pos.size == values.size and _same_memory(values, mine):
            return pos                  # the cohort's own ids (``endpoints._ids``): nothing to compare
        # positions, not ids: right even where an id repeats (a Cohort built through the API)
        return pos if np.array_equal(values[pos], mine) else None

    def _row_positions(self, rows: np.ndarray) -> np.ndarray:
        """The positions of a boolean row mask, in the narrowest integer type that holds them, one
        array shared by every endpoint of all the rows (event-free and overall survival, follow-up):
        kept for the whole analysis and, before a fork, shared by its workers, they were 35 MB of
        int64 at 1e6 patients, now 10.  numpy and pandas index by them as by int64 (the same rows)."""
        kind = np.int32 if rows.size < 2**31 else np.int64
        if rows.all():
            pos = self.counter.shared.get("every_row")
            if pos is None or pos.size != rows.size:
                pos = self.counter.shared["every_row"] = np.arange(rows.size, dtype=kind)
        else:
            pos = np.flatnonzero(rows).astype(kind)
        pos.flags.writeable = False         # shared: read only
        return pos

    def aligned(self, endpoint: ep.Endpoint, column: str) -> np.ndarray:
        """A cohort column's values aligned with an endpoint's patients (endpoints may be subsets);
        an id not in the cohort gives a missing value, as reindex does."""
        return self.aligned_frame(endpoint, (column,))[column].to_numpy()

    def aligned_frame(self, endpoint: ep.Endpoint, columns) -> pd.DataFrame:
        """The cohort's ``columns`` (those it has, with their dtypes) aligned with an endpoint's
        patients, as a new frame indexed 0..n-1: only these columns are gathered."""
        d = self.cohort.data
        columns = [c for c in columns if c in d]
        pos = self._positions(endpoint)
        if pos is None:
            out = d.set_index("patient_id")[columns].reindex(np.asarray(endpoint.patient_id))
        else:
            out = d[columns].iloc[pos]
        return out.reset_index(drop=True)

    def masks(self, endpoint: ep.Endpoint | None = None) -> dict:
        """Group masks (all, low and high burden) over the cohort or an endpoint's patients."""
        burden = self.cohort.data["burden"] if endpoint is None else self.aligned(endpoint, "burden")
        return group_masks(burden)

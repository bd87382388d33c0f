"""ltfu.stats: numpy arrays in, frozen dataclasses out; options keyword-only, named as in R.

Every estimate a peer tool also computes agrees with R ``survival``/``cmprsk`` to a relative 1e-6
(goldens in ``tests/reference``).  Names are imported lazily so that ``ltfu --help`` stays fast.
"""

from __future__ import annotations

import importlib

from ltfu.stats._common import Estimate, TestResult

# public name -> submodule that defines it
_EXPORTS = {
    # survival core (km.py, restricted_mean.py, survdiff.py, coxmodel.py, zph.py); no module shares a public name
    "kaplan_meier": "km", "KaplanMeier": "km", "median_follow_up": "km", "FollowUp": "km",
    "nelson_aalen": "km", "NelsonAalen": "km",
    "rmst": "restricted_mean", "rmst_difference": "restricted_mean", "RMST": "restricted_mean",
    "RMSTDifference": "restricted_mean",
    "logrank": "survdiff", "LogRank": "survdiff", "logrank_trend": "survdiff",
    "cox": "coxmodel", "CoxResult": "coxmodel", "cox_zph": "zph", "CoxZph": "zph",
    # exact and association (exact.py, logreg.py)
    "binomial_ci": "exact", "fisher_exact": "exact", "FisherResult": "exact",
    "wilcoxon_ranksum": "exact", "wilcoxon_ranksum_counts": "exact", "WilcoxonResult": "exact",
    "chisq_test": "chisq",
    "logistic": "logreg", "logistic_counts": "logreg", "LogisticResult": "logreg",
    # competing risks and time-dependent exposure (competing.py, finegray.py, timedep.py)
    "cumulative_incidence": "competing", "CumulativeIncidence": "competing",
    "gray_test": "competing", "GrayTest": "competing",
    "fine_gray": "finegray", "FineGrayResult": "finegray",
    "split_at_event": "timedep", "mantel_byar": "timedep", "simon_makuch": "timedep",
    "landmark": "timedep",
    # interval-censored times: Turnbull's NPMLE (interval.py)
    "turnbull": "interval", "Turnbull": "interval", "midpoint_km": "interval",
    # incidence rates per person-time (rates.py)
    "incidence_rate": "rates", "rate_ratio": "rates", "RateRatio": "rates",
    # resampling (resample.py)
    "bootstrap_median": "resample", "bootstrap_survival_difference": "resample",
    "permutation_logrank": "resample",
    # the same estimators from a Parquet file, DuckDB relation or Spark DataFrame (engines/)
    "kaplan_meier_from": "engines", "logrank_from": "engines", "cumulative_incidence_from": "engines",
    "cox_from": "engines", "gray_test_from": "engines", "nelson_aalen_from": "engines",
    "median_follow_up_from": "engines",
}

__all__ = ["Estimate", "TestResult", *sorted(_EXPORTS)]


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'ltfu.stats' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"ltfu.stats.{module}"), name)
    globals()[name] = value
    return value


def __dir__():
    return __all__

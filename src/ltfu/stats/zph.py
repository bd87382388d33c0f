"""Test of proportional hazards, as R ``survival::cox.zph`` (survival >= 3.0).

For each term, the score test of adding x * g(t) to the fitted model, at the fitted coefficients
with the added ones at 0, where g is the transformed time centred at its mean over the events:
"km" g = 1 - S(t-) (pooled Kaplan-Meier, left-continuous), "rank" the rank of t among all
observation times, "identity" t.  With per-event-time weights h_k = g(t_k) and g(t_k)^2 the score
and information of the augmented model are sums of the Cox fit's per-time pieces, so the test
reuses the Cox machinery.  GLOBAL tests all terms together.

A fit of ``ltfu.stats.engines.cox_from`` carries its query model instead of the rows: the same g
comes from its counts tables (pooled deaths, numbers at risk and exits per merged time) and the
same pieces from one more step query at the fitted coefficients (``CoxQueryModel.zph_pieces``),
so the test needs no rows in memory (tests: 1e-9 relative to the in-memory test).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import chdtrc
from scipy.stats import rankdata

from ltfu.errors import ConvergenceError, InvalidInputError
from ltfu.stats._common import Result, TestResult, _json_float, check_choice
from ltfu.stats.coxmodel import CoxModel, CoxResult
from ltfu.stats.km import kaplan_meier


@dataclass(frozen=True, repr=False)
class CoxZph(Result):

    _table_fields = ("terms", "statistic", "df", "p_value")
    terms: tuple
    statistic: np.ndarray
    df: np.ndarray
    p_value: np.ndarray
    global_test: TestResult
    transform: str

    def to_dict(self) -> dict:
        return {"transform": self.transform, "terms": list(self.terms),
                "statistic": [_json_float(v) for v in self.statistic], "df": [int(v) for v in self.df],
                "p_value": [_json_float(v) for v in self.p_value], "global": self.global_test.to_dict()}


def cox_zph(fit: CoxResult, *, transform: str = "km") -> CoxZph:
    """cox.zph's score tests for a fitted Cox model (``transform`` "km", "rank" or "identity"), from
    ``ltfu.stats.cox`` or ``ltfu.stats.engines.cox_from`` (its source must still be readable).

    Raises ConvergenceError where R's ``solve`` stops: the augmented information is singular
    (judged by its reciprocal condition number, so a near-singular matrix is an error rather than
    a negative or meaningless statistic)."""
    check_choice(transform, "transform", ("km", "rank", "identity"))
    model = fit.model
    if model is None:
        raise InvalidInputError("fit: a CoxResult from ltfu.stats.cox or ltfu.stats.engines.cox_from (it carries "
                                "its model)")
    beta = fit.coef
    if isinstance(model, CoxModel) and model.counts is not None:
        raise InvalidInputError("fit: a Cox model fitted on counted rows (cox(counts=...)); the proportional-hazards "
                                "check needs the rows (fit them with cox, or with cox_from at scale)")
    if isinstance(model, CoxModel):
        info, u_g, info_g, info_gg = _pieces_from_rows(model, beta, transform)
    else:                        # cox_from's model: the same pieces from one more step query's sums
        info, u_g, info_g, info_gg = model.zph_pieces(beta, transform)
    p = beta.size
    imat = np.block([[info, info_g], [info_g.T, info_gg]])
    u = np.r_[np.zeros(p), u_g]
    stat = np.empty(p)
    for j in range(p):
        kk = np.r_[np.arange(p), p + j]
        stat[j] = _solve_form(imat[np.ix_(kk, kk)], u[kk])
    glob = _solve_form(imat, u)
    df = np.ones(p)
    return CoxZph(fit.terms, stat, df, chdtrc(1, stat), TestResult(glob, float(p), float(chdtrc(p, glob))),
                  transform)


def _pieces_from_rows(model: CoxModel, beta, transform):
    """I, and with the time weights h_k = g(t_k): sum_k h_k U_k, sum_k h_k I_k, sum_k h_k^2 I_k."""
    t, e, entry = model.time, model.event, model.entry
    if transform == "identity":
        tt = t.astype(float)
    elif transform == "rank":
        tt = rankdata(t)
    else:
        km = kaplan_meier(t, e, entry=entry, conf_type="log", timefix=False)
        idx = np.searchsorted(km.time, t, side="left")          # KM times strictly before t
        tt = 1.0 - np.r_[1.0, km.survival][idx]
    g = model.layout_rows(tt - tt[e == 1].mean())
    weights1, weights2 = [], []
    for st in model.strata:
        gk = np.empty(st.times.size)
        gk[st.dead_k] = g[st.idx][st.dead_rows]
        weights1.append(gk)
        weights2.append(gk * gk)
    # one pass over the risk sets at beta for the three (their sums are shared)
    (_, _, info), (_, u_g, info_g), (_, _, info_gg) = model.score_pieces_many(beta, [None, weights1, weights2])
    return info, u_g, info_g, info_gg


def _solve_form(m, u):
    """u' m^-1 u, or ConvergenceError for a singular m: reciprocal condition below 1e-12 once its
    rows and columns are scaled to a unit diagonal (the identity transform at a time scale of 1e6
    has entries 1e12 apart without being singular)."""
    d = np.sqrt(np.abs(np.diag(m)))
    with np.errstate(all="ignore"):
        scaled = m / np.outer(d, d)
        rcond = 1.0 / np.linalg.cond(scaled) if np.all(d > 0) else 0.0
    if not np.isfinite(rcond) or rcond < 1e-12:
        raise ConvergenceError("the proportional-hazards test is not defined here: its information matrix is "
                               "singular (e.g. the transformed event times do not vary, or every event at one "
                               "time); R's cox.zph stops too")
    return float(u @ np.linalg.solve(m, u))

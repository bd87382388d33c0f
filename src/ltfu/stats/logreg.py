"""Logistic regression for binary outcomes (e.g. severe CRS), with Firth's penalised likelihood.

- "ml": maximum likelihood through statsmodels; Wald intervals and p-values as R's
  ``summary(glm)`` and ``confint.default``.
- "firth": Firth's bias-reduced penalised likelihood (Heinze & Schemper 2002), l(b) + 1/2 log|I(b)|,
  which gives finite estimates under separation (common with 53 patients and rare toxicities).
  Intervals and p-values as R ``logistf``'s defaults: profile penalised likelihood limits and
  penalised likelihood-ratio tests.  Hand-written: statsmodels has no Firth regression.
- "auto": ML unless the data are separated (or ML fails to converge), then Firth, with
  ``separation=True`` and a note saying why.

Separation is decided by its definition, as R's detectseparation (Konis 2007): with X~ the design
rows multiplied by +1 (y = 1) or -1 (y = 0), maximum likelihood estimates fail to exist exactly
when some b != 0 has X~ b >= 0 (a hyperplane puts every outcome on its side, complete or
quasi-complete).  The linear program max 1'X~b subject to X~b >= 0, -1 <= b <= 1, on the
standardised design (an invertible affine change of the columns, which keeps separation), has
optimum 0 without separation and a positive one with it.  Never by thresholds on fitted
probabilities or standard errors, which depend on the scale of a covariate.  A design whose
standardised columns are nearly collinear (condition number above 1e10) is its own error.

Above ``GROUP_MIN`` rows (a registry) every method runs on the distinct design rows with their
counts and events, the grouped binomial form of the same likelihood: a design row repeated c times
with e events contributes e log p + (c - e) log(1 - p), its c rows' Firth hat values sum to c times
one row's, and the separation program's constraints are the distinct signed rows.  The estimates,
standard errors and tests are those of the row-by-row fit (tested against it); 1e6 patients with a
few hundred covariate patterns then cost a few hundred rows.  Maximum likelihood on grouped data is
statsmodels' binomial GLM with (events, non-events) as its response.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq
from scipy.special import expit
from scipy.stats import chi2, norm

from ltfu.errors import ConvergenceError, InvalidInputError
from ltfu.stats._common import Result, _json_float, check_choice, check_conf_level, design_matrix, z_quantile

GROUP_MIN = 1000


@dataclass(frozen=True, repr=False)
class LogisticResult(Result):

    _table_fields = ("terms", "coef", "se", "odds_ratio", "or_lower", "or_upper", "p_value")
    terms: tuple
    coef: np.ndarray            # without the intercept
    se: np.ndarray
    p_value: np.ndarray
    odds_ratio: np.ndarray
    or_lower: np.ndarray
    or_upper: np.ndarray
    intercept: float
    method: str
    separation: bool
    converged: bool
    n: int
    n_events: int
    note: str
    conf_level: float

    def to_dict(self) -> dict:
        f = lambda a: [_json_float(v) for v in a]
        return {"terms": list(self.terms), "coef": f(self.coef), "se": f(self.se), "p_value": f(self.p_value),
                "odds_ratio": f(self.odds_ratio), "or_lower": f(self.or_lower), "or_upper": f(self.or_upper),
                "intercept": _json_float(self.intercept), "method": self.method, "separation": self.separation,
                "converged": self.converged, "n": self.n, "n_events": self.n_events, "note": self.note,
                "conf_level": self.conf_level}


def _design(X, y):
    yv = np.asarray(y, dtype=float)
    terms, Xv = design_matrix(X, yv.size)
    if not np.isin(yv, (0.0, 1.0)).all():
        raise InvalidInputError("y: must be 0 or 1")
    if yv.min() == yv.max():
        raise InvalidInputError("y: all outcomes are the same; there is nothing to model")
    return terms, np.column_stack([np.ones(yv.size), Xv]), yv


def row_patterns(columns) -> tuple[np.ndarray, np.ndarray]:
    """(the first row of each distinct combination of the ``columns``' values, NaN a value of its
    own, in order of first appearance; each row's pattern, numbered 0, 1, ... in that order): pandas'
    hash factorisation of each column that takes more than one value, the codes combined into one
    integer key (re-compacted should it grow beyond 2^62) and factorised once.  The patterns and
    their order are pandas' groupby(sort=False, dropna=False)'s (tested); the logistic fits group
    their design rows with it, the report's toxicity models their patients."""
    import pandas as pd

    n = len(columns[0]) if columns else 0
    key = np.zeros(n, dtype=np.int64)
    span = 1
    for col in columns:
        codes, levels = pd.factorize(col)                   # NaN: -1
        size = len(levels) + 1
        if len(levels) + bool((codes < 0).any()) <= 1:      # one value (the intercept): nothing to tell apart
            continue
        if span * size > 1 << 62:
            key = pd.factorize(key)[0]
            span = int(key.max()) + 1
        key, span = key * size + (codes + 1), span * size
    codes = pd.factorize(key)[0]
    first = pd.Series(codes).drop_duplicates().index.to_numpy()     # codes count up in that order
    return first, codes


def _grouped(Xd, y):
    """(distinct design rows, their counts, their events), in order of first appearance
    (``row_patterns``)."""
    first, codes = row_patterns([Xd[:, j] for j in range(Xd.shape[1])])
    m = first.size
    return Xd[first], np.bincount(codes, minlength=m).astype(float), np.bincount(codes, weights=y, minlength=m)


def _penalised(beta, X, y, c=None):
    """Penalised log-likelihood, Firth's modified score and the information at beta; with counts
    ``c``, ``y`` holds each row's events (the grouped form, see the module docstring)."""
    eta = X @ beta
    p = expit(eta)
    w = p * (1 - p) if c is None else c * (p * (1 - p))
    info = (X * w[:, None]).T @ X
    sign, logdet = np.linalg.slogdet(info)
    if sign <= 0:
        raise ConvergenceError("singular information matrix (collinear terms)")
    inv = np.linalg.inv(info)
    h = np.einsum("ij,jk,ik->i", X, inv, X) * w                 # hat values
    # log p = -log(1 + e^-eta), log(1 - p) = -log(1 + e^eta): stable when p reaches 0 or 1
    fails = 1 - y if c is None else c - y
    loglik = float(-np.sum(y * np.logaddexp(0, -eta) + fails * np.logaddexp(0, eta)))
    score = X.T @ ((y - p if c is None else y - c * p) + h * (0.5 - p))
    return loglik + 0.5 * logdet, score, info


def _firth_fit(X, y, *, c=None, fixed=None, start=None, max_iter=100, tol=1e-9):
    """Maximise the penalised likelihood; ``fixed`` = (index, value) profiles one coefficient."""
    k = X.shape[1]
    beta = np.zeros(k) if start is None else start.copy()
    free = np.ones(k, bool)
    if fixed is not None:
        free[fixed[0]] = False
        beta[fixed[0]] = fixed[1]
    pl, score, info = _penalised(beta, X, y, c)
    for _ in range(max_iter):
        step = np.zeros(k)
        step[free] = np.linalg.solve(info[np.ix_(free, free)], score[free])
        step_max = np.abs(step).max()
        if step_max > 5:                                        # logistf's maxstep
            step *= 5 / step_max
        for _half in range(30):
            new = beta + step
            pl_new, score_new, info_new = _penalised(new, X, y, c)
            if pl_new >= pl - 1e-12 * max(1.0, abs(pl)):     # rounding of a large sum
                break
            step /= 2
        beta, pl, score, info = new, pl_new, score_new, info_new
        if np.abs(step).max() < tol and np.abs(score[free]).max() < 1e-7:
            return beta, pl, info, True
    return beta, pl, info, False


def _ml(X, y, c=None):
    """(coefficients, standard errors, converged) or (None, why): statsmodels' Newton-Raphson Logit,
    or its binomial GLM on grouped rows (``c`` counts, ``y`` events)."""
    # the two model modules, not statsmodels.api: that also imports time series, graphics and
    # scipy.signal, 0.6 s more on every report (measured after ltfu's own imports)
    from statsmodels.discrete.discrete_model import Logit
    from statsmodels.genmod.families import Binomial
    from statsmodels.genmod.generalized_linear_model import GLM

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            if c is None:
                res = Logit(y, X).fit(disp=0, maxiter=100, method="newton")
                converged = bool(res.mle_retvals.get("converged", False))
            else:
                # Newton-Raphson as Logit (IRLS's test is an absolute change of the deviance, out of
                # reach in floating point when the deviance is 1e6)
                res = GLM(np.column_stack([y, c - y]), X, family=Binomial()).fit(
                    method="newton", maxiter=100, disp=0)
                converged = bool(res.mle_retvals.get("converged", False))
        except Exception as exc:  # statsmodels raises on perfect separation / singular matrices
            return None, f"{type(exc).__name__}: {exc}"
    return (np.asarray(res.params), np.asarray(res.bse), converged), None


def _standardised(Xd, c=None):
    """The design with each non-intercept column centred and scaled to unit standard deviation (over
    the rows each repeated ``c`` times)."""
    Z = Xd.copy()
    if c is None:
        sd, mean = Z[:, 1:].std(axis=0), Z[:, 1:].mean(axis=0)
    else:
        mean = c @ Z[:, 1:] / c.sum()
        sd = np.sqrt(c @ (Z[:, 1:] - mean) ** 2 / c.sum())
    Z[:, 1:] = (Z[:, 1:] - mean) / np.where(sd > 0, sd, 1.0)
    return Z


def separated(Xd, y, c=None) -> bool:
    """Whether the outcome is (quasi-)completely separated by the design ``Xd`` (intercept first):
    the linear program of the module docstring (scipy's HiGHS).  With counts ``c`` the rows are
    distinct patterns and ``y`` their events: the constraints are each pattern's signed rows that
    occur (+ with an event, - with a non-event), the objective sums every row."""
    from scipy.optimize import linprog

    Z = _standardised(Xd, c)
    if c is None:
        rows = Z * np.where(y == 1, 1.0, -1.0)[:, None]
        objective, n = rows.sum(axis=0), rows.shape[0]
    else:
        # identical rows are the same constraint: the feasible set, hence the optimum, is that of
        # the distinct rows
        rows = np.vstack([Z[y > 0], -Z[c - y > 0]])
        objective, n = (2 * y - c) @ Z, c.sum()
    res = linprog(-objective, A_ub=-rows, b_ub=np.zeros(rows.shape[0]), bounds=[(-1, 1)] * Z.shape[1],
                  method="highs")
    if res.status != 0:
        raise ConvergenceError(f"the separation check could not be solved ({res.message})")
    return bool(-res.fun > 1e-6 * max(1.0, np.sqrt(n)))


def logistic(X, y, *, method: str = "auto", conf_level: float = 0.95) -> LogisticResult:
    """Fit a logistic model; see the module docstring for the methods."""
    check_choice(method, "method", ("auto", "ml", "firth"))
    conf_level = check_conf_level(conf_level)
    terms, Xd, yv = _design(X, y)
    n, events = int(yv.size), int(yv.sum())
    c = None
    if n > GROUP_MIN:              # the distinct rows span the same space; sqrt(c) rows keep X'X
        Xd, c, yv = _grouped(Xd, yv)
    return _fit(terms, Xd, yv, c, n, events, method, conf_level)


def logistic_counts(X, trials, events, *, method: str = "auto", conf_level: float = 0.95) -> LogisticResult:
    """``logistic(X_rows, y)`` from the distinct design rows ``X`` (one per covariate pattern), how
    many patients share each (``trials``) and how many of them had the outcome (``events``): what
    an engine's GROUP BY returns.  Above ``GROUP_MIN`` patients the grouped likelihood, as
    ``logistic`` fits it; up to it the rows are rebuilt (at most ``GROUP_MIN``) and given to
    ``logistic``.  The patterns' order is not ``logistic``'s own (first appearance), so the fits
    agree to rounding (1e-12), not bit for bit."""
    check_choice(method, "method", ("auto", "ml", "firth"))
    conf_level = check_conf_level(conf_level)
    c = np.asarray(trials, dtype=float)
    yv = np.asarray(events, dtype=float)
    terms, Xv = design_matrix(X, c.size)
    if c.ndim != 1 or yv.shape != c.shape or (c <= 0).any() or (yv < 0).any() or (yv > c).any() \
            or (c != np.floor(c)).any() or (yv != np.floor(yv)).any():
        raise InvalidInputError("trials, events: whole numbers per pattern, 0 <= events <= trials, trials >= 1")
    n, total = int(c.sum()), int(yv.sum())
    if n <= GROUP_MIN:
        rows = np.repeat(np.arange(c.size), c.astype(np.int64))
        outcome = np.concatenate([np.r_[np.ones(int(e)), np.zeros(int(k - e))] for e, k in zip(yv, c)])
        return logistic(_frame(Xv[rows], terms), outcome, method=method, conf_level=conf_level)
    if total in (0, n):
        raise InvalidInputError("y: all outcomes are the same; there is nothing to model")
    return _fit(terms, np.column_stack([np.ones(c.size), Xv]), yv, c, n, total, method, conf_level)


def _frame(values, terms):
    """The design's columns as a frame named by ``terms`` (the names ``logistic`` reports)."""
    import pandas as pd

    return pd.DataFrame(values, columns=list(terms))


def _fit(terms, Xd, yv, c, n, events, method, conf_level) -> LogisticResult:
    """The fit of ``logistic`` on a design (intercept first), row by row (``c`` None) or grouped."""
    if np.linalg.matrix_rank(Xd) < Xd.shape[1]:
        raise ConvergenceError(f"singular design: {', '.join(terms)} are collinear or constant")
    Z = _standardised(Xd, c)
    if np.linalg.cond(Z if c is None else Z * np.sqrt(c)[:, None]) > 1e10:
        raise ConvergenceError(f"nearly collinear design: {', '.join(terms)} are almost linear combinations of "
                               "each other, so their coefficients cannot be told apart")
    z = z_quantile(conf_level)
    note = ""
    separation = separated(Xd, yv, c)
    if method in ("auto", "ml") and not separation:
        res, err = _ml(Xd, yv, c)
        ok = res is not None and res[2] and np.all(np.isfinite(res[1]))
        if ok:
            return _ml_result(res, terms, z, n, events, conf_level)
        if method == "ml":
            raise ConvergenceError("maximum likelihood did not converge although the outcome is not separated"
                                   + (f" ({err})" if err else ""))
        note = "maximum likelihood did not converge: Firth's penalised likelihood used"
    elif method == "ml":
        raise ConvergenceError("maximum likelihood estimates do not exist (separation: a combination of the "
                               "terms predicts the outcome perfectly); use method='firth'")
    if separation:
        note = "separation in maximum likelihood: Firth's penalised likelihood used"
    beta, pl, info, ok = _firth_fit(Xd, yv, c=c)
    if not ok:
        raise ConvergenceError("Firth's penalised likelihood did not converge")
    var = np.linalg.inv(info)
    se = np.sqrt(np.diag(var))
    crit = chi2.ppf(conf_level, 1)
    lower, upper, pvals = [], [], []
    for j in range(1, Xd.shape[1]):
        def dev(b, j=j):
            _, pl_b, _, _ = _firth_fit(Xd, yv, c=c, fixed=(j, b), start=beta)
            return 2 * (pl - pl_b) - crit
        width = max(10 * se[j], 1.0)
        lo = _root(dev, beta[j], beta[j] - width, -1)
        hi = _root(dev, beta[j], beta[j] + width, +1)
        lower.append(lo)
        upper.append(hi)
        _, pl0, _, _ = _firth_fit(Xd, yv, c=c, fixed=(j, 0.0), start=beta)
        pvals.append(float(chi2.sf(max(2 * (pl - pl0), 0.0), 1)))
    coef = beta[1:]
    return LogisticResult(terms, coef, se[1:], np.array(pvals), np.exp(coef), np.exp(lower), np.exp(upper),
                          float(beta[0]), "firth", separation, True, n, events,
                          note or "Firth's penalised likelihood (profile penalised-likelihood intervals)",
                          conf_level)


def _root(f, centre, far, direction):
    """The profile limit: f changes sign between the estimate and a point far enough out."""
    for _ in range(12):
        if f(far) > 0:
            return brentq(f, min(centre, far), max(centre, far), xtol=1e-10)
        far = centre + 2 * (far - centre)
    return float(direction * np.inf)


def _ml_result(res, terms, z, n, events, conf_level):
    params, bse, _ = res
    coef, se = params[1:], bse[1:]
    pv = 2 * norm.sf(np.abs(coef / se))
    with np.errstate(over="ignore"):       # an odds ratio beyond 1e308 is inf, as R prints it
        ratios = np.exp(coef), np.exp(coef - z * se), np.exp(coef + z * se)
    return LogisticResult(terms, coef, se, pv, *ratios,
                          float(params[0]), "ml", False, True, n, events,
                          "maximum likelihood; Wald intervals", conf_level)

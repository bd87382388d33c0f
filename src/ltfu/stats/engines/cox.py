"""Cox regression at scale: the Newton loop in numpy, the per-iteration sums from the engine.

``cox_from`` fits the model ``ltfu.stats.cox`` fits (Efron or Breslow ties, strata, delayed entry,
R's time merging), with the rows left where they are.  The kernel's derivation is in
``ltfu.stats.coxmodel``: at each event time the fit needs the risk-set sums S0 = sum w, S1 =
sum w x, S2 = sum w x x' (w = exp(x'b - shift), x centred) and the same sums over the deaths, A0,
A1, A2.  Every one of them is a sum over rows grouped by (stratum, exit time, status) or by
(stratum, entry time): the risk set {entry < t <= exit} at t is "exit >= t" minus "entry >= t",
reverse cumulative sums over the grouped rows.  So each Newton step is one query

    SELECT strata, t, e, en, SUM(w), SUM(w x_j), SUM(w x_j x_k) ...
    GROUP BY GROUPING SETS ((strata, t, e), (strata, en))

(both groupings from one scan), returning O(distinct times x strata) rows; numpy then merges
close times (R's rule, as in the counts), accumulates, and does the Efron arithmetic.  A first
query, before the loop, checks the input and returns what does not depend on beta: the counts
tables (deaths per time, through ``_counts.assemble``), the covariates' sums, ranges, moments and
death sums.

Choices, and what they cost in agreement with ``ltfu.stats.cox`` (tests: 1e-10 relative on
coefficients, variances, log-likelihoods and tests, on random data with ties, strata and
delayed entry):

- shift.  ``cox`` subtracts the largest x'b of each stratum before exponentiating; a query would
  need a pass to find it, so the shift is the first pass's bound on x'b over all rows,
  sum_j max(b_j lo_j, b_j hi_j) (lo, hi: the centred covariates' range), which keeps every w <= 1.
  The shift cancels in every ratio and is added back in log S0.  If the bound exceeds the
  narrowest possible eta range by so much that small weights could underflow (spread > 600 on the
  log scale), the exact MAX(x'b) is queried first (one more scan that iteration).
- centring.  As R and ``cox``: x minus its mean; the mean is a SQL sum divided by n (numpy's is a
  pairwise sum), equal to the last bits, which move nothing beyond 1e-15.
- Efron.  ``coxmodel.efron_terms``, shared with ``cox``: for a time with one death the terms are
  exact closed forms (1/S0, 1/S0^2, no f-terms); for more than 64 tied deaths whose weight is at
  most a tenth of the risk set's, the power series in A0/S0 (exact to rounding: 24 terms, the
  sums over the deaths by Faulhaber's formula); otherwise expanded over the d tied deaths (f = 0,
  1/d, ...) in blocks of about 2^18 deaths so memory stays bounded.  No digamma-difference closed
  form is used (it loses digits as S0 grows).
- sums.  SQL SUM over doubles in an order the engine chooses (run to run, thread to thread),
  where ``cox`` uses cumulative sums in time order: agreement to about 1e-14 relative, not bit
  for bit (a coefficient near 0 agrees to ~1e-14 absolute, so relatively less).

The result keeps its ``CoxQueryModel`` (``model``; not in ``to_dict``), so ``ltfu.stats.cox_zph``
tests proportional hazards on it (transforms "km", "rank", "identity"): g from the counts tables
already fetched (pooled deaths, numbers at risk and exits per merged time), the per-time pieces
weighted by g and g^2 from one more step query at the fitted coefficients (``zph_pieces``); the
in-memory test to about 1e-12 relative.  The fit's own queries and numbers are unchanged.

Not supported here (use ``ltfu.stats.cox``): case weights, cluster-robust variances (and so score
residuals), factor covariates (give numeric or boolean columns; dummy-code categories in the
query).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import chdtrc
from scipy.stats import norm

from ltfu.errors import ConvergenceError, InvalidInputError
from ltfu.stats._common import TestResult, check_choice, check_conf_level, z_quantile
from ltfu.stats.counting import Counts
from ltfu.stats.coxmodel import check_finite_gram, dependent_terms, efron_terms, lr_test
from ltfu.stats.engines._counts import Aggregates, _merge_map, assemble, column, make_spec
from ltfu.stats.engines._sql import count_if, is_numeric_type
from ltfu.stats.km import survival_from_counts

SPREAD_MAX = 600.0       # log-scale spread of the shift bound beyond which MAX(x'b) is queried


def _lit(v: float) -> str:
    return f"CAST('{float(v)!r}' AS DOUBLE)"


def _pairs(p):
    return [(i, j) for i in range(p) for j in range(i, p)]


class _Query:
    """The SQL of the first pass and of each Newton step, for one engine."""

    def __init__(self, engine, spec, covariates):
        self.engine, self.spec, self.cov = engine, spec, covariates
        q = engine.quote
        self.keys = [f"k{i}" for i in range(len(spec.strata))]
        self.inner = [f"{q(c)} AS {k}" for c, k in zip(spec.strata, self.keys)]
        self.inner += [f"CAST({q(spec.time)} AS DOUBLE) + 0.0 AS t", f"CAST({q(spec.event)} AS DOUBLE) AS e"]
        if spec.entry is not None:
            self.inner.append(f"CAST({q(spec.entry)} AS DOUBLE) + 0.0 AS en")
        self.xraw = [f"CAST({q(c)} AS DOUBLE)" for c in covariates]

    def _grouped(self, select_inner, aggs):
        keys, src = self.keys, self.engine.source_name
        inner = f"SELECT {', '.join(select_inner)} FROM {src}"
        if self.spec.entry is None:
            cols = ", ".join([*keys, "t", "e"])
            return f"SELECT {cols}, {', '.join(aggs)} FROM ({inner}) AS s GROUP BY {cols}"
        return (f"SELECT GROUPING(en) AS is_exit, {', '.join([*keys, 't', 'e', 'en'])}, {', '.join(aggs)} "
                f"FROM ({inner}) AS s GROUP BY GROUPING SETS (({', '.join([*keys, 't', 'e'])}), "
                f"({', '.join([*keys, 'en'])}))")

    def first(self):
        p = len(self.cov)
        sel = self.inner + [f"{x} AS x{j}" for j, x in enumerate(self.xraw)]
        inf = "CAST('Infinity' AS DOUBLE)"
        aggs = ["COUNT(*) AS n"]
        if self.spec.entry is not None:
            aggs.append(f"{count_if('en >= t')} AS bad")
        for j in range(p):
            aggs += [f"COUNT(*) - {count_if(f'ABS(x{j}) < {inf}')} AS nonfinite{j}", f"SUM(x{j}) AS sx{j}",
                     f"MIN(x{j}) AS lo{j}", f"MAX(x{j}) AS hi{j}"]
        # centred cross-products per group by the engines' own one-pass co-moments (stable where
        # SUM(x x') - n mean mean' cancels: an integer covariate near 2**40 lost every digit)
        aggs += [f"COVAR_POP(x{i}, x{j}) AS cv{i}_{j}" for i, j in _pairs(p)]
        return self._grouped(sel, aggs)

    def step(self, beta, means, shift):
        p = len(self.cov)
        xc = [f"{x} - {_lit(m)}" for x, m in zip(self.xraw, means)]
        eta = " + ".join(f"{_lit(b)} * ({x})" for b, x in zip(beta, xc))
        sel = self.inner + [f"{x} AS x{j}" for j, x in enumerate(xc)] + [f"EXP({eta} - {_lit(shift)}) AS w"]
        aggs = ["SUM(w) AS w0"] + [f"SUM(w * x{j}) AS w1_{j}" for j in range(p)]
        aggs += [f"SUM(w * x{i} * x{j}) AS w2_{i}_{j}" for i, j in _pairs(p)]
        return self._grouped(sel, aggs)

    def max_eta(self, beta, means):
        xc = [f"({x} - {_lit(m)})" for x, m in zip(self.xraw, means)]
        eta = " + ".join(f"{_lit(b)} * {x}" for b, x in zip(beta, xc))
        return f"SELECT MAX({eta}) AS m FROM {self.engine.source_name}"


def _numeric(values) -> np.ndarray:
    return column(values if not isinstance(values, np.ndarray) or values.dtype != object else list(values),
                  numeric=True)[0]


class _Split:
    """A fetched result split into its exit rows and entry rows."""

    def __init__(self, res, has_entry):
        self.res = res
        n = len(res["n"]) if "n" in res else len(res["w0"])
        self.ex = (np.asarray(_numeric(res["is_exit"])) == 1) if has_entry else np.ones(n, bool)

    def get(self, name, exit_rows=True, numeric=True):
        m = self.ex if exit_rows else ~self.ex
        v = self.res[name]
        if isinstance(v, list):
            v = [x for x, keep in zip(v, m) if keep]
            return column(v, numeric=numeric)[0] if numeric else column(v, numeric=False)
        return column(v[m], numeric=numeric)[0] if numeric else column(v[m], numeric=False)


class CoxQueryModel:
    """Everything the Newton loop needs from the engine: ``pieces(beta)`` = (loglik, U, I)."""

    def __init__(self, engine, spec, covariates, ties):
        self.engine, self.spec, self.cov, self.ties = engine, spec, tuple(covariates), ties
        self.q = _Query(engine, spec, covariates)
        p = self.p = len(covariates)
        has_entry = spec.entry is not None
        first = _Split(engine.fetch(self.q.first()), has_entry)
        keys_ex = [first.get(k, True, False) for k in self.q.keys]
        agg = Aggregates(keys_ex, first.get("t"), first.get("e"), first.get("n").astype(np.int64))
        if has_entry:
            agg.entry_keys = [first.get(k, False, False) for k in self.q.keys]
            agg.entry_time = first.get("en", False)
            agg.entry_n = first.get("n", False).astype(np.int64)
            agg.entry_bad = first.get("bad", False).astype(np.int64)
        self.counts = assemble(agg, spec, engine)             # checks, strata levels, merged times, deaths
        n_rows = first.get("n")
        for j, name in enumerate(covariates):
            bad = first.get(f"nonfinite{j}").sum()
            if bad:
                raise InvalidInputError(f"X: column {name!r} has {int(bad)} missing (NULL/NaN) or infinite values "
                                        "(drop incomplete rows first)")
        self.n = int(n_rows.sum())
        sx = np.array([first.get(f"sx{j}").sum() for j in range(p)])
        self.means = sx / self.n
        lo = np.array([first.get(f"lo{j}").min() for j in range(p)])
        hi = np.array([first.get(f"hi{j}").max() for j in range(p)])
        self.lo, self.hi = lo - self.means, hi - self.means
        # centred X'X: the groups' co-moments plus their means' spread (Chan, Golub and LeVeque's
        # pairwise combination)
        n_g = first.get("n")
        dev = np.column_stack([first.get(f"sx{j}") for j in range(p)]) / n_g[:, None] - self.means
        with np.errstate(over="ignore", invalid="ignore"):        # overflow is reported below
            cross = (dev * n_g[:, None]).T @ dev
            for i, j in _pairs(p):
                within = float(n_g @ first.get(f"cv{i}_{j}"))
                cross[i, j] += within
                if i != j:
                    cross[j, i] += within
        self.cross = cross
        check_finite_gram(cross, covariates)
        self.const = [covariates[j] for j in range(p) if lo[j] == hi[j]]
        # the merge map over the pooled distinct times (as assemble applied it)
        raw_exit = first.get("t")
        raw_entry = first.get("en", False) if has_entry else np.zeros(0)
        self.u = np.unique(np.concatenate([raw_exit, raw_entry]) + 0.0)
        merged = _merge_map(self.u) if spec.timefix else None
        self.value = merged[0] if merged is not None else self.u
        self.levels = list(self.counts.strata)
        # per stratum: merged exit times, deaths per time, death sums of the (centred) covariates
        status = first.get("e")
        self.strata = []
        skey = self._stratum_codes(keys_ex) if spec.strata else np.zeros(raw_exit.size, np.intp)
        tm = self._merged(raw_exit)
        for si, level in enumerate(self.levels):
            tab = self.counts.tables[level]
            d = tab.n_event[:, 0, 0]
            m = (skey == si) & (status == 1)
            idx = np.searchsorted(tab.time, tm[m])
            xd = np.zeros((tab.time.size, p))
            for j in range(p):
                xd[:, j] = np.bincount(idx, weights=first.get(f"sx{j}")[m], minlength=tab.time.size)
            xd -= d[:, None] * self.means                     # sums of centred x over the deaths
            ev = d > 0
            self.strata.append(dict(time=tab.time, d=d, ev=ev, xd=xd[ev], xd_sum=xd[ev].sum(axis=0),
                                    entry_time=tab.entry_time))
        self.n_events = int(sum(s["d"].sum() for s in self.strata))

    def _merged(self, x):
        return self.value[np.searchsorted(self.u, x + 0.0)]

    def _stratum_codes(self, keys):
        lookup = {lev if isinstance(lev, tuple) else (lev,): i for i, lev in enumerate(self.levels)}
        cols = [k[0].tolist() for k in keys]
        return np.array([lookup[tuple(v)] for v in zip(*cols)], dtype=np.intp)

    def _shift(self, beta):
        bound = float(np.sum(np.maximum(beta * self.lo, beta * self.hi)))
        low = float(np.sum(np.minimum(beta * self.lo, beta * self.hi)))
        if bound - low > SPREAD_MAX:
            got = self.engine.fetch(self.q.max_eta(beta, self.means))["m"]
            return float(_numeric(got)[0])
        return bound

    def pieces(self, beta):
        """(loglik, U, I) at ``beta``: one step query."""
        p = self.p
        beta = np.asarray(beta, float)
        shift, sums = self._step(beta)
        loglik, U, I = 0.0, np.zeros(p), np.zeros((p, p))
        for st, (S, A) in zip(self.strata, sums):
            ev = st["ev"]
            ll, u, info = _efron(S, A, st["d"][ev], st["xd_sum"], beta, shift, p, self.ties == "efron")
            loglik += ll
            U += u
            I += info
        return loglik, U, I

    def _step(self, beta):
        """The step query at ``beta``: its shift, and per stratum the risk-set sums S and the deaths'
        sums A (packed columns w0, w1_j, w2_ij) at the stratum's event times."""
        p = self.p
        shift = self._shift(beta)
        res = _Split(self.engine.fetch(self.q.step(beta, self.means, shift)), self.spec.entry is not None)
        names = ["w0"] + [f"w1_{j}" for j in range(p)] + [f"w2_{i}_{j}" for i, j in _pairs(p)]

        def sums(exit_rows):
            keys = [res.get(k, exit_rows, False) for k in self.q.keys]
            s = self._stratum_codes(keys) if self.spec.strata else None
            tcol = "t" if exit_rows else "en"
            cols = np.column_stack([res.get(nm, exit_rows) for nm in names])
            return s, self._merged(res.get(tcol, exit_rows)), cols, res.get("e", exit_rows) if exit_rows else None

        s_ex, t_ex, c_ex, e_ex = sums(True)
        if self.spec.entry is not None:
            s_en, t_en, c_en, _ = sums(False)
        out = []
        for si, st in enumerate(self.strata):
            m = np.ones(t_ex.size, bool) if s_ex is None else s_ex == si
            T = st["time"].size
            idx = np.searchsorted(st["time"], t_ex[m])
            exits = _bin(idx, c_ex[m], T)
            deaths = _bin(idx, c_ex[m] * (e_ex[m] == 1)[:, None], T)
            risk = np.cumsum(exits[::-1], axis=0)[::-1]                   # exit >= t
            if self.spec.entry is not None:
                me = np.ones(t_en.size, bool) if s_en is None else s_en == si
                E = st["entry_time"].size
                eidx = np.searchsorted(st["entry_time"], t_en[me])
                ent = _bin(eidx, c_en[me], E)
                later = np.vstack([np.cumsum(ent[::-1], axis=0)[::-1], np.zeros((1, ent.shape[1]))])
                risk = risk - later[np.searchsorted(st["entry_time"], st["time"], side="left")]
            ev = st["ev"]
            out.append((risk[ev], deaths[ev]))
        return shift, out

    def zph_time_weights(self, transform):
        """cox.zph's g at each stratum's event times, centred at its mean over the deaths, from the
        counts tables (``ltfu.stats.zph`` computes the same from the rows): "km" 1 - S(t-) of the
        pooled Kaplan-Meier with entry (R's timefix off: the model's merged times), "rank" the
        average rank of t among all rows' exit times, "identity" t."""
        check_choice(transform, "transform", ("km", "rank", "identity"))
        tabs = [self.counts.tables[level] for level in self.levels]
        time = np.unique(np.concatenate([tab.time for tab in tabs]))
        n_exit, n_event = np.zeros((time.size, 1)), np.zeros((time.size, 1, 1))
        entry_time = n_entry = None
        if self.spec.entry is not None:
            entry_time = np.unique(np.concatenate([tab.entry_time for tab in tabs]))
            n_entry = np.zeros((entry_time.size, 1))
        for tab in tabs:                                  # pooled over the strata (whole numbers: exact)
            pos = np.searchsorted(time, tab.time)
            n_exit[pos, 0] += tab.n_exit[:, 0]
            n_event[pos, 0, 0] += tab.n_event[:, 0, 0]
            if n_entry is not None:
                n_entry[np.searchsorted(entry_time, tab.entry_time), 0] += tab.n_entry[:, 0]
        pooled = Counts(time, n_exit, n_event, (1,), entry_time, n_entry)
        if transform == "identity":
            g = time.astype(float)
        elif transform == "rank":
            # scipy's rankdata(method="average") on the rows: (rows up to t + rows before t + 1) / 2
            upto = np.cumsum(n_exit[:, 0])
            g = 0.5 * (upto + (upto - n_exit[:, 0]) + 1)
        else:
            surv, _ = survival_from_counts(pooled.n_risk[:, 0], pooled.n_event_any[:, 0])
            g = 1.0 - np.r_[1.0, surv[:-1]]              # 1 - S(t-): the curve just before each time
        d = pooled.n_event_any[:, 0]
        centre = float((d * g).sum() / d.sum())
        return [g[np.searchsorted(time, st["time"][st["ev"]])] - centre for st in self.strata]

    def zph_pieces(self, beta, transform):
        """cox.zph's pieces at ``beta`` from one step query: the information I, and with the time
        weights h = g (``zph_time_weights``) sum_k h_k U_k, sum_k h_k I_k, and sum_k h_k^2 I_k."""
        p = self.p
        beta = np.asarray(beta, float)
        weights = self.zph_time_weights(transform)
        _, sums = self._step(beta)
        info, u_g, info_g, info_gg = np.zeros((p, p)), np.zeros(p), np.zeros((p, p)), np.zeros((p, p))
        for st, (S, A), h in zip(self.strata, sums, weights):
            ev = st["ev"]
            s0, s1, s2 = _unpack(S, p)
            a0, a1, a2 = _unpack(A, p)
            terms = efron_terms(s0, a0, st["d"][ev], self.ties == "efron")[:5]
            info += _score_info(s1, s2, a1, a2, st["xd_sum"], terms)[1]
            u, i = _score_info(s1, s2, a1, a2, h @ st["xd"], [c * h for c in terms])
            u_g += u
            info_g += i
            h2 = h * h
            info_gg += _score_info(s1, s2, a1, a2, h2 @ st["xd"], [c * h2 for c in terms])[1]
        return info, u_g, info_g, info_gg


def _bin(idx, cols, size):
    out = np.zeros((size, cols.shape[1]))
    for j in range(cols.shape[1]):
        out[:, j] = np.bincount(idx, weights=cols[:, j], minlength=size)
    return out


def _unpack(S, p):
    """(S0 (K,), S1 (K, p), S2 (K, p, p)) from the packed columns w0, w1_j, w2_ij."""
    s0, s1 = S[:, 0], S[:, 1:1 + p]
    s2 = np.zeros((S.shape[0], p, p))
    for c, (i, j) in enumerate(_pairs(p)):
        s2[:, i, j] = s2[:, j, i] = S[:, 1 + p + c]
    return s0, s1, s2


def _efron(S, A, d, xd_sum, beta, shift, p, efron):
    s0, s1, s2 = _unpack(S, p)
    a0, a1, a2 = _unpack(A, p)
    c1, c2, e0, e1, e2, logs = efron_terms(s0, a0, d, efron)
    loglik = float(xd_sum @ beta - (logs + d * shift).sum())
    U, I = _score_info(s1, s2, a1, a2, xd_sum, (c1, c2, e0, e1, e2))
    return loglik, U, I


def _score_info(s1, s2, a1, a2, xd, terms):
    """U and I summed over event times from the per-time Efron scalars ``terms`` (c1, c2, e0, e1,
    e2; each times h_k gives sum_k h_k U_k and sum_k h_k I_k, with ``xd`` = sum_k h_k xd_k, the
    deaths' covariate sums weighted alike)."""
    c1, c2, e0, e1, e2 = terms
    U = xd - (s1 * c1[:, None] - a1 * c2[:, None]).sum(axis=0)
    I = np.einsum("k,kij->ij", c1, s2) - np.einsum("k,kij->ij", c2, a2)
    I -= (s1 * e0[:, None]).T @ s1
    I += (s1 * e1[:, None]).T @ a1 + (a1 * e1[:, None]).T @ s1
    I -= (a1 * e2[:, None]).T @ a1
    return U, I


def fit(model: CoxQueryModel, *, conf_level=0.95, init=None, max_iter=30, eps=1e-9):
    """The Newton loop of ``ltfu.stats.cox`` (same steps, halving, convergence and checks), on
    the engine's pieces; returns a ``CoxResult`` (no robust variance) whose ``model`` is the query
    model, for ``ltfu.stats.cox_zph``."""
    from ltfu.stats.coxmodel import CoxResult, _check_varies, _gchol_quadratic, _newton, check_init

    terms, p = model.cov, model.p
    if model.n_events == 0:
        raise ConvergenceError("no events: the Cox model cannot be fitted")
    if model.const:
        raise ConvergenceError(f"singular design: {', '.join(model.const)} is constant")
    if np.linalg.matrix_rank(model.cross / model.n) < p:
        # the columns that are combinations of earlier ones, named as ltfu.stats.cox names them (its
        # rule on the rows, here on their centred cross-products: the same ranks)
        gram = model.cross / model.n
        dependent = dependent_terms(terms, lambda cols: np.linalg.matrix_rank(gram[np.ix_(cols, cols)]))
        raise ConvergenceError(f"singular design: {', '.join(dependent or terms)} is a linear combination of the "
                               "other terms (collinear)")
    beta0 = check_init(init, terms)
    beta = beta0.copy()
    ll0, U0, I0 = model.pieces(np.zeros(p))
    scale = model.n_events * np.diag(model.cross) / model.n
    _check_varies(I0, scale, terms)
    score, _ = _gchol_quadratic(I0, U0)
    start = (ll0, U0, I0) if init is None else model.pieces(beta)
    beta, ll, var, it = _newton(model.pieces, beta, start, terms, eps=eps, max_iter=max_iter)
    se = np.sqrt(np.diag(var))
    z = z_quantile(conf_level)
    start = beta0
    wald, wald_rank = _gchol_quadratic(var, beta - start)
    if wald_rank == 0:
        wald = np.nan
    pv = 2 * norm.sf(np.abs(beta / se))
    return CoxResult(tuple(terms), beta, se, None, var, (ll0, ll),
                     TestResult(score, float(p), float(chdtrc(p, score))),
                     TestResult(wald, float(wald_rank), float(chdtrc(wald_rank, wald)) if wald_rank else np.nan),
                     lr_test(ll0, ll, p),
                     np.exp(beta), np.exp(beta - z * se), np.exp(beta + z * se), pv,
                     model.n, model.n_events, it, model.ties, conf_level, None, model)


class _GroupCountsModel:
    """The pieces of a Cox model of one yes/no covariate (the group, 0 or 1) from its counts table
    alone: every row of a group has the same x, so the risk-set and death sums at each time are the
    numbers at risk and dying in each group times that group's weight (delayed entry included, as the
    table's risk sets are {entry < t <= exit}).  The time-dependent transplant (Mantel-Byar) of a
    registry: one counting query instead of a scan per Newton step."""

    def __init__(self, tab, n_rows, term, ties):
        self.cov, self.p, self.ties = (term,), 1, ties
        self.n = int(n_rows.sum())
        self.mean = float(n_rows[1]) / self.n             # as cox and cox_from centre: the rows' mean
        self.x = np.array([0.0, 1.0]) - self.mean
        self.cross = np.array([[float(n_rows @ self.x ** 2)]])
        self.const = [term] if (n_rows == 0).any() else []
        risk, dead = tab.n_risk, tab.n_event_any
        ev = dead.sum(axis=1) > 0
        self.risk, self.dead, self.d = risk[ev], dead[ev], dead[ev].sum(axis=1)
        self.n_events = int(self.d.sum())
        self.xd_sum = np.array([float((self.dead @ self.x).sum())])

    def pieces(self, beta):
        eta = float(beta[0]) * self.x
        shift = float(eta.max())
        w = np.exp(eta - shift)
        packed = lambda n: np.column_stack([n @ w, n @ (w * self.x), n @ (w * self.x ** 2)])
        return _efron(packed(self.risk), packed(self.dead), self.d, self.xd_sum, np.asarray(beta, float), shift, 1,
                      self.ties == "efron")


def cox_group_counts(counted, *, term: str = "group", ties: str = "efron", conf_level: float = 0.95):
    """The Cox model of a two-level group (its levels 0 and 1, or any two in sorted order: the second
    is the exposed one) from ``ltfu.stats.engines.counts(...)``'s table without strata: ``cox`` of the
    0/1 column on the rows, to rounding (Efron or Breslow, delayed entry, R's time merging as the
    counts merged them).  No proportional-hazards check (it needs each death's row)."""
    import dataclasses

    check_choice(ties, "ties", ("efron", "breslow"))
    if len(counted.groups) != 2 or counted.strata not in ((None,), ()):
        raise InvalidInputError(f"counted: two groups and no strata needed, got groups {counted.groups} and strata "
                                f"{counted.strata}")
    model = _GroupCountsModel(counted.table(counted.strata[0] if counted.strata else None),
                              np.asarray(counted.n, float), term, ties)
    return dataclasses.replace(fit(model, conf_level=check_conf_level(conf_level)), model=None)  # type: ignore[arg-type]


def cox_from(source=None, *, time, event, covariates, entry=None, strata=None, ties: str = "efron",
             engine: str | None = None, conf_level: float = 0.95, init=None, max_iter: int = 30, eps: float = 1e-9,
             timefix: bool = True, connection=None):
    """A Cox model of ``source`` (``ltfu.stats.cox``'s fit; see the module docstring).

    ``covariates``: numeric (or boolean) column names, the terms in that order.  engine="numpy"
    reads the columns and calls ``ltfu.stats.cox``."""
    from ltfu.stats.engines import _engine_of, _group_codes, _read

    check_choice(ties, "ties", ("efron", "breslow"))
    conf_level = check_conf_level(conf_level)
    if not (isinstance(max_iter, (int, np.integer)) and not isinstance(max_iter, bool) and max_iter >= 1):
        raise InvalidInputError(f"max_iter: must be a positive whole number, got {max_iter!r}")
    covariates = (covariates,) if isinstance(covariates, str) else tuple(covariates)
    if not covariates or not all(isinstance(c, str) for c in covariates):
        raise InvalidInputError(f"covariates: give one or more column names, got {covariates!r}")
    twice = sorted({c for c in covariates if covariates.count(c) > 1})
    if twice:
        raise InvalidInputError(f"covariates: {', '.join(map(repr, twice))} listed more than once")
    strata_cols = () if strata is None else (strata,) if isinstance(strata, str) else tuple(strata)
    eng = _engine_of(source, engine)
    if eng == "numpy":
        import pandas as pd

        from ltfu.stats._common import as_float_array
        from ltfu.stats.coxmodel import cox

        cols = _read(source, [time, event, entry, *covariates, *strata_cols], connection)
        X = pd.DataFrame({c: as_float_array(cols[c], f"X: column {c!r}") for c in covariates})
        n = len(X)
        scodes = _group_codes([cols[s] for s in strata_cols], n, "strata")[1] if strata_cols else None
        return cox(X, cols[time], cols[event], entry=cols.get(entry) if entry else None, strata=scodes,
                   ties=ties, conf_level=conf_level, init=init, max_iter=max_iter, eps=eps, timefix=timefix)
    spec = make_spec(time=time, event=event, entry=entry, strata=strata_cols, timefix=timefix)
    if eng == "duckdb":
        from ltfu.stats.engines.duckdb import DuckDBEngine, relation

        engine_obj: Any = DuckDBEngine(relation(source, connection=connection))
    else:
        from ltfu.stats.engines.spark import SparkEngine

        engine_obj = SparkEngine(source)
    from ltfu.stats.engines._sql import check_columns

    types = engine_obj.columns()
    check_columns(spec, types, engine_obj.numeric_types, "source")
    for c in covariates:
        if c not in types:
            raise InvalidInputError(f"covariates: no column {c!r} in the source")
        if not is_numeric_type(types[c], engine_obj.numeric_types):
            raise InvalidInputError(f"covariates: column {c!r} has type {types[c]}; give numeric or boolean columns "
                                    "(dummy-code a category in the query) or use engine='numpy'")
    model = CoxQueryModel(engine_obj, spec, covariates, ties)
    return fit(model, conf_level=conf_level, init=init, max_iter=max_iter, eps=eps)

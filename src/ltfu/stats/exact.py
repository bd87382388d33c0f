"""Exact proportions and association tests, as R's binom.test, prop.test, fisher.test, wilcox.test.

- ``binomial_ci``: Clopper-Pearson ("exact", R binom.test) and Wilson score intervals ("wilson" =
  prop.test(correct=FALSE), "wilson-cc" = prop.test(correct=TRUE)), from scipy.
- ``fisher_exact``: 2 x 2 through scipy (p-value, conditional maximum-likelihood odds ratio and its
  exact interval).  R computes the odds ratio and its limits with ``uniroot`` at its default
  tolerance, so R's values are only precise to about 1e-4 relative; ltfu's solve the defining
  equations to machine precision (tests/test_exact.py) and agree with R to R's precision.  r x c:
  the exact p-value of R's fisher.test (the tables with the observed margins no more probable than the
  observed one, R's tolerance), by a network algorithm written here (_fisher_rxc; scipy's r x c test is
  a Monte Carlo permutation test).  It answered all 846 random tables (up to 7 x 7) that R answers with
  its default workspace, agreeing to 1e-8 (the slowest ~1.5 s; R took up to 3.4 s), except nine 6 x 7
  and 7 x 7 tables on which R's FEXACT is not exact (its p-value is too small; R's own simulation sides
  with ltfu, tests/test_fisher_rxc.py).  It also answers many tables R refuses ("FEXACT error 6/7"):
  random tables without strong structure were all answered up to n = 10,000 for 2 x 3, 1,000 for
  2 x 5, 300 for 2 x 8 and 3 x 3 and 3 x 4, 100 for 4 x 4, 60 for 4 x 5, 50 for 5 x 5, 5 x 6 and
  6 x 6, 40 for 7 x 7, and some at 1.2 to 2 times those sizes (strongly associated tables are the
  hardest).  Beyond, InvalidInputError suggests the chi-square test or a Monte Carlo p-value; of 89
  such tables all were also refused by R, 94% within 3 s, the slowest after 12.5 s (2 busy cores).
- ``wilcoxon_ranksum``: R's W and p (exact without ties when both samples are under 50, else the
  normal approximation with continuity and tie corrections), from scipy's Mann-Whitney U.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats
from scipy.special import comb, gammaln

from ltfu.errors import InvalidInputError
from ltfu.stats._common import Estimate, Result, _json_float, as_float_array, check_choice, check_conf_level, z_quantile


def binomial_ci(x, n, *, method: str = "exact", conf_level: float = 0.95) -> Estimate:
    """Proportion x/n with its confidence interval (exact Clopper-Pearson by default)."""
    check_choice(method, "method", ("exact", "wilson", "wilson-cc"))
    conf_level = check_conf_level(conf_level)
    for name, v in (("x", x), ("n", n)):
        if isinstance(v, bool) or not float(v).is_integer():
            raise InvalidInputError(f"{name}: must be a whole number, got {v!r}")
    x, n = int(x), int(n)
    if n < 1:
        raise InvalidInputError(f"n: must be at least 1, got {n}")
    if not 0 <= x <= n:
        raise InvalidInputError(f"x: must be between 0 and n={n}, got {x}")
    if method == "wilson-cc":
        lo, hi = _wilson_cc(x, n, conf_level)
    else:
        ci = stats.binomtest(x, n).proportion_ci(confidence_level=conf_level, method=method)
        lo, hi = ci.low, ci.high
    return Estimate(x / n, float(lo), float(hi), conf_level)


def _wilson_cc(x, n, conf_level):
    """Wilson score interval with continuity correction, as R prop.test(x, n, correct=TRUE): the
    correction is min(0.5, |x - n/2|) (R measures it against the default null p = 0.5)."""
    z = z_quantile(conf_level)
    est = x / n
    yates = min(0.5, abs(x - n * 0.5))
    z22n = z * z / (2 * n)

    def bound(sign):
        pc = est + sign * yates / n
        if sign > 0 and pc >= 1:
            return 1.0
        if sign < 0 and pc <= 0:
            return 0.0
        return (pc + z22n + sign * z * np.sqrt(pc * (1 - pc) / n + z22n / (2 * n))) / (1 + 2 * z22n)

    return bound(-1), bound(1)


@dataclass(frozen=True, repr=False)
class FisherResult(Result):
    p_value: float
    odds_ratio: float | None
    conf_int: Estimate | None
    table: np.ndarray
    alternative: str

    def to_dict(self) -> dict:
        return {"p_value": _json_float(self.p_value), "odds_ratio": _json_float(self.odds_ratio),
                "conf_int": None if self.conf_int is None else self.conf_int.to_dict(),
                "table": self.table.tolist(), "alternative": self.alternative}


def _check_table(table) -> np.ndarray:
    try:
        t = np.asarray(table, dtype=float)
    except (TypeError, ValueError):
        raise InvalidInputError("table: must be a 2-D table of counts") from None
    if t.ndim != 2 or min(t.shape) < 2:
        raise InvalidInputError(f"table: needs at least 2 rows and 2 columns, got shape {t.shape}")
    if np.isnan(t).any() or (t < 0).any() or not np.all(t == np.round(t)):
        raise InvalidInputError("table: counts must be non-negative whole numbers")
    return t.astype(np.int64)


def fisher_exact(table, *, alternative: str = "two-sided", conf_level: float = 0.95,
                 odds_ratio: bool = True) -> FisherResult:
    """Fisher's exact test; for 2 x 2 also the conditional MLE odds ratio and its exact CI
    (``odds_ratio=False`` skips them when only the p-value is wanted).  ``alternative`` also accepts R's
    spelling ``"two.sided"``; larger tables are two-sided only (exact, see _fisher_rxc)."""
    t = _check_table(table)
    if alternative == "two.sided":
        alternative = "two-sided"
    check_choice(alternative, "alternative", ("two-sided", "less", "greater"))
    conf_level = check_conf_level(conf_level)
    if t.shape == (2, 2):
        p = stats.fisher_exact(t, alternative=alternative).pvalue
        if not odds_ratio:
            return FisherResult(float(p), None, None, t, alternative)
        res = stats.contingency.odds_ratio(t, kind="conditional")
        ci = res.confidence_interval(confidence_level=conf_level, alternative=alternative)
        return FisherResult(float(p), float(res.statistic), Estimate(float(res.statistic), float(ci.low),
                                                                         float(ci.high), conf_level),
                            t, alternative)
    if alternative != "two-sided":
        raise InvalidInputError("alternative: only 'two-sided' for tables larger than 2 x 2")
    return FisherResult(_fisher_rxc(t), None, None, t, alternative)


RXC_TOL = 3.45254e-7
"""A table counts towards the r x c p-value when log P(table) <= log P(observed) + RXC_TOL: the tolerance
of R's FEXACT (src/library/stats/src/fexact.c, ``tol``; R's 2 x 2 code uses a relative 1e-7 instead)."""

MAX_WORK = 80_000_000
"""Refuse an r x c table once its network has cost more than this many steps (arcs, cells of the arcs,
passed-on past values, weighted by their cost; 5 to 10 million a second on one core): three times what
the costliest of 846 R-answerable survey tables needed."""

MAX_STEP = 10_000_000   # elements of the largest array made at once (bounds the memory: ~80 MB an array)
_BUCKET = 1e-11        # past weights within this (log scale, absolute) share a value id
_MARGIN = 1e-9         # bounds are widened by this much against rounding
_MAX_N = 1_000_000     # float64 log k! keep ~1e-9 relative accuracy up to about here
_LUT_LIMIT = 4_000_000
_DENSE_LIMIT = 8_000_000
_CHUNK = 4_000_000     # elements per block when computing bounds


class _TooLarge(Exception):
    pass


def _fisher_rxc(t: np.ndarray) -> float:
    """Exact two-sided p-value of an r x c table: the sum of P(table) over the tables with the observed
    margins and log P(table) <= log P(observed) + RXC_TOL (R's rule), by a network algorithm.

    Derivation.  With row totals R_i, column totals C_j and N = sum R, a table's probability is
    P = K0 exp(w), K0 = prod R_i! prod C_j! / N!, w = -sum_ij log n_ij! (its log-weight).  Orient the table
    so that r <= c and fill it one column at a time (columns in ascending order of total).  After s
    columns, what is left to fill is a table with row totals m (what remains of each row) and the column
    totals C_s, ..., C_c-1: that is the *node*.  Rows with equal remaining totals are interchangeable
    (permuting rows maps the completions one-to-one onto completions of the same weight), so a node is
    the sorted vector m; a column's compositions that differ only by permuting equal rows are one arc
    with a multiplicity.  A path from the root to the last stage is a table, and w is the sum of the
    arc weights -sum_i log x_i! of its columns.

    At each node the algorithm keeps its *past*: the distinct values v of the weight of the paths that
    reach it, each with the number f of such paths (memoisation: all the paths that meet at a node are
    carried on together, which is what keeps the work polynomial where enumeration is exponential).
    Weights that agree to 1e-11 share one value, so a merged probability is off by at most 1e-11
    relative; the counts are exact.  For the *future* of a node, three numbers over its completions:
      T = log sum exp(w) = log N_s! - sum log m_i! - sum_{j>=s} log C_j!, exact (the multivariate
          hypergeometric distribution of the completions sums to one);
      U >= max w (the most probable completion) and L <= min w (the least probable).
    With thr = w(observed) + RXC_TOL, a past value v at the node is resolved in closed form when
    v + U <= thr (every completion counts: add f exp(v + T)) or v + L > thr (none does: drop it);
    otherwise it is passed on to the node's children as v + the arc weight.  This is exact whatever the
    gap between the bounds and the true extremes: U and L only have to be bounds; their tightness
    decides how much is pruned (the speed), not the result.

    Bounds.  Two columns left (totals a, b): a completion is a split x of a with 0 <= x_i <= m_i and
    w = -sum_i log m_i! + sum_i log C(m_i, x_i) (C the binomial coefficient).  The terms are concave in
    x_i, so the maximum is a separable concave allocation: no one-unit move between rows improves it,
    and its Lagrangian dual sum_i max_x [log C(m_i, x) - lam x] + lam a, an upper bound for any lam, is
    what is returned.  The minimum of a concave function over {sum x = a, 0 <= x <= m} is at a vertex,
    every x_i at 0 or m_i but one (log C(m_i, 0) = log C(m_i, m_i) = 0): min over that row j and the
    subset S of full rows of log C(m_j, a - sum_S m).  Both exact.  Two rows left: the same with rows
    and columns exchanged.  Otherwise U is the Lagrangian dual of the most probable table: for any
    multipliers u_i, v_j, w <= sum_ij max_{0<=k<=min(m_i,C_j)} [(u_i + v_j) k - log k!] - sum u_i m_i -
    sum v_j C_j (exact at the optimal multipliers, the constraint matrix being totally unimodular and
    the cost separable convex; two rounds of coordinate descent come close); L fills every column (or
    every row) on its own, largest cells first, which is the most concentrated and so least probable
    column: the sum over columns bounds sum log n_ij! from above.

    The last two columns are filled row by row instead: the state is (node, row i, amount of the first
    column left for rows i..r-1), T = log C(M_i, amount) - sum_{i'>=i} log m_i'! with M_i the rows'
    remaining total, U the merged concave slopes, L the vertices, all exact.  When a child has two rows
    left its completions x lie on a hypergeometric term, rising to the mode and falling after it, so the
    passed values are resolved by two binary searches; a state whose completions are fewer than the
    values it would pass on is resolved from all its completions, listed and sorted.

    Every stage is processed at once with numpy: past values sorted within each node, binary searches
    for the two thresholds of each arc, running log-sums for the closed-form additions, and value ids
    (sums of the distinct past values and distinct arc weights) with bincount for the merge.  Sums are
    taken in log space and p = exp(K0 + max) * sum exp(c - max): the p-value is accurate to about 1e-12
    relative (tests/test_fisher_rxc.py checks it against enumeration at 1e-12).

    Limit.  R's FEXACT keeps at most ~620 nodes and ~18,600 past values per stage with its default
    workspace and stops with "FEXACT error 6/7" beyond.  Here the work is counted instead (arcs, their
    cells, passed-on values, each weighted by its cost; about 5-10 million a second on one core): of
    846 random tables R answers, the costliest needed 2.4e7 steps and 3.2e6 values at once, so MAX_WORK
    (8e7) and MAX_STEP (1e7 array elements) leave a margin of three.  A table that would exceed them is
    refused (InvalidInputError) as soon as it does, mostly within 3 s; so are n > 1e6, where float64
    log-factorials can no longer keep 1e-9 relative accuracy.  The sizes reached are in the module
    docstring.
    """
    t = t[t.sum(axis=1) > 0][:, t.sum(axis=0) > 0]
    if t.size == 0:
        raise InvalidInputError("table: every count is zero, the test is undefined (R: FEXACT error 3)")
    if min(t.shape) < 2:
        return 1.0
    try:
        return _Network(t).p_value()
    except _TooLarge:
        r, c = sorted(t.shape)
        raise InvalidInputError(
            f"table: this {r} x {c} table (n = {int(t.sum())}) is beyond the exact test's reach (limits: "
            f"{MAX_WORK:,} network steps, {MAX_STEP:,} values at once, n <= {_MAX_N:,}); use a chi-square "
            f"test, or a Monte Carlo p-value as R's fisher.test(simulate.p.value = TRUE)") from None


class _Network:
    """State of one r x c exact test (see _fisher_rxc)."""

    def __init__(self, t: np.ndarray):
        if t.shape[0] > t.shape[1]:
            t = t.T
        self.rows = np.sort(t.sum(axis=1))
        self.cols = np.sort(t.sum(axis=0))
        self.n = int(t.sum())
        if self.n > _MAX_N:
            raise _TooLarge
        self.lf = gammaln(np.arange(self.n + 2, dtype=float) + 1.0)   # log k!
        lf = self.lf
        self.k0 = lf[self.rows].sum() + lf[self.cols].sum() - lf[self.n]
        self.thr = -lf[t].sum() + RXC_TOL
        self.logc: list[float] = []      # log contributions, without K0
        self.work = self.peak = 0
        radix = 1
        for v in self.rows[:-1]:
            radix *= int(v) + 1
        self.radix = radix * (int(self.rows[-1]) + 1)
        if self.radix >= 2 ** 62:
            raise _TooLarge
        self.base = np.cumprod(np.r_[1, self.rows[:-1] + 1]).astype(np.int64)

    def charge(self, k: int, step: int = 0):
        """Count k steps of work, and check the limits (step: size of the array about to be made)."""
        self.work += k
        self.peak = max(self.peak, step)
        if self.work > MAX_WORK or step > MAX_STEP:
            raise _TooLarge

    def p_value(self) -> float:
        lf, cols = self.lf, self.cols
        r, c = self.rows.size, cols.size
        nodes = self.rows[None, :].copy()
        ent = (np.zeros(1, np.int64), np.zeros(1, np.int64), np.ones(1), np.zeros(1))
        for s in range(c - 2):
            xt, par, mult = _compositions(nodes, int(cols[s]), self)
            self.charge(xt.size, xt.size)
            e = -lf[xt].sum(axis=0)
            cht = nodes.T[:, par] - xt
            _sort_columns(cht)
            keys, first, child = _unique_first_inverse(self.base @ cht, self.radix)
            kids = np.ascontiguousarray(cht[:, first].T)
            rest = cols[s + 1:]
            tot = lf[int(rest.sum())] - lf[kids].sum(axis=1) - lf[rest].sum()
            if rest.size == 2:
                self.charge(kids.shape[0] << min(r, 10))
                hi, lo = _blocks(_two_column_bounds, kids, int(rest[0]), lf, width=2 << min(r, 10))
            elif r == 2:
                self.charge(kids.shape[0] << min(rest.size, 10))
                hi, lo = _blocks(_two_row_bounds, kids, rest, lf, width=2 << min(rest.size, 10))
            else:
                self.charge(kids.shape[0] * (r + rest.size) * int(rest.sum()) // 4)
                hi, lo = _blocks(_dual_bounds, kids, rest, lf, width=(r + rest.size) * int(rest.sum()))
            ent = self.transition(ent, nodes.shape[0], par, e, mult, hi[child], lo[child], tot[child], child,
                                  keys.size)
            used, state = np.unique(ent[0], return_inverse=True)
            if used.size == 0:
                break
            nodes = kids[used]
            ent = (state,) + ent[1:]
        else:
            self.final_columns(nodes, ent, int(cols[-2]))
        if not self.logc:
            return 0.0
        allc = np.concatenate(self.logc)
        top = allc.max()
        return float(min(1.0, np.exp(self.k0 + top) * np.exp(allc - top).sum()))

    def transition(self, ent, nstates, par, e, mult, hi, lo, tot, child, nchild, resolve=None, whole=None):
        """Resolve or pass on the past of every state through its arcs.

        ent: (state, value id, count f, values V), sorted by state and value; arcs: parent state, log-weight
        e, multiplicity, bounds hi >= max and lo <= min of the child's completions, their log total mass
        tot, child index.  Returns the children's past in the same form.  With ``resolve`` (children whose
        completions are few) the passed values are resolved at once instead: resolve(child, limit, logmass)
        returns log(mass * sum of exp(w) over the child's completions with w <= limit).  With ``whole`` =
        (number of completions of each state, resolver), a state whose completions are fewer than the
        values it would pass on is resolved directly from all its completions, sorted."""
        state, vid, f, vals = ent
        self.charge(par.size)
        v = vals[vid]
        starts = np.searchsorted(state, np.arange(nstates + 1))
        key = state + 1j * v
        ia = np.searchsorted(key, par + 1j * (self.thr - e - hi - _MARGIN), side="right")   # v <= these: add
        ib = np.searchsorted(key, par + 1j * (self.thr - e - lo + _MARGIN), side="right")   # v > these: drop
        st = starts[par]
        if whole is not None:
            ncomp, resolver = whole
            passes = np.bincount(par, weights=np.maximum(ib - np.maximum(ia, st), 0), minlength=nstates)
            full = ncomp < passes
            if full.any():
                ids = np.flatnonzero(full)
                sel = full[state]
                self.charge(3 * int(ncomp[ids].sum()), int(ncomp[ids].sum()))
                got = resolver(ids, np.searchsorted(ids, state[sel]), v[sel], np.log(f[sel]) + v[sel])
                self.logc.append(got[np.isfinite(got)])
                ia = np.where(full[par], st, ia)      # their arcs neither add nor pass anything
                ib = np.where(full[par], st, ib)
        add = ia > st
        if add.any():
            lacc = _seg_logcumsum(np.log(f) + v, starts[:-1], np.diff(starts))
            self.logc.append(lacc[ia[add] - 1] + e[add] + np.log(mult[add]) + tot[add])
        ia = np.maximum(ia, st)
        cnt = np.maximum(ib - ia, 0)
        npass = int(cnt.sum())
        self.charge(3 * npass, npass)   # passing on costs a few arcs: gathers, sorts, merges
        if npass == 0:
            z = np.zeros(0, np.int64)
            return z, z, np.zeros(0), np.zeros(0)
        sel = np.flatnonzero(cnt)
        cnt = cnt[sel]
        rep = np.repeat(np.arange(sel.size), cnt)
        idx = ia[sel][rep] + (np.arange(npass) - (np.cumsum(cnt) - cnt)[rep])
        k = sel[rep]
        if resolve is not None:
            nv = v[idx] + e[k]
            self.charge(npass)
            got = resolve(child[k], self.thr - nv, np.log(f[idx] * mult[k]) + nv)
            self.logc.append(got[np.isfinite(got)])
            z = np.zeros(0, np.int64)
            return z, z, np.zeros(0), np.zeros(0)
        ue, eid = _value_ids(e[sel])          # the distinct weights of the arcs that pass values on
        if vals.size * ue.size <= _LUT_LIMIT:
            nvals, lut = _value_ids((vals[:, None] + ue[None, :]).ravel())
            nid = lut[vid[idx] * ue.size + eid[rep]]
        else:
            nvals, nid = _value_ids(v[idx] + e[k])
        nf = f[idx] * mult[k]
        width = nvals.size
        flat = child[k] * width + nid
        if nchild * width <= min(_DENSE_LIMIT, 16 * npass + 4096):
            acc = np.bincount(flat, weights=nf, minlength=nchild * width)
            nz = np.flatnonzero(acc)
            cf = acc[nz]
        else:
            nz, inv = np.unique(flat, return_inverse=True)
            cf = np.bincount(inv, weights=nf)
        used, cid = np.unique(nz % width, return_inverse=True)
        return nz // width, cid, cf, nvals[used]

    def final_columns(self, nodes, ent, a):
        """The last two columns (totals a and the rest), filled row by row: a state is (node, row i,
        amount of the first column left for rows i..r-1)."""
        lf = self.lf
        nb, r = nodes.shape
        msuf = np.zeros((nb, r + 1), np.int64)
        msuf[:, :r] = np.cumsum(nodes[:, ::-1], axis=1)[:, ::-1]
        lfsuf = np.zeros((nb, r + 1))
        lfsuf[:, :r] = np.cumsum(lf[nodes][:, ::-1], axis=1)[:, ::-1]
        hmax, hmin = {}, {}
        for i in range(1, r - 2):   # exact bounds for the states with three or more rows left
            self.charge(nb * (a + 1) * (r - i))
            hmax[i] = _blocks(_suffix_max, nodes[:, i:], a, lf, width=(a + 1) + nodes[:, i:].sum(1).max())
            hmin[i] = _blocks(_suffix_min, nodes[:, i:], a, lf, width=(a + 1) * (1 << min(r - i, 9)))
        if r == 2:   # two rows: every node's completions lie on one hypergeometric term (see _TwoRows)
            state, vid, f, vals = ent
            v = vals[vid]
            got = _TwoRows(nodes, np.full(nb, a), lf, self.charge).resolve(state, self.thr - v, np.log(f) + v)
            self.logc.append(got[np.isfinite(got)])
            return
        snode = np.arange(nb)
        samt = np.full(nb, a)
        nstates = nb
        for i in range(r - 2):
            mi = nodes[snode, i]
            lo = np.maximum(0, samt - msuf[snode, i + 1])
            cnt = np.maximum(np.minimum(mi, samt) - lo + 1, 0)
            ntot = int(cnt.sum())
            self.charge(4 * ntot, ntot)    # an arc here costs a few: its cell, child, bounds and key
            rep = np.repeat(np.arange(snode.size), cnt)
            x = lo[rep] + (np.arange(ntot) - (np.cumsum(cnt) - cnt)[rep])
            kn = snode[rep]
            a2 = samt[rep] - x
            e = -lf[x] - lf[mi[rep] - x]
            one = np.ones(ntot)
            ms = msuf[kn, i + 1]
            tot = lf[ms] - lf[a2] - lf[ms - a2] - lfsuf[kn, i + 1]
            keys, _, child = _unique_first_inverse(kn * (a + 1) + a2, nb * (a + 1))
            if i == r - 3:   # the children have two rows left: resolve the passed values against their completions
                self.charge(4 * keys.size)
                two = _TwoRows(nodes[keys // (a + 1)][:, r - 2:], keys % (a + 1), lf, self.charge)
                self.transition(ent, nstates, rep, e, one, two.wmax[child], two.wmin[child], tot, child, keys.size,
                                resolve=two.resolve, whole=self.whole(nodes, i, snode, samt))
                return
            ent = self.transition(ent, nstates, rep, e, one, hmax[i + 1][kn, a2], hmin[i + 1][kn, a2], tot, child,
                                  keys.size, whole=self.whole(nodes, i, snode, samt))
            used, state = np.unique(ent[0], return_inverse=True)
            if used.size == 0:
                return
            keys = keys[used]
            snode, samt = keys // (a + 1), keys % (a + 1)
            nstates = used.size
            ent = (state,) + ent[1:]

    def whole(self, nodes, i, snode, samt):
        """For transition(): the number of completions of each state (node snode, row i, amount samt) and
        the resolver that lists them."""
        return (_count_splits(nodes[snode, i:], samt),
                lambda ids, j, v, logmass: self.resolve_states(nodes, i, snode[ids], samt[ids], j, v, logmass))

    def resolve_states(self, nodes, i, knode, amount, j, v, logmass):
        """Resolve the past values (v, log mass; j = index of their state) of states (node knode, row i,
        amount left) from all their completions: rows i..r-1 of the first of the last two columns, listed,
        sorted, and summed below thr - v by binary search."""
        lf = self.lf
        caps = nodes[knode, i:]
        xt, par, mult = _compositions(caps, amount, self)
        self.charge(xt.size, xt.size)
        m = caps.T[:, par]
        w = -(lf[xt] + lf[m - xt]).sum(axis=0)
        order = np.lexsort((w, par))
        w, par, mult = w[order], par[order], mult[order]
        starts = np.searchsorted(par, np.arange(knode.size + 1))
        acc = _seg_logcumsum(w + np.log(mult), starts[:-1], np.diff(starts))
        q = np.searchsorted(par + 1j * w, j + 1j * (self.thr - v), side="right")
        h = q > starts[j]
        out = np.full(v.size, -np.inf)
        out[h] = logmass[h] + acc[q[h] - 1]
        return out


def _count_splits(caps, s):
    """About how many ways there are to place s_k units in rows with capacities caps[k] (inclusion-exclusion
    over the rows filled beyond capacity; a cost estimate, so floating point is enough)."""
    b, q = caps.shape
    if q > 10:
        return comb(s + q - 1, q - 1)
    total = np.zeros(b)
    for mask in range(1 << q):
        cols = [j for j in range(q) if mask >> j & 1]
        rest = s - (caps[:, cols] + 1).sum(axis=1)
        total += (-1) ** len(cols) * np.where(rest >= 0, comb(np.maximum(rest, 0) + q - 1, q - 1), 0.0)
    return np.maximum(total, 0.0)


def _blocks(fn, m, arg, lf, width):
    """fn(m, arg, lf) over the rows of m in blocks of about _CHUNK elements (``width`` per row); fn returns
    an array or a tuple of arrays, concatenated over the blocks."""
    step = max(1, _CHUNK // max(int(width), 1))
    if m.shape[0] <= step:
        return fn(m, arg, lf)
    parts = [fn(m[i:i + step], arg, lf) for i in range(0, m.shape[0], step)]
    if isinstance(parts[0], tuple):
        return tuple(np.concatenate(p) for p in zip(*parts))
    return np.concatenate(parts)


def _unique_first_inverse(keys, size):
    """The distinct keys (ascending), an index of one occurrence of each, and the inverse, for integer keys
    in [0, size): np.unique, or a dense table (no sorting) when size is small next to the number of keys."""
    if size > max(4 * keys.size, 1 << 16) or size > 1 << 23:
        u, first, inv = np.unique(keys, return_index=True, return_inverse=True)
        return u, first, inv.reshape(-1)
    pos = np.full(size, -1, np.int64)
    pos[keys] = np.arange(keys.size)   # some occurrence of each key (any will do for the callers)
    u = np.flatnonzero(pos >= 0)
    rank = np.zeros(size, np.int64)
    rank[u] = np.arange(u.size)
    return u, pos[u], rank[keys]


def _compositions(caps, total, net):
    """Every column x with sum ``total`` (one for all, or one per row of caps) and 0 <= x_i <= caps_i, for
    each row of caps (ascending).  Within a run of equal caps only non-increasing x are generated, with
    their number of permutations.  Returns x transposed (r, K), the parent row of each, and the
    multiplicities.  Charges the network for each level of the generation before making it."""
    b, r = caps.shape
    capt = np.ascontiguousarray(caps.T)
    suft = np.zeros_like(capt)
    suft[:-1] = np.cumsum(capt[::-1], axis=0)[::-1][1:]
    samet = np.zeros((r, b), dtype=bool)
    samet[1:] = capt[1:] == capt[:-1]
    anysame = bool(samet.any())
    par = np.arange(b)
    rem = np.broadcast_to(np.asarray(total, dtype=np.int64), (b,)).copy()
    xs, backs = [], []
    prev = None
    for i in range(r):
        lo = rem - suft[i].take(par)
        np.maximum(lo, 0, out=lo)
        hi = np.minimum(capt[i].take(par), rem)
        if prev is not None and anysame:
            sm = samet[i].take(par)
            hi[sm] = np.minimum(hi[sm], prev[sm])
        cnt = hi - lo + 1
        np.maximum(cnt, 0, out=cnt)
        csum = np.cumsum(cnt)
        tot = int(csum[-1]) if csum.size else 0
        net.charge(tot, tot * r)
        rep = np.repeat(np.arange(par.size), cnt)
        x = np.arange(tot) + (lo - (csum - cnt)).take(rep)
        xs.append(x)
        backs.append(rep)
        par = par.take(rep)
        rem = rem.take(rep) - x
        prev = x
    k = par.size
    xt = np.empty((r, k), np.int64)
    p = np.arange(k)
    for i in range(r - 1, -1, -1):
        xt[i] = xs[i].take(p)
        if i:
            p = backs[i].take(p)
    mult = np.ones(k)
    if anysame:
        run = np.ones(k)
        eq = np.ones(k)
        for i in range(1, r):
            s = samet[i].take(par)
            run = np.where(s, run + 1, 1.0)
            eq = np.where(s & (xt[i] == xt[i - 1]), eq + 1, 1.0)
            mult *= run / eq
        mult = np.round(mult)
    return xt, par, mult


def _sort_columns(a):
    """Sort each column of a small-height integer array in place (insertion network on rows)."""
    for i in range(1, a.shape[0]):
        for j in range(i, 0, -1):
            lo = np.minimum(a[j - 1], a[j])
            np.maximum(a[j - 1], a[j], out=a[j])
            a[j - 1] = lo


def _seg_logcumsum(mu, starts, lengths):
    """log of the running sum of exp(mu) restarted at each segment, segments grouped by length class."""
    out = np.empty_like(mu)
    if mu.size == 0:
        return out
    cls = np.ceil(np.log2(np.maximum(lengths, 1))).astype(np.int64)
    for c in np.unique(cls[lengths > 0]):
        sel = np.flatnonzero((cls == c) & (lengths > 0))
        width = int(lengths[sel].max())
        if width == 1:
            out[starts[sel]] = mu[starts[sel]]
            continue
        idx = starts[sel, None] + np.arange(width)[None, :]
        valid = np.arange(width)[None, :] < lengths[sel, None]
        block = np.where(valid, mu[np.where(valid, idx, 0)], -np.inf)
        out[idx[valid]] = np.logaddexp.accumulate(block, axis=1)[valid]
    return out


def _value_ids(x):
    """The distinct values of x (to _BUCKET), ascending, and the index of each element among them."""
    scale = max(_BUCKET, float(np.abs(x).max(initial=0.0)) * 1e-15)
    _, first, inv = np.unique(np.round(x / scale).astype(np.int64), return_index=True, return_inverse=True)
    return x[first], inv.reshape(-1)


def _log_binom(lf, m, x):
    return lf[m] - lf[x] - lf[m - x]


def _alloc_max(m, a, lf):
    """max sum_i log C(m_i, x_i) over integers 0 <= x_i <= m_i with sum x = a, for each row of m.

    The terms are concave, so a split with no improving one-unit move is optimal; the value returned
    is the Lagrangian dual sum_i max_x [log C(m_i, x) - lam x] + lam a at the multiplier read off that
    split, an upper bound for any lam and equal to the maximum at the optimum."""
    b, r = m.shape
    a = np.broadcast_to(np.asarray(a, dtype=np.int64), (b,))
    tot = m.sum(axis=1)
    x = (m * a[:, None]) // np.maximum(tot, 1)[:, None]
    rows = np.arange(b)
    for _ in range(r + 1):          # the proportional floor is short by fewer than r units
        need = a - x.sum(axis=1) > 0
        if not need.any():
            break
        gain = np.where(x < m, np.log(np.maximum(m - x, 1)) - np.log(x + 1.0), -np.inf)
        j = np.argmax(gain, axis=1)
        x[rows[need], j[need]] += 1
    for _ in range(4 * r + 8):      # one-unit exchanges
        gain = np.where(x < m, np.log(np.maximum(m - x, 1)) - np.log(x + 1.0), -np.inf)
        loss = np.where(x > 0, np.log(m - x + 1.0) - np.log(np.maximum(x, 1)), np.inf)
        ja, jr = np.argmax(gain, axis=1), np.argmin(loss, axis=1)
        move = gain[rows, ja] > loss[rows, jr] + 1e-12
        if not move.any():
            break
        x[rows[move], ja[move]] += 1
        x[rows[move], jr[move]] -= 1
    gain = np.where(x < m, np.log(np.maximum(m - x, 1)) - np.log(x + 1.0), -np.inf).max(axis=1)
    loss = np.where(x > 0, np.log(m - x + 1.0) - np.log(np.maximum(x, 1)), np.inf).min(axis=1)
    lam = np.where(np.isfinite(gain), np.where(np.isfinite(loss), (gain + loss) / 2, gain), loss)
    lam = np.where(np.isfinite(lam), lam, 0.0)
    # x_i(lam) maximises log C(m_i, x) - lam x: the units whose slope log((m - k) / (k + 1)) exceeds lam
    el = np.exp(np.clip(lam, -700, 700))[:, None]
    xl = np.clip(np.ceil((m - el) / (1 + el)), 0, m).astype(np.int64)
    return (_log_binom(lf, m, xl) - lam[:, None] * xl).sum(axis=1) + lam * a


def _subset_min(m, a, lf):
    """min sum_i log C(m_i, x_i) over 0 <= x_i <= m_i, sum x = a: at a vertex (all x_i at 0 or m_i but
    one, j), i.e. min over j and subsets S of the others of log C(m_j, a - sum_S m).  With more than 10
    terms the valid bound 0 is returned."""
    b, r = m.shape
    a = np.broadcast_to(np.asarray(a, dtype=np.int64), (b,))
    if r > 10:
        return np.zeros(b)
    bits = ((np.arange(1 << r)[:, None] >> np.arange(r)[None, :]) & 1).astype(np.int64)
    sums = m @ bits.T
    best = np.full(b, np.inf)
    for j in range(r):
        xj = a[:, None] - sums[:, bits[:, j] == 0]
        mj = m[:, j:j + 1]
        ok = (xj >= 0) & (xj <= mj)
        xc = np.where(ok, xj, 0)
        best = np.minimum(best, np.where(ok, _log_binom(lf, np.broadcast_to(mj, xc.shape), xc), np.inf).min(axis=1))
    return best


def _two_column_bounds(m, a, lf):
    """Exact max and min completion log-weights of nodes m (rows) with two columns left, the first of total a:
    w = sum_i log C(m_i, x_i) - sum_i log m_i!."""
    base = -lf[m].sum(axis=1)
    return base + _alloc_max(m, a, lf), base + _subset_min(m, a, lf)


def _two_row_bounds(m, cols, lf):
    """Exact max and min for two rows: a completion is the split x_j of row 0 over the columns (x_j <= C_j)."""
    cm = np.ascontiguousarray(np.broadcast_to(cols, (m.shape[0], cols.size)))
    base = -lf[cols].sum()
    return base + _alloc_max(cm, m[:, 0], lf), base + _subset_min(cm, m[:, 0], lf)


def _dual_bounds(m, cols, lf):
    """Bounds for nodes m with three or more columns (and rows) left.

    hi: Lagrangian dual of the most probable completion.  For any u (rows) and v (columns),
    w = sum_ij [(u_i + v_j) n_ij - log n_ij!] - sum u_i m_i - sum v_j C_j <= sum_ij g(u_i + v_j) - ...,
    g(t) = max over 0 <= k <= min(m_i, C_j) of t k - log k!  (k = floor(e^t) capped).  Coordinate descent:
    u_i is the m_i-th smallest of {log k - v_j : k <= C_j}, v_j the C_j-th smallest of {log k - u_i : k <= m_i}.
    lo: the least probable completion is at most as concentrated as each column (row) filled on its own,
    largest cells first, which maximises sum log x! for that column (row)."""
    b, _ = m.shape
    ntot = int(cols.sum())
    logk = np.log(np.arange(1, ntot + 1, dtype=float))
    caps = np.minimum(m[:, :, None], cols[None, None, :])
    kk = np.arange(1, ntot + 1)
    colok = kk[None, :] <= cols[:, None]
    rowok = kk[None, None, :] <= m[:, :, None]
    pos = m > 0

    def dual(u, v):
        t = u[:, :, None] + v[:, None, :]
        k = np.clip(np.floor(np.exp(np.minimum(t, 30.0))), 0, caps).astype(np.int64)
        return (k * t - lf[k]).sum(axis=(1, 2)) - (u * m).sum(axis=1) - (v * cols).sum(axis=1)

    v = np.broadcast_to(np.log(cols) - 0.5 * np.log(ntot), (b, cols.size)).copy()
    hi = np.full(b, np.inf)
    for _ in range(2):
        bp = np.where(colok[None], logk[None, None, :] - v[:, :, None], np.inf).reshape(b, -1)
        bp.sort(axis=1)
        u = np.where(pos, np.take_along_axis(bp, np.maximum(m - 1, 0), axis=1), -60.0)
        hi = np.minimum(hi, dual(u, v))
        bp = np.where(rowok, logk[None, None, :] - u[:, :, None], np.inf).reshape(b, -1)
        bp.sort(axis=1)
        v = np.take_along_axis(bp, np.broadcast_to(cols - 1, (b, cols.size)), axis=1)
        hi = np.minimum(hi, dual(u, v))
    md = m[:, ::-1]
    x = np.clip(cols[None, None, :] - (np.cumsum(md, axis=1) - md)[:, :, None], 0, md[:, :, None])
    cd = cols[::-1]
    y = np.clip(m[:, :, None] - (np.cumsum(cd) - cd)[None, None, :], 0, cd[None, None, :])
    return hi, -np.minimum(lf[x].sum(axis=(1, 2)), lf[y].sum(axis=(1, 2)))


def _suffix_max(m, a, lf):
    """Hmax[k, s] = max sum_i h_i(x_i), h_i(x) = -log x! - log (m_i - x)!, over sum x = s <= a: the h_i are
    concave, so the max-plus convolution adds the largest of their merged slopes."""
    b, _ = m.shape
    wmax = int(m.max(initial=0))
    x = np.arange(wmax)
    sl = np.where(x[None, None, :] < m[:, :, None],
                  np.log(np.maximum(m[:, :, None] - x, 1)) - np.log(x + 1.0), -np.inf).reshape(b, -1)
    sl = -np.sort(-sl, axis=1)[:, :a]
    out = np.full((b, a + 1), -np.inf)
    out[:, 0] = 0.0
    out[:, 1:sl.shape[1] + 1] = np.cumsum(sl, axis=1)
    return out - lf[m].sum(axis=1)[:, None]


def _suffix_min(m, a, lf):
    """Hmin[k, s] = min sum_i h_i(x_i) over sum x = s, s = 0..a: at a vertex (every x_i at 0 or m_i but one,
    j; h_i(0) = h_i(m_i) = -log m_i!), so -sum log m_i! + min over j, S of log C(m_j, s - sum_S m).
    With more than 9 rows the valid bound -sum log m_i! is used."""
    b, q = m.shape
    base = -lf[m].sum(axis=1)[:, None]
    if q > 9:
        return np.broadcast_to(base, (b, a + 1)).copy()
    bits = ((np.arange(1 << q)[:, None] >> np.arange(q)[None, :]) & 1).astype(np.int64)
    sums = m @ bits.T
    s = np.arange(a + 1)
    out = np.full((b, a + 1), np.inf)
    for j in range(q):
        x = s[None, None, :] - sums[:, bits[:, j] == 0][:, :, None]
        mj = m[:, j][:, None, None]
        ok = (x >= 0) & (x <= mj)
        xc = np.where(ok, x, 0)
        out = np.minimum(out, np.where(ok, _log_binom(lf, np.broadcast_to(mj, xc.shape), xc), np.inf).min(axis=1))
    return out + base


class _TwoRows:
    """States with two rows (totals m0, m1) and an amount a of the column left: the completions are
    x = lo..hi in the first row, w(x) = -log x! (m0 - x)! (a - x)! (m1 - a + x)!, which is the log of a
    hypergeometric term: non-decreasing up to its mode floor((a + 1)(m0 + 1) / (m0 + m1 + 2)) and
    non-increasing after it.  So the max is at the mode, the min at an end, and the completions with
    w <= limit are a prefix of the rising part plus a prefix of the falling part read from the end:
    two binary searches, no sorting."""

    def __init__(self, m2, a, lf, charge):
        self.m0, self.m1, self.a, self.lf, self.charge = m2[:, 0], m2[:, 1], a, lf, charge
        self.lo = np.maximum(0, a - self.m1)
        self.hi = np.minimum(self.m0, a)
        self.mode = np.clip((a + 1) * (self.m0 + 1) // (self.m0 + self.m1 + 2), self.lo, self.hi)
        self.wmax = self.w(None, self.mode)
        self.wmin = np.minimum(self.w(None, self.lo), self.w(None, self.hi))

    def w(self, k, x):
        """Weight of split x of state k (of every state in turn when k is None)."""
        lf = self.lf
        m0, m1, a = (self.m0, self.m1, self.a) if k is None else (self.m0[k], self.m1[k], self.a[k])
        return -(lf.take(x) + lf.take(m0 - x) + lf.take(a - x) + lf.take(m1 - a + x))

    def resolve(self, child, limit, logmass):
        ids, inv = np.unique(child, return_inverse=True)
        out = np.full(child.size, -np.inf)
        for first, last, step in ((self.lo[ids], self.mode[ids], 1), (self.hi[ids], self.mode[ids] + 1, -1)):
            cnt = np.maximum((last - first) * step + 1, 0)
            tot = int(cnt.sum())
            self.charge(2 * tot, tot)
            rep = np.repeat(np.arange(ids.size), cnt)
            starts = np.cumsum(cnt) - cnt
            x = first[rep] + step * (np.arange(tot) - starts[rep])
            w = self.w(ids[rep], x)
            acc = _seg_logcumsum(w, starts, cnt)
            q = np.searchsorted(rep + 1j * w, inv + 1j * limit, side="right")
            h = q > starts[inv]
            out[h] = np.logaddexp(out[h], acc[q[h] - 1])
        return out + logmass


@dataclass(frozen=True, repr=False)
class WilcoxonResult(Result):
    statistic: float
    p_value: float
    method: str

    def to_dict(self) -> dict:
        return {"statistic": _json_float(self.statistic), "p_value": _json_float(self.p_value),
                "method": self.method}


def wilcoxon_ranksum(x, y, *, alternative: str = "two-sided", exact: bool | None = None,
                     correct: bool = True) -> WilcoxonResult:
    """Wilcoxon rank-sum test: W = sum of ranks of x - n_x(n_x + 1)/2, p as R wilcox.test."""
    a = as_float_array(x, "x")
    b = as_float_array(y, "y")
    check_choice(alternative, "alternative", ("two-sided", "less", "greater"))
    ties = np.unique(np.r_[a, b]).size < a.size + b.size
    use_exact = (a.size < 50 and b.size < 50) if exact is None else bool(exact)
    if use_exact and not ties:
        res = stats.mannwhitneyu(a, b, alternative=alternative, method="exact")
        method = "exact"
    else:
        res = stats.mannwhitneyu(a, b, alternative=alternative, method="asymptotic", use_continuity=correct)
        method = "normal approximation" + (" with continuity correction" if correct else "")
    return WilcoxonResult(float(res.statistic), float(res.pvalue), method)

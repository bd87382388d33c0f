"""Fisher's exact test on r x c tables: R's fisher.test p-value by a network algorithm written here
(scipy's r x c test is a Monte Carlo permutation test; see ltfu.stats.exact for how it was checked
against R).  The bounds on the remaining tables' probabilities are in ``_rxc_bounds``."""

from __future__ import annotations

import numpy as np
from scipy.special import gammaln

from ltfu.errors import InvalidInputError
from ltfu.stats._rxc_bounds import (
    _blocks,
    _compositions,
    _count_splits,
    _dual_bounds,
    _seg_logcumsum,
    _sort_columns,
    _suffix_max,
    _suffix_min,
    _two_column_bounds,
    _two_row_bounds,
    _TwoRows,
    _unique_first_inverse,
    _value_ids,
)

RXC_TOL = 3.45254e-7
"""A table counts towards the r x c p-value when log P(table) <= log P(observed) + RXC_TOL: the tolerance
of R's FEXACT (src/library/stats/src/fexact.c, ``tol``; R's 2 x 2 code uses a relative 1e-7 instead)."""

MAX_WORK = 80_000_000
"""Refuse an r x c table once its network has cost more than this many steps (arcs, cells of the arcs,
passed-on past values, weighted by their cost; 5 to 10 million a second on one core): three times what
the costliest of 846 R-answerable survey tables needed."""

MAX_STEP = 10_000_000   # elements of the largest array made at once (bounds the memory: ~80 MB an array)
_MARGIN = 1e-9         # bounds are widened by this much against rounding
_MAX_N = 1_000_000     # float64 log k! keep ~1e-9 relative accuracy up to about here
_LUT_LIMIT = 4_000_000
_DENSE_LIMIT = 8_000_000


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



"""Bounds for the r x c network algorithm (ltfu.stats.fisher_rxc): the most and least probable
completions of a partial table, column compositions and segmented log-sums."""

from __future__ import annotations

import numpy as np
from scipy.special import comb


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

_BUCKET = 1e-11        # past weights within this (log scale, absolute) share a value id
_CHUNK = 4_000_000     # elements per block when computing bounds


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



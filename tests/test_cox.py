"""Cox regression and cox.zph against R survival (tests/reference/cox.R)."""

import math

import numpy as np
import pandas as pd
import pytest

from golden import arr, assert_close, golden
from ltfu.errors import ConvergenceError, InvalidInputError
from ltfu.stats import cox, cox_zph

G = golden("cox")
CASES = {c["name"]: c for c in G["cases"]}


def _fit(case):
    X = np.column_stack([arr(v) for v in case["X"]])
    kw = {}
    if case.get("entry"):
        kw["entry"] = arr(case["entry"])
    if case.get("strata"):
        kw["strata"] = np.asarray(case["strata"])
    if case.get("cluster"):
        kw["cluster"] = np.asarray(case["cluster"])
    return cox(X, arr(case["time"]), arr(case["event"]), ties=case["ties"], **kw)


@pytest.mark.parametrize("name", sorted(CASES))
def test_coxph_matches_r(name):
    case = CASES[name]
    f = _fit(case)
    assert_close(f.coef, case["coef"], what="coef")
    assert_close(f.loglik, case["loglik"], what="loglik")
    assert_close(f.se, case["se"], rtol=1e-5, what="se")
    assert_close([f.score_test.statistic, f.wald_test.statistic, f.lr_test.statistic],
                 [case["score"], case["wald"], case["lr"]], rtol=1e-5, what="tests")
    assert f.n_events == case["n_events"]
    if case.get("robust_se"):
        assert_close(f.robust_se, case["robust_se"], rtol=1e-5, what="robust se")
    assert_close(f.hr_lower, case["hr_lower"], rtol=1e-5, what="HR lower")
    assert_close(f.hr_upper, case["hr_upper"], rtol=1e-5, what="HR upper")


@pytest.mark.parametrize("transform", ["km", "rank", "identity"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_cox_zph_matches_r(name, transform):
    case = CASES[name]
    ref = case["zph"][transform]
    z = cox_zph(_fit(case), transform=transform)
    chisq = arr(ref["chisq"])
    assert_close(np.r_[z.statistic, z.global_test.statistic], chisq, rtol=1e-5, what=f"{transform} chisq")
    assert_close(np.r_[z.p_value, z.global_test.p_value], arr(ref["p"]), rtol=1e-5, atol=1e-12, what="p")


def test_dataframe_columns_become_terms():
    pd = pytest.importorskip("pandas")
    case = CASES["lung_efron"]
    df = pd.DataFrame({name: arr(v) for name, v in zip(case["terms"], case["X"])})
    f = cox(df, arr(case["time"]), arr(case["event"]))
    assert f.terms == tuple(case["terms"])


def test_lifelines_agrees_on_efron_coefficients():
    """lifelines' CoxPHFitter (Efron) reaches R's coefficients on lung to about 1e-6 with its default
    tolerance; ltfu matches R to 1e-9 (its own convergence criterion is R's)."""
    lifelines = pytest.importorskip("lifelines")
    import pandas as pd

    case = CASES["lung_efron"]
    df = pd.DataFrame({name: arr(v) for name, v in zip(case["terms"], case["X"])})
    df["T"], df["E"] = arr(case["time"]), arr(case["event"])
    ll = lifelines.CoxPHFitter().fit(df, "T", "E").params_[case["terms"]].to_numpy()
    np.testing.assert_allclose(ll, case["coef"], rtol=1e-4)
    np.testing.assert_allclose(_fit(case).coef, case["coef"], rtol=1e-9)


def test_separation_is_a_clear_error():
    t = np.arange(1, 21, dtype=float)
    e = np.ones(20)
    x = (t <= 10).astype(float)          # every early death is in group 1: monotone likelihood
    e[x == 0] = 0
    with pytest.raises(ConvergenceError, match=r"x1.*infinite"):
        cox(x, t, e)


def test_collinear_and_constant_designs_name_the_term():
    rng = np.random.default_rng(1)
    t = rng.exponential(1, 40)
    e = np.ones(40)
    a = rng.normal(size=40)
    with pytest.raises(ConvergenceError, match="x3"):
        cox(np.column_stack([a, 2 * a + 1, a * 0.5]), t, e)
    with pytest.raises(ConvergenceError, match="constant"):
        cox(np.column_stack([a, np.ones(40)]), t, e)


def test_a_term_constant_within_every_risk_set_is_a_clear_error():
    # the only patient with x = 0 is censored before the first event: x never varies where it counts,
    # its information is zero (rounding may leave about 1e-17 of either sign) and no coefficient exists
    t = np.array([53.93, 34.78, 16.69, 5.0, 34.82, 76.0, 63.43, 98.85])
    e = np.array([1, 1, 1, 0, 1, 1, 1, 1])
    x = np.array([1.0, 1, 1, 0, 1, 1, 1, 1])
    with pytest.raises(ConvergenceError, match="x1 does not vary within the risk sets"):
        cox(x, t, e)


def test_invalid_input():
    with pytest.raises(InvalidInputError, match="X"):
        cox(np.ones((3, 1)), [1, 2], [1, 0])
    with pytest.raises(InvalidInputError, match="ties"):
        cox([1.0, 0.0], [1, 2], [1, 1], ties="exact")
    with pytest.raises(InvalidInputError, match="X"):
        cox([1.0, np.nan], [1, 2], [1, 1])


def test_shared_layout_cache_gives_the_same_fits():
    """Fits passed one ``cache`` reuse the sorted risk sets of the same (time, event, entry,
    strata) and equal, bit for bit, the fits without it; other data are laid out anew."""
    import numpy as np

    from ltfu.stats import cox

    rng = np.random.default_rng(4)
    n = 400
    t = rng.integers(1, 60, n).astype(float)
    e = (rng.random(n) < 0.6).astype(int)
    en = np.where(rng.random(n) < 0.3, t * rng.random(n) * 0.5, 0.0)
    s = rng.integers(0, 2, n)
    X = rng.normal(size=(n, 3))
    cache: dict = {}
    for cols in ([0], [1], [0, 1, 2]):
        for kw in ({}, {"entry": en, "strata": s}, {"ties": "breslow"}):
            a = cox(X[:, cols], t, e, cache=cache, **kw)
            b = cox(X[:, cols], t, e, **kw)
            for f in ("coef", "se", "var", "loglik", "p_value"):
                np.testing.assert_array_equal(np.asarray(getattr(a, f)), np.asarray(getattr(b, f)), err_msg=f)
    assert [k[0] for k in cache].count("cox-layout") == 1
    # a subset (a covariate's missing values dropped) is other data: its own layout
    a = cox(X[:300, [0]], t[:300], e[:300], cache=cache)
    np.testing.assert_array_equal(a.coef, cox(X[:300, [0]], t[:300], e[:300]).coef)


@pytest.mark.parametrize("kw", [{}, {"entry": "en", "strata": "s"}])
def test_shared_cache_with_row_patterns_gives_the_same_fits(kw):
    """At registry size the fits of one endpoint share, through ``cache``, the merged times and the
    codes of the times, events, entries and strata their row patterns start from (``_patterns``);
    each fit equals, bit for bit, the fit without the cache: collapsed (yes/no and grid covariates),
    refused for its covariates (a continuous one), and refused for the times themselves."""
    import numpy as np

    from ltfu.stats import cox

    rng = np.random.default_rng(7)
    n = 6000
    t = rng.integers(1, 40, n).astype(float)
    e = (rng.random(n) < 0.5).astype(int)
    data = {"en": np.where(rng.random(n) < 0.3, np.floor(t * rng.random(n) * 0.5), 0.0),
            "s": rng.integers(0, 2, n)}
    kw = {k: data[v] for k, v in kw.items()}
    X = np.column_stack([rng.integers(0, 2, n), rng.integers(0, 5, n), rng.normal(size=n)]).astype(float)
    fine = t + rng.random(n)                # times without ties: too many patterns whatever the covariates
    seen = set()
    for times in (t, fine):
        cache: dict = {}
        for cols in ([0], [1], [2], [0, 1], [0, 1, 2]):
            a = cox(X[:, cols], times, e, cache=cache, **kw)
            b = cox(X[:, cols], times, e, **kw)
            rows = np.column_stack([times, e, X[:, cols], *kw.values()])
            collapsed = times is t and 2 not in cols and np.unique(rows, axis=0).shape[0] <= 0.25 * n
            assert (a.model.rep is not None) == collapsed, cols
            seen.add(collapsed)
            for f in ("coef", "se", "var", "loglik", "p_value"):
                np.testing.assert_array_equal(np.asarray(getattr(a, f)), np.asarray(getattr(b, f)), err_msg=f)
        assert [k[0] for k in cache].count("cox-pattern-base") == (times is t)   # no codes for the fine times
    assert seen == {True, False}           # some fits collapsed, some not


@pytest.mark.parametrize("seed", range(6))
def test_fit_on_repeated_row_patterns_equals_the_fit_on_rows(monkeypatch, seed):
    """Registry-sized fits collapse identical rows into patterns with multiplicities (coxmodel
    ._patterns).  Forced on small data with heavy ties, tied deaths of identical patients (Efron's
    fractions must run over the deaths, not the rows), strata, delayed entry, clusters and both tie
    rules, every number equals the row-by-row fit to 1e-12, cox.zph's too."""
    import numpy as np

    import ltfu.stats.coxmodel as cm
    from ltfu.stats import cox, cox_zph

    rng = np.random.default_rng(seed)
    n = 1500
    t = rng.integers(1, 12, n).astype(float)
    e = (rng.random(n) < 0.7).astype(int)
    X = np.column_stack([rng.integers(0, 2, n), rng.integers(20, 26, n) / 10.0]).astype(float)
    en = np.where(rng.random(n) < 0.3, np.floor(t * rng.random(n)), 0.0)
    s = rng.integers(0, 3, n)
    cl = rng.integers(0, 40, n)
    cases = [dict(ties="efron"), dict(ties="breslow"), dict(entry=en), dict(strata=s), dict(cluster=cl),
             dict(entry=en, strata=s, ties="breslow")]
    for kw in cases:
        monkeypatch.setattr(cm, "PATTERN_MIN_ROWS", 10**9)
        rows = cox(X, t, e, **kw)
        assert rows.model.rep is None
        monkeypatch.setattr(cm, "PATTERN_MIN_ROWS", 0)
        monkeypatch.setattr(cm, "PATTERN_MAX_SHARE", 1.0)
        pats = cox(X, t, e, **kw)
        assert pats.model.rep is not None and pats.model.rep.size < n, kw     # rows do repeat
        for f in ("coef", "se", "var", "loglik", "hazard_ratio", "p_value", "robust_se"):
            a, b = getattr(pats, f), getattr(rows, f)
            if a is None:
                assert b is None
                continue
            np.testing.assert_allclose(np.asarray(a, float), np.asarray(b, float), rtol=1e-12, atol=1e-14,
                                       err_msg=f"{f} {kw}")
        for test in ("score_test", "wald_test"):
            assert getattr(pats, test).statistic == pytest.approx(getattr(rows, test).statistic, rel=1e-12)
        # the LR statistic is a difference of two log-likelihoods of about 1e4: their 1e-12 is its 1e-8
        assert pats.lr_test.statistic == pytest.approx(rows.lr_test.statistic, abs=1e-12 * abs(rows.loglik[0]))
        assert pats.iterations == rows.iterations and (pats.n, pats.n_events) == (rows.n, rows.n_events)
        np.testing.assert_allclose(pats.model.score_residuals(pats.coef), rows.model.score_residuals(rows.coef),
                                   rtol=1e-10, atol=1e-12)
        if "cluster" not in kw:
            z1, z2 = cox_zph(pats), cox_zph(rows)
            np.testing.assert_allclose(z1.statistic, z2.statistic, rtol=1e-10)


def test_patterns_only_where_every_column_has_exact_codes():
    import numpy as np

    from ltfu.stats.counting import _grid_codes
    from ltfu.stats.coxmodel import _patterns

    def _exact_codes(a):                  # as _patterns asks for a column's codes
        got = _grid_codes(a, origin=float(a.min()), limit=16 * a.size)
        return None if got is None else (got[0], got[1].size)

    rng = np.random.default_rng(1)
    a = rng.integers(0, 5, 100) / 10.0 - 3.0                   # a 0.1 grid, negative
    codes, top = _exact_codes(a)
    assert top <= 5 * 10 + 1 and all(len(set(a[codes == c])) == 1 for c in np.unique(codes))
    assert _exact_codes(rng.random(100)) is None               # no grid
    assert _exact_codes(np.array([0.0, 1e300, 5.0])) is None    # too wide a range (no overflow either)
    assert _exact_codes(np.array([-1e-20, 1e-20, 0.0] * 10)) is None    # distinct values, one code: refused
    n = 10_000
    t = rng.integers(1, 50, n).astype(float)
    e = rng.integers(0, 2, n)
    X = rng.integers(0, 2, (n, 1)).astype(float)
    rep, inverse, mult = _patterns(X, t, e, None, None)
    assert mult.sum() == n and rep.size <= 49 * 2 * 2
    assert (t[rep][inverse] == t).all() and (X[rep][inverse] == X).all() and (e[rep][inverse] == e).all()
    assert _patterns(np.c_[rng.random(n)], t, e, None, None) is None      # a continuous covariate


@pytest.mark.parametrize("seed", range(24))
def test_patterns_are_refused_exactly_when_the_distinct_rows_exceed_their_share(seed):
    """``_patterns`` collapses the rows when their distinct (exit, status, covariates) patterns are
    at most PATTERN_MAX_SHARE of the rows, and refuses otherwise, whether its count over the first
    columns (once their codes span between that share and n) or its count over all of them decides:
    columns of random widths, against np.unique of the rows (over these seeds the first count
    refuses in 15, the count over all columns in 4, and 5 are collapsed)."""
    import numpy as np

    from ltfu.stats.coxmodel import PATTERN_MAX_SHARE, _patterns

    rng = np.random.default_rng(seed)
    n = 8000
    t = rng.integers(1, int(rng.choice([5, 30, 300, 3000])), n).astype(float)
    e = rng.integers(0, 2, n)
    widths = rng.choice([2, 3, 6, 40, 700], int(rng.integers(1, 4)))
    X = np.column_stack([rng.integers(0, w, n) for w in widths]).astype(float)
    distinct = np.unique(np.column_stack([t, e, X]), axis=0).shape[0]
    got = _patterns(X, t, e, None, None)
    assert (got is None) == (distinct > PATTERN_MAX_SHARE * n)
    if got is not None:
        rep, inverse, mult = got
        assert rep.size == distinct and mult.sum() == n and (X[rep][inverse] == X).all()


@pytest.mark.parametrize("seed", range(40))
def test_the_sampled_check_only_refuses_what_the_full_codes_refuse(seed):
    """``_may_have_patterns`` (samples of 4,096 rows) answers False only where ``_patterns``'s own
    codes of the whole columns are missing or wider than its limit: random columns on grids of
    random scales and ranges, with rare values the sample misses, and continuous ones."""
    import numpy as np

    from ltfu.stats.counting import _grid_codes
    from ltfu.stats.coxmodel import _may_have_patterns

    rng = np.random.default_rng(seed)
    n = int(rng.choice([5_000, 20_000, 60_000]))
    cols = []
    for _ in range(int(rng.integers(2, 6))):
        kind = rng.integers(0, 4)
        scale = float(rng.choice([1, 10, 100, 1000]))
        if kind == 0:                               # a grid, a few values
            col = rng.integers(0, 5, n) / scale
        elif kind == 1:                             # a wide grid
            col = rng.integers(0, int(rng.choice([100, 3000, 50_000])), n) / scale
        elif kind == 2:                             # a grid with rare finer or far values
            col = rng.integers(0, 30, n).astype(float)
            k = rng.integers(1, 4)
            col[rng.choice(n, k, replace=False)] = rng.choice([0.5, 0.25, 1e6, 3.001], k)
        else:                                       # continuous
            col = rng.random(n) * 80
        cols.append(col)
    limit = 16 * n
    full, span = True, 1
    for col in cols:
        got = _grid_codes(col, origin=float(col.min()), limit=limit)
        span = span * got[1].size if got is not None else limit + 1
        full = full and got is not None and span <= limit
    # (over these 40 seeds: 33 refused by both, 4 passed by the samples only (rare values the
    # sample misses), 3 passed by both)
    assert full <= _may_have_patterns(cols, 1, limit)    # accepted on the columns: on the samples too


def _collapsed(cols):
    """The distinct rows of ``cols`` (a dict of equal-length arrays) and how many times each occurs."""
    import pandas as pd

    frame = pd.DataFrame(cols)
    cells = frame.groupby(list(frame.columns), sort=False).size().reset_index(name="n")
    return {c: cells[c].to_numpy() for c in frame.columns}, cells["n"].to_numpy()


@pytest.mark.parametrize("seed", range(12))
def test_frequency_counts_fit_the_repeated_rows(seed):
    """cox(counts=) on a GROUP BY's cells equals cox on the rows themselves: ties (whole days),
    delayed entry, strata, Efron and Breslow; n and events counted with the repeats."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(200, 3000))
    t = rng.integers(1, 40, n).astype(float)
    e = (rng.random(n) < 0.6).astype(int)
    cols = {"t": t, "e": e, "a": rng.integers(0, 2, n).astype(float), "b": rng.integers(0, 4, n) * 0.5}
    kw: dict = {"ties": "breslow" if seed % 3 == 2 else "efron"}
    if seed % 2:
        cols["en"] = np.minimum(rng.integers(0, 5, n).astype(float), t - 1)
    if seed % 4 == 3:
        cols["s"] = rng.integers(0, 3, n)
    cells, counts = _collapsed(cols)
    terms = ["a", "b"] if seed % 5 else ["a"]

    def fit(c, **more):
        return cox(pd.DataFrame({k: c[k] for k in terms}), c["t"], c["e"], entry=c.get("en"),
                         strata=c.get("s"), **kw, **more)

    want, got = fit(cols), fit(cells, counts=counts)
    assert counts.size < n and got.n == n and got.n_events == int(e.sum())
    assert got.iterations == want.iterations
    for field in ("coef", "se", "var", "loglik"):
        np.testing.assert_allclose(getattr(got, field), getattr(want, field), rtol=1e-10, atol=1e-13, err_msg=field)
    for test in ("score_test", "wald_test", "lr_test"):
        assert getattr(got, test).statistic == pytest.approx(getattr(want, test).statistic, rel=1e-9, abs=1e-12)


def test_frequency_counts_refused_where_they_do_not_apply():
    t, e = np.array([1.0, 2, 3, 4, 5, 6]), np.array([1, 0, 1, 1, 0, 1])
    x, c = np.array([0.0, 1, 0, 1, 1, 0]), [1, 2, 3, 1, 2, 2]
    with pytest.raises(InvalidInputError, match="counts: frequency weights must be whole"):
        cox(x, t, e, counts=[1, 2, 0.5, 1, 1, 1])
    with pytest.raises(InvalidInputError, match="do not combine"):
        cox(x, t, e, counts=c, weights=np.ones(6))
    with pytest.raises(InvalidInputError, match="needs the rows"):
        cox_zph(cox(x, t, e, counts=c))
    # all ones: the fit on the rows as they are
    assert cox(x, t, e, counts=np.ones(6)).to_dict() == cox(x, t, e).to_dict()


def test_power_means_equal_the_direct_sums():
    """Faulhaber's formula for sum_{l<d} (l/d)**j, where the series uses it (d > 64), to rounding."""
    from ltfu.stats.coxmodel import SERIES_MAX_SHARE, SERIES_MIN_DEATHS, _power_means, _series_terms

    d = np.array([SERIES_MIN_DEATHS + 1, 100, 997, 12345, 40000], float)
    top = _series_terms(SERIES_MAX_SHARE) + 2          # as many as the largest share asks for
    got = _power_means(d, top)
    for k, dk in enumerate(d):
        f = np.arange(int(dk)) / dk
        want = [math.fsum(f ** j) for j in range(top + 1)]
        np.testing.assert_allclose(got[:, k], want, rtol=2e-15, err_msg=str(dk))


@pytest.mark.parametrize("seed", range(6))
def test_efron_series_equals_the_expansion(seed, monkeypatch):
    """Many tied deaths that are up to half of the risk set: the power series gives Efron's sums
    to rounding (compared with the expansion, forced by raising the series' threshold), at the
    threshold's share (0.5), at 0.1 and far below; the largest share sets the number of terms
    (seeds 0-2: up to 0.5, 3-5: up to 0.1, where the series had 24 terms before)."""
    from ltfu.stats import coxmodel

    rng = np.random.default_rng(seed)
    K = 400
    d = rng.integers(65, 4000, K).astype(float)
    top = coxmodel.SERIES_MAX_SHARE if seed < 3 else 0.1
    q = np.exp(rng.uniform(np.log(1e-7), np.log(top), K))
    q[:3] = top
    q[3:6] = [0.237, 0.3, 0.45] if seed < 3 else [0.01, 0.05, 0.099]
    d[:2] = [237_250, 65]
    s0 = np.exp(rng.uniform(0, 30, K))
    a0 = q * s0
    series = coxmodel.efron_terms(s0, a0, d, True)
    monkeypatch.setattr(coxmodel, "SERIES_MIN_DEATHS", 10 ** 9)
    expanded = coxmodel.efron_terms(s0, a0, d, True)
    for name, x, y in zip(("c1", "c2", "e0", "e1", "e2", "logs"), series, expanded):
        np.testing.assert_allclose(x, y, rtol=5e-14, err_msg=name)


def test_a_fit_with_thousands_of_tied_deaths_is_the_same_through_the_series(monkeypatch):
    """Whole-day times of 200,000 patients counted into cells: the fit through the series (its
    tied groups of hundreds of deaths) equals the fit expanding every death."""
    from ltfu.stats import coxmodel

    rng = np.random.default_rng(3)
    n = 200_000
    x = rng.integers(0, 2, n).astype(float)
    t = np.minimum(rng.exponential(300 * np.exp(-0.4 * x)), 1000).round() + 1
    e = (t < 1001).astype(int) * (rng.random(n) < 0.8)
    cells, counts = _collapsed({"t": t, "e": e, "x": x})
    fast = cox(cells["x"], cells["t"], cells["e"], counts=counts)
    monkeypatch.setattr(coxmodel, "SERIES_MIN_DEATHS", 10 ** 9)
    slow = cox(cells["x"], cells["t"], cells["e"], counts=counts)
    assert fast.n == n and fast.iterations == slow.iterations
    for field in ("coef", "se", "loglik"):
        np.testing.assert_allclose(getattr(fast, field), getattr(slow, field), rtol=1e-12, err_msg=field)


def test_rows_sum_is_the_direct_sum_bit_for_bit():
    """coxmodel.rows_sum (the deaths' sums without copying their rows) equals
    ``(w[:, None] * x[rows]).sum(axis=0)`` exactly, over several blocks, one and none."""
    import numpy as np

    from ltfu.stats.coxmodel import GRAM_BLOCK, rows_sum

    rng = np.random.default_rng(5)
    for p in (1, 2, 4):            # one column: numpy sums it pairwise, more: row after row
        x = rng.standard_normal((3 * GRAM_BLOCK + 17, p)) * np.array([1e-8, 1.0, 1e3, 1e9])[:p]
        for size in (0, 1, 7, 100, GRAM_BLOCK, 2 * GRAM_BLOCK + 5, x.shape[0]):
            rows = np.sort(rng.choice(x.shape[0], size, replace=False))
            w = rng.integers(1, 5, size) * rng.random(size)
            np.testing.assert_array_equal(rows_sum(w, x, rows), (w[:, None] * x[rows]).sum(axis=0))


def test_pieces_of_several_time_weightings_in_one_pass_are_each_alone():
    """CoxModel.score_pieces_many (cox.zph's three sets of pieces from one pass over the risk sets)
    gives, for each weighting, exactly what that weighting gives alone: the shared sums are not
    altered from one weighting to the next (strata, delayed entry, Efron ties)."""
    rng = np.random.default_rng(11)
    n = 600
    X = np.column_stack([rng.integers(0, 2, n), rng.normal(size=n)])
    t = rng.integers(5, 60, n).astype(float)
    e = (rng.random(n) < 0.6).astype(int)
    entry = np.floor(t * rng.random(n) * 0.4)
    fit = cox(X, t, e, entry=entry, strata=rng.integers(0, 3, n))
    model, beta = fit.model, fit.coef
    weightings = [None] + [[rng.normal(size=st.times.size) for st in model.strata] for _ in range(2)]
    together = model.score_pieces_many(beta, weightings)
    alone = [model.score_pieces(beta, time_weights=w) for w in reversed(weightings)][::-1]
    for a, b in zip(together, alone):
        assert a[0] == b[0] and np.array_equal(a[1], b[1]) and np.array_equal(a[2], b[2])
    assert together[0][0] != 0.0 and together[1][0] == 0.0      # the log-likelihood only unweighted


def test_a_float_block_frame_is_its_design_matrix_without_a_copy():
    """``covariates`` (the report's model terms) makes one C-ordered float block, which
    ``design_matrix`` takes as it is, read-only, with the values and layout the column-by-column
    path stacks; a frame with a missing value, a frame of several blocks (F-ordered) and an integer
    column take that path (the missing value named as before), and the fits are the same."""
    import numpy as np
    import pandas as pd

    from ltfu.analysis.plan import COX_COVARIATES, covariates
    from ltfu.stats._common import design_matrix

    rng = np.random.default_rng(2)
    n = 500
    d = pd.DataFrame({"burden": rng.choice(["high", "low"], n), "age": rng.uniform(20, 80, n).round(),
                      "prior_allo_hct": pd.array(rng.random(n) < 0.3, dtype="boolean"),
                      "ph_positive": pd.array(rng.random(n) < 0.2, dtype="boolean"),
                      "prior_blinatumomab": pd.array(rng.random(n) < 0.5, dtype="boolean")})
    cov = covariates(d, COX_COVARIATES)
    terms, values = design_matrix(cov, n)
    stacked = np.column_stack([cov[c].to_numpy() for c in cov.columns])
    assert terms == tuple(cov.columns) and np.shares_memory(values, cov.to_numpy())
    assert values.flags.c_contiguous and not values.flags.writeable
    np.testing.assert_array_equal(values, stacked)
    several = pd.DataFrame({c: cov[c].to_numpy() for c in cov.columns})          # one block per column
    _, copied = design_matrix(several, n)
    assert not np.shares_memory(copied, several.to_numpy()) and copied.flags.c_contiguous
    np.testing.assert_array_equal(copied, values)
    gap = cov.copy()
    gap.iloc[7, 1] = np.nan
    with pytest.raises(InvalidInputError, match="age_per_10y"):
        design_matrix(gap, n)
    t = rng.exponential(10, n).round() + 1
    e = (rng.random(n) < 0.7).astype(int)
    a, b = cox(cov, t, e), cox(several, t, e)
    for f in ("coef", "se", "var", "loglik"):
        np.testing.assert_array_equal(np.asarray(getattr(a, f)), np.asarray(getattr(b, f)), err_msg=f)

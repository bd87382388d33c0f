"""cox.zph on a ``cox_from`` fit (the engine's sums, no rows in memory) equals cox.zph on
``ltfu.stats.cox``'s fit of the same data: statistics, p-values and the global test."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ltfu.errors import ConvergenceError, InvalidInputError
from ltfu.stats import cox, cox_zph

duckdb = pytest.importorskip("duckdb")


def zph_data(n=1500, seed=11):
    """Whole-day times (ties), a continuous and a binary covariate and one with a time-varying
    effect (so some statistics are large), delayed entry for some rows, three strata, and a run of
    times that R's timefix merges."""
    rng = np.random.default_rng(seed)
    x1, x2, age = rng.normal(size=n), rng.integers(0, 2, n).astype(float), rng.normal(60, 10, n)
    t = np.ceil(rng.exponential(1 / np.exp(0.5 * x1 - 0.4 * x2 + 0.02 * (age - 60))) * 30)
    t = np.where(x2 == 1, np.ceil(t ** 1.3), t)                # a non-proportional effect of x2
    en = np.where(rng.random(n) < 0.3, np.floor(rng.random(n) * t), 0.0)
    t[:10], t[10:20], en[:20] = 0.1 + 0.2, 0.3, 0.0
    return pd.DataFrame(dict(t=t, e=(rng.random(n) < 0.7).astype(int), x1=x1, x2=x2, age=age,
                             s=rng.choice(["a", "b", "c"], n), en=en))


def assert_zph_close(a, b, rtol=1e-9):
    assert a.terms == b.terms and a.transform == b.transform
    np.testing.assert_array_equal(a.df, b.df)
    np.testing.assert_allclose(a.statistic, b.statistic, rtol=rtol, atol=0, err_msg="statistic")
    np.testing.assert_allclose(a.p_value, b.p_value, rtol=rtol, atol=0, err_msg="p_value")
    np.testing.assert_allclose([a.global_test.statistic, a.global_test.df, a.global_test.p_value],
                               [b.global_test.statistic, b.global_test.df, b.global_test.p_value],
                               rtol=rtol, atol=0, err_msg="global")


@pytest.mark.parametrize("ties", ["efron", "breslow"])
@pytest.mark.parametrize("kw,covs", [(dict(), ["x2"]), (dict(entry="en"), ["x1", "x2"]),
                                     (dict(strata="s"), ["x1", "x2", "age"]),
                                     (dict(entry="en", strata="s"), ["x1", "x2", "age"])],
                         ids=["plain", "entry", "strata", "entry+strata"])
def test_cox_zph_of_cox_from_equals_in_memory(ties, kw, covs):
    from ltfu.stats.engines.cox import cox_from

    df = zph_data()
    rel = duckdb.connect().from_df(df)
    got = cox_from(rel, time="t", event="e", covariates=covs, ties=ties, **kw)
    want = cox(df[covs], df.t, df.e, entry=df.en if "entry" in kw else None,
               strata=df.s if "strata" in kw else None, ties=ties)
    for transform in ("km", "rank", "identity"):
        z_want = cox_zph(want, transform=transform)
        assert_zph_close(cox_zph(got, transform=transform), z_want)
    assert cox_zph(got).transform == "km"
    if "x2" in covs and len(covs) > 1:
        assert z_want.p_value[covs.index("x2")] < 1e-3     # the test has something to find


def test_cox_zph_of_cox_from_costs_one_query():
    """The fit's queries are those it made before (it keeps its model, asks nothing more); the
    check adds one step query at the fitted coefficients."""
    from ltfu.stats.engines import duckdb as ddb
    from ltfu.stats.engines.cox import cox_from

    df = zph_data(n=600)
    calls = []
    real = ddb.DuckDBEngine.fetch

    def fetch(self, sql):
        calls.append(sql)
        return real(self, sql)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ddb.DuckDBEngine, "fetch", fetch)
        fit = cox_from(df, time="t", event="e", covariates=["x1", "x2"], entry="en", strata="s", engine="duckdb")
        n_fit = len(calls)
        assert n_fit == fit.iterations + 2          # the first pass, beta = 0, one per Newton step
        cox_zph(fit, transform="rank")
        assert len(calls) == n_fit + 1
    assert fit.model is not None and "model" not in fit.to_dict()


def test_cox_zph_of_cox_from_refuses_as_in_memory():
    """Every event at one time: g does not vary over the events, the augmented information is
    singular, and both raise ConvergenceError; a bad transform is refused alike."""
    from ltfu.stats.engines.cox import cox_from

    rng = np.random.default_rng(3)
    n = 200
    x = rng.normal(size=n)
    t = np.where(np.arange(n) < 30, 5.0, 5.0 + rng.integers(1, 50, n))
    df = pd.DataFrame(dict(t=t, e=(np.arange(n) < 30).astype(int), x=x))
    want = cox(df[["x"]], df.t, df.e)
    got = cox_from(df, time="t", event="e", covariates=["x"], engine="duckdb")
    for transform in ("km", "rank", "identity"):
        with pytest.raises(ConvergenceError, match="singular"):
            cox_zph(want, transform=transform)
        with pytest.raises(ConvergenceError, match="singular"):
            cox_zph(got, transform=transform)
    with pytest.raises(InvalidInputError, match="transform"):
        cox_zph(got, transform="log")

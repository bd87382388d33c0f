"""Counts from DuckDB (and Spark) equal numpy's, and so does every estimate computed from them.

Every comparison below is bit for bit (float arrays compared as their int64 bit patterns): the
engines return exact integer counts, ties and R's time merging are decided in numpy on the same
distinct times, so the estimators receive identical ``Counts`` arrays and do identical arithmetic.
Spark (local[2]) is compared with DuckDB under ``-m spark`` (``make test-spark``: the JVM start costs
30-60 s, so ``make test`` leaves it out); it is skipped without pyspark or Java.
"""

from __future__ import annotations

import dataclasses
import shutil

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ltfu.errors import InvalidInputError
from ltfu.stats import cumulative_incidence, gray_test, kaplan_meier, logrank, median_follow_up, nelson_aalen
from ltfu.stats.counting import COUNT_MIN_N, count
from ltfu.stats.engines import (
    counts,
    cumulative_incidence_from,
    gray_test_from,
    kaplan_meier_from,
    logrank_from,
    median_follow_up_from,
    nelson_aalen_from,
)
from ltfu.stats.engines import duckdb as ddb
from ltfu.stats.engines._counts import make_spec

duckdb = pytest.importorskip("duckdb")


# ------------------------------------------------------------------------------------------------
# data and comparison

def registry(n=2000, *, seed=0, entry=True, zero=True):
    """Integer days with heavy ties, 3 burden groups x 2 centres, 2 strata, 2 causes, 30% delayed
    entry; 0.1 + 0.2 and 0.3 both present (one time after R's merging), and -0.0."""
    rng = np.random.default_rng(seed)
    t = rng.integers(1, 200, n).astype(float)
    cause = rng.choice([0, 1, 2], n, p=[0.35, 0.45, 0.2])
    df = pd.DataFrame({
        "t": t, "e": (cause > 0).astype(np.int64), "cause": cause,
        "burden": rng.choice(["high", "low", "mid"], n), "centre": rng.integers(1, 3, n),
        "stratum": rng.choice(["A", "B"], n), "site": rng.integers(0, 2, n).astype(bool),
        "en": np.where(rng.random(n) < 0.3, np.floor(rng.random(n) * t), 0.0),
    })
    df.loc[0:14, "t"] = 0.1 + 0.2              # 0.30000000000000004
    df.loc[15:29, "t"] = 0.3
    df.loc[0:29, "en"] = 0.0
    df.loc[30:39, "en"] = -0.0                  # an entry at -0.0 is an entry at 0
    if zero:
        df.loc[40:44, "t"] = -0.0               # exits at time zero, written as -0.0 ...
        df.loc[45:49, "t"] = 0.0                # ... and as 0.0: one tied time
        df.loc[40:49, "en"] = np.nan if entry else 0.0
    if not entry:
        df = df.drop(columns="en")
    elif zero:
        df = df.drop(index=range(40, 50)).reset_index(drop=True)   # exit 0 cannot have entry < exit
    return df


def bits(a):
    a = np.asarray(a)
    return a.view(np.int64) if a.dtype == np.float64 else a


def assert_identical(a, b, path="result"):
    """Every field equal bit for bit (float arrays by bit pattern, so -0.0 != 0.0 and NaN == NaN)."""
    if dataclasses.is_dataclass(a):
        assert type(a) is type(b), path
        for f in dataclasses.fields(a):
            if f.name == "model":
                continue
            assert_identical(getattr(a, f.name), getattr(b, f.name), f"{path}.{f.name}")
    elif isinstance(a, dict):
        assert list(a) == list(b), f"{path}: keys {list(a)} != {list(b)}"
        for k in a:
            assert_identical(a[k], b[k], f"{path}[{k!r}]")
    elif isinstance(a, (tuple, list)) and not (a and isinstance(a[0], (int, float, str, bool, np.generic))):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            assert_identical(x, y, f"{path}[{i}]")
    elif isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        assert a.dtype == b.dtype and a.shape == b.shape, f"{path}: {a.dtype}{a.shape} != {b.dtype}{b.shape}"
        np.testing.assert_array_equal(bits(a), bits(b), err_msg=path)
    elif isinstance(a, float) and isinstance(b, float):
        assert np.float64(a).view(np.int64) == np.float64(b).view(np.int64), f"{path}: {a!r} != {b!r}"
    else:
        assert a == b and type(a) is type(b), f"{path}: {a!r} != {b!r}"


@pytest.fixture(scope="module")
def reg():
    return registry()


@pytest.fixture(scope="module")
def reg0():
    return registry(entry=False)


def _parquet(tmp_path_factory, df):
    path = tmp_path_factory.mktemp("engines") / "registry.parquet"
    df.to_parquet(path, row_group_size=500)            # several row groups: parallel scans
    return path


@pytest.fixture(scope="module")
def reg_parquet(tmp_path_factory, reg):
    return _parquet(tmp_path_factory, reg)


@pytest.fixture(scope="module")
def reg0_parquet(tmp_path_factory, reg0):
    return _parquet(tmp_path_factory, reg0)


# ------------------------------------------------------------------------------------------------
# counts tables

COUNT_CASES = {
    "one group": dict(),
    "entry": dict(entry="en"),
    "groups": dict(group="burden"),
    "two group columns + entry": dict(group=["burden", "centre"], entry="en"),
    "strata": dict(group="burden", strata="stratum"),
    "causes": dict(group="burden", causes="auto", event="cause"),
    "causes + entry + strata": dict(group="centre", strata=["stratum", "site"], causes="auto", event="cause",
                                    entry="en"),
    "no timefix": dict(group="burden", entry="en", timefix=False),
}


@pytest.mark.parametrize("case", sorted(COUNT_CASES))
def test_counts_equal_numpy_count(case, reg, reg_parquet, reg0, reg0_parquet):
    kw = {"time": "t", "event": "e", **COUNT_CASES[case]}
    df, path = (reg, reg_parquet) if "entry" in kw else (reg0, reg0_parquet)
    got = counts(path, engine="duckdb", **kw)
    want = counts(df, engine="numpy", **kw)          # ltfu.stats.counting.count on the arrays
    assert_identical(got, want)
    for tab in got.tables.values():
        assert tab.n_exit.dtype == np.float64 and np.all(tab.n_exit == np.round(tab.n_exit))
        assert not np.isnan(tab.n_event).any()        # empty sums are 0, never NULL


def test_one_group_counts_equal_count_directly(reg):
    got = ddb.counts(reg, time="t", event="e", entry="en").table()
    from ltfu.stats._common import check_time_event

    t, e, en = check_time_event(reg.t, reg.e, entry=reg.en)
    want = count(t, e, group=np.zeros(t.size, np.intp), n_groups=1, entry=en)
    assert_identical(got, want)


def test_merging_and_negative_zero(reg, reg0):
    df = reg0
    tab = ddb.counts(df, time="t", event="e").table()
    assert tab.time[0] == 0.0 and not np.signbit(tab.time[0])          # -0.0 and 0.0: one time, +0.0
    assert tab.n_exit[0, 0] == 10
    i = np.flatnonzero(np.abs(tab.time - 0.3) < 1e-9)
    assert i.size == 1 and tab.time[i[0]] == 0.3 and tab.n_exit[i[0], 0] == 30     # merged, smallest value
    raw = ddb.counts(df, time="t", event="e", timefix=False).table()
    assert np.sum(np.abs(raw.time - 0.3) < 1e-9) == 2                  # without merging: two times
    en = ddb.counts(reg, time="t", event="e", entry="en").table()
    assert not np.signbit(en.entry_time).any() and en.entry_time[0] == 0.0


def test_delayed_entry_is_strict():
    # entry 5: not at risk at 5 (risk set entry < t <= exit); at risk at 7
    df = pd.DataFrame({"t": [5.0, 7.0, 10.0, 12.0], "e": [1, 1, 0, 1], "en": [0.0, 0.0, 5.0, 6.0]})
    tab = ddb.counts(df, time="t", event="e", entry="en").table()
    np.testing.assert_array_equal(tab.n_risk[:, 0], [2, 3, 2, 1])
    km = kaplan_meier_from(df, time="t", event="e", entry="en", engine="duckdb")["all"]
    assert_identical(km, kaplan_meier(df.t, df.e, entry=df.en))


def test_query_returns_aggregated_rows_only():
    n = 60_000
    rng = np.random.default_rng(3)
    df = pd.DataFrame({"t": rng.integers(1, 51, n).astype(float), "e": rng.integers(0, 2, n),
                       "g": rng.integers(0, 3, n), "en": np.floor(rng.random(n) * 1).astype(float)})
    spec = make_spec(time="t", event="e", entry="en", group="g")
    agg = ddb.DuckDBEngine(ddb.relation(df)).aggregate(spec)
    assert agg.exit_n.size <= 50 * 3 * 2 and agg.entry_n.size <= 3          # (group, time, status), (group, entry)
    assert agg.exit_n.dtype == np.int64 and agg.entry_bad.dtype == np.int64 and agg.exit_n.sum() == n
    assert (agg.entry_bad == 0).all()                                        # COUNT_IF of nothing is 0
    sql = ddb.aggregate_sql(spec, "src", ddb.quote_duckdb)
    assert "GROUP BY GROUPING SETS" in sql and "COUNT(*)" in sql


def test_large_input_uses_numpy_counting_paths_and_still_agrees():
    n = COUNT_MIN_N + 10_000                     # numpy counts on an integer grid / packed sorts here
    rng = np.random.default_rng(4)
    df = pd.DataFrame({"t": rng.integers(0, 900, n) / 10, "e": rng.integers(0, 2, n), "g": rng.integers(0, 3, n)})
    for kw in (dict(), dict(group="g")):
        assert_identical(ddb.counts(df, time="t", event="e", **kw), counts(df, time="t", event="e", engine="numpy",
                                                                          **kw))
    assert_identical(kaplan_meier_from(df, time="t", event="e", engine="duckdb")["all"], kaplan_meier(df.t, df.e))


# ------------------------------------------------------------------------------------------------
# estimators: every field bit for bit

@pytest.mark.parametrize("by", [None, "burden", ["burden", "centre"]])
@pytest.mark.parametrize("entry", [None, "en"])
@pytest.mark.parametrize("conf_type", ["log-log", "log", "plain"])
def test_kaplan_meier_from_duckdb_equals_numpy(by, entry, conf_type, reg, reg_parquet):
    kw = dict(time="t", event="e", entry=entry, by=by, conf_type=conf_type)
    got = kaplan_meier_from(reg_parquet, engine="duckdb", **kw)
    assert_identical(got, kaplan_meier_from(reg, engine="numpy", **kw))
    if by is None and entry is None:              # the array API itself, untouched
        assert_identical(got["all"], kaplan_meier(reg.t, reg.e, conf_type=conf_type))
    for km in got.values():
        assert_identical(km.median, km.median)    # quantiles read from identical arrays


def test_kaplan_meier_from_groups_equal_kaplan_meier_per_group(reg):
    got = kaplan_meier_from(reg, time="t", event="e", entry="en", by="burden", engine="duckdb")
    assert list(got) == ["high", "low", "mid"]
    for level, km in got.items():
        m = reg.burden == level
        assert_identical(km, kaplan_meier(reg.t[m], reg.e[m], entry=reg.en[m]))   # no merge crosses groups here


@pytest.mark.parametrize("by", [None, "burden", ["burden", "centre"]])
@pytest.mark.parametrize("entry", [None, "en"])
def test_nelson_aalen_from_duckdb_equals_numpy(by, entry, reg, reg_parquet):
    kw = dict(time="t", event="e", entry=entry, by=by)
    got = nelson_aalen_from(reg_parquet, engine="duckdb", **kw)
    assert_identical(got, nelson_aalen_from(reg, engine="numpy", **kw))
    if by is None:                                                  # the array API itself
        assert_identical(got["all"], nelson_aalen(reg.t, reg.e, entry=None if entry is None else reg.en))
    # the increments are the Kaplan-Meier table's d/n: the same times, risk sets and events
    km = kaplan_meier_from(reg_parquet, engine="duckdb", **kw)
    for level, na in got.items():
        assert_identical(na.time, km[level].time)
        assert_identical(na.n_risk, km[level].n_risk)
        np.testing.assert_allclose(np.diff(na.cumhaz, prepend=0.0), km[level].n_event / km[level].n_risk, rtol=1e-12)


@pytest.mark.parametrize("by", [None, "burden", ["burden", "centre"]])
@pytest.mark.parametrize("timefix", [True, False])
@pytest.mark.parametrize("conf_type", ["log-log", "plain"])
def test_median_follow_up_from_duckdb_equals_numpy(by, timefix, conf_type, reg0, reg0_parquet):
    kw = dict(time="t", death="e", by=by, timefix=timefix, conf_type=conf_type)
    got = median_follow_up_from(reg0_parquet, engine="duckdb", **kw)
    assert_identical(got, median_follow_up_from(reg0, engine="numpy", **kw))
    if by is None:                                                  # the array API itself
        assert_identical(got["all"], median_follow_up(reg0.t, reg0.e, timefix=timefix, conf_type=conf_type))
    else:                                                           # odd and even groups, raw and merged times
        sizes = [fu.n for fu in got.values()]
        assert {n % 2 for n in sizes} == {0, 1}, sizes


def test_median_follow_up_from_takes_the_simple_median_of_the_times_as_given():
    # 0.1 + 0.2 and 0.3 are one time for the reverse Kaplan-Meier (R's merging), two for the median
    t = np.array([0.1 + 0.2, 0.3, 0.3, 5.0])
    d = np.array([0, 0, 1, 0])
    got = median_follow_up_from(pd.DataFrame({"t": t, "d": d}), time="t", death="d", engine="duckdb")["all"]
    # sorted: 0.3, 0.3, 0.30000000000000004, 5.0; the middle two differ in their last bit
    assert got.simple_median == (0.3 + (0.1 + 0.2)) / 2 and got.min == 0.3 and got.max == 5.0
    assert_identical(got, median_follow_up(t, d))


K_SAMPLE_TESTS = {"logrank": (logrank_from, logrank, "event", "e"),
                  "gray": (gray_test_from, gray_test, "status", "cause")}


@pytest.mark.parametrize("test", sorted(K_SAMPLE_TESTS))
@pytest.mark.parametrize("strata", [None, "stratum", ["stratum", "site"]])
@pytest.mark.parametrize("rho", [0.0, 1.0])
@pytest.mark.parametrize("by", ["burden", ["burden", "centre"]])
def test_k_sample_tests_from_duckdb_equal_numpy(test, strata, rho, by, reg0, reg0_parquet):
    from_engine, on_arrays, role, column = K_SAMPLE_TESTS[test]
    kw = dict(time="t", by=by, strata=strata, rho=rho, **{role: column})
    got = from_engine(reg0_parquet, engine="duckdb", **kw)
    assert_identical(got, from_engine(reg0, engine="numpy", **kw))
    if isinstance(by, str) and not isinstance(strata, list):      # the array API itself
        assert_identical(got, on_arrays(reg0.t, reg0[column], reg0[by], strata=None if strata is None else
                                        reg0[strata], rho=rho))
    if test == "gray":
        assert got.causes == (1, 2) and np.isfinite(got.statistic).all()


@pytest.mark.parametrize("by", [None, "burden", ["burden", "centre"]])
def test_cumulative_incidence_from_duckdb_equals_numpy(by, reg, reg_parquet):
    kw = dict(time="t", status="cause", by=by)
    got = cumulative_incidence_from(reg_parquet, engine="duckdb", **kw)
    assert got.causes == (1, 2)
    assert_identical(got, cumulative_incidence_from(reg, engine="numpy", **kw))
    if not isinstance(by, list):
        assert_identical(got, cumulative_incidence(reg.t, reg.cause, group=None if by is None else reg[by]))


def test_gray_test_from_refuses_one_group(reg0):
    one = reg0.assign(burden="high")
    for engine in ("duckdb", "numpy"):
        with pytest.raises(InvalidInputError, match="at least 2 groups"):
            gray_test_from(one, time="t", status="cause", by="burden", engine=engine)


# ------------------------------------------------------------------------------------------------
# sources

def test_every_source_kind_gives_the_same_table(reg, reg_parquet, tmp_path):
    kw = dict(time="t", event="e", entry="en", group="burden")
    want = ddb.counts(reg_parquet, **kw)
    half = len(reg) // 2
    reg.iloc[:half].to_parquet(tmp_path / "part-0.parquet")
    reg.iloc[half:].to_parquet(tmp_path / "part-1.parquet")
    con = duckdb.connect()
    sources = {
        "glob": str(tmp_path / "part-*.parquet"),
        "list of paths": [tmp_path / "part-0.parquet", tmp_path / "part-1.parquet"],
        "relation": con.sql(f"SELECT * FROM read_parquet('{reg_parquet}')"),
        "pandas": reg,
        "arrow": pa.Table.from_pandas(reg),
        "mapping": {c: reg[c].to_numpy() for c in reg.columns},
    }
    try:
        import polars as pl
        sources["polars"] = pl.from_pandas(reg)
    except ImportError:
        pass
    for name, src in sources.items():
        got = counts(src, engine="duckdb", **kw)
        assert_identical(got, want, name)
    # arrays with source=None: the numpy path by default, DuckDB on request
    arrays = dict(time=reg.t.to_numpy(), event=reg.e.to_numpy(), entry=reg.en.to_numpy(), by=reg.burden.to_numpy())
    a = kaplan_meier_from(**arrays)
    b = kaplan_meier_from(**arrays, engine="duckdb")
    assert_identical(a, b)
    assert_identical(a, kaplan_meier_from(reg_parquet, time="t", event="e", entry="en", by="burden"))


def test_integer_and_boolean_columns(tmp_path):
    df = pd.DataFrame({"days": np.array([3, 3, 5, 8, 8, 9], np.int32), "dead": [True, False, True, True, False, False],
                       "arm": ["a", "b", "a", "b", "a", "b"]})
    pq.write_table(pa.Table.from_pandas(df), tmp_path / "x.parquet")
    got = kaplan_meier_from(tmp_path / "x.parquet", time="days", event="dead", by="arm")
    assert_identical(got, kaplan_meier_from(df, time="days", event="dead", by="arm", engine="numpy"))


# ------------------------------------------------------------------------------------------------
# bad input fails as the numpy path fails (InvalidInputError naming the argument)

BAD = {
    "NULL time": (lambda d: d.assign(t=d.t.where(d.index != 3)), dict(), r"time \(column .t.\): missing"),
    "negative time": (lambda d: d.assign(t=d.t.where(d.index != 3, -1.0)), dict(), r"time \(column .t.\): negative"),
    "event 2": (lambda d: d.assign(e=d.e.where(d.index != 3, 2)), dict(), "codes must be 0"),
    "entry >= time": (lambda d: d.assign(en=d.en.where(d.index != 3, d.t + 1)), dict(entry="en"), "strictly less"),
    "NULL entry": (lambda d: d.assign(en=d.en.where(d.index != 3)), dict(entry="en"),
                   r"entry \(column .en.\): missing"),
    "status code 3 not a cause": (lambda d: d.assign(cause=d.cause.where(d.index != 3, 3)),
                                  dict(event="cause", causes=(1, 2)), "neither the censoring code"),
    "NULL group": (lambda d: d.assign(burden=d.burden.where(d.index != 3, None)), dict(group="burden"), "missing"),
    "text time": (lambda d: d.assign(t=d.t.astype(str)), dict(), "time: "),
    "no column": (lambda d: d, dict(group="nope"), "no column"),
    "merging empties an interval": (lambda d: d.assign(en=d.en.where(d.index != 100, 0.1 + 0.2),
                                                      t=d.t.where(d.index != 100, 0.3 + 1e-12)),
                                    dict(entry="en"), "length 0"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_is_refused(case, reg):
    change, kw, message = BAD[case]
    df = change(reg.copy())
    kw = {"time": "t", "event": "e", **kw}
    with pytest.raises(InvalidInputError, match=message):
        ddb.counts(df, **kw)
    with pytest.raises(InvalidInputError):
        counts(df, engine="numpy", **kw)


SMALL = pd.DataFrame({"t": [1.0, 2, 3, 4, 5, 6], "s": [1, 0, 2, 1, 1, 2], "e": [1, 0, 1, 1, 0, 1],
                      "g": list("ababab")})
DAYS = SMALL.assign(d=pd.to_datetime("2020-01-01") + pd.to_timedelta(SMALL.t, unit="D"))
# what a user may get wrong, refused alike by both engines with InvalidInputError (found by a hunt for
# leaking exceptions: KeyError, TypeError, pyarrow's and DuckDB's own, and dates read as nanoseconds)
REFUSED = {
    "dates as time": (lambda: (DAYS, dict(time="d", death="e")), median_follow_up_from, "date|type TIMESTAMP"),
    "dates as groups": (lambda: (DAYS, dict(time="t", event="e", by="d")), nelson_aalen_from, "dates"),
    "missing categorical group": (lambda: (SMALL.assign(g=pd.Categorical(["a", None, "b", "a", "b", "a"])),
                                           dict(time="t", status="s", by="g")), gray_test_from, "missing"),
    "a name in another case": (lambda: (SMALL, dict(time="T", event="e")), nelson_aalen_from, "no column 'T'"),
    "by not a name": (lambda: (SMALL, dict(time="t", status="s", by=3)), gray_test_from, "by: give the name"),
    "rho None": (lambda: (SMALL, dict(time="t", status="s", by="g", rho=None)), gray_test_from, "rho"),
    "rho negative": (lambda: (SMALL, dict(time="t", status="s", by="g", rho=-5)), gray_test_from, "rho"),
    "rho nan": (lambda: (SMALL, dict(time="t", event="e", by="g", rho=np.nan)), logrank_from, "rho"),
    "time None": (lambda: (SMALL, dict(time=None, event="e")), nelson_aalen_from, "time: required"),
    "an array as a name": (lambda: (SMALL, dict(time=SMALL.t.to_numpy(), death="e")), median_follow_up_from,
                           "time: give the name"),
    "ragged mapping": (lambda: ({"t": np.array([1.0, 2, 3]), "e": np.array([1, 0])}, dict(time="t", event="e")),
                       nelson_aalen_from, "differ in length"),
    "empty mapping": (lambda: ({}, dict(time="t", event="e")), nelson_aalen_from, "no columns"),
    "2-D time": (lambda: (None, dict(time=np.ones((3, 1)), event=np.ones(3))), nelson_aalen_from, "1-D"),
    "timefix as text": (lambda: (SMALL, dict(time="t", event="e", timefix="no")), nelson_aalen_from, "timefix"),
    "huge status code": (lambda: (SMALL.assign(s=[1e20, 0, 2, 1, 1, 2]), dict(time="t", status="s", by="g")),
                         gray_test_from, "too large"),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
@pytest.mark.parametrize("engine", ["duckdb", "numpy"])
def test_mistakes_are_refused_alike_by_both_engines(case, engine):
    make, fn, message = REFUSED[case]
    source, kw = make()
    with pytest.raises(InvalidInputError, match=message):
        fn(source, engine=engine, **kw)


@pytest.mark.parametrize("path", ["/nonexistent/registry.parquet", "not-parquet"])
def test_an_unreadable_file_is_refused(path, tmp_path):
    if path == "not-parquet":
        path = tmp_path / "junk.parquet"
        path.write_bytes(b"not a parquet file")
    for engine in ("duckdb", "numpy"):
        with pytest.raises(InvalidInputError, match="DuckDB cannot read"):
            nelson_aalen_from(path, time="t", event="e", engine=engine)


def test_empty_source_is_refused(reg):
    with pytest.raises(InvalidInputError, match="empty"):
        ddb.counts(reg.iloc[:0], time="t", event="e")


# ------------------------------------------------------------------------------------------------
# Cox at scale: the Newton loop on per-time sums from the engine, against ltfu.stats.cox

def cox_data(n=3000, seed=5):
    rng = np.random.default_rng(seed)
    x1, x2, age = rng.normal(size=n), rng.integers(0, 2, n).astype(float), rng.normal(60, 10, n)
    t = np.ceil(rng.exponential(1 / np.exp(0.5 * x1 - 0.3 * x2 + 0.02 * (age - 60))) * 30)   # whole days: ties
    en = np.where(rng.random(n) < 0.3, np.floor(rng.random(n) * t), 0.0)
    t[:10], t[10:20], en[:20] = 0.1 + 0.2, 0.3, 0.0                                          # merged by timefix
    return pd.DataFrame(dict(t=t, e=(rng.random(n) < 0.7).astype(int), x1=x1, x2=x2, age=age,
                             s=rng.choice(["a", "b", "c"], n), en=en))


def assert_cox_close(a, b, rtol=1e-10):
    """Coefficients, variances, log-likelihoods, tests and intervals to ``rtol`` relative (SQL sums
    in the engine's order vs cumulative sums in time order: equal to ~1e-14, not bit for bit)."""
    assert a.terms == b.terms and a.n == b.n and a.n_events == b.n_events and a.iterations == b.iterations
    for f in ("coef", "se", "var", "loglik", "hazard_ratio", "hr_lower", "hr_upper", "p_value"):
        np.testing.assert_allclose(getattr(a, f), getattr(b, f), rtol=rtol, atol=0, err_msg=f)
    for f in ("score_test", "wald_test", "lr_test"):
        np.testing.assert_allclose([getattr(a, f).statistic, getattr(a, f).p_value],
                                   [getattr(b, f).statistic, getattr(b, f).p_value], rtol=rtol, err_msg=f)


@pytest.mark.parametrize("ties", ["efron", "breslow"])
@pytest.mark.parametrize("kw", [dict(), dict(entry="en"), dict(strata="s"), dict(entry="en", strata="s")],
                         ids=["plain", "entry", "strata", "entry+strata"])
def test_cox_from_duckdb_equals_cox(ties, kw):
    from ltfu.stats import cox
    from ltfu.stats.engines.cox import cox_from

    df = cox_data()
    got = cox_from(df, time="t", event="e", covariates=["x1", "x2", "age"], ties=ties, engine="duckdb", **kw)
    want = cox(df[["x1", "x2", "age"]], df.t, df.e, entry=df.en if "entry" in kw else None,
               strata=df.s if "strata" in kw else None, ties=ties)
    assert_cox_close(got, want)
    assert_cox_close(cox_from(df, time="t", event="e", covariates=["x1", "x2", "age"], ties=ties, engine="numpy",
                              **kw), want, rtol=0)


def test_cox_from_small_blocks_and_exact_shift(monkeypatch, tmp_path):
    """Efron's expansion in many small blocks, and the exact MAX(x'b) shift, change nothing."""
    from ltfu.stats import cox
    from ltfu.stats.engines import cox as engine_cox

    df = cox_data(seed=6)
    df.to_parquet(tmp_path / "c.parquet")
    want = cox(df[["x1", "age"]], df.t, df.e, entry=df.en, strata=df.s)
    monkeypatch.setattr("ltfu.stats.coxmodel.EFRON_BLOCK", 5)
    monkeypatch.setattr(engine_cox, "SPREAD_MAX", 0.0)
    assert_cox_close(engine_cox.cox_from(tmp_path / "c.parquet", time="t", event="e", covariates=["x1", "age"],
                                         entry="en", strata="s"), want)


def test_cox_from_refuses_what_cox_refuses():
    from ltfu.errors import ConvergenceError
    from ltfu.stats.engines.cox import cox_from

    df = cox_data(n=300)
    with pytest.raises(InvalidInputError, match="x1"):
        cox_from(df.assign(x1=df.x1.where(df.index != 7)), time="t", event="e", covariates=["x1"], engine="duckdb")
    with pytest.raises(ConvergenceError, match="constant"):
        cox_from(df.assign(k=1.0), time="t", event="e", covariates=["x1", "k"], engine="duckdb")
    with pytest.raises(InvalidInputError, match="numeric"):
        cox_from(df, time="t", event="e", covariates=["s"], engine="duckdb")
    with pytest.raises(ConvergenceError, match="no events"):
        cox_from(df.assign(e=0), time="t", event="e", covariates=["x1"], engine="duckdb")


# ------------------------------------------------------------------------------------------------
# Spark (local mode) equals DuckDB

def _spark_missing() -> str | None:
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return "pyspark is not installed (pip install ltfu[spark])"
    if shutil.which("java") is None:
        return "Java is not installed (Spark needs a JVM)"
    return None


@pytest.fixture(scope="session")
def spark():
    reason = _spark_missing()
    if reason:
        pytest.skip(reason)
    from pyspark.sql import SparkSession

    session = (SparkSession.builder.master("local[2]").appName("ltfu-engines-test")
               .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "2")
               .config("spark.driver.memory", "1g").getOrCreate())
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.mark.spark
def test_spark_equals_duckdb(spark, reg, reg_parquet):
    sdf = spark.read.parquet(str(reg_parquet))
    for case in ("two group columns + entry", "causes + entry + strata", "no timefix"):   # ~3 s a query
        kw = {"time": "t", "event": "e", **COUNT_CASES[case]}
        assert_identical(counts(sdf, **kw), ddb.counts(reg_parquet, **kw), case)
    assert_identical(kaplan_meier_from(sdf, time="t", event="e", entry="en", by=["burden", "centre"]),
                     kaplan_meier_from(reg_parquet, time="t", event="e", entry="en", by=["burden", "centre"]))
    assert_identical(logrank_from(sdf, time="t", event="e", by="burden", strata="stratum", rho=1.0),
                     logrank_from(reg_parquet, time="t", event="e", by="burden", strata="stratum", rho=1.0))
    assert_identical(cumulative_incidence_from(sdf, time="t", status="cause", by="burden"),
                     cumulative_incidence_from(reg_parquet, time="t", status="cause", by="burden"))
    assert_identical(nelson_aalen_from(sdf, time="t", event="e", entry="en", by="burden"),
                     nelson_aalen_from(reg_parquet, time="t", event="e", entry="en", by="burden"))
    assert_identical(median_follow_up_from(sdf, time="t", death="e", by="burden"),
                     median_follow_up_from(reg_parquet, time="t", death="e", by="burden"))
    assert_identical(gray_test_from(sdf, time="t", status="cause", by="burden", strata="stratum"),
                     gray_test_from(reg_parquet, time="t", status="cause", by="burden", strata="stratum"))
    # a merged interval that becomes empty is refused by Spark's check query too
    bad = reg.assign(en=reg.en.where(reg.index != 100, 0.1 + 0.2), t=reg.t.where(reg.index != 100, 0.3 + 1e-12))
    with pytest.raises(InvalidInputError, match="length 0"):
        counts(spark.createDataFrame(bad), time="t", event="e", entry="en")
    # Cox: the same SQL per Newton step, run by Spark
    from ltfu.stats.engines.cox import cox_from

    cdf = cox_data()
    kw = dict(time="t", event="e", covariates=["x1", "x2", "age"], entry="en", strata="s")
    by_spark, by_duckdb = cox_from(spark.createDataFrame(cdf), **kw), cox_from(cdf, engine="duckdb", **kw)
    assert_cox_close(by_spark, by_duckdb)
    from ltfu.stats import cox_zph  # and the proportional-hazards test: one more step query

    zs, zd = cox_zph(by_spark), cox_zph(by_duckdb)
    np.testing.assert_allclose([*zs.statistic, zs.global_test.statistic], [*zd.statistic, zd.global_test.statistic],
                               rtol=1e-9)


@pytest.mark.parametrize("seed", range(8))
def test_a_cox_model_of_a_group_from_its_counts_is_coxs(seed):
    """cox_group_counts: the Cox model of a two-level group from the counts table alone (ties,
    delayed entry, Efron and Breslow, levels of any type: the second sorted is the exposed one)
    equals cox on the 0/1 column of the rows."""
    from ltfu.stats import cox
    from ltfu.stats.engines import counts
    from ltfu.stats.engines.cox import cox_group_counts

    rng = np.random.default_rng(seed)
    n = int(rng.integers(20, 4000))
    t = rng.integers(2, 50, n).astype(float)
    en = np.minimum(np.where(rng.random(n) < 0.4, rng.integers(0, 20, n), 0), t - 1).astype(float)
    z = (rng.random(n) < rng.uniform(0.1, 0.9)).astype(int)
    e = (rng.random(n) < 0.6).astype(int)
    ties = "breslow" if seed % 3 == 2 else "efron"
    labels = np.where(z == 1, "yes", "no") if seed % 2 else z
    tab = counts(pd.DataFrame({"t": t, "e": e, "en": en, "g": labels}), time="t", event="e",
                 entry="en" if seed % 4 else None, group="g", engine="duckdb")
    got = cox_group_counts(tab, term="g", ties=ties)
    want = cox(pd.DataFrame({"g": z.astype(float)}), t, e, entry=en if seed % 4 else None, ties=ties)
    assert got.n == want.n and got.n_events == want.n_events and got.iterations == want.iterations
    for field in ("coef", "se", "loglik", "hr_lower", "hr_upper"):
        np.testing.assert_allclose(getattr(got, field), getattr(want, field), rtol=1e-10, err_msg=field)
    for test in ("score_test", "wald_test", "lr_test"):
        assert getattr(got, test).statistic == pytest.approx(getattr(want, test).statistic, rel=1e-8, abs=1e-12)


def test_a_cox_model_of_a_group_from_counts_needs_two_groups():
    from ltfu.stats.engines import counts
    from ltfu.stats.engines.cox import cox_group_counts

    df = pd.DataFrame({"t": [1.0, 2, 3, 4, 5, 6], "e": [1, 0, 1, 1, 0, 1], "g": [0, 1, 2, 0, 1, 2]})
    with pytest.raises(InvalidInputError, match="two groups"):
        cox_group_counts(counts(df, time="t", event="e", group="g"))

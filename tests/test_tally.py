"""Counting apart from arithmetic (ltfu.analysis.tally): Table 1 and the response table counted by
DuckDB on a prepared table equal the report's, counted by numpy on the cohort, number for number;
the Wilcoxon rank-sum test from counts equals scipy's on the observations bit for bit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ltfu.analysis import AnalysisOptions
from ltfu.analysis import baseline as table_one
from ltfu.analysis import response as response_section
from ltfu.analysis.plan import Plan
from ltfu.analysis.tally import burden_codes, tally_frame
from ltfu.cohort import load_cohort
from ltfu.errors import InvalidInputError
from ltfu.registry import baseline, prepare, response
from ltfu.simulate import simulate
from ltfu.stats import wilcoxon_ranksum, wilcoxon_ranksum_counts

duckdb = pytest.importorskip("duckdb")


def test_the_rank_sum_test_from_counts_is_scipys_bit_for_bit():
    rng = np.random.default_rng(20261126)
    methods = set()
    for trial in range(300):
        n1, n2 = (rng.integers(1, 4000, 2) if trial % 2 else rng.integers(1, 60, 2))
        pool = rng.normal(size=int(rng.integers(1, 300))) * 10.0 ** rng.integers(-6, 9)
        if trial % 3:
            pool = np.round(pool, 2)                      # ties
        x, y = rng.choice(pool, n1), rng.choice(pool, n2)
        if trial % 7 == 0:
            x, y = rng.normal(size=n1), rng.normal(size=n2)      # no ties: the exact test when small
        values = np.unique(np.r_[x, y])
        got = wilcoxon_ranksum_counts(values, [np.sum(x == v) for v in values], [np.sum(y == v) for v in values])
        want = wilcoxon_ranksum(x, y)
        assert (got.statistic, got.method) == (want.statistic, want.method), trial
        assert got.p_value == want.p_value or (np.isnan(got.p_value) and np.isnan(want.p_value)), trial
        methods.add(got.method)
    assert len(methods) == 2


def test_the_rank_sum_test_from_counts_by_hand():
    # x = 1, 2, 2; y = 2, 3: midranks 1, 3, 3 | 3, 5; W = 1 + 3 + 3 - 6 = 1
    res = wilcoxon_ranksum_counts([3.0, 1.0, 2.0], [0, 1, 2], [1, 0, 1])      # values in any order
    assert res.statistic == 1.0
    # R 4.2.2: print(wilcox.test(c(1,2,2), c(2,3), exact=FALSE)$p.value, digits=17)
    assert res.p_value == pytest.approx(0.33292160806556598, rel=1e-14)
    # every value equal: R 4.2.2 wilcox.test(c(2,2,2), c(2,2,2,2)) gives W = 6 and p NaN (scipy: 1)
    for res in (wilcoxon_ranksum_counts([2.0], [3], [4]), wilcoxon_ranksum([2, 2, 2], [2, 2, 2, 2])):
        assert res.statistic == 6.0 and np.isnan(res.p_value)
    with pytest.raises(InvalidInputError):
        wilcoxon_ranksum_counts([1.0, 1.0], [1, 1], [1, 1])
    with pytest.raises(InvalidInputError):
        wilcoxon_ranksum_counts([1.0, 2.0], [1, 1], [0, 0])


def test_the_median_from_counts_is_numpys():
    rng = np.random.default_rng(3)
    for _ in range(200):
        values = np.unique(rng.normal(size=int(rng.integers(1, 30))) * 1e3)
        counts = rng.integers(0, 5, values.size)
        if counts.sum() == 0:
            continue
        assert table_one._median(values, counts) == np.median(np.repeat(values, counts))


def test_a_tally_by_hand():
    s = pd.Series([30.0, 40.0, np.nan, 40.0, 70.0, 60.0])
    t = tally_frame(s, burden_codes(["low", "low", "low", "high", "high", None]))
    got = dict(zip(t.values, t.counts.T.tolist()))
    assert got == {30.0: [1, 1, 0], 40.0: [2, 1, 1], 70.0: [1, 0, 1], 60.0: [1, 0, 0]}
    assert t.missing.tolist() == [1, 1, 0] and t.n.tolist() == [6, 3, 2]


def _cohorts():
    """Simulated cohorts made awkward: tiny groups, a group with nobody, a column all missing or
    with one value, a yes/no column never yes, NaN and missing values, codes in accepted spellings."""
    df = simulate(400, seed=9)
    rng = np.random.default_rng(9)
    df.loc[rng.random(400) < 0.1, "age"] = np.nan
    df.loc[rng.random(400) < 0.1, "sex"] = None
    df.loc[rng.random(400) < 0.05, "best_response"] = None
    df.loc[rng.random(400) < 0.2, "mrd_negative"] = None
    df.loc[rng.random(400) < 0.3, "best_response"] = df["best_response"].str.lower()
    yield "gaps", df
    tiny = simulate(6, seed=4)
    tiny["marrow_blasts_pct"] = [1.0, 80.0, 2.0, 90.0, 3.0, 50.0]
    tiny["extramedullary"] = "no"
    yield "tiny", tiny
    one_group = simulate(30, seed=5)
    one_group["marrow_blasts_pct"] = 0.5
    one_group["extramedullary"] = "no"                    # everyone low burden: no comparison
    one_group["prior_inotuzumab"] = "no"                  # never yes
    one_group["dose_cells_per_kg"] = 1e6                  # one value
    one_group["conditioning"] = None                      # all missing
    yield "one group", one_group


def _prepared(case, tmp_path):
    """(name, the prepared table's path, the in-memory plan) of the case-th awkward cohort."""
    name, df = list(_cohorts())[case]
    path = tmp_path / "r.parquet"
    df.to_parquet(path, index=False)
    return name, prepare(path, tmp_path / "p.parquet").path, Plan.build(load_cohort(path), AnalysisOptions())


@pytest.mark.parametrize("case", list(range(3)))
def test_table_one_and_response_counted_by_duckdb_are_the_reports(case, tmp_path):
    name, prepared, plan = _prepared(case, tmp_path)
    want_b, want_r = table_one.build(plan), response_section.build(plan)
    rel = duckdb.connect().read_parquet(str(prepared))
    for got, want in ((baseline(rel), want_b), (response(prepared), want_r)):
        assert got.numbers == want.numbers, name
        assert got.tables == want.tables, name
    if name == "one group":
        assert want_b.numbers["burden"] == {"low": 30, "high": 0, "unknown": 0}
        assert "conditioning" not in want_b.numbers and want_b.numbers["age"]["p_value"] is None


def test_the_options_reach_the_response_table(tmp_path):
    df = simulate(200, seed=1)
    path = tmp_path / "r.parquet"
    df.to_parquet(path, index=False)
    prepared = prepare(path, tmp_path / "p.parquet").path
    opts = AnalysisOptions(proportion_ci="wilson", conf_level=0.9)
    want = response_section.build(Plan.build(load_cohort(path), opts))
    got = response(prepared, opts)
    assert got.numbers == want.numbers and got.numbers != response(prepared).numbers


def _same_km(a, b):
    return all(np.array_equal(np.asarray(getattr(a, f)), np.asarray(getattr(b, f)), equal_nan=True)
               for f in ("time", "n_risk", "n_event", "n_censor", "survival", "std_err", "ci_lower", "ci_upper"))


@pytest.mark.parametrize("case", list(range(3)))
def test_safety_follow_up_and_kaplan_meier_from_a_prepared_table_are_the_reports(case, tmp_path):
    from ltfu.analysis import follow_up as follow_up_section
    from ltfu.analysis import survival as survival_section
    from ltfu.analysis import toxicity
    from ltfu.registry import follow_up, safety, survival

    name, prepared, plan = _prepared(case, tmp_path)
    want = toxicity.build(plan)
    got = safety(prepared)
    # the association models: fitted on covariate patterns in DuckDB's order, to 1e-9
    from test_registry_report import _close

    _close(got.numbers.pop("association"), want.numbers.pop("association"), name)
    assert got.numbers == want.numbers, name
    assert got.tables == want.tables and got.figures == want.figures, name
    want_fu = follow_up_section.build(plan)
    assert follow_up(prepared).numbers == want_fu.numbers and follow_up(prepared).tables == want_fu.tables
    numbers, table, figures = survival_section._kaplan_meier(plan)
    got = survival(prepared)
    assert got.numbers == numbers and got.tables == (table,), name
    assert [f.name for f in got.figures] == [f.name for f in figures]
    for a, b in zip(got.figures, figures):
        assert [lab for lab, _ in a.curves] == [lab for lab, _ in b.curves] and a.p_value == b.p_value
        assert all(_same_km(x, y) for (_, x), (_, y) in zip(a.curves, b.curves)), (name, a.name)


def _same_arrays(a, b):
    if isinstance(a, (tuple, list)):
        return len(a) == len(b) and all(_same_arrays(x, y) for x, y in zip(a, b))
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return np.array_equal(np.asarray(a), np.asarray(b), equal_nan=True)
    if hasattr(a, "survival"):
        return _same_km(a, b)
    return a == b


@pytest.mark.parametrize("case", list(range(3)))
def test_competing_risks_from_a_prepared_table_are_the_reports(case, tmp_path):
    from ltfu.analysis import competing as competing_section
    from ltfu.registry import competing
    from test_registry_report import _close

    name, prepared, plan = _prepared(case, tmp_path)
    want = competing_section.build(plan)
    got = competing(prepared)
    # Fine-Gray: fitted on the (burden, time, status) cells with their counts, summed in another order
    fitted = [k for k in want.numbers if k.startswith("fine_gray")]
    assert [k for k in got.numbers if k.startswith("fine_gray")] == fitted
    _close({k: got.numbers.pop(k) for k in fitted}, {k: want.numbers.pop(k) for k in fitted}, name)
    assert got.numbers == want.numbers, name
    assert got.tables == want.tables, name
    if name == "gaps":
        assert fitted == ["fine_gray_relapse", "fine_gray_nrm"] and len(want.tables[1].rows) == 2
    assert len(got.figures) == len(want.figures)
    for a, b in zip(got.figures, want.figures):
        for field in ("curves", "groups", "limits", "at_risk", "p_value", "test_name"):
            assert _same_arrays(getattr(a, field), getattr(b, field)), (name, field)


@pytest.mark.parametrize("case", list(range(3)))
def test_the_cox_models_fitted_from_a_prepared_table_are_the_reports(case, tmp_path):
    """cox_from's sums come from DuckDB in its own order: the numbers agree to 1e-9 relative, the
    printed table (and every error a model raises) exactly, the proportional-hazards checks too."""
    from ltfu.analysis import models
    from ltfu.registry import cox
    from test_registry_report import _close

    name, prepared, plan = _prepared(case, tmp_path)
    want, got = models.build(plan), cox(prepared)
    assert got.tables == want.tables, name            # the proportional-hazards check's table too
    _close(got.numbers, want.numbers, name)


def test_a_cox_model_that_cannot_be_fitted_is_said_alike(tmp_path):
    """A review found the engine's words for a failed model differ from stats.cox's: two identical
    yes/no columns (the multivariable model collinear), and nobody with a known burden."""
    from ltfu.analysis import models
    from ltfu.registry import cox

    for change in (lambda d: d.assign(ph_positive=d["prior_allo_hct"]),
                   lambda d: d.assign(marrow_blasts_pct=np.nan, extramedullary=None)):
        d = change(simulate(200, seed=3))
        d = d[d["crs_death"] == "no"]
        path = tmp_path / "src.parquet"
        d.to_parquet(path)
        prepared = prepare(path, tmp_path / "p.parquet", overwrite=True).path
        want, got = models.build(Plan.build(load_cohort(path), AnalysisOptions())), cox(prepared)
        assert "error" in want.numbers["efs"]["multivariable"]
        assert got.numbers["efs"]["multivariable"]["error"] == want.numbers["efs"]["multivariable"]["error"]
        assert got.tables[0] == want.tables[0]


def _transplant_edges():
    """Transplants on the infusion day, on the day follow-up ends, the day before, and on day 100."""
    d = simulate(300, seed=2)
    cr = d.index[d["best_response"].isin(["CR", "CRi"])]
    d.loc[cr[:4], "allo_hct_date"] = d.loc[cr[:4], "infusion_date"]                 # day 0: exposed from the start
    d.loc[cr[4:8], "allo_hct_date"] = d.loc[cr[4:8], "last_contact_date"]           # the end: ignored
    d.loc[cr[8:10], "allo_hct_date"] = d.loc[cr[8:10], "last_contact_date"] - pd.Timedelta(days=1)
    d.loc[cr[10:14], "allo_hct_date"] = d.loc[cr[10:14], "infusion_date"] + pd.Timedelta(days=100)
    return d


@pytest.mark.parametrize("case", list(range(4)))
def test_the_transplant_analyses_from_a_prepared_table_are_the_reports(case, tmp_path):
    """Mantel-Byar (cox_from on the rows split in SQL: 1e-9), the landmark analysis and the
    Simon-Makuch curves and state counts (counted: exactly) equal the in-memory analyses."""
    from ltfu.analysis import transplant as transplant_section
    from ltfu.registry import transplant
    from test_registry_report import _close

    if case == 3:
        name, df = "edges", _transplant_edges()
        path = tmp_path / "r.parquet"
        df.to_parquet(path, index=False)
        prepared, plan = prepare(path, tmp_path / "p.parquet").path, Plan.build(load_cohort(path), AnalysisOptions())
    else:
        name, prepared, plan = _prepared(case, tmp_path)
    want, got = transplant_section.build(plan), transplant(prepared)
    assert got.tables == want.tables, name
    _close(got.numbers, want.numbers, name)
    assert [f.name for f in got.figures] == [f.name for f in want.figures]
    grid = np.arange(-1.0, 4000.0, 0.5)
    for a, b in zip(got.figures, want.figures):
        assert all(_same_km(x, y) for (_, x), (_, y) in zip(a.curves, b.curves)), (name, a.name)
        assert a.starts == b.starts
        for (_, x), (_, y) in zip(a.at_risk, b.at_risk):
            assert np.array_equal(x.count(grid), y.count(grid)), (name, a.name)
    if name == "edges":
        mb = want.numbers["efs"]["mantel_byar"]
        assert "error" not in mb and want.numbers["efs"]["n_transplanted"] >= 6
        assert len(got.figures) == 2


def test_models_beyond_the_cells_limit_are_fitted_by_the_engine(tmp_path, monkeypatch):
    """A univariable Cox model with more distinct cells than CELLS_MAX goes to cox_from (a scan per
    Newton step) instead of the counted cells: the same numbers either way."""
    from ltfu.analysis import models
    from ltfu.analysis import transplant as transplant_section
    from ltfu.registry import cox, transplant
    from test_registry_report import _close

    name, df = "edges", _transplant_edges()
    path = tmp_path / "r.parquet"
    df.to_parquet(path, index=False)
    prepared, plan = prepare(path, tmp_path / "p.parquet").path, Plan.build(load_cohort(path), AnalysisOptions())
    counted = (cox(prepared), transplant(prepared))
    monkeypatch.setattr("ltfu.registry.CELLS_MAX", 5)
    engine = (cox(prepared), transplant(prepared))
    for got, want in zip(engine, (models.build(plan), transplant_section.build(plan))):
        assert got.tables == want.tables
        _close(got.numbers, want.numbers, name)
    for a, b in zip(counted, engine):
        _close(a.numbers, b.numbers, name)


def test_a_cox_model_whose_deaths_all_tie_has_a_zero_likelihood_ratio(tmp_path):
    """Nobody in CR/CRi, so every EFS event is on day 0: the multivariable fit barely moves the
    likelihood, and the LR statistic, below 0 by rounding only (a hunt found -4.5e-13 in memory,
    -2.3e-12 at scale, no p-value), is 0 with p = 1 in both paths."""
    from ltfu.analysis import models
    from ltfu.registry import cox

    df = simulate(300, seed=2)
    cr = df["best_response"].isin(["CR", "CRi"])
    df.loc[cr, "best_response"] = "PR"
    df.loc[cr, "relapse_date"] = pd.NaT
    df.loc[cr, ["mrd_negative", "relapse_cd19"]] = None
    path = tmp_path / "r.parquet"
    df.to_parquet(path, index=False)
    prepared = prepare(path, tmp_path / "p.parquet").path
    want = models.build(Plan.build(load_cohort(path), AnalysisOptions())).numbers["efs"]["multivariable"]
    got = cox(prepared).numbers["efs"]["multivariable"]
    for fit in (want, got):
        assert fit["lr_test"]["statistic"] == 0.0 and fit["lr_test"]["p_value"] == 1.0


def _separated():
    """Severe CRS in every high-burden patient and in no low-burden one: separation (Firth)."""
    df = simulate(300, seed=12)
    df["marrow_blasts_pct"] = np.where(np.arange(300) % 3 == 0, 60.0, 1.0)
    df["extramedullary"] = "no"
    df["crs_grade"] = np.where(df["marrow_blasts_pct"] >= 5, 3, 1)
    df["crs_death"] = "no"
    return "separated", df


@pytest.mark.parametrize("case", list(range(4)))
def test_association_models_on_patterns_counted_once_equal_the_row_fits(case, tmp_path, monkeypatch):
    """Toxicity's logistic models fitted from the (covariates, grades) patterns counted once
    (``toxicity._pattern_fit``, used from 5,000 patients) equal the fits on the rows: every number,
    Firth's fits under separation included, the same patients excluded for a missing value."""
    from ltfu.analysis import toxicity as tox

    name, df = [*_cohorts(), _separated()][case]
    path = tmp_path / "r.parquet"
    df.to_parquet(path, index=False)
    plan = Plan.build(load_cohort(path), AnalysisOptions())
    monkeypatch.setattr(tox, "PATTERNS_MIN", 10 ** 9)
    rows = tox.build(plan)
    monkeypatch.setattr(tox, "PATTERNS_MIN", 0)
    patterns = tox.build(plan)
    _numbers_close(patterns.numbers, rows.numbers)
    want = rows.numbers["association"]
    assert patterns.tables == rows.tables, name
    if name == "separated":
        assert want["severe_crs"]["high_burden"]["method"] == "firth"
    if name == "gaps":
        assert want["severe_crs"]["age_per_10y"]["n_excluded_missing"] > 0


def _numbers_close(a, b, where=""):
    """Equal, floats to 1e-10 relative (the same likelihood summed in another order)."""
    if isinstance(a, dict):
        assert set(a) == set(b), (where, set(a) ^ set(b))
        for k in a:
            _numbers_close(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _numbers_close(x, y, f"{where}[{i}]")
    elif isinstance(a, float) and isinstance(b, float) and not (np.isnan(a) and np.isnan(b)):
        assert abs(a - b) <= 1e-10 * max(abs(a), abs(b), 1e-12), (where, a, b)
    else:
        assert a == b or (a != a and b != b), (where, a, b)


@pytest.mark.parametrize("seed", range(6))
def test_distinct_rows_are_pandas_groups_in_order_of_first_appearance(seed):
    """stats.logreg.row_patterns (the patterns of the association models and of the logistic
    fits' design rows) gives pandas' groupby(sort=False, dropna=False): its groups' first rows in
    order and their sizes, NaN a value of its own; also when the combined codes would pass 2**62
    and are renumbered on the way."""
    import numpy as np
    import pandas as pd

    from ltfu.stats.logreg import row_patterns

    rng = np.random.default_rng(seed)
    n = 3000
    wide = seed % 2 == 1                    # six columns of ~2,000 values each: 2000**6 > 2**62
    cols = []
    for _ in range(6 if wide else 4):
        col = (rng.integers(0, 2000, n) / 7.0) if wide else rng.integers(0, 4, n).astype(float)
        col[rng.random(n) < 0.1] = np.nan
        cols.append(col)
    cols.insert(1, np.ones(n))              # one value throughout (a design's intercept)
    frame = pd.DataFrame({f"c{i}": c for i, c in enumerate(cols)})
    frame["_row"] = np.arange(n)
    groups = frame.groupby([f"c{i}" for i in range(len(cols))], sort=False, dropna=False)["_row"]
    first, codes = row_patterns(cols)
    counts = np.bincount(codes).astype(float)
    np.testing.assert_array_equal(first, groups.min().to_numpy())
    np.testing.assert_array_equal(counts, groups.size().to_numpy().astype(float))
    assert counts.sum() == n
    np.testing.assert_array_equal(codes, groups.ngroup().to_numpy())

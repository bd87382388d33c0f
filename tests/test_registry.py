"""ltfu.registry: the report's endpoints written in SQL equal ltfu.endpoints' (computed from the
loaded, validated cohort), patient by patient, on simulated registries with gaps; and the engine
functions on that query give the report's curves and tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ltfu import endpoints as ep
from ltfu.analysis.plan import COX_COVARIATES, covariates
from ltfu.cohort import load_cohort
from ltfu.errors import InvalidInputError
from ltfu.registry import COX_TERMS, endpoints_sql
from ltfu.simulate import simulate
from ltfu.stats import gray_test, kaplan_meier
from ltfu.stats.engines import gray_test_from, kaplan_meier_from

duckdb = pytest.importorskip("duckdb")


def _registry(tmp_path, seed):
    """A simulated registry with the gaps a real one has: unknown blasts or extramedullary disease,
    no best response recorded, a CR without its date, a data cut-off before some last contacts."""
    df = simulate(3000, seed=seed)
    rng = np.random.default_rng(seed)
    n = len(df)
    df.loc[rng.random(n) < 0.05, "marrow_blasts_pct"] = np.nan
    df.loc[rng.random(n) < 0.05, "extramedullary"] = None
    no_response = rng.random(n) < 0.03
    df.loc[no_response, "best_response"] = None
    df.loc[no_response, "mrd_negative"] = None
    df.loc[no_response, "response_date"] = pd.NaT
    cr_no_date = (df["best_response"] == "CR") & df["relapse_date"].isna() & (rng.random(n) < 0.02)
    df.loc[cr_no_date, "response_date"] = pd.NaT
    # a death recorded after the last contact (DEATH_AFTER_LAST_CONTACT, a warning: the loader takes
    # the death as the last contact, so the patient died; the query once censored them alive)
    before = df[["infusion_date", "response_date", "relapse_date", "allo_hct_date"]].max(axis=1)
    dead = np.flatnonzero((df["death_date"] - before > pd.Timedelta(days=5)).to_numpy())[:40]
    df.loc[dead, "last_contact_date"] = df.loc[dead, "death_date"] - pd.Timedelta(days=3)
    # spellings the loader accepts and reads as the canonical codes (the query once took cr, CRh or
    # ' Y' as unknown or non-CR: a day-0 EFS event for a patient in CR)
    for column, old, new in (("best_response", "CR", "cr "), ("best_response", "CRi", "CRh"),
                             ("extramedullary", "yes", " Y"), ("extramedullary", "no", "false"),
                             ("prior_allo_hct", "yes", "Yes"), ("ph_positive", "no", "0"),
                             ("centre", None, None)):
        pick = rng.random(n) < 0.3
        if column == "centre":
            df.loc[pick, "centre"] = "  " + df.loc[pick, "centre"] + "\u00a0"
            df.loc[rng.random(n) < 0.02, "centre"] = "NA"
        else:
            df.loc[pick & (df[column] == old).to_numpy(), column] = new
    # after every infusion, before some last contacts
    df["data_cutoff_date"] = df["infusion_date"].max() + pd.Timedelta(days=1)
    path = tmp_path / f"registry_{seed}.parquet"
    df.to_parquet(path, index=False)
    return path


@pytest.fixture(scope="module", params=[3, 8])
def both(request, tmp_path_factory):
    path = _registry(tmp_path_factory.mktemp("registry"), request.param)
    cohort = load_cohort(path)
    con = duckdb.connect()
    table = f"read_parquet('{path}')"
    rows = con.sql(endpoints_sql(table)).df().set_index("patient_id")
    # the parser's rules in SQL, or each written value read by the parser: the same rows
    looked = con.sql(endpoints_sql(table, connection=con)).df().set_index("patient_id")
    pd.testing.assert_frame_equal(rows.sort_index(), looked.sort_index())
    return cohort, rows


def _aligned(rows, endpoint, *cols):
    return [rows.loc[np.asarray(endpoint.patient_id), c].to_numpy() for c in cols]


def test_overall_and_event_free_survival_equal_the_endpoints(both):
    cohort, rows = both
    assert len(rows) == cohort.n
    for endpoint, t, e in ((ep.overall_survival(cohort), "os_t", "os_e"),
                           (ep.event_free_survival(cohort), "efs_t", "efs_e")):
        time, status = _aligned(rows, endpoint, t, e)
        np.testing.assert_array_equal(time, endpoint.time, err_msg=t)
        np.testing.assert_array_equal(status, endpoint.status, err_msg=e)
    efs = ep.event_free_survival(cohort)
    assert (efs.time == 0).sum() > 100                    # non-responders fail at day 0, as in the report


def test_relapse_with_death_competing_equals_the_endpoint(both):
    cohort, rows = both
    rel = ep.relapse_competing(cohort)
    kept = rows[rows["rel_t"].notna()]
    assert sorted(kept.index) == sorted(np.asarray(rel.patient_id))  # CR/CRi with a response date only
    time, status = _aligned(rows, rel, "rel_t", "rel_s")
    np.testing.assert_array_equal(time, rel.time)
    np.testing.assert_array_equal(status.astype(int), rel.status)
    assert set(np.unique(rel.status)) == {0, 1, 2}


def test_burden_equals_the_loaders(both):
    cohort, rows = both
    want = cohort.data.set_index("patient_id")["burden"]
    got = rows.loc[want.index, "burden"]
    assert (got.isna() == want.isna()).all() and (got[want.notna()] == want[want.notna()]).all()
    assert want.isna().sum() > 0


def test_the_engine_on_the_query_gives_the_reports_curve_and_gray_test(both, tmp_path):
    cohort, rows = both
    con = duckdb.connect()
    rel = con.from_df(rows.reset_index())
    efs = ep.event_free_survival(cohort)
    got = kaplan_meier_from(rel, time="efs_t", event="efs_e")["all"]
    want = kaplan_meier(efs.time, efs.status)
    np.testing.assert_array_equal(got.survival, want.survival)
    rel_cr = rel.filter("rel_t IS NOT NULL AND burden IS NOT NULL")
    gray = gray_test_from(rel_cr, time="rel_t", status="rel_s", by="burden")
    r = ep.relapse_competing(cohort)
    burden = cohort.data.set_index("patient_id").loc[np.asarray(r.patient_id), "burden"].to_numpy()
    known = pd.notna(burden)
    ref = gray_test(r.time[known], r.status[known], burden[known].astype(str))
    np.testing.assert_array_equal(gray.statistic, ref.statistic)


def test_cox_terms_equal_the_reports_covariates(both):
    cohort, rows = both
    want = covariates(cohort.data, COX_COVARIATES).set_index(cohort.data["patient_id"])
    assert tuple(want.columns) == COX_TERMS
    got = rows.loc[want.index, list(COX_TERMS)].astype(float)
    np.testing.assert_array_equal(got.to_numpy(), want.to_numpy())     # NaN where missing, in both
    assert want["high_burden"].isna().any()


@pytest.mark.parametrize("bad", [0, 101, float("nan"), True, "5"])
def test_the_burden_threshold_is_checked(bad):
    with pytest.raises(InvalidInputError, match="burden_threshold"):
        endpoints_sql("t", burden_threshold=bad)


def test_a_float_yes_no_column_reads_as_the_loader_reads_it():
    """-0.0 and 1.0 in a yes/no float column: the loader reads 'no' and 'yes'; DuckDB writes the
    floats '-0.0' and '1.0' (a review found -0.0 NULL, so the burden of such a patient unknown)."""
    from ltfu.registry import _read_as_loader

    con = duckdb.connect()
    con.execute("CREATE TABLE t AS SELECT * FROM (VALUES (-0.0), (0.0), (1.0), (NULL)) v(extramedullary)")
    assert [_read_as_loader("extramedullary", w) for w in ("-0.0", "0.0", "1.0")] == ["no", "no", "yes"]
    from ltfu.registry import _mapped, _rule

    for expression in (_rule("extramedullary"), _mapped("extramedullary", ["-0.0", "0.0", "1.0", None])):
        got = [r[0] for r in con.sql(f"SELECT {expression} FROM t").fetchall()]
        assert got == ["no", "no", "yes", None], expression

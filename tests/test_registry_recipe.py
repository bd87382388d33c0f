"""The README's recipe for a registry too large for `ltfu report` (the prepared table,
``ltfu.registry.prepare``, then the engine functions) gives the report's own numbers: the
block is read from the README and run on a simulated registry, so the README cannot drift from
what works."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from ltfu import endpoints as ep
from ltfu.analysis.plan import COX_COVARIATES, covariates
from ltfu.cohort import load_cohort
from ltfu.simulate import write_registry
from ltfu.stats import cox, cumulative_incidence, gray_test, kaplan_meier, logrank, median_follow_up

pytest.importorskip("duckdb")

README = Path(__file__).resolve().parents[1] / "README.md"


def _recipe() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("**A registry too large for `ltfu report`**")
    block = re.search(r"```python\n(.*?)```", text[start:], re.S)
    assert block is not None, "the README's registry recipe has no python block"
    return block.group(1)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    path = write_registry(tmp_path_factory.mktemp("recipe") / "registry.parquet", 3000, seed=12)
    code = _recipe()
    assert "'registry.parquet'" in code and "'prepared.parquet'" in code
    scope: dict = {}
    prepared = path.with_name("prepared.parquet")
    exec(code.replace("'registry.parquet'", repr(str(path))).replace("'prepared.parquet'", repr(str(prepared))),
         scope)   # the README's own block
    cohort = load_cohort(path)
    return cohort, scope


def _same(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a.view(np.uint8), b.view(np.uint8))


def _same_km(got, want):
    return all(_same(getattr(got, f), getattr(want, f)) for f in
               ("time", "n_risk", "n_event", "n_censor", "survival", "std_err", "ci_lower", "ci_upper"))


def _by(cohort, endpoint, column):
    return cohort.data.set_index("patient_id").loc[np.asarray(endpoint.patient_id), column].to_numpy()


def test_table_one_and_the_response_table_equal_the_reports(run):
    from ltfu.analysis import AnalysisOptions
    from ltfu.analysis import baseline as table_one
    from ltfu.analysis import response as response_section
    from ltfu.analysis.plan import Plan

    cohort, got = run
    plan = Plan.build(cohort, AnalysisOptions())
    for part, want in ((got["table_1"], table_one.build(plan)), (got["rates"], response_section.build(plan))):
        assert part.numbers == want.numbers and part.tables == want.tables


def test_overall_survival_and_follow_up_equal_the_reports(run):
    cohort, got = run
    os_ = ep.overall_survival(cohort)
    assert _same_km(got["os_all"], kaplan_meier(os_.time, os_.status))
    fu = ep.follow_up(cohort)
    assert got["follow_up"] == median_follow_up(fu.time, fu.status)


def test_event_free_survival_by_centre_and_by_burden(run):
    cohort, got = run
    efs = ep.event_free_survival(cohort)
    centre = _by(cohort, efs, "centre").astype(str)
    by = got["efs_by_centre"]
    assert sorted(by) == sorted(set(centre)) and sum(k.n for k in by.values()) == efs.n
    for level in sorted(by)[:5]:
        assert _same_km(by[level], kaplan_meier(efs.time[centre == level], efs.status[centre == level])), level
    lr = logrank(efs.time, efs.status, centre)
    assert got["centres"].statistic == lr.statistic and got["centres"].df == lr.df
    burden = _by(cohort, efs, "burden")
    for level in ("high", "low"):
        m = burden == level
        assert _same_km(got["efs_by_burden"][level], kaplan_meier(efs.time[m], efs.status[m])), level


def test_relapse_and_death_in_remission_by_burden(run):
    cohort, got = run
    rel = ep.relapse_competing(cohort)
    burden = _by(cohort, rel, "burden")
    known = np.isin(burden.astype(object), ["high", "low"])
    want = cumulative_incidence(rel.time[known], rel.status[known], group=burden[known].astype(str))
    for cause in (1, 2):
        for group in ("high", "low"):
            a, b = got["relapse"].curve(cause=cause, group=group), want.curve(cause=cause, group=group)
            assert all(_same(x, y) for x, y in zip(a, b)), (cause, group)
    ref = gray_test(rel.time[known], rel.status[known], burden[known].astype(str))
    assert _same(got["gray"].statistic, ref.statistic) and _same(got["gray"].p_value, ref.p_value)


def test_the_multivariable_cox_model_equals_the_reports(run):
    cohort, got = run
    assert tuple(got["terms"]) == COX_COVARIATES            # the same terms as the report's models
    efs = ep.event_free_survival(cohort)
    d = cohort.data.set_index("patient_id").loc[np.asarray(efs.patient_id)].reset_index()
    cov = covariates(d, COX_COVARIATES)
    ok = cov.notna().all(axis=1).to_numpy()
    want = cox(cov[ok], efs.time[ok], efs.status[ok])
    fit = got["efs_model"]
    assert fit.terms == want.terms and fit.n == want.n and fit.n_events == want.n_events
    np.testing.assert_allclose(fit.coef, want.coef, rtol=1e-10)
    np.testing.assert_allclose(fit.se, want.se, rtol=1e-10)
    np.testing.assert_allclose(fit.loglik, want.loglik, rtol=1e-12)

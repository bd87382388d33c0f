"""The synthetic demonstration cohort reproduces every published figure it was built for
(Park et al., NEJM 2018; figures in src/ltfu/demo/park2018_published.json), and the packaged CSV
is exactly what the seeded generator makes."""

import json
from importlib import resources

import numpy as np
import pytest

from ltfu import endpoints as ep
from ltfu.cohort.model import DAYS_PER_MONTH
from ltfu.demo import demo_path, load_demo, write_demo
from ltfu.demo.generator import generate, to_csv_text
from ltfu.stats import binomial_ci, kaplan_meier, median_follow_up

PUB = json.loads(resources.files("ltfu.demo").joinpath("park2018_published.json").read_text())


@pytest.fixture(scope="module")
def cohort():
    return load_demo()


def test_packaged_csv_is_the_generators_output_and_says_synthetic():
    text = demo_path().read_text()
    assert text == to_csv_text(generate())
    assert text.startswith("# SYNTHETIC demonstration cohort")


def test_loads_clean_and_is_marked_synthetic(cohort):
    assert cohort.synthetic
    assert cohort.n == PUB["design"]["n_infused"] == 53
    assert [w.code for w in cohort.warnings] == []


def test_write_demo_copies_the_file(tmp_path):
    out = write_demo(tmp_path / "sub" / "demo.csv")
    assert out.read_bytes() == demo_path().read_bytes()


def test_baseline_counts(cohort):
    d = cohort.data
    b = PUB["baseline"]
    assert (d["burden"] == "low").sum() == b["low_burden"]["n"] == 21
    assert (d["burden"] == "high").sum() == b["high_burden"]["n"] == 32
    assert d["extramedullary"].sum() == b["extramedullary_disease"]["n"] == 5
    assert d["age"].median() == b["age_median"] and d["age"].min() == b["age_min"] and d["age"].max() == b["age_max"]
    assert d["prior_allo_hct"].sum() == b["prior_allo_hct"]["n"] == 19
    assert d["prior_blinatumomab"].sum() == b["prior_blinatumomab"]["n"] == 13
    # low burden: < 5% blasts and no extramedullary disease
    low = d["burden"] == "low"
    assert (d.loc[low, "marrow_blasts_pct"] < 5).all() and not d.loc[low, "extramedullary"].any()


def test_response(cohort):
    d = cohort.data
    cr = d["best_response"].isin(["CR", "CRi"])
    assert cr.sum() == PUB["response"]["complete_remission"]["n"] == 44
    assert round(100 * cr.mean()) == PUB["response"]["complete_remission"]["pct"] == 83
    known = d.loc[cr, "mrd_negative"].isin(["yes", "no"])
    neg = (d.loc[cr, "mrd_negative"] == "yes").sum()
    assert round(100 * neg / known.sum()) == PUB["response"]["mrd_negative_among_cr"]["pct"] == 67
    assert d.loc[cr, "allo_hct_day"].notna().sum() == PUB["response"]["cr_then_allo_hct"]["n"] == 17
    assert d.loc[cr, "relapse_day"].notna().sum() == PUB["response"]["relapse_after_cr"]["n"] == 25
    assert (d["relapse_cd19"] == "negative").sum() == PUB["response"]["cd19_negative_relapse"]["n"] == 4


def test_safety(cohort):
    d = cohort.data
    s = PUB["safety"]
    assert (d["crs_grade"] >= 1).sum() == s["any_grade_crs"]["n"] == 45
    severe = d["crs_grade"] >= 3
    assert severe.sum() == s["severe_crs"]["n"] == 14
    ci = binomial_ci(14, 53)
    assert [round(100 * ci.lower), round(100 * ci.upper)] == s["severe_crs"]["ci95"]
    assert d["crs_death"].sum() == s["crs_deaths"] == 1
    assert (d["neurotox_grade"] >= 3).sum() == s["grade_3_4_neurotoxicity"]["n"] == 22
    # "more frequent in patients with high disease burden"
    hi = d["burden"] == "high"
    assert severe[hi].mean() > severe[~hi].mean()
    neuro = d["neurotox_grade"] >= 3
    assert neuro[hi].mean() > neuro[~hi].mean()


def test_follow_up(cohort):
    fu = ep.follow_up(cohort)
    med = median_follow_up(fu.time, fu.status).reverse_km.value / DAYS_PER_MONTH
    assert abs(med - PUB["follow_up"]["median_months"]) < 1.0
    assert round(fu.time.min() / DAYS_PER_MONTH) == PUB["follow_up"]["min_months"]
    assert round(fu.time.max() / DAYS_PER_MONTH) == PUB["follow_up"]["max_months"]


@pytest.mark.parametrize("group, endpoint, key", [
    ("all", "efs", "efs_median"), ("all", "os", "os_median"),
    ("low_burden", "efs", "efs_median"), ("low_burden", "os", "os_median")])
def test_kaplan_meier_medians_within_half_a_month(cohort, group, endpoint, key):
    e = ep.event_free_survival(cohort) if endpoint == "efs" else ep.overall_survival(cohort)
    burden = cohort.data["burden"].to_numpy()
    mask = np.ones(e.n, bool) if group == "all" else burden == "low"
    km = kaplan_meier(e.time[mask], e.status[mask])
    assert abs(km.median.value / DAYS_PER_MONTH - PUB["survival"][group][key]) < 0.5
    if group == "low_burden":   # published upper limits: not reached
        assert np.isnan(km.median.upper)


def test_low_burden_lives_longer(cohort):
    burden = cohort.data["burden"].to_numpy()
    for e in (ep.event_free_survival(cohort), ep.overall_survival(cohort)):
        low = kaplan_meier(e.time[burden == "low"], e.status[burden == "low"]).median.value
        high = kaplan_meier(e.time[burden == "high"], e.status[burden == "high"]).median.value
        assert low > high

"""Issue 12 (2, 3): no number the data do not support, nothing dropped silently - checked on the
demonstration cohort and on copies of it with columns removed or values blanked."""

import numpy as np
import pandas as pd
import pytest

from ltfu.analysis import analyse
from ltfu.cohort import load_cohort
from ltfu.defaults import DAYS_PER_MONTH
from ltfu.demo import demo_path, load_demo


@pytest.fixture(scope="module")
def demo():
    return analyse(load_demo())


def _user_file(tmp_path, edit):
    df = pd.read_csv(demo_path(), comment="#", dtype=str).drop(columns=["synthetic"], errors="ignore")
    df = edit(df)
    f = tmp_path / "trial.csv"
    df.to_csv(f, index=False)
    return analyse(load_cohort(f))


def test_milestone_past_the_last_observation_is_ne_with_its_reason(demo):
    """High burden's follow-up ends before 36 months: R's summary(times=) drops that time; ltfu
    prints 'NE (beyond follow-up)' and writes null with the reason (was 15% (5-32))."""
    high = demo.numbers["survival"]["efs"]["high_burden"]
    km_last = max(demo.figure("km_efs_burden").curves[1][1].time) / DAYS_PER_MONTH
    assert km_last < 36
    r36 = high["rates"]["36_months"]
    assert r36["estimate"] is None and r36["lower"] is None and r36["note"] == "NE (beyond follow-up)"
    assert "note" not in high["rates"]["24_months"] and high["rates"]["24_months"]["estimate"] is not None
    row = next(r for r in demo.table("survival").rows if r[0] == "Event-free survival" and r[1] == "High burden")
    assert row[-1] == "NE (beyond follow-up)"


def test_absent_crs_death_is_not_recorded_not_zero(tmp_path):
    res = _user_file(tmp_path, lambda df: df.drop(columns=["crs_death"]))
    assert res.numbers["safety"]["crs_deaths"] is None
    assert res.numbers["safety"]["crs_deaths_note"] == "not recorded"
    row = next(r for r in res.table("safety").rows if r[0] == "Deaths attributed to CRS")
    assert row[1] == "not recorded"


def test_table_one_has_unknown_rows_and_models_say_who_they_left_out(tmp_path):
    def blank(df):
        df.loc[[0, 5, 9], "age"] = ""
        df.loc[[2], "sex"] = ""
        return df

    res = _user_file(tmp_path, blank)
    base = res.numbers["baseline"]
    assert base["age"]["all"]["unknown"] == 3 and base["sex"]["all"]["unknown"] == 1
    rows = res.table("baseline").rows
    age = next(i for i, r in enumerate(rows) if r[0].startswith("Age"))
    assert rows[age + 1][0].strip() == "Unknown" and rows[age + 1][1] == "3"
    cox = res.numbers["survival"]["cox"]["efs"]
    assert cox["age_per_10y"]["n_excluded_missing"] == 3 and cox["age_per_10y"]["n"] == 50
    assert cox["high_burden"]["n_excluded_missing"] == 0
    assert cox["multivariable"]["n"] + cox["multivariable"]["n_excluded_missing"] == 53
    cells = [r[4] for r in res.table("cox").rows if r[1] == "Age, per 10 years"]
    assert cells and all("3 excluded (missing age_per_10y)" in c for c in cells)


def test_simon_makuch_state_counts_in_results(demo):
    sm = demo.numbers["survival"]["allo_hct"]["efs"]["simon_makuch"]
    assert sm["months"][0] == 0 and sm["n_at_risk_exposed"][0] == 0      # nobody transplanted at day 0
    assert sm["first_transplant_months"] > 0
    assert np.all(np.asarray(sm["n_at_risk_unexposed"]) + np.asarray(sm["n_at_risk_exposed"]) <=
                  demo.numbers["survival"]["allo_hct"]["efs"]["n"])


def test_table_one_does_not_test_what_defines_its_groups(demo):
    """Burden is high at marrow blasts >= 5% or with extramedullary disease, so those two differ
    between the groups by construction (a 6,000-patient registry gave p = 1.4e-98 and 0): Table 1
    gives them no test and says why; every other row keeps its test."""
    b = demo.numbers["baseline"]
    for col in ("marrow_blasts_pct", "extramedullary"):
        assert b[col]["p_value"] is None and b[col]["test"] == "not tested: defines the burden groups"
        assert b[col]["low_burden"]["n"] + b[col]["high_burden"]["n"] == b[col]["all"]["n"]
    tested = [c for c, v in b.items() if isinstance(v, dict) and "test" in v and c not in ("marrow_blasts_pct",
                                                                                          "extramedullary")]
    assert len(tested) == 9 and all(b[c]["p_value"] is not None for c in tested)
    rows = {r[0]: r for r in demo.table("baseline").rows}
    assert rows["Extramedullary disease: n (%)"][-2:] == ("-", "defines the burden groups")
    assert rows["Marrow blasts before infusion, %: median (range)"][-2:] == ("-", "defines the burden groups")
    assert "define the burden groups" in demo.table("baseline").notes[0]


def test_efs_censored_at_the_transplant_is_said_not_analysed_not_zero_transplants(demo):
    """With --censor-at-hct no EFS time follows a transplant, so the transplant section has nothing
    to analyse for EFS: it says why (a note and a row), where "n_transplanted: 0" alone read as a
    fact about the data (an audit against R found it); overall survival is analysed as before."""
    from ltfu.analysis import AnalysisOptions

    assert "note" not in demo.numbers["survival"]["allo_hct"]["efs"]
    censored = analyse(load_demo(), AnalysisOptions(censor_at_hct=True))
    efs, os_ = (censored.numbers["survival"]["allo_hct"][k] for k in ("efs", "os"))
    assert efs["n_transplanted"] == 0 and "--censor-at-hct" in efs["note"] and "mantel_byar" not in efs
    assert os_ == demo.numbers["survival"]["allo_hct"]["os"]
    rows = censored.table("allo_hct").rows
    assert rows[0][:2] == ("Event-free survival", f"not analysed: {efs['note']}")
    assert [r[0] for r in rows[1:]] == ["Overall survival"] * 2


def test_figure_at_risk_numbers_equal_results_for_simon_makuch_and_cif(demo):
    """Issue 12: the numbers printed under the Simon-Makuch and cumulative-incidence figures are
    those of results.json (state counts; patients still followed), not R's next-time rule."""
    from ltfu.report.figures import render_figure

    fig = render_figure(demo.figure("simon_makuch_efs"))
    sm = demo.numbers["survival"]["allo_hct"]["efs"]["simon_makuch"]
    ticks = fig.ltfu_at_risk["ticks_months"]
    for label, key in (("No allo-HCT (yet)", "n_at_risk_unexposed"), ("After allo-HCT", "n_at_risk_exposed")):
        want = [sm[key][sm["months"].index(t)] for t in ticks]
        assert fig.ltfu_at_risk["n_risk"][label] == want
    assert fig.ltfu_at_risk["n_risk"]["After allo-HCT"][0] == 0
    cif = render_figure(demo.figure("cif_relapse"))
    spec = demo.figure("cif_relapse")
    for group, km in spec.at_risk:
        # at risk at t = patients whose time to relapse, death or censoring is at least t
        days = np.asarray(cif.ltfu_at_risk["ticks_months"]) * DAYS_PER_MONTH
        times = np.repeat(km.time, km.n_event + km.n_censor)
        assert cif.ltfu_at_risk["n_risk"][group] == [int((times >= d).sum()) for d in days]


def test_reproduction_table_is_readable_complete_and_flags_intervals(demo):
    rows = {r[0]: r for r in demo.table("reproduction").rows}
    assert "Event-free survival, median (months), high burden" in rows           # high burden too
    assert rows["Event-free survival, median (months), all patients"][3] == "agrees"
    flagged = rows["Event-free survival, median 95% CI, all patients"][3]
    assert flagged.startswith("interval differs") and "5.0" in flagged          # published (5.0, 11.5)
    assert not any(":" in r[0].split(",")[0] and "." in r[0].split(":")[-1] for r in rows.values())   # no raw keys


def test_a_huge_estimate_prints_without_noise_digits():
    """A near-degenerate model's limit (1.9e17) in fixed point printed 190000000000447200.00, whose
    last digits are rounding noise (a review saw two fits agree to 1e-14 and print differently)."""
    from ltfu.analysis.common import fmt, fmt_ci

    assert fmt(1.9000000000004472e17, 2) == "1.9e+17" and fmt(1.9000000000004445e17, 2) == "1.9e+17"
    assert fmt(999999.0, 0) == "999999" and fmt(2.5, 2) == "2.50" and fmt(None) == "NR"
    assert fmt_ci(3.2, 0.4, 2.3e12, 2) == "3.20 (0.40 to 2.3e+12)"

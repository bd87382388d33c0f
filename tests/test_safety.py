"""ltfu.safety and the "Long-term safety" section on the small study of tests/fixtures/safety_study:
person-time, rates, windows, rate ratios and cumulative incidences against R (tests/reference/safety.R:
person-time derived by hand from the dates in R, poisson.test, cmprsk::cuminc), and the yearly
follow-up completeness against a count by hand."""

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import ltfu
from ltfu import safety, stats
from ltfu.analysis import AnalysisOptions, analyse

HERE = Path(__file__).parent
STUDY = HERE / "fixtures" / "safety_study"
R = json.loads((HERE / "reference" / "safety.json").read_text())
TODAY = dt.date(2026, 11, 24)
CATS = ("second_primary_malignancy", "infection", "neurological", "autoimmune")
GROUPS = ("all", "low_burden", "high_burden")


@pytest.fixture(scope="module")
def study():
    return ltfu.load_study(STUDY, today=TODAY)


def _masks(study):
    burden = study.cohort.data["burden"].to_numpy(object)
    return {"all": np.ones(burden.size, bool), "low_burden": burden == "low", "high_burden": burden == "high"}


def close(a, b, rel=1e-12):
    if b is None:
        return a is None or not np.isfinite(a)
    return a == pytest.approx(b, rel=rel, abs=1e-14)


@pytest.mark.parametrize("rule", ["none", "anticancer", "allo_hct", "anticancer_or_allo_hct"])
def test_person_time_as_derived_in_r(study, rule):
    pt = safety.person_time(study.cohort, study.therapies, stop_at=rule)
    assert dict(zip(pt.patient_id, pt.stop.tolist())) == R["person_time"][rule]


def test_person_time_by_hand(study):
    # S05: infused 2015-06-01, anticancer therapy from 2016-01-01, followed to the 2020-01-01 cut-off
    pt = safety.person_time(study.cohort, study.therapies, stop_at="anticancer")
    i = list(pt.patient_id).index("S05")
    assert pt.end[i] == (dt.date(2020, 1, 1) - dt.date(2015, 6, 1)).days
    assert pt.stop[i] == (dt.date(2016, 1, 1) - dt.date(2015, 6, 1)).days
    # S06: last contact 2020-06-01 after the cut-off: follow-up ends at the cut-off
    j = list(pt.patient_id).index("S06")
    assert pt.end[j] == (dt.date(2020, 1, 1) - dt.date(2015, 7, 1)).days
    assert "anticancer" in pt.rule


@pytest.mark.parametrize("rule", ["none", "anticancer", "anticancer_or_allo_hct"])
@pytest.mark.parametrize("cat", CATS)
@pytest.mark.parametrize("first", [True, False])
def test_rates_agree_with_poisson_test(study, rule, cat, first):
    pt = safety.person_time(study.cohort, study.therapies, stop_at=rule)
    masks = _masks(study)
    for g in GROUPS:
        want = R["rates"][rule][cat]["first" if first else "all"][g]
        got = safety.incidence(study.events, pt, category=cat, first_only=first, mask=masks[g])
        assert (got.events, got.patients) == (want["events"], want["patients"])
        assert close(got.person_years, want["person_years"])
        for k, v in (("value", "rate"), ("lower", "lower"), ("upper", "upper")):
            assert close(getattr(got.rate, k), want[v], rel=1e-9), (g, k)


@pytest.mark.parametrize("cat", CATS)
def test_windows_agree_with_r(study, cat):
    pt = safety.person_time(study.cohort, study.therapies)
    for label, lo, hi in safety.WINDOWS:
        want = R["windows"][cat][label]
        got = safety.incidence(study.events, pt, category=cat, first_only=False, window=(lo, hi))
        assert got.events == want["events"] and close(got.person_years, want["person_years"])
        if want["rate"] is None:
            assert not np.isfinite(got.rate.value)
        else:
            assert close(got.rate.value, want["rate"], rel=1e-9) and close(got.rate.upper, want["upper"], rel=1e-9)


@pytest.mark.parametrize("cat", CATS)
def test_rate_ratio_agrees_with_poisson_test(study, cat):
    pt = safety.person_time(study.cohort, study.therapies)
    m = _masks(study)
    hi = safety.incidence(study.events, pt, category=cat, mask=m["high_burden"])
    lo = safety.incidence(study.events, pt, category=cat, mask=m["low_burden"])
    rr = stats.rate_ratio(hi.events, hi.person_years, lo.events, lo.person_years)
    want = R["rate_ratio"][cat]
    for k in ("lower", "upper", "p_value"):
        assert close(getattr(rr, k), want[k], rel=1e-7), k
    assert close(rr.ratio, want["ratio"], rel=1e-9)


@pytest.mark.parametrize("cat", CATS)
def test_cumulative_incidence_agrees_with_cmprsk(study, cat):
    pt = safety.person_time(study.cohort, study.therapies)
    t, s = safety.first_event_competing(study.events, pt, cat)
    want = R["cuminc"][cat]
    assert t.tolist() == want["time"] and s.tolist() == want["status"]
    res = stats.cumulative_incidence(t, s)
    at = res.at(want["at"], cause=1)
    for i in range(len(want["at"])):
        assert close(at.estimate[i], want["estimate"][i], rel=1e-10)
        assert close(at.variance[i], want["variance"][i], rel=1e-8)
    if "gray_p" in want:
        burden = study.cohort.data["burden"].to_numpy(str)
        g = stats.gray_test(t, s, burden)
        assert close(g.statistic[0], want["gray_statistic"], rel=1e-8)
        assert close(g.p_value[0], want["gray_p"], rel=1e-8)


def test_an_event_on_the_day_of_death_is_the_event_not_death(study):
    # S04 died of sepsis on 2015-09-10: the infection is the event, death does not compete
    pt = safety.person_time(study.cohort, study.therapies)
    t, s = safety.first_event_competing(study.events, pt, "infection")
    i = list(pt.patient_id).index("S04")
    assert (t[i], s[i]) == ((dt.date(2015, 9, 10) - dt.date(2015, 5, 1)).days, 1)


def test_events_after_the_cutoff_are_counted_as_excluded(study):
    pt = safety.person_time(study.cohort, study.therapies)
    assert safety.events_beyond(study.events, pt) == 1          # S06's influenza of 2020-03-01


def test_completeness_by_hand(study):
    c = safety.completeness(study.cohort, study.assessments)
    # year 1 (day 365.25 +- 90): expected S01 S03 S05 S06 S07 S08 S10 S11 S12 (S02, S04, S09 died or
    # could not reach it); seen: all but S07 (no assessment) and S12 (last seen day 181: lost)
    assert (c.years[:2], c.expected[:2], c.seen[:2], c.missed[:2], c.lost[:2]) == \
        ((1, 2), (9, 9), (7, 2), (2, 7), (1, 1))
    p = pd.read_csv(STUDY / "patients.csv")
    inf = pd.to_datetime(p["infusion_date"])
    cut, death, last = (pd.to_datetime(p[c]) for c in ("data_cutoff_date", "death_date", "last_contact_date"))
    observed = (pd.concat([last, cut, death], axis=1).min(axis=1) - inf).dt.days.sum()
    potential = (pd.concat([cut, death], axis=1).min(axis=1) - inf).dt.days.sum()
    assert c.clark_index == pytest.approx(observed / potential, rel=1e-15)
    assert c.expected[-1] > 0                                   # no trailing visit nobody reached


def test_a_study_without_events_or_follow_up_gives_no_rate():
    cohort = ltfu.load_study(STUDY / "patients.csv", today=TODAY).cohort
    pt = safety.person_time(cohort)
    empty = pd.DataFrame({"patient_id": [], "category": [], "subtype": [], "onset_day": []})
    r = safety.incidence(empty, pt, category="infection", window=(20 * 365.25, 30 * 365.25))
    assert r.events == 0 and r.person_years == 0 and not np.isfinite(r.rate.value)   # NE, not 0


def test_the_section_reports_what_r_computes(study):
    results = analyse(study, AnalysisOptions())
    lt = results.numbers["long_term_safety"]
    want = R["rates"]["none"]["infection"]["first"]["all"]
    got = lt["incidence"]["infection"]["first"]["all"]
    assert close(got["rate"]["value"], want["rate"], rel=1e-9) and got["events"] == want["events"]
    assert lt["events_beyond_time_at_risk"] == 1
    ci = lt["cumulative_incidence"]["infection"]["all"]
    assert close(ci["2_years"]["estimate"], R["cuminc"]["infection"]["estimate"][1], rel=1e-10)
    assert ci["5_years"]["estimate"] is None and "NE" in ci["5_years"]["note"]     # beyond follow-up
    section = next(s for s in results.sections if s.id == "long_term_safety")
    assert "1 of them after the time at risk" in section.paragraphs[0]
    # R's poisson.test gives an infinite ratio (Inf, stored as null) where the low-burden group has no
    # event: the report says unbounded and why, with R's lower limit, not "NE" (not estimable)
    want = R["rate_ratio"]["neurological"]
    rr = lt["incidence"]["neurological"]["rate_ratio_high_vs_low"]
    assert want["ratio"] is None and rr["ratio"] is None and rr["upper"] is None
    assert close(rr["lower"], want["lower"], rel=1e-7) and rr["note"] == "no event in the low-burden group"
    row = next(r for r in results.table("safety_rates").rows
               if r[0] == "Neurological disorder" and r[1] == "first events")
    assert row[-1].startswith("unbounded (no event in the low-burden group); lower limit ")
    assert all("note" not in lt["incidence"][c]["rate_ratio_high_vs_low"] for c in CATS if c != "neurological")


def test_stop_at_changes_the_person_time_and_says_so(study):
    a = analyse(study, AnalysisOptions()).numbers["long_term_safety"]
    b = analyse(study, AnalysisOptions(safety_stop_at="anticancer_or_allo_hct")).numbers["long_term_safety"]
    assert b["person_years"] == pytest.approx(sum(R["person_time"]["anticancer_or_allo_hct"].values()) / 365.25)
    assert b["person_years"] < a["person_years"] and "allo hct" in b["person_time_rule"]


def test_a_patient_table_alone_has_no_long_term_section():
    s = ltfu.load_study(STUDY / "patients.csv", today=TODAY)
    assert not s.longitudinal
    assert "long_term_safety" not in analyse(s, AnalysisOptions()).numbers

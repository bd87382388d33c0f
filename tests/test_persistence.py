"""ltfu.persistence: every definition worked by hand on small made-up cohorts, and the analyses of the
SYNTHETIC demonstration study against R (tests/reference/persistence.R, persistence.json)."""

import json
import math

import numpy as np
import pandas as pd
import pytest

from golden import arr, assert_close, golden
from ltfu import persistence as P
from ltfu.errors import InvalidInputError
from study_builder import demo_replicates, demo_study, make_study

PCT, CNT, ANC, PLT, IGG, CAR = ("cd19_pct", "b_cells_per_ul", "anc_per_ul", "platelets_per_ul", "igg_g_per_l",
                                "car_transgene_copies_per_ug")


def by_id(result, field):
    return dict(zip(result.patient_id, getattr(result, field)))


def nums(values):
    """A JSON list with null (NE) as nan."""
    return [np.nan if v is None else v for v in values]


# ------------------------------------------------------------------------------------------------
# B-cell recovery and the aplasia analyses

def b_cell_cohort():
    patients = [
        {"patient_id": "A", "last_contact_day": 200},
        {"patient_id": "B", "last_contact_day": 200},
        {"patient_id": "C", "last_contact_day": 300},
        {"patient_id": "D", "last_contact_day": 200},
        {"patient_id": "E", "last_contact_day": 150, "death_day": 150, "relapse_day": 100,
         "relapse_cd19": "negative"},
        {"patient_id": "F", "last_contact_day": 80, "death_day": 80},
        {"patient_id": "G", "last_contact_day": 200, "relapse_day": 100, "relapse_cd19": "positive"},
    ]
    a = [
        # A: 60 is an isolated value above 1% (90 falls back): no recovery there; 120 and 150 both >= 1%
        ("A", 30, PCT, 0.1), ("A", 60, PCT, 2.0), ("A", 90, PCT, 0.2), ("A", 120, PCT, 1.5), ("A", 150, PCT, 3.0),
        # B: day 60 qualifies by the count (60 >= 50/uL, 0.5% < 1%), day 90 by the percentage alone
        # (1.2% >= 1, the count not done): two consecutive B-cell days -> recovery 60, confirmed 90
        ("B", 30, PCT, 0.1), ("B", 30, CNT, 10), ("B", 60, PCT, 0.5), ("B", 60, CNT, 60), ("B", 90, PCT, 1.2),
        # C: qualifies only on its last assessment: nothing confirms it -> no recovery, censored at 300
        ("C", 30, PCT, 0.1), ("C", 60, CNT, 49.9), ("C", 90, CNT, 50.0),
        # D: 60 and 90 qualify, but further therapy starts at 75: day 90 is not used -> censored at 75
        ("D", 30, PCT, 0.1), ("D", 60, PCT, 2.0), ("D", 90, PCT, 3.0),
        # E: CD19-negative relapse at 100: the later values are not used -> censored at 100 (outcome 2)
        ("E", 30, PCT, 0.1), ("E", 60, PCT, 0.1), ("E", 120, PCT, 5.0), ("E", 140, PCT, 5.0),
        # F: dies at 80 in aplasia (outcome 4)
        ("F", 30, PCT, 0.1), ("F", 60, PCT, 0.2),
        # G: a CD19-positive relapse at 100 does not stop the series: recovery at 120 (confirmed 140)
        ("G", 30, PCT, 0.1), ("G", 120, PCT, 2.0), ("G", 140, PCT, 2.0),
    ]
    return make_study(patients, a, [("D", "anticancer", 75, 100)])


def test_b_cell_recovery_rules_by_hand():
    b = P.b_cell_recovery(b_cell_cohort())
    assert by_id(b, "recovery_day") == pytest.approx({"A": 120, "B": 60, "C": np.nan, "D": np.nan, "E": np.nan,
                                                      "F": np.nan, "G": 120}, nan_ok=True)
    assert by_id(b, "confirmed_day") == pytest.approx({"A": 150, "B": 90, "C": np.nan, "D": np.nan, "E": np.nan,
                                                       "F": np.nan, "G": 140}, nan_ok=True)
    # Kaplan-Meier: recovery an event; censored at the end (C 300, F's death 80), therapy (D 75),
    # CD19-negative relapse (E 100)
    assert by_id(b, "time") == {"A": 120, "B": 60, "C": 300, "D": 75, "E": 100, "F": 80, "G": 120}
    assert by_id(b, "status") == {"A": 1, "B": 1, "C": 0, "D": 0, "E": 0, "F": 0, "G": 1}
    # competing outcomes: 1 recovery, 2 CD19-negative relapse, 3 further therapy, 4 death, 0 censored
    assert by_id(b, "cause") == {"A": 1, "B": 1, "C": 0, "D": 3, "E": 2, "F": 4, "G": 1}
    assert by_id(b, "cr_time") == {"A": 120, "B": 60, "C": 300, "D": 75, "E": 100, "F": 80, "G": 120}


def test_competing_ties_go_to_the_lower_code():
    # relapse (CD19-negative), therapy and death all on day 50: the relapse (code 2) wins; therapy and
    # death on day 60: therapy (code 3)
    s = make_study([{"patient_id": "X", "last_contact_day": 50, "death_day": 50, "relapse_day": 50,
                     "relapse_cd19": "negative"},
                    {"patient_id": "Y", "last_contact_day": 60, "death_day": 60}],
                   [], [("X", "anticancer", 50, 60), ("Y", "allo_hct", 60, 60)])
    b = P.b_cell_recovery(s)
    assert by_id(b, "cause") == {"X": 2, "Y": 3}
    assert by_id(b, "cr_time") == {"X": 50, "Y": 60}


def test_aplasia_kaplan_meier_and_incidence_by_hand():
    r = P.aplasia(b_cell_cohort())
    d = r.to_dict()
    km = d["aplasia_km"]["overall"]
    # times: 60 recovery (B); 75, 80, 100 censored; 120 two recoveries (A, G); 300 censored (C)
    # S(60) = 6/7; at 120 three at risk (A, G, C), two recover: S = 6/7 * 1/3 = 2/7
    assert km["events"] == 3 and km["n"] == 7
    # report days 90, 180, 270, 365, 730: after the last time (300) the curve is NE
    assert nums(km["at"]["survival"]) == pytest.approx([6 / 7, 2 / 7, 2 / 7, np.nan, np.nan], nan_ok=True)
    # Greenwood: var(log S) = 1/(7*6) + 2/(3*1) = 29/42
    assert km["at"]["std_err"][1] == pytest.approx(2 / 7 * math.sqrt(29 / 42))
    assert km["median"]["value"] == 120          # the first time S <= 0.5
    # Aalen-Johansen: nobody is censored before the last event, so each incidence is events / 7:
    # recovery 60 (1/7), therapy 75 (6/7 * 1/6), death 80 (5/7 * 1/5), relapse 100 (4/7 * 1/4),
    # recovery 120 (3/7 * 2/3 = 2/7): recovery 3/7 by day 180
    at = d["recovery_cif"]["overall"]["at"]
    assert at["B-cell recovery"]["estimate"][:2] == pytest.approx([1 / 7, 3 / 7])       # days 90, 180
    for cause in ("CD19-negative relapse", "further therapy", "death"):
        assert at[cause]["estimate"][1] == pytest.approx(1 / 7)
    assert d["recovery_cif"]["overall"]["events"] == {"B-cell recovery": 3, "CD19-negative relapse": 1,
                                                      "further therapy": 1, "death": 1}
    assert d["outcomes"] == {"B-cell recovery": 3, "CD19-negative relapse": 1, "further therapy": 1, "death": 1,
                             "censored": 1}
    assert d["gray"] is None and d["gray_error"] is None     # no groups


def test_first_run():
    days = np.array([1.0, 2, 3, 4, 5])
    assert P.first_run(days, [0, 1, 0, 1, 1], 2) == (4.0, 5.0)
    assert P.first_run(days, [0, 1, 1, 1, 0], 3) == (2.0, 4.0)
    assert all(map(math.isnan, P.first_run(days, [1, 0, 1, 0, 1], 2)))
    assert all(map(math.isnan, P.first_run(days[:1], [1], 2)))


# ------------------------------------------------------------------------------------------------
# relapse-free survival by recovery: landmarks and the time-dependent Cox model

def rfs_cohort():
    pts = [
        {"patient_id": "P1", "last_contact_day": 500, "relapse_day": 200, "relapse_cd19": "positive"},
        {"patient_id": "P2", "last_contact_day": 500, "relapse_day": 60, "relapse_cd19": "positive"},
        {"patient_id": "P3", "last_contact_day": 400},
        {"patient_id": "P4", "last_contact_day": 150, "death_day": 150},
        {"patient_id": "P5", "last_contact_day": 500, "response_day": 120},
        {"patient_id": "P6", "last_contact_day": 80},
        {"patient_id": "P7", "last_contact_day": 300},
        {"patient_id": "P8", "last_contact_day": 300, "relapse_day": 100, "relapse_cd19": "positive"},
        {"patient_id": "P9", "last_contact_day": 300, "best_response": "NR", "response_day": np.nan},
    ]
    a = [("P1", 30, PCT, 2), ("P1", 60, PCT, 2),                       # recovery 30, confirmed 60
         ("P3", 30, PCT, 0.1), ("P3", 60, PCT, 2), ("P3", 120, PCT, 2),  # recovery 60, confirmed 120
         ("P7", 20, PCT, 2), ("P7", 28, PCT, 2),                         # confirmed on the response day 28
         ("P8", 100, PCT, 2), ("P8", 110, PCT, 2)]                       # recovery on the relapse day 100
    return make_study(pts, a)


def test_recovery_rows_follow_tmerge_rules():
    r = P.recovery_rows(rfs_cohort())
    assert list(r.patient_id) == ["P1", "P2", "P3", "P4", "P5", "P6", "P7", "P8"]      # P9 is no CR
    rows = r.rows
    # The split is at the day the recovery is confirmed (known), not at the recovery day:
    # P1: recovery 30 confirmed 60: (28, 60] unrecovered, (60, 200] recovered with the relapse;
    # P3: confirmed 120, censored 400; P5: entry at its response (120); P7: confirmed on its entry
    # day -> one recovered row; P8: recovery on the relapse day 100, confirmed at 110 after it ->
    # unrecovered throughout (split at the recovery day, the relapse would count unrecovered too, but
    # a recovery at 90 confirmed at 110 would have counted it recovered: see the next test)
    expected = [("P1", 28, 60, 0, 0), ("P1", 60, 200, 1, 1), ("P2", 28, 60, 1, 0), ("P3", 28, 120, 0, 0),
                ("P3", 120, 400, 0, 1), ("P4", 28, 150, 1, 0), ("P5", 120, 500, 0, 0), ("P6", 28, 80, 0, 0),
                ("P7", 28, 300, 0, 1), ("P8", 28, 100, 1, 0)]
    assert [tuple(x) for x in rows.itertuples(index=False)] == expected


def test_a_recovery_confirmed_after_the_relapse_is_not_before_it():
    """Recovery at day 90, confirmed at day 150, relapse at 120: at the relapse the recovery was not
    known, so the Cox rows count the relapse unrecovered (they counted it recovered when the switch
    was at the recovery day: a look-ahead past the event)."""
    pts = [{"patient_id": "Q1", "last_contact_day": 400, "relapse_day": 120, "relapse_cd19": "positive"},
           {"patient_id": "Q2", "last_contact_day": 400}]
    a = [("Q1", 90, PCT, 2), ("Q1", 150, PCT, 2), ("Q2", 60, PCT, 2), ("Q2", 70, PCT, 2)]
    r = P.recovery_rows(make_study(pts, a))
    assert (r.recovery_day.tolist(), r.confirmed_day.tolist()) == ([90, 60], [150, 70])
    assert [tuple(x) for x in r.rows.itertuples(index=False)] == [
        ("Q1", 28, 120, 1, 0), ("Q2", 28, 70, 0, 0), ("Q2", 70, 400, 0, 1)]


def test_landmark_by_hand():
    r = P.relapse_by_recovery(rfs_cohort())
    lm = r.landmarks[90.0]["overall"]
    # day 90: P2 relapsed before (60), P5 not yet in remission (response 120), P6 not followed beyond
    # 90 (80), P8 relapsed at 100 > 90 but its recovery (100, confirmed 110) is after the landmark.
    # In: P1 (recovery confirmed 60 <= 90: recovered), P3 (confirmed 120 > 90: not yet), P4, P7
    # (confirmed 28), P8.
    assert (lm.n, lm.n_exposed, lm.n_unexposed) == (5, 2, 3)
    # from the landmark: P1 event 110 (exposed), P3 censored 310, P4 event 60, P7 censored 210
    # (exposed), P8 event 10.  Log-rank (exposed group), V = n1 n0 d (n - d) / (n^2 (n - 1)):
    # t=10: n=5, n1=2, d=1: E=2/5, V=2*3*1*4/(25*4)=6/25; t=60: n=4 (P1,P3,P4,P7), n1=2: E=1/2,
    # V=2*2*1*3/(16*3)=1/4; t=110: n=3 (P1,P3,P7), n1=2: E=2/3, V=2*1*1*2/(9*2)=2/9.
    # O1=1, E1=2/5+1/2+2/3=47/30, O-E=-17/30; V=(216+225+200)/900=641/900; chi2 = 289/641
    assert lm.test.statistic == pytest.approx(289 / 641)
    lm180 = r.landmarks[180.0]["overall"]
    # day 180: P1 (relapse 200 > 180, recovered), P3 (confirmed 120: recovered now), P5 (response 120,
    # unrecovered), P7 (recovered); P4 died at 150 and P8 relapsed at 100: out
    assert (lm180.n, lm180.n_exposed) == (4, 3)
    # the options' limits reach the landmark's curves (they were 95% whatever conf_level said)
    o = P.PersistenceOptions(conf_type="log", conf_level=0.8)
    lm80 = P.relapse_by_recovery(rfs_cohort(), options=o).landmarks[90.0]["overall"]
    assert {(km.conf_type, km.conf_level) for km in (lm80.km_exposed, lm80.km_unexposed)} == {("log", 0.8)}


def test_cox_uses_the_rows():
    from ltfu import stats

    r = P.relapse_by_recovery(rfs_cohort())
    rows = r.rows.rows
    fit = stats.cox(rows[["recovered"]].astype(float), rows["tstop"].to_numpy(float), rows["event"].to_numpy(),
                    entry=rows["tstart"].to_numpy(float))
    assert r.cox["overall"].coef == pytest.approx(fit.coef)
    assert r.to_dict()["cox"]["overall"]["n_events"] == 4


# ------------------------------------------------------------------------------------------------
# IgG and hypogammaglobulinaemia

def igg_cohort():
    pts = [{"patient_id": "Q1", "last_contact_day": 800}, {"patient_id": "Q2", "last_contact_day": 800},
           {"patient_id": "Q3", "last_contact_day": 100}]
    a = [("Q1", 30, IGG, 3.5), ("Q1", 100, IGG, 5.0), ("Q1", 350, IGG, 6.0), ("Q1", 700, IGG, 7.0),
         ("Q2", 28, IGG, 4.0), ("Q2", 80, IGG, 4.5), ("Q2", 95, IGG, 5.0),
         ("Q3", 59, IGG, 2.0)]
    return make_study(pts, a, [("Q2", "ivig", 300, 400)])


def test_igg_visits_by_hand():
    d = P.igg(igg_cohort()).to_dict()
    visits = {v["visit"]: v for v in d["visits"]["overall"]}
    # day 28: Q1's day 30, Q2's day 28, and Q3's day 59 (31 days from both 28 and 90: the earlier
    # visit): 2.0, 3.5, 4.0 -> median 3.5, quartiles (type 7) 2.75 and 3.75
    assert (visits["day 28"]["n"], visits["day 28"]["median"]) == (3, 3.5)
    assert (visits["day 28"]["q1"], visits["day 28"]["q3"]) == (2.75, 3.75)
    # day 90: Q1's day 100; Q2 has 80 and 95, the nearer (95) counts: 5.0 and 5.0
    assert (visits["day 90"]["n"], visits["day 90"]["median"], visits["day 90"]["min"]) == (2, 5.0, 5.0)
    assert visits["day 365"]["median"] == 6.0 and visits["year 2"]["median"] == 7.0


def test_hypogammaglobulinaemia_by_year_by_hand():
    d = P.igg(igg_cohort()).to_dict()
    years = {y["year"]: y for y in d["years"]["overall"]}
    # year 1 (days 0-366): Q1 IgG 3.5 < 4; Q2 IgG never below 4 (4.0 is not below) but IVIG 300-400;
    # Q3 2.0: 3 of 3 assessed
    assert (years[1]["assessed"], years[1]["hypogammaglobulinaemia"], years[1]["ivig"]) == (3, 3, 1)
    assert years[1]["igg_below_threshold"] == 2
    # year 2 (366-731]: Q1 7.0 (not low); Q2 no IgG but IVIG to day 400 (assessed by it); Q3 gone
    assert (years[2]["assessed"], years[2]["hypogammaglobulinaemia"], years[2]["ivig"]) == (2, 1, 1)
    assert years[2]["hypogammaglobulinaemia_proportion"]["value"] == 0.5
    # year 3 (731-1096]: Q1 and Q2 followed to 800 but nothing measured or given
    assert years[3]["assessed"] == 0 and years[3]["hypogammaglobulinaemia_proportion"] is None


def test_year_bounds_put_anniversaries_in_the_year_they_close():
    assert P.year_bounds(1) == (0.0, 366.0)
    assert P.year_bounds(3) == (731.0, 1096.0)     # the third anniversary is day 1095 or 1096
    assert P.year_bounds(4) == (1096.0, 1461.0)


# ------------------------------------------------------------------------------------------------
# blood-count recovery

def count_cohort():
    pts = [{"patient_id": f"N{i}", "last_contact_day": 365} for i in range(1, 6)]
    pts[2].update(last_contact_day=25, death_day=25)
    a = [("N1", 7, ANC, 100), ("N1", 14, ANC, 600), ("N1", 21, ANC, 700), ("N1", 28, ANC, 800),
         # N2: day 7 alone above (14 falls back): recovery 21 (21, 28, 60)
         ("N2", 7, ANC, 600), ("N2", 14, ANC, 400), ("N2", 21, ANC, 600), ("N2", 28, ANC, 700), ("N2", 60, ANC, 900),
         # N3: only two results above before death at 25: no recovery, death first
         ("N3", 7, ANC, 200), ("N3", 14, ANC, 600), ("N3", 21, ANC, 700),
         # N4: allo-HCT at 20: 21 and 28 not used -> censored at 20
         ("N4", 7, ANC, 200), ("N4", 14, ANC, 600), ("N4", 21, ANC, 700), ("N4", 28, ANC, 800),
         # N5: exactly 500 three times: recovered at 7
         ("N5", 7, ANC, 500), ("N5", 14, ANC, 500), ("N5", 21, ANC, 500)]
    a += [("N1", d, PLT, 30000) for d in (7, 14, 21)]
    return make_study(pts, a, [("N4", "allo_hct", 20, 20)])


def test_neutrophil_recovery_by_hand():
    c = P.count_recovery(count_cohort(), ANC, 500)
    assert by_id(c, "time") == {"N1": 14, "N2": 21, "N3": 25, "N4": 20, "N5": 7}
    assert by_id(c, "status") == {"N1": 1, "N2": 1, "N3": 2, "N4": 0, "N5": 1}
    o = P.PersistenceOptions(recovery_days=(14, 25, 28))
    d = P.haematological_recovery(count_cohort(), options=o).to_dict()["recovery"]["neutrophils_500"]
    at = d["cif"]["overall"]["at"]
    # 7: 1/5 (S 4/5); 14: + 4/5 * 1/4 = 2/5 (S 3/5); 20 censored; 21: + 3/5 * 1/2 -> 7/10 (S 3/10);
    # 25 death: 3/10 * 1/1 = 3/10.  Day 28 is after everyone's last time (25): NE, as cmprsk
    assert nums(at["recovery"]["estimate"]) == pytest.approx([0.4, 0.7, np.nan], nan_ok=True)
    assert nums(at["death"]["estimate"]) == pytest.approx([0.0, 0.3, np.nan], nan_ok=True)


def test_platelet_thresholds():
    d = P.haematological_recovery(count_cohort()).to_dict()["recovery"]
    # N1's platelets 30,000 three times: recovered at 20,000, not at 50,000; nobody else has any
    assert d["platelets_20000"]["recovered"] == 1 and d["platelets_50000"]["recovered"] == 0


# ------------------------------------------------------------------------------------------------
# ICAHT

@pytest.mark.parametrize("d500, d100, never, grade", [
    (0, 0, False, 0), (1, 0, False, 1), (6, 0, False, 1), (7, 0, False, 2), (13, 0, False, 2),
    (14, 0, False, 3), (30, 0, False, 3), (7, 7, False, 3), (10, 13, False, 3), (14, 14, False, 4),
    (31, 0, False, 4), (24, 0, True, 4)])
def test_early_icaht_boundaries(d500, d100, never, grade):
    assert P.early_icaht_grade(d500, d100, never) == grade


@pytest.mark.parametrize("values, grade", [
    ([1400, 2000, 1200], 1),       # two results <= 1500, nadir 1200
    ([1000, 3000], 0),             # one low result among two: transient
    ([90], 4),                     # the only result
    ([500, 1500], 3), ([501, 1500], 2), ([100, 101], 4), ([101, 1400], 3), ([1000, 1500], 2),
    ([1001, 1400], 1), ([1501, 1600], 0), ([2000], 0)])
def test_late_icaht_boundaries(values, grade):
    assert P.late_icaht_grade(values) == grade


def icaht_cohort():
    pts = [{"patient_id": f"I{i}", "last_contact_day": 365} for i in range(1, 14)]
    pts[11].update(last_contact_day=16, death_day=16)                   # I12 dies at 16
    pts[12].update(relapse_day=70, relapse_cd19="positive")             # I13 relapses at 70
    a = [
        # I1: <= 500 from 10 until the next result at 16: days 10-15 = 6 days -> grade 1
        ("I1", 0, ANC, 1000), ("I1", 10, ANC, 400), ("I1", 16, ANC, 1000), ("I1", 30, ANC, 1000),
        ("I2", 0, ANC, 1000), ("I2", 10, ANC, 400), ("I2", 17, ANC, 1000),        # 7 days -> 2
        ("I3", 10, ANC, 400), ("I3", 23, ANC, 1000),                              # 13 days -> 2
        ("I4", 10, ANC, 400), ("I4", 24, ANC, 1000),                              # 14 days -> 3
        # I5: <= 100 on days 10-16 (7 days), <= 500 on 10-19 (10 days) -> 3 by the <= 100 rule
        ("I5", 10, ANC, 50), ("I5", 17, ANC, 400), ("I5", 20, ANC, 1000),
        ("I6", 5, ANC, 50), ("I6", 19, ANC, 1000),                                # <= 100 14 days -> 4
        # I7: <= 500 at every result (7, 14, 28), the first by day 7: never above 500 -> 4
        ("I7", 7, ANC, 300), ("I7", 14, ANC, 200), ("I7", 28, ANC, 400),
        # I8: the same from day 8: not seen from the start; 8..30 = 23 days -> 3
        ("I8", 8, ANC, 300), ("I8", 14, ANC, 200), ("I8", 28, ANC, 400),
        # I9: 5-9 and 12-19 with a 2-day recovery (10, 11) between: joined, 5..19 = 15 days -> 3
        ("I9", 5, ANC, 400), ("I9", 10, ANC, 600), ("I9", 12, ANC, 400), ("I9", 20, ANC, 1000),
        # I10: 2-5 (4 days), a stable recovery 6-15, then 16-21 (6 days): total 10 -> 2 (longest 6 -> 1)
        ("I10", 2, ANC, 400), ("I10", 6, ANC, 1000), ("I10", 16, ANC, 400), ("I10", 22, ANC, 1000),
        ("I11", 60, ANC, 3000),                                                    # none in 0-30: NE
        # I12: <= 500 at 7 and 14 and dead at 16 without recovery -> 4 (7..16 = 10 days)
        ("I12", 7, ANC, 300), ("I12", 14, ANC, 300),
        # late: I1 60: 1400, 90: 2000, 180: 1200 -> grade 1; I13: 90 is after its relapse (70) -> only
        # the 60 result (2000) -> 0
        ("I1", 60, ANC, 1400), ("I1", 90, ANC, 2000), ("I1", 180, ANC, 1200),
        ("I13", 7, ANC, 1000), ("I13", 60, ANC, 2000), ("I13", 90, ANC, 300),
    ]
    return make_study(pts, a)


def test_icaht_on_the_grid_by_hand():
    g = P.icaht_grades(icaht_cohort())
    early = by_id(g, "early")
    assert {k: early[k] for k in early if not math.isnan(early[k])} == {
        "I1": 1, "I2": 2, "I3": 2, "I4": 3, "I5": 3, "I6": 4, "I7": 4, "I8": 3, "I9": 3, "I10": 2, "I12": 4,
        "I13": 0}
    assert math.isnan(early["I11"])
    d500, d100 = by_id(g, "days_500"), by_id(g, "days_100")
    assert (d500["I1"], d500["I5"], d100["I5"], d500["I7"], d500["I8"], d500["I9"], d500["I10"], d500["I12"]) == \
        (6, 10, 7, 24, 23, 15, 10, 10)
    late = by_id(g, "late")
    assert late["I1"] == 1 and late["I13"] == 0 and late["I11"] == 0 and math.isnan(late["I2"])
    longest = by_id(P.icaht_grades(icaht_cohort(), P.PersistenceOptions(icaht_duration="longest")), "early")
    assert longest["I10"] == 1 and longest["I9"] == 3


def test_cytopenia_table_counts_grades():
    t = P.haematological_recovery(icaht_cohort()).cytopenia_table()
    assert t["early"]["overall"] == {"0": 1, "1": 1, "2": 3, "3": 4, "4": 3, "NE": 1}
    # late: I1 grade 1, I11 and I13 grade 0 (one result > 1500 each), the 10 others have no result
    assert t["late"]["overall"] == {"0": 2, "1": 1, "2": 0, "3": 0, "4": 0, "NE": 10}


# ------------------------------------------------------------------------------------------------
# CAR transgene

def car_cohort():
    pts = [{"patient_id": f"C{i}", "last_contact_day": 365} for i in range(1, 7)]
    a = [("C1", 7, CAR, 999), ("C1", 14, CAR, 99), ("C1", 28, CAR, 9), ("C1", 60, CAR, 0), ("C1", 90, CAR, 0),
         # C2: the isolated undetectable day 14 does not count; lost at 90 after detectable 60
         ("C2", 7, CAR, 999), ("C2", 14, CAR, 0), ("C2", 28, CAR, 99), ("C2", 60, CAR, 99), ("C2", 90, CAR, 0),
         ("C2", 180, CAR, 0),
         # C3: undetectable only on the last result: not lost, right-censored at 14
         ("C3", 7, CAR, 999), ("C3", 14, CAR, 99), ("C3", 28, CAR, 0),
         # C4: never detectable: lost in (0, 7]
         ("C4", 7, CAR, 0), ("C4", 14, CAR, 0),
         # C6: reinfused at 50: later results not used -> right-censored at 28
         ("C6", 7, CAR, 999), ("C6", 28, CAR, 99), ("C6", 60, CAR, 0), ("C6", 90, CAR, 0)]
    return make_study(pts, a, [("C6", "car_t_reinfusion", 50, 50)])


def test_car_kinetics_by_hand():
    k = P.car_kinetics(car_cohort())
    assert list(k.patient_id) == ["C1", "C2", "C3", "C4", "C6"]                 # C5 has no result
    # C1: log10(copies + 1) = 3, 2, 1 at days 7, 14, 28: AUC = 7 (3 + 2)/2 + 14 (2 + 1)/2 = 38.5
    assert by_id(k, "auc")["C1"] == pytest.approx(38.5)
    assert (by_id(k, "peak")["C1"], by_id(k, "peak_day")["C1"]) == (999, 7)
    assert by_id(k, "left") == {"C1": 28, "C2": 60, "C3": 14, "C4": 0, "C6": 28}
    assert by_id(k, "right") == {"C1": 60, "C2": 90, "C3": np.inf, "C4": 7, "C6": np.inf}
    # a limit of detection of 50 copies: C1's 9 copies at 28 start the loss, after 14
    k50 = P.car_kinetics(car_cohort(), P.PersistenceOptions(car_lod=50))
    assert (by_id(k50, "left")["C1"], by_id(k50, "right")["C1"]) == (14, 28)


def test_loss_of_persistence_turnbull_and_midpoint_by_hand():
    r = P.car_persistence(car_cohort())
    # intervals (28,60], (60,90], (14,inf), (0,7], (28,inf): mass on (0,7], (28,60], (60,90];
    # L = p1 p2 p3 (p2 + p3)^2 with p2 = p3 = q, p1 = 1 - 2q: max of (1 - 2q) q^4 at q = 0.4:
    # S = 0.8 after 7, 0.4 after 60, 0 after 90; R's curve drops at the midpoints 3.5, 44, 75: median 44
    tb = r.turnbull["overall"]
    assert tb.at([7, 60, 90]).survival == pytest.approx([0.8, 0.4, 0.0], abs=1e-8)
    assert tb.median == pytest.approx(44)
    # midpoint Kaplan-Meier: events 3.5, 44, 75, censored 14, 28: S(3.5) = 4/5, S(44) = 4/5 * 1/2
    mk = r.midpoint["overall"]
    assert mk.at([50]).survival[0] == pytest.approx(0.4) and mk.median.value == 44
    d = r.to_dict()
    assert d["summary"]["overall"]["lost"] == 3 and d["patients"][0]["auc_log10"] == pytest.approx(38.5)
    assert d["loss_turnbull"]["overall"]["median"] == pytest.approx(44)


# ------------------------------------------------------------------------------------------------
# options, definitions, groups, JSON

def test_definitions_follow_the_options():
    text = " ".join(P.definitions(P.PersistenceOptions(b_cell_pct=2, car_lod=20, platelet_recovery=(30000,))))
    assert ">= 2% of lymphocytes" in text and "(20 copies/ug)" in text and ">= 30,000/uL" in text
    assert "transfusion independence cannot be checked" in " ".join(P.definitions())
    assert "Rejeski et al., Blood 2023" in " ".join(P.definitions())


@pytest.mark.parametrize("kw", [{"b_cell_consecutive": 0}, {"b_cell_pct": -1}, {"icaht_duration": "max"},
                                {"late_icaht_end": 20}, {"auc_window": (28, 0)}, {"further_therapy": ("ivig",)},
                                {"landmarks": ()}, {"conf_type": "logit"}])
def test_bad_options(kw):
    with pytest.raises(InvalidInputError):
        P.PersistenceOptions(**kw)


def test_group_length_is_checked():
    with pytest.raises(InvalidInputError, match="group"):
        P.aplasia(b_cell_cohort(), ["a", "b"])
    with pytest.raises(InvalidInputError, match="no column"):
        P.aplasia(b_cell_cohort(), "stage")


def test_group_by_column_name():
    s = demo_study()
    by_name = P.aplasia(s, "burden").to_dict()
    assert by_name == P.aplasia(s, s.cohort.data["burden"]).to_dict()
    assert P.analyse(s, "burden").group_name == "burden"


def test_demo_study_json_is_plain():
    s = demo_study()
    r = P.analyse(s, s.cohort.data["burden"], group_name="burden")
    text = json.dumps(r.to_dict(), allow_nan=False)
    d = json.loads(text)
    assert set(d["aplasia"]["aplasia_km"]["groups"]) == {"high", "low"}
    assert d["aplasia"]["gray"]["causes"] == [1, 2, 3, 4]
    assert len(d["definitions"]) == len(P.definitions())
    # every patient counted once in the cytopenia tables
    for when in ("early", "late"):
        assert sum(d["blood_counts"]["cytopenias"][when]["overall"].values()) == s.cohort.n


def test_missing_group_labels_stay_in_overall():
    s = demo_study()
    g = s.cohort.data["burden"].astype(object).copy()
    g.iloc[:5] = None
    d = P.aplasia(s, g).to_dict()["aplasia_km"]
    assert d["overall"]["n"] == s.cohort.n
    assert sum(v["n"] for v in d["groups"].values()) == s.cohort.n - 5


# ------------------------------------------------------------------------------------------------
# against R (tests/reference/persistence.R)

G = golden("persistence")
STUDIES = {"demo": demo_study, "replicates": demo_replicates}


def test_reference_rows_are_what_the_module_derives():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).parent / "reference" / "persistence_rows.py"
    spec = importlib.util.spec_from_file_location("persistence_rows", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    now = mod.build()
    committed = pd.read_csv(mod.OUT, keep_default_na=False, na_values=["NA"])
    assert list(now.columns) == list(committed.columns)
    for c in now.columns:
        if now[c].dtype.kind in "fi":
            np.testing.assert_array_equal(now[c].to_numpy(float), committed[c].to_numpy(float), err_msg=c)
        else:
            assert now[c].astype(str).tolist() == committed[c].astype(str).tolist(), c


def _curves(ref):
    return {(c["group"], c["cause"]): c for c in ref["curves"]}


@pytest.mark.parametrize("name", list(STUDIES))
def test_aplasia_against_r(name):
    s, ref = STUDIES[name](), G[name]
    r = P.aplasia(s, s.cohort.data["burden"])
    for label, km_ref in ref["aplasia_km"].items():
        km = r.km["overall"] if label == "overall" else r.km["groups"][label]
        t = km_ref["table"]
        for ours, theirs in (("time", "time"), ("n_risk", "n_risk"), ("n_event", "n_event"), ("survival", "survival"),
                             ("std_err", "std_err"), ("ci_lower", "lower"), ("ci_upper", "upper")):
            assert_close(getattr(km, ours), t[theirs], what=f"{name} {label} {ours}")
        at = km_ref["at"]
        mine = km.at(arr(at["day"]))
        for ours, theirs in (("survival", "survival"), ("std_err", "std_err"), ("ci_lower", "lower"),
                             ("ci_upper", "upper"), ("n_risk", "n_risk")):
            assert_close(getattr(mine, ours), at[theirs], what=f"{name} {label} at {ours}")
        assert_close([km.median.value, km.median.lower, km.median.upper], km_ref["median"], what="median")
    assert_close(r.logrank.statistic, ref["logrank"])
    # cumulative incidence: values and variances at the report days, overall and by burden
    days = arr(ref["recovery_cif"]["overall"]["days"])
    for key, which in (("overall", None), ("groups", "g")):
        for (grp, cause), c in _curves(ref["recovery_cif"][key]).items():
            ci = r.cif["overall"] if which is None else r.cif["groups"][grp]
            at = ci.at(days, cause=cause)
            assert_close(at.estimate, c["estimate"], what=f"{name} {grp} cause {cause} estimate")
            assert_close(at.variance, c["variance"], what=f"{name} {grp} cause {cause} variance")
    gray = ref["recovery_cif"]["groups"]["gray"]
    assert list(r.gray.causes) == gray["cause"]
    assert_close(r.gray.statistic, gray["statistic"], what="Gray statistic")
    assert_close(r.gray.p_value, gray["p_value"], what="Gray p")


@pytest.mark.parametrize("name", list(STUDIES))
def test_blood_count_recovery_against_r(name):
    s, ref = STUDIES[name](), G[name]
    h = P.haematological_recovery(s, s.cohort.data["burden"])
    for key, ours in (("anc", "neutrophils_500"), ("plt20", "platelets_20000"), ("plt50", "platelets_50000")):
        for part in ("overall", "groups"):
            r_ref = ref["counts"][key][part]
            days = arr(r_ref["days"])
            for (grp, cause), c in _curves(r_ref).items():
                fit = h.cif[ours]["overall"] if part == "overall" else h.cif[ours]["groups"][grp]
                at = fit.at(days, cause=cause)
                assert_close(at.estimate, c["estimate"], what=f"{name} {key} {grp} {cause}")
                assert_close(at.variance, c["variance"], what=f"{name} {key} {grp} {cause} var")
        g_ref = ref["counts"][key]["groups"]["gray"]
        gray, err = h.gray[ours]
        assert err is None
        assert_close(gray.statistic, g_ref["statistic"], what=f"{name} {key} Gray")


@pytest.mark.parametrize("name", list(STUDIES))
def test_time_dependent_cox_against_r(name):
    s, ref = STUDIES[name](), G[name]["cox"]
    r = P.relapse_by_recovery(s, s.cohort.data["burden"])
    rows = r.rows.rows.sort_values(["id", "tstart"], kind="stable")
    assert len(rows) == ref["n_rows"]
    assert rows["id"].tolist() == ref["rows"]["id"]
    for ours, theirs in (("tstart", "tstart"), ("tstop", "tstop"), ("event", "event"), ("recovered", "recovered")):
        np.testing.assert_array_equal(rows[ours].to_numpy(float), arr(ref["rows"][theirs]), err_msg=ours)
    fit = r.cox["overall"]
    if ref["se"] > 1e3:
        # R's "Loglik converged before variable 1; beta may be infinite" (no relapse after a recovery):
        # R prints a coefficient near -18 with a standard error in the thousands; ltfu refuses to give
        # a number to an infinite coefficient and says why (a deliberate difference, README)
        assert fit is None and "infinite" in r.cox_errors["overall"]
        return
    assert_close(fit.coef, ref["coef"], what="coef")
    assert_close(fit.se, ref["se"], rtol=1e-5, what="se")
    assert_close(fit.loglik, ref["loglik"], what="loglik")
    assert_close(fit.score_test.statistic, ref["score"], what="score")
    assert_close(fit.lr_test.statistic, ref["lr"], what="LR")
    assert_close(fit.wald_test.statistic, ref["wald"], rtol=1e-5, what="Wald")
    assert_close([fit.hr_lower[0], fit.hr_upper[0]], ref["hr_ci"], rtol=1e-5, what="HR limits")
    assert (fit.n_events, fit.n) == (ref["nevent"], ref["n_rows"])


@pytest.mark.parametrize("name", list(STUDIES))
def test_landmarks_against_r(name):
    s, ref = STUDIES[name](), G[name]["landmarks"]
    r = P.relapse_by_recovery(s)
    for lm_ref in ref:
        lm = r.landmarks[float(lm_ref["day"])]["overall"]
        assert (lm.n, lm.n_exposed) == (lm_ref["n"], lm_ref["n_exposed"])
        stat = np.nan if lm.test is None else lm.test.statistic
        assert_close(stat, lm_ref["chisq"], what=f"landmark {lm_ref['day']}")


def test_per_patient_frames_have_every_array_field_in_order():
    """B-cell and count recovery, CAR kinetics and ICAHT grades as frames: one column per declared
    per-patient array (the scalar settings of a count recovery are not columns), in declared order."""
    from dataclasses import fields

    from ltfu.demo import load_demo_study
    from ltfu.persistence import icaht, rules

    study = load_demo_study()
    results = [rules.b_cell_recovery(study), rules.count_recovery(study, "anc_per_ul", 500),
               rules.car_kinetics(study), icaht.icaht_grades(study)]
    for r in results:
        arrays = [f.name for f in fields(r) if f.name not in ("test", "threshold", "consecutive")]
        extra = ["lost"] if isinstance(r, rules.CarKinetics) else []
        frame = r.to_frame()
        assert list(frame.columns) == arrays + extra, type(r).__name__
        assert len(frame) == len(r.patient_id)

"""ltfu adam on data a bad-input hunt found mishandled: missing or misspelt --by values, PARAMCD
case variants, subjects without records, warnings never shown, empty or unreadable datasets,
variables that collide once upper-cased, AVAL against the dates, several PARAM labels."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from ltfu import stats
from ltfu.analysis.adam import AdamOptions, analyse_adam
from ltfu.cli import app
from ltfu.cohort.adam import load_adam
from ltfu.errors import DataError

RNG = np.random.default_rng(11)
N = 40
IDS = [f"S{i:03d}" for i in range(N)]
ARM = np.array(["A", "B"] * (N // 2), dtype=object)
TIME = np.round(RNG.exponential(300, N)) + 1
CNSR = (RNG.random(N) < 0.3).astype(int)


def _write(tmp_path, adsl=None, adtte=None):
    adsl = pd.DataFrame({"USUBJID": IDS, "ARM": ARM}) if adsl is None else adsl
    adtte = pd.DataFrame({"USUBJID": IDS, "PARAMCD": "OS", "PARAM": "Overall survival", "AVAL": TIME,
                          "CNSR": CNSR}) if adtte is None else adtte
    a, t = tmp_path / "adsl.csv", tmp_path / "adtte.csv"
    adsl.to_csv(a, index=False)
    adtte.to_csv(t, index=False)
    return a, t


def _codes(exc_info):
    return sorted(p.code for p in exc_info.value.problems)


def test_subjects_without_a_by_value_are_left_out_of_the_comparison(tmp_path):
    """R's survdiff drops subjects whose group is NA: the log-rank test is that of the others."""
    arm = ARM.copy()
    arm[:6] = ["", " ", "NA", "nan", None, ""]
    data = load_adam(*_write(tmp_path, adsl=pd.DataFrame({"USUBJID": IDS, "ARM": arm})))
    res = analyse_adam(data, data.endpoints, AdamOptions(by="ARM"))
    os_ = res.numbers["parameters"]["OS"]
    assert set(os_["groups"]) == {"all", "ARM=A", "ARM=B"} and os_["without_ARM"] == 6
    expected = stats.logrank(TIME[6:], 1 - CNSR[6:], ARM[6:])
    assert os_["logrank"]["p_value"] == pytest.approx(expected.p_value, rel=1e-12)
    assert os_["groups"]["all"]["n"] == N                       # the overall curve keeps everyone
    notes = " ".join(res.table("adam_OS").notes)
    assert "6 subject(s) without a value of ARM" in notes


def test_by_values_are_stripped_and_case_variants_refused(tmp_path):
    arm = ARM.copy()
    arm[0] = " A "
    a, t = _write(tmp_path, adsl=pd.DataFrame({"USUBJID": IDS, "ARM": arm}))
    data = load_adam(a, t)
    assert set(data.covariates["ARM"]) == {"A", "B"}
    arm[1] = "a"
    a, t = _write(tmp_path, adsl=pd.DataFrame({"USUBJID": IDS, "ARM": arm}))
    result = CliRunner().invoke(app, ["adam", str(a), str(t), "--by", "ARM"])
    assert result.exit_code == 1 and "differ only by upper/lower case" in result.output


@pytest.mark.parametrize("values", [["A"] * N, [""] * N, ["A"] * 10 + [""] * (N - 10)])
def test_a_by_variable_without_two_groups_is_a_usage_error(tmp_path, values):
    a, t = _write(tmp_path, adsl=pd.DataFrame({"USUBJID": IDS, "ARM": values}))
    result = CliRunner().invoke(app, ["adam", str(a), str(t), "--by", "ARM"])
    assert result.exit_code == 2 and "no groups to compare" in result.output


def test_paramcd_case_variants_are_an_error(tmp_path):
    adtte = pd.DataFrame({"USUBJID": IDS, "PARAMCD": ["os"] + ["OS"] * (N - 1), "AVAL": TIME, "CNSR": CNSR})
    with pytest.raises(DataError) as exc:
        load_adam(*_write(tmp_path, adtte=adtte))
    [p] = exc.value.problems
    assert (p.code, p.row, p.value) == ("ADAM_PARAMCD_CASE", 2, "os")


def test_adsl_subjects_without_a_record_are_counted(tmp_path):
    adtte = pd.DataFrame({"USUBJID": IDS[:30], "PARAMCD": "OS", "AVAL": TIME[:30], "CNSR": CNSR[:30]})
    a, t = _write(tmp_path, adtte=adtte)
    data = load_adam(a, t)
    res = analyse_adam(data, data.endpoints, AdamOptions())
    assert res.numbers["parameters"]["OS"]["adsl_subjects_without_record"] == 10
    assert "10 of the 40 ADSL subjects have no OS record" in " ".join(res.table("adam_OS").notes)
    assert "OS: 10 of the 40 ADSL subjects have no record" in CliRunner().invoke(app, ["adam", str(a), str(t)]).output


def test_warnings_are_shown_and_reported(tmp_path):
    ids = [*IDS[:-1], IDS[0].lower()]
    a, t = _write(tmp_path, adsl=pd.DataFrame({"USUBJID": ids, "ARM": ARM}),
                  adtte=pd.DataFrame({"USUBJID": ids, "PARAMCD": "OS", "AVAL": TIME, "CNSR": CNSR}))
    data = load_adam(a, t)
    res = analyse_adam(data, data.endpoints, AdamOptions())
    assert [w.split(" ")[0] for w in res.warnings] == ["ID_CASE_VARIANT"]
    assert res.numbers["data"]["validation_warnings"] == list(res.warnings)
    assert "ID_CASE_VARIANT" in CliRunner().invoke(app, ["adam", str(a), str(t)]).output


def test_empty_and_unreadable_datasets(tmp_path):
    a, t = _write(tmp_path, adtte=pd.DataFrame(columns=["USUBJID", "PARAMCD", "AVAL", "CNSR"]))
    with pytest.raises(DataError) as exc:
        load_adam(a, t)
    assert _codes(exc) == ["EMPTY_TABLE"]
    a, t = _write(tmp_path, adsl=pd.DataFrame(columns=["USUBJID", "ARM"]))
    with pytest.raises(DataError) as exc:
        load_adam(a, t)
    assert _codes(exc) == ["EMPTY_TABLE"]                       # not one unknown subject per ADTTE row
    bad = pd.DataFrame({"USUBJID": IDS, "PARAMCD": "OS", "AVAL": TIME, "CNSR": CNSR}).astype({"CNSR": object})
    bad.loc[3, "CNSR"] = "Y"
    a, t = _write(tmp_path, adtte=bad)
    a.write_bytes(b"")
    with pytest.raises(DataError) as exc:
        load_adam(a, t)
    assert _codes(exc) == ["ADAM_UNREADABLE", "BAD_CODE"]        # the other dataset still checked
    result = CliRunner().invoke(app, ["adam", str(a), str(t), "--format", "json"])
    assert result.exit_code == 1
    assert sorted(p["code"] for p in json.loads(result.stdout)) == ["ADAM_UNREADABLE", "BAD_CODE"]


def test_variables_that_collide_once_upper_cased(tmp_path):
    a, t = _write(tmp_path, adsl=pd.DataFrame({"USUBJID": IDS, "ARM": ARM, "arm": ARM}))
    with pytest.raises(DataError) as exc:
        load_adam(a, t)
    [p] = exc.value.problems
    assert (p.code, p.field, p.value) == ("DUPLICATE_COLUMN", "ADSL.ARM", "arm")


def test_aval_is_checked_against_the_dates(tmp_path):
    adtte = pd.DataFrame({"USUBJID": IDS, "PARAMCD": "OS", "AVAL": 31.0, "CNSR": CNSR,
                          "STARTDT": "2016-01-01", "ADT": "2016-01-31"})
    adtte.loc[1, "ADT"] = "2015-12-01"                           # before STARTDT, AVAL given
    adtte.loc[2, "AVAL"] = 300.0                                 # 300 days against 31
    adtte.loc[3, "AVAL"] = 30.0                                  # ADT - STARTDT, within a day: fine
    with pytest.raises(DataError) as exc:
        load_adam(*_write(tmp_path, adtte=adtte))
    found = sorted((p.code, p.row) for p in exc.value.problems)
    assert found == [("ADAM_AVAL_DATES", 4), ("DATE_BEFORE_INFUSION", 3)]


def test_several_param_labels_warn_and_the_most_frequent_is_used(tmp_path):
    adtte = pd.DataFrame({"USUBJID": IDS, "PARAMCD": "EFS", "PARAM": ["Progression-free survival"]
                          + ["Event-free survival"] * (N - 1), "AVAL": TIME, "CNSR": CNSR})
    data = load_adam(*_write(tmp_path, adtte=adtte))
    assert data.endpoints["EFS"].param == "Event-free survival"
    [p] = [p for p in data.problems if p.code == "ADAM_PARAM_LABELS"]
    assert "'Progression-free survival' (1 row)" in p.message


def test_none_is_an_adsl_value(tmp_path):
    """NONE (a bridging therapy of none) is a group, as in the patient table's fields where none is
    an answer; NA is missing (a review found NONE dropped from the comparison)."""
    bridge = np.array(["NONE", "CHEMO"] * (N // 2), dtype=object)
    bridge[0] = "NA"
    data = load_adam(*_write(tmp_path, adsl=pd.DataFrame({"USUBJID": IDS, "BRIDGE": bridge})))
    res = analyse_adam(data, data.endpoints, AdamOptions(by="BRIDGE"))
    assert set(res.numbers["parameters"]["OS"]["groups"]) == {"all", "BRIDGE=CHEMO", "BRIDGE=NONE"}
    assert res.numbers["parameters"]["OS"]["without_BRIDGE"] == 1


def test_duplicates_are_said_in_adam_words(tmp_path):
    adsl = pd.DataFrame({"USUBJID": [*IDS[:-1], IDS[0]], "ARM": ARM})
    adtte = pd.DataFrame({"USUBJID": [*IDS[:-1], IDS[0]], "PARAMCD": "OS", "AVAL": TIME, "CNSR": CNSR})
    with pytest.raises(DataError) as exc:
        load_adam(*_write(tmp_path, adsl=adsl, adtte=adtte))
    texts = {(p.field, p.message, p.fix) for p in exc.value.problems if p.code == "DUPLICATE_ID"}
    assert all("patient" not in m + f for _, m, f in texts) and {f for f, _, _ in texts} == \
        {"ADSL.USUBJID", "ADTTE.USUBJID+PARAMCD"}


def test_an_id_repeated_once_invisible_characters_are_ignored_is_said_in_adam_words(tmp_path):
    """S000 and S000 with a zero-width space: the same subject (DUPLICATE_ID), fixed in ADSL's words."""
    adsl = pd.DataFrame({"USUBJID": [*IDS[:-1], IDS[0] + "\u200b"], "ARM": ARM})
    with pytest.raises(DataError) as exc:
        load_adam(*_write(tmp_path, adsl=adsl))
    dups = [p for p in exc.value.problems if p.code == "DUPLICATE_ID" and p.field == "ADSL.USUBJID"]
    assert [p.row for p in dups] == [2, N + 1] and "invisible characters" in dups[1].message
    assert all(p.fix.startswith("one row per subject in ADSL") for p in dups)


def test_a_blank_unit_among_months_is_a_warning(tmp_path):
    adtte = pd.DataFrame({"USUBJID": IDS, "PARAMCD": "OS", "AVAL": TIME / 30.4375, "CNSR": CNSR,
                          "AVALU": ["MONTHS"] * (N - 3) + [""] * 3})
    data = load_adam(*_write(tmp_path, adtte=adtte))
    [p] = [p for p in data.problems if p.code == "ADAM_AVALU_BLANK"]
    assert p.message.startswith("3 row(s)") and "MONTHS" in p.message
    np.testing.assert_allclose(data.endpoints["OS"].time[-3:], TIME[-3:] / 30.4375)   # read as days
    same = adtte.assign(AVALU="")                                   # no unit anywhere: days, no warning
    assert not [p for p in load_adam(*_write(tmp_path, adtte=same)).problems if p.code == "ADAM_AVALU_BLANK"]

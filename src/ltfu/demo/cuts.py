"""Three SYNTHETIC earlier data cuts of the demonstration study (not patient data).

Each cut is the demonstration study as it could have looked at an earlier cut-off date: only the
patients infused by then, every date after the cut-off unknown (a later death, relapse, response,
transplant, event, visit or therapy not yet happened), the last contact at most the cut-off, events
and therapies still ongoing at the cut-off left open, and the cut-off date itself as
``data_cutoff_date``.  A later cut therefore only adds follow-up (maturation), with ONE deliberate
exception: in the first cut one patient's relapse is recorded :data:`CORRECTION_DAYS` days too
early, and the second cut corrects it, as a data-management query would.  ``ltfu study diff``
between the first two cuts flags exactly that (a relapse date moved before the earlier cut-off);
no other pair of consecutive cuts has a retroactive change.

    write_demo_cuts("cuts/")   # cuts/cut1_2014-06-30/ ... one folder of CSV files per cut
    demo_cut_studies()         # [(cut date, label, validated Study)], oldest first

The study as packaged (``load_demo_study``, cut-off 2016-12-01) is the latest state; these cuts
precede it.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

#: (cut date, label): a yearly cut in the last three years of accrual, before the packaged cut-off
CUTS = (("2014-06-30", "SYNTHETIC demo cut 1"), ("2015-06-30", "SYNTHETIC demo cut 2"),
        ("2016-06-30", "SYNTHETIC demo cut 3"))
CORRECTION_DAYS = 21
NOTE = ("SYNTHETIC earlier data cut of the ltfu demonstration study (cut-off {date}): not patient data. "
        "{correction}")

_PATIENT_DATES = ("death_date", "response_date", "relapse_date", "allo_hct_date")


def _censor_patients(p: pd.DataFrame, cut: str) -> pd.DataFrame:
    """The patient table as known at ``cut`` (ISO date strings, empty for unknown)."""
    p = p[p["infusion_date"] <= cut].copy()
    unassessed = (p["response_date"] != "") & (p["response_date"] > cut)     # the response known after the cut
    for c in _PATIENT_DATES:
        late = (p[c] != "") & (p[c] > cut)
        p.loc[late, c] = ""
    p.loc[p["relapse_date"] == "", "relapse_cd19"] = ""
    for c in ("best_response", "mrd_negative"):
        p.loc[unassessed, c] = ""
    p["last_contact_date"] = np.where(p["last_contact_date"] > cut, cut, p["last_contact_date"])
    p["data_cutoff_date"] = cut
    p.loc[(p["death_date"] == "") & (p["crs_death"] == "yes"), "crs_death"] = ""     # the death not yet happened
    return p.reset_index(drop=True)


def _censor_rows(df: pd.DataFrame, ids, start: str, end: str | None, cut: str, *, open_outcome=False):
    """Rows of the patients ``ids`` that started by ``cut``; an end after the cut becomes unknown."""
    dates = df[start].astype(str)
    out = df[df["patient_id"].isin(ids) & (dates <= cut)].copy()
    if end is not None:
        later = out[end].notna() & (out[end].astype(str) > cut)
        out.loc[later, end] = None
        if open_outcome:
            out.loc[later, "outcome"] = "ongoing"
    return out.reset_index(drop=True)


def _correction_patient(p: pd.DataFrame, cut: str):
    """The patient whose relapse the first cut records too early: the first (by id) relapsing well
    before the cut, long enough after the response that the earlier date is still after it."""
    rel = pd.to_datetime(p["relapse_date"].replace("", None))
    resp = pd.to_datetime(p["response_date"].replace("", None))
    ok = rel.notna() & resp.notna() & (rel - resp > pd.Timedelta(days=CORRECTION_DAYS + 14)) & \
        (rel < pd.Timestamp(cut) - pd.Timedelta(days=60))
    return p.loc[ok, "patient_id"].sort_values().iloc[0]


def demo_cut_tables() -> list[tuple[str, str, dict]]:
    """[(cut date, label, {table: DataFrame with ISO dates})] for the three cuts, oldest first."""
    from ltfu.demo import demo_study_tables

    full = demo_study_tables()
    patients = full["patients"].fillna("")
    out = []
    fixed = None
    for k, (cut, label) in enumerate(CUTS):
        p = _censor_patients(patients, cut)
        ids = set(p["patient_id"])
        tables = {"patients": p,
                  "events": _censor_rows(full["events"], ids, "onset_date", "resolution_date", cut,
                                         open_outcome=True),
                  "assessments": _censor_rows(full["assessments"], ids, "date", None, cut),
                  "therapies": _censor_rows(full["therapies"], ids, "start_date", "end_date", cut)}
        if k == 0:       # the deliberate error, corrected from the second cut on
            fixed = _correction_patient(p, cut)
            i = p.index[p["patient_id"] == fixed][0]
            wrong = pd.Timestamp(p.at[i, "relapse_date"]) - pd.Timedelta(days=CORRECTION_DAYS)
            p.at[i, "relapse_date"] = str(wrong.date())
        out.append((cut, label, tables))
    return out


def correction() -> dict:
    """The deliberate retroactive correction: which patient, field, cuts, and the two dates."""
    tables = demo_cut_tables()
    p1, p2 = tables[0][2]["patients"], tables[1][2]["patients"]
    pid = next(i for i, a, b in zip(p1["patient_id"], p1["relapse_date"],
                                    p2.set_index("patient_id").loc[p1["patient_id"], "relapse_date"]) if a != b)
    return {"patient_id": pid, "field": "relapse_date", "cut_a": CUTS[0][0], "cut_b": CUTS[1][0],
            "recorded": p1.set_index("patient_id").at[pid, "relapse_date"],
            "corrected": p2.set_index("patient_id").at[pid, "relapse_date"]}


def _note(cut: str, k: int) -> str:
    fix = {0: f"One relapse date in this cut is deliberately {CORRECTION_DAYS} days early; the next cut corrects it.",
           1: "This cut corrects the relapse date recorded too early in the first cut."}.get(k, "")
    return NOTE.format(date=cut, correction=fix).strip()


def write_demo_cuts(folder) -> list[tuple[str, str, Path]]:
    """Write each cut as a folder of CSV files (each opening with a comment saying it is synthetic)
    under ``folder`` (created; must be new or empty): [(cut date, label, cut folder)]."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if any(folder.iterdir()):
        raise FileExistsError(f"{folder} is not empty")
    out = []
    for k, (cut, label, tables) in enumerate(demo_cut_tables()):
        d = folder / f"cut{k + 1}_{cut}"
        d.mkdir()
        for name, df in tables.items():
            with open(d / f"{name}.csv", "w", encoding="utf-8", newline="") as fh:
                fh.write(f"# {_note(cut, k)}\n")
                df.to_csv(fh, index=False)
        out.append((cut, label, d))
    return out


def demo_cut_studies(*, burden_threshold=None) -> list[tuple[str, str, object]]:
    """[(cut date, label, Study)]: each cut written to a temporary folder and read back through the
    loader and validation every export goes through (as ``load_demo_study`` does), cut date as cut-off."""
    import tempfile

    from ltfu.defaults import BURDEN_THRESHOLD
    from ltfu.study import load_study

    thr = BURDEN_THRESHOLD if burden_threshold is None else burden_threshold
    with tempfile.TemporaryDirectory() as d:
        return [(cut, label, load_study(path, cutoff=dt.date.fromisoformat(cut), burden_threshold=thr))
                for cut, label, path in write_demo_cuts(Path(d) / "cuts")]

#!/usr/bin/env python3
"""Time the study store at registry scale and write benchmarks/STORE.md.

    PYTHONPATH=src .venv/bin/python benchmarks/store.py [--patients 100000] [--cuts 20]

A SYNTHETIC registry (``ltfu.simulate``: patients; here also adverse events, assessments and
therapies made from it, vectorised) is cut at ``--cuts`` quarterly dates ending at its cut-off:
each cut holds the patients infused by then, every date after it unknown, follow-up to it, and
(from the second cut on) a few deliberate corrections (death dates moved) so that the diff has
retroactive flags to find.  Each cut is written as a folder of Parquet files and added with
``ltfu.store.add_cut`` (validation included).  Measured: every add, the diff of each consecutive
pair, and the maturity section on every cut (the patient and event tables read from the store, as
``ltfu report STORE`` reads them for this section, then ``ltfu.analysis.maturity.build``).
Targets (issue 19): add < 30 s, diff < 10 s, maturity < 60 s.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
TARGETS = {"add": 30.0, "diff": 10.0, "maturity": 60.0}


def longitudinal(p: pd.DataFrame, seed: int) -> dict:
    """Events, assessments and therapies for the simulated patients (dates as datetime64[D])."""
    rng = np.random.default_rng(seed)
    inf = p["infusion_date"].to_numpy("datetime64[D]")
    end = np.minimum(p["last_contact_date"].to_numpy("datetime64[D]"), p["data_cutoff_date"].to_numpy("datetime64[D]"))
    fu = (end - inf).astype(int)
    ids = p["patient_id"].to_numpy()
    # adverse events: about one in two patients, onset uniform over follow-up
    n_ev = rng.poisson(0.5, len(p))
    i = np.repeat(np.arange(len(p)), n_ev)
    onset = np.floor(rng.random(i.size) * (fu[i] + 1)).astype(int)
    cat = rng.choice(["infection", "neurological", "haematological", "second_primary_malignancy"], i.size,
                     p=[0.6, 0.15, 0.2, 0.05])
    sub = np.where(cat == "infection", "viral", np.where(cat == "second_primary_malignancy", "solid", None))
    res = onset + rng.integers(5, 60, i.size)
    events = pd.DataFrame({"patient_id": ids[i], "term": np.char.add("Event ", (np.arange(i.size) % 7).astype(str)),
                           "category": cat, "subtype": sub, "onset_date": inf[i] + onset,
                           "resolution_date": np.where(res <= fu[i], inf[i] + res, np.datetime64("NaT")),
                           "grade": rng.integers(1, 4, i.size),
                           "serious": np.where(rng.random(i.size) < 0.3, "yes", "no")})
    events = events.drop_duplicates(["patient_id", "term", "onset_date"])
    # assessments: B cells and IgG at day 28, 90, 180, 365, then yearly while followed
    visits = np.array([28, 90, 180, 365, 730, 1095, 1461, 1826])
    pi, vi = np.nonzero(visits[None, :] <= fu[:, None])
    k = pi.size
    a1 = pd.DataFrame({"patient_id": ids[pi], "date": inf[pi] + visits[vi], "test": "b_cells_per_ul",
                       "value": np.round(np.minimum(rng.lognormal(4, 1, k), 3000), 1), "unit": "cells/uL"})
    a2 = a1.assign(test="igg_g_per_l", value=np.round(rng.lognormal(1.8, 0.3, k), 2), unit="g/L")
    assessments = pd.concat([a1, a2], ignore_index=True)
    # therapies: the transplants of the patient table, and IVIG in a quarter of patients
    hct = p["allo_hct_date"].to_numpy("datetime64[D]")
    h = ~np.isnat(hct)
    iv = (rng.random(len(p)) < 0.25) & (fu > 120)
    therapies = pd.concat([
        pd.DataFrame({"patient_id": ids[h], "type": "allo_hct", "start_date": hct[h], "end_date": hct[h]}),
        pd.DataFrame({"patient_id": ids[iv], "type": "ivig", "start_date": inf[iv] + 60,
                      "end_date": inf[iv] + np.minimum(fu[iv], 120)})], ignore_index=True)
    return {"events": events, "assessments": assessments, "therapies": therapies}


def censor(tables: dict, cut: np.datetime64, k: int, seed: int) -> dict:
    """The registry as known at ``cut``; from the second cut on, 20 death dates a week late."""
    p = tables["patients"]
    p = p[p["infusion_date"].to_numpy("datetime64[D]") <= cut].copy()
    for c in ("death_date", "response_date", "relapse_date", "allo_hct_date"):
        v = p[c].to_numpy("datetime64[D]")
        p[c] = np.where(v > cut, np.datetime64("NaT"), v)
    late_resp = p["response_date"].isna()
    assessed_later = late_resp & tables["patients"].loc[p.index, "response_date"].notna()
    p.loc[assessed_later, ["best_response", "mrd_negative"]] = None
    p.loc[p["relapse_date"].isna(), "relapse_cd19"] = None
    p.loc[p["death_date"].isna(), "crs_death"] = "no"
    p.loc[(p["crs_death"] == "no") & (p["crs_grade"] == 5), "crs_grade"] = 4
    p["last_contact_date"] = np.minimum(p["last_contact_date"].to_numpy("datetime64[D]"), cut)
    p["data_cutoff_date"] = cut
    if k > 0:       # a few errors of this cut only: deaths recorded a week late (the next cut has them right)
        rng = np.random.default_rng(seed + k)
        death = p["death_date"].to_numpy("datetime64[D]")
        dead = np.flatnonzero(~np.isnat(death) & (death < cut - np.timedelta64(30, "D")))
        pick = p.index[rng.choice(dead, min(20, dead.size), replace=False)]
        p.loc[pick, "death_date"] = p.loc[pick, "death_date"] + pd.Timedelta(days=7)
        p.loc[pick, "last_contact_date"] = p.loc[pick, "death_date"]
    ids = set(p["patient_id"])
    out = {"patients": p.reset_index(drop=True)}
    for name, start, stop in (("events", "onset_date", "resolution_date"), ("assessments", "date", None),
                              ("therapies", "start_date", "end_date")):
        t = tables[name]
        t = t[t["patient_id"].isin(ids) & (t[start].to_numpy("datetime64[D]") <= cut)].copy()
        if stop is not None:
            s = t[stop].to_numpy("datetime64[D]")
            t[stop] = np.where(s > cut, np.datetime64("NaT"), s)
        out[name] = t.reset_index(drop=True)
    return out


def write(folder: Path, tables: dict) -> None:
    folder.mkdir(parents=True)
    for name, df in tables.items():
        df.to_parquet(folder / f"{name}.parquet", index=False)


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--patients", type=int, default=100_000)
    ap.add_argument("--cuts", type=int, default=20)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--out", type=Path, default=HERE / "STORE.md")
    args = ap.parse_args(argv)

    from ltfu import store
    from ltfu.analysis import AnalysisOptions, maturity
    from ltfu.analysis.plan import Plan
    from ltfu.simulate import CUTOFF, simulate

    t0 = time.perf_counter()
    patients = simulate(args.patients, seed=args.seed)
    for c in ("infusion_date", "last_contact_date", "death_date", "response_date", "relapse_date", "allo_hct_date",
              "data_cutoff_date"):
        patients[c] = patients[c].astype("datetime64[s]")
    full = {"patients": patients, **longitudinal(patients, args.seed)}
    last = np.datetime64(CUTOFF, "D")
    dates = [last - np.timedelta64(round(91.3 * (args.cuts - 1 - k)), "D") for k in range(args.cuts)]
    print(f"simulated {args.patients} patients and their tables in {time.perf_counter() - t0:.1f} s", flush=True)
    rows = []
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        path = d / "registry.ltfu"
        store.init(path)
        for k, cut in enumerate(dates):
            tables = censor(full, cut, k, args.seed)
            folder = d / f"cut{k:02d}"
            write(folder, tables)
            t = time.perf_counter()
            try:
                info = store.add_cut(path, folder, str(cut), today=dt.date(2026, 12, 31))
            except store.StoreError as exc:
                from collections import Counter

                print(exc.message, Counter((p.code, p.table, p.field) for p in exc.problems if p.severity == "error"))
                raise
            took = time.perf_counter() - t
            rows.append({"cut": str(cut), "patients": info.n_patients, "events": info.n_events,
                         "assessments": info.n_assessments, "therapies": info.n_therapies, "add": took})
            print(f"add {cut}: {info.n_patients} patients, {info.n_assessments} assessments: {took:.1f} s", flush=True)
        size_mb = os.path.getsize(path) / 1e6
        for k in range(1, len(dates)):
            t = time.perf_counter()
            diff = store.diff(path, str(dates[k - 1]), str(dates[k]))
            rows[k]["diff"] = time.perf_counter() - t
            rows[k]["flags"] = len(diff.flags)
            print(f"diff {dates[k - 1]} -> {dates[k]}: {len(diff.flags)} flags, {rows[k]['diff']:.1f} s", flush=True)
        t = time.perf_counter()
        loaded = store.load_cuts(path, [str(c) for c in dates], tables=("events",))
        read = time.perf_counter() - t
        cuts = [(c.name, c.cut_date, s) for c, s in loaded]
        opts = AnalysisOptions()
        t = time.perf_counter()
        part = maturity.build(Plan.build(cuts[-1][2].cohort, opts), cuts)
        build = time.perf_counter() - t
        print(f"maturity: read {read:.1f} s, section {build:.1f} s; corrections: {len(part.numbers['corrections'])}",
              flush=True)
    adds = [r["add"] for r in rows]
    diffs = [r["diff"] for r in rows[1:]]
    lines = [
        "# Study store at registry scale (issue 19)",
        "",
        f"`benchmarks/store.py --patients {args.patients} --cuts {args.cuts}`: a SYNTHETIC registry (`ltfu.simulate`, "
        "seed {}) with adverse events, assessments and therapies, cut quarterly; each cut a folder of Parquet files "
        "added with validation; 20 death dates moved in each cut from the second on (retroactive flags "
        "to find).".format(
            args.seed),
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"{platform.system()}; store file {size_mb:.0f} MB after {args.cuts} cuts.",
        "",
        "| measure | worst | median | target |",
        "|---|---|---|---|",
        f"| add a cut (validate + one transaction) | {max(adds):.1f} s | {np.median(adds):.1f} s "
        f"| < {TARGETS['add']:g} s |",
        f"| diff of consecutive cuts | {max(diffs):.1f} s | {np.median(diffs):.1f} s | < {TARGETS['diff']:g} s |",
        f"| maturity section, {args.cuts} cuts (read patients and events + build) | {read + build:.1f} s "
        f"({read:.1f} + {build:.1f}) | | < {TARGETS['maturity']:g} s |",
        "",
        "| cut | patients | adverse events | assessments | therapies | add, s | diff from previous, s | flags |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        took = f"{r['diff']:.1f}" if "diff" in r else "-"
        lines.append(f"| {r['cut']} | {r['patients']} | {r['events']} | {r['assessments']} | {r['therapies']} | "
                     f"{r['add']:.1f} | {took} | {r.get('flags', '')} |")
    ok = max(adds) < TARGETS["add"] and max(diffs) < TARGETS["diff"] and read + build < TARGETS["maturity"]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    lines += ["", f"All targets met: {'yes' if ok else 'NO'}. Load average at the end of the run: {load:.1f} "
              "(timings grow when other jobs share the CPUs).", ""]
    args.out.write_text("\n".join(lines), encoding="utf-8")
    print(f"wrote {args.out}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

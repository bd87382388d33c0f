"""Issue 19, the study store: every cut kept (ltfu study init/add/list/diff/upgrade, ltfu report
STORE), end to end through the command line (``ltfu.cli.main``; real processes for the kill and the
two writers), with the refusals, a SIGKILL inside the transaction,
two writers at once, the maturity section and a de-identified report from the store.

Expected values are counted by hand from the CSV files of the SYNTHETIC demo cuts (plain ``csv`` and
``datetime``), never by the code under test."""

import csv
import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

import inproc

pytestmark = pytest.mark.slow      # subprocess runs of ltfu, reports, a kill and two writers

LTFU = [sys.executable, "-m", "ltfu.cli"]
DAYS_PER_MONTH = 30.4375


def run(*args, env=None):
    """An ltfu command in this process (tests/inproc.py: no 1.2 s of imports per command); the
    kill and the two writers below run real processes."""
    p = inproc.run(*args, env=env)
    assert "Traceback" not in p.stdout + p.stderr, p.stderr
    return p


def rows(path: Path) -> list[dict]:
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(line for line in fh if not line.startswith("#")))


def day(a: str, b: str) -> int:
    return (dt.date.fromisoformat(b) - dt.date.fromisoformat(a)).days


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    """The three SYNTHETIC demo cuts and the demo study as packaged, each a folder of CSV files."""
    from ltfu.demo import _write_csv_tables
    from ltfu.demo.cuts import write_demo_cuts

    d = tmp_path_factory.mktemp("exports")
    cuts = [(date, label, path) for date, label, path in write_demo_cuts(d / "cuts")]
    final = d / "final"
    final.mkdir()
    _write_csv_tables(final)
    return [*cuts, ("2016-12-01", "as packaged", final)]


@pytest.fixture(scope="module")
def store(exports, tmp_path_factory):
    """A store holding the four cuts, made through the command line."""
    path = tmp_path_factory.mktemp("store") / "trial.ltfu"
    p = run("study", "init", path)
    assert p.returncode == 0, p.stderr
    for k, (date, _, folder) in enumerate(exports):
        args = ("--label", "final") if k == len(exports) - 1 else ()
        p = run("study", "add", path, folder, "--cut", date, *args)
        assert p.returncode == 0, p.stderr
        assert "DEMO-" not in p.stdout + p.stderr          # no patient row or id in what add prints
    return path


def listed(path) -> list[dict]:
    p = run("study", "list", path, "--format", "json")
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def table_counts(path) -> dict:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                for t in ("cuts", "patients", "events", "assessments", "therapies", "cut_sources", "cut_warnings")}
    finally:
        con.close()


# -- add and list -----------------------------------------------------------------------------------

def test_list_counts_what_each_export_holds(store, exports):
    got = listed(store)
    assert [c["cut_date"] for c in got] == [e[0] for e in exports]
    assert got[-1]["label"] == "final" and got[0]["label"] is None
    for c, (date, _, folder) in zip(got, exports):
        pts = rows(folder / "patients.csv")
        assert c["n_patients"] == len(pts)
        assert c["n_deaths"] == sum(1 for r in pts if r["death_date"] and r["death_date"] <= date)
        assert c["n_relapses"] == sum(1 for r in pts if r["relapse_date"] and r["relapse_date"] <= date)
        assert c["n_events"] == len(rows(folder / "events.csv"))
        assert c["n_assessments"] == len(rows(folder / "assessments.csv"))
        assert c["n_therapies"] == len(rows(folder / "therapies.csv"))
        assert len(c["sha256"]) == 64 and c["kind"] == "folder" and c["added_at"].endswith("Z")
    # the first cut holds only the patients infused by its date (hand count from the packaged file)
    full = rows(exports[-1][2] / "patients.csv")
    assert got[0]["n_patients"] == sum(1 for r in full if r["infusion_date"] <= "2014-06-30") == 25


def test_store_keeps_only_the_exports_columns(store):
    """Nothing derived is stored: no burden, no endpoint; the patient columns are the data model's."""
    from ltfu.store import schema

    con = duckdb.connect(str(store), read_only=True)
    try:
        cols = [r[0] for r in con.execute("DESCRIBE patients").fetchall()]
    finally:
        con.close()
    assert cols == ["cut_id", "seq", *(c for c, _ in schema.PATIENT_COLUMNS)]
    assert "burden" not in cols


def test_a_stored_cut_analyses_exactly_as_the_loaded_export(store):
    """load_cut returns what the loader returns: every number of the report is the same."""
    from ltfu import store as st
    from ltfu.analysis import analyse
    from ltfu.demo import load_demo_study
    from ltfu.report.writer import _results_json

    a = json.loads(_results_json(analyse(load_demo_study())))
    b = json.loads(_results_json(analyse(st.load_cut(store))))     # the latest cut: the packaged study
    a.pop("meta"), b.pop("meta")
    assert a == b


def test_invalid_export_is_refused_and_nothing_stored(store, exports, tmp_path):
    path = tmp_path / "t.ltfu"
    shutil.copy(store, path)
    before = table_counts(path)
    bad = tmp_path / "bad"
    shutil.copytree(exports[-1][2], bad)
    pts = (bad / "patients.csv").read_text().splitlines()
    head = pts[1].split(",")
    i = head.index("death_date")
    first = pts[2].split(",")
    first[i] = "2001-01-01"                     # a death before the infusion: an error
    pts[2] = ",".join(first)
    (bad / "patients.csv").write_text("\n".join(pts) + "\n")
    p = run("study", "add", path, bad, "--cut", "2017-06-30")
    assert p.returncode == 1
    assert "refused and nothing was stored" in p.stderr and "error" in p.stderr
    assert table_counts(path) == before


def test_duplicate_cut_date_or_label_is_refused(store, exports, tmp_path):
    path = tmp_path / "t.ltfu"
    shutil.copy(store, path)
    before = table_counts(path)
    p = run("study", "add", path, exports[0][2], "--cut", exports[0][0])
    assert p.returncode == 2 and "already holds a cut dated 2014-06-30" in p.stderr
    p = run("study", "add", path, exports[0][2], "--cut", "2013-12-31", "--label", "final")
    assert p.returncode == 2 and "already holds a cut labelled 'final'" in p.stderr
    assert table_counts(path) == before


def test_usage_errors_are_one_line_exit_2(store, tmp_path):
    assert run("study", "init", store).returncode == 2                           # never replaced
    assert run("study", "init", tmp_path / "x.db").returncode == 2               # not .ltfu
    assert run("study", "list", tmp_path / "none.ltfu").returncode == 2
    (tmp_path / "junk.ltfu").write_text("not a database")
    p = run("study", "list", tmp_path / "junk.ltfu")
    assert p.returncode == 2 and "cannot be opened as an ltfu study store" in p.stderr
    p = run("study", "diff", store, "2014-06-30", "1999-01-01")
    assert p.returncode == 2 and "no cut '1999-01-01'" in p.stderr
    assert run("report", store, "--cut", "nope", "--out", tmp_path / "r").returncode == 2
    assert run("report", "--demo", "--cut", "2014-06-30", "--out", tmp_path / "r").returncode == 2


# -- diff -------------------------------------------------------------------------------------------

def test_diff_flags_the_demo_correction_and_nothing_else(store, exports):
    (d1, _, f1), (d2, _, f2), (d3, _, _), _ = exports
    p = run("study", "diff", store, d1, d2, "--format", "json")
    assert p.returncode == 0, p.stderr
    got = json.loads(p.stdout)
    # by hand: the one patient whose relapse date differs between the two cuts' files
    a = {r["patient_id"]: r for r in rows(f1 / "patients.csv")}
    b = {r["patient_id"]: r for r in rows(f2 / "patients.csv")}
    moved = [i for i in a if a[i]["relapse_date"] and a[i]["relapse_date"] != b[i]["relapse_date"]]
    assert len(moved) == 1
    new = [i for i in a if not a[i]["relapse_date"] and b[i]["relapse_date"]]     # relapses after cut 1
    assert new and all(b[i]["relapse_date"] > min(a[i]["last_contact_date"], d1) for i in new)
    pid = moved[0]
    assert got["retroactive"] is True
    assert [(f["kind"], f["patient_id"], f["field"]) for f in got["flags"]] == [("date_moved", pid, "relapse_day")]
    flag = got["flags"][0]
    assert flag["before"] == day(a[pid]["infusion_date"], a[pid]["relapse_date"])
    assert flag["after"] == day(b[pid]["infusion_date"], b[pid]["relapse_date"])
    assert flag["after"] - flag["before"] == 21
    assert sorted(got["patients"]["added"]) == sorted(set(b) - set(a)) and got["patients"]["removed"] == []
    assert got["rows"]["assessments"]["added"] == len(rows(f2 / "assessments.csv")) - len(rows(f1 / "assessments.csv"))
    # the pipeline stops on it; later pairs are clean (maturation only)
    p = run("study", "diff", store, d1, d2, "--fail-on", "retroactive")
    assert p.returncode == 1 and "RETROACTIVE changes: 1" in p.stdout and pid in p.stdout
    for x, y in ((d2, d3), (d3, "final")):
        p = run("study", "diff", store, x, y, "--fail-on", "retroactive")
        assert p.returncode == 0, p.stdout
        assert "No retroactive change" in p.stdout


def test_diff_backwards_flags_removed_patients_status_and_shrunk_follow_up(store, exports):
    """From the latest cut back to the first: everything the first lacks is a retroactive change."""
    (d1, _, f1) = exports[0]
    f4 = exports[-1][2]
    p = run("study", "diff", store, "final", d1, "--format", "json")
    got = json.loads(p.stdout)
    a = {r["patient_id"]: r for r in rows(f4 / "patients.csv")}
    b = {r["patient_id"]: r for r in rows(f1 / "patients.csv")}
    kinds = {}
    for f in got["flags"]:
        kinds.setdefault(f["kind"], set()).add(f["patient_id"])
    assert kinds["patient_removed"] == set(a) - set(b)
    dead_then_alive = {i for i in b if a[i]["death_date"] and not b[i]["death_date"]}
    assert {i for f in got["flags"] if f["kind"] == "status_backwards" and f["field"] == "death_day"
            for i in [f["patient_id"]]} == dead_then_alive
    shrank = {i for i in b if b[i]["last_contact_date"] < a[i]["last_contact_date"]}
    assert kinds["follow_up_shrank"] == shrank


def test_diff_values_from_the_terminal_are_escaped(store, exports, tmp_path):
    """An id holding an escape sequence is printed as \\x1b, never acting on the terminal."""
    path = tmp_path / "t.ltfu"
    shutil.copy(store, path)
    con = duckdb.connect(str(path))
    con.execute("UPDATE patients SET patient_id = 'X\x1b[2J' WHERE cut_id = 1 AND seq = 0")
    con.close()
    p = run("study", "diff", path, "2014-06-30", "2015-06-30")
    assert "\x1b" not in p.stdout and "X\\x1b[2J" in p.stdout


# -- schema versions ----------------------------------------------------------------------------------

def test_a_newer_store_is_refused(store, tmp_path):
    path = tmp_path / "t.ltfu"
    shutil.copy(store, path)
    con = duckdb.connect(str(path))
    con.execute("INSERT INTO ltfu_schema VALUES (99, now(), '9.9', 'ltfu study store')")
    con.close()
    before = path.read_bytes()
    for args in (("list", path), ("upgrade", path), ("diff", path, "2014-06-30", "final")):
        p = run("study", *args)
        assert p.returncode == 2
        assert "schema version 99, newer than this ltfu understands" in p.stderr
    assert run("report", path, "--out", tmp_path / "r").returncode == 2
    assert path.read_bytes() == before


def _version_1_copy(store, path):
    """The store as ltfu's first store version wrote it (no counts in ``cuts``)."""
    from ltfu.store import schema

    con = duckdb.connect(str(path))
    con.execute("BEGIN TRANSACTION")
    schema.create(con, version=1)
    con.execute(f"ATTACH '{store}' AS src (READ_ONLY)")
    con.execute("INSERT INTO cuts SELECT cut_id, cut_date, label, added_at, ltfu_version, burden_threshold, kind, "
                "source, sha256 FROM src.cuts")
    for t in ("cut_sources", "cut_warnings", "patients", "events", "assessments", "therapies"):
        con.execute(f"INSERT INTO {t} SELECT * FROM src.{t}")
    con.execute("COMMIT")
    con.execute("DETACH src")
    con.close()


def test_an_older_store_is_migrated_only_by_upgrade(store, tmp_path):
    path = tmp_path / "old.ltfu"
    _version_1_copy(store, path)
    p = run("study", "list", path)
    assert p.returncode == 2 and "older than this ltfu's" in p.stderr and "ltfu study upgrade" in p.stderr
    p = run("study", "add", path, tmp_path, "--cut", "2020-01-01")
    assert p.returncode == 2 and "older" in p.stderr
    p = run("study", "upgrade", path)
    assert p.returncode == 0 and "from schema version 1 to 2" in p.stdout
    assert listed(path) == listed(store)
    p = run("study", "upgrade", path)
    assert p.returncode == 0 and "already at schema version 2" in p.stdout


# -- safety: a kill inside the transaction, two writers -------------------------------------------

def _start_add(path, folder, cut, marker, seconds, env=None):
    e = {**os.environ, "LTFU_STORE_PAUSE_IN_ADD": str(marker), "LTFU_STORE_PAUSE_SECONDS": str(seconds),
         **(env or {})}
    return subprocess.Popen([*LTFU, "study", "add", str(path), str(folder), "--cut", cut], env=e,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(marker, proc, limit=120):
    t0 = time.monotonic()
    while not Path(marker).exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() - t0 < limit
        time.sleep(0.05)


def test_sigkill_inside_the_transaction_leaves_the_store_as_before(store, exports, tmp_path):
    path = tmp_path / "t.ltfu"
    shutil.copy(store, path)
    before, cuts_before = table_counts(path), listed(path)
    marker = tmp_path / "inside"
    proc = _start_add(path, exports[1][2], "2017-01-31", marker, 60)
    _wait_for(marker, proc)                     # every row inserted, not committed
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert table_counts(path) == before
    assert listed(path) == cuts_before
    # and the store still works: the same cut is added in full afterwards
    p = run("study", "add", path, exports[1][2], "--cut", "2017-01-31")
    assert p.returncode == 0, p.stderr
    got = listed(path)
    assert len(got) == len(cuts_before) + 1 and got[-1]["n_patients"] == cuts_before[1]["n_patients"]


def test_two_writers_one_fails_cleanly_then_one_waits(store, exports, tmp_path):
    path = tmp_path / "t.ltfu"
    shutil.copy(store, path)
    marker = tmp_path / "holding"
    first = _start_add(path, exports[0][2], "2017-01-31", marker, 4)
    _wait_for(marker, first)                    # the first writer holds the store
    p = run("study", "add", path, exports[1][2], "--cut", "2017-02-28", env={"LTFU_STORE_LOCK_TIMEOUT": "0.5"})
    assert p.returncode == 1
    assert "in use by another ltfu process" in p.stderr and "nothing was changed" in p.stderr
    _, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    # a second writer that waits: it starts while the first holds the store and succeeds after it
    marker2 = tmp_path / "holding2"
    first = _start_add(path, exports[0][2], "2017-03-31", marker2, 2)
    _wait_for(marker2, first)
    p = run("study", "add", path, exports[1][2], "--cut", "2017-04-30", env={"LTFU_STORE_LOCK_TIMEOUT": "60"})
    first.communicate(timeout=120)
    assert first.returncode == 0 and p.returncode == 0, p.stderr
    dates = [c["cut_date"] for c in listed(path)]
    assert {"2017-01-31", "2017-03-31", "2017-04-30"} <= set(dates) and "2017-02-28" not in dates


# -- the report of a store: maturity, de-identification ------------------------------------------------

def _hand_os(folder, date):
    """(patients, deaths, at risk at 12 and 24 months) counted from a cut's patient file."""
    pts = rows(folder / "patients.csv")
    deaths = 0
    at_risk = {12: 0, 24: 0}
    for r in pts:
        end = min(r["last_contact_date"], date)
        dead = bool(r["death_date"]) and r["death_date"] <= end
        deaths += dead
        t = day(r["infusion_date"], r["death_date"] if dead else end)
        for m in at_risk:
            at_risk[m] += t >= m * DAYS_PER_MONTH
    return len(pts), deaths, at_risk


def test_report_from_the_store_shows_maturity_counted_by_hand(store, exports, tmp_path):
    out = tmp_path / "rep"
    p = run("report", store, "--out", out, "--quiet", "--formats", "json,csv")
    assert p.returncode == 0, p.stderr
    res = json.loads((out / "results.json").read_text())
    m = res["maturity"]
    assert m["n_cuts"] == 4 and [c["cut_date"] for c in m["cuts"]] == [e[0] for e in exports]
    for c, (date, _, folder) in zip(m["cuts"], exports):
        n, deaths, at_risk = _hand_os(folder, date)
        rep = c["reported"]
        assert (rep["n"], rep["os"]["events"]) == (n, deaths)
        assert rep["at_risk"]["12_months"] == at_risk[12] and rep["at_risk"]["24_months"] == at_risk[24]
        # every adverse event of the cut's file is within its patient's follow-up: all are counted
        assert rep["safety"]["all_events"]["events"] == len(rows(folder / "events.csv"))
    # re-derived from the latest file with each earlier cut-off: the same hand count on the final
    # file restricted to the patients infused by then; only the first cut differs (its relapse date)
    final = rows(exports[-1][2] / "patients.csv")
    for c, (date, _, _) in zip(m["cuts"][:-1], exports[:-1]):
        kept = [r for r in final if r["infusion_date"] <= date]
        deaths = sum(1 for r in kept if r["death_date"] and r["death_date"] <= min(r["last_contact_date"], date))
        assert (c["rederived"]["n"], c["rederived"]["os"]["events"]) == (len(kept), deaths)
    assert [c["rederived"]["patients_changed"]["efs"] for c in m["cuts"][:-1]] == [1, 0, 0]
    assert len(m["corrections"]) == 1 and m["corrections"][0].startswith("2014-06-30")
    assert res["meta"]["data_cutoff"] == "2016-12-01"
    # an earlier cut reported: its own history only
    p = run("report", store, "--cut", "2015-06-30", "--out", tmp_path / "rep2", "--quiet", "--formats", "json")
    res2 = json.loads((tmp_path / "rep2" / "results.json").read_text())
    assert res2["n_patients"] == 43 and res2["maturity"]["n_cuts"] == 2


def test_demo_report_has_the_maturity_section(tmp_path):
    out = tmp_path / "rep"
    p = run("report", "--demo", "--out", out, "--quiet", "--formats", "json,csv,png")
    assert p.returncode == 0, p.stderr
    m = json.loads((out / "results.json").read_text())["maturity"]
    assert m["n_cuts"] == 4 and all("SYNTHETIC" in c["name"] for c in m["cuts"])
    assert (out / "figures" / "maturity_drift.png").exists()
    assert (out / "tables" / "maturity_estimates.csv").exists()


def test_deidentified_report_from_a_store_leaks_no_id_date_or_label(exports, tmp_path):
    """The demo cuts under identifying ids, in a store with a telling name: a --deidentify report of
    it holds none of the ids, dates, labels, export names or the store's name."""
    ids = {}
    folders = []
    for k, (date, _, folder) in enumerate(exports):
        dest = tmp_path / f"export_{date}"
        dest.mkdir()
        for f in folder.glob("*.csv"):
            text = f.read_text()
            for old in sorted({r["patient_id"] for r in rows(exports[-1][2] / "patients.csv")}, reverse=True):
                new = ids.setdefault(old, f"MRN-{884200 + len(ids)}-XZ")
                text = text.replace(old, new)
            (dest / f.name).write_text(text)
        folders.append((date, f"Holloway ward cut {k}", dest))
    path = tmp_path / "holloway_trial.ltfu"
    assert run("study", "init", path).returncode == 0
    for date, label, dest in folders:
        p = run("study", "add", path, dest, "--cut", date, "--label", label)
        assert p.returncode == 0, p.stderr
    out = tmp_path / "rep"
    p = run("report", path, "--deidentify", "--out", out, "--quiet")
    assert p.returncode == 0, p.stderr
    needles = set(ids.values()) | {label for _, label, _ in folders} | {path.name, path.stem}
    needles |= {d.name for _, _, d in folders}
    for _, _, dest in folders:
        for r in rows(dest / "patients.csv"):
            needles |= {v for c, v in r.items() if c.endswith("_date") and v}
    files = [q for q in out.rglob("*") if q.is_file()]
    assert any(q.suffix == ".html" for q in files)
    for q in files:
        blob = q.read_bytes()
        if q.suffix == ".pdf" and shutil.which("pdftotext"):
            blob += subprocess.run(["pdftotext", str(q), "-"], capture_output=True).stdout
        for needle in needles:
            assert needle.encode() not in blob, f"{needle!r} found in {q.name}"
    m = json.loads((out / "results.json").read_text())["maturity"]
    assert [c["name"] for c in m["cuts"]] == ["Cut 1", "Cut 2", "Cut 3", "Cut 4"]


# -- every diff rule on a hand-made study -------------------------------------------------------------

HEAD = "patient_id,infusion_date,last_contact_date,death_date,response_date,relapse_date,best_response,age\n"
EV_HEAD = "patient_id,term,category,subtype,onset_date,resolution_date,grade,outcome\n"
CUT_A = HEAD + """P1,2019-01-01,2020-03-01,2020-03-01,2019-02-01,,CR,50
P2,2019-01-01,2020-06-01,,2019-02-01,2019-10-01,CR,51
P3,2019-02-01,2020-06-01,,2019-03-01,,CR,52
P4,2019-01-01,2020-06-15,,2019-02-01,,CR,53
P5,2019-01-01,2020-06-20,,2019-02-01,,CR,54
P6,2019-01-01,2020-06-20,,2019-02-01,,CR,55
P7,2019-01-01,2020-01-01,,2019-02-01,,CR,56
P9,2019-01-01,2020-06-20,,2019-02-01,,CR,57
"""
CUT_B = HEAD + """P1,2019-01-01,2020-03-10,2020-03-10,2019-02-01,,CR,50
P2,2019-01-01,2021-06-01,,2019-02-01,,CR,51
P3,2019-02-05,2020-06-01,,2019-03-01,,CR,52
P4,2019-01-01,2020-05-01,,2019-02-01,,CR,53
P5,2019-01-01,2021-06-01,,2019-02-01,2020-04-01,CR,54
P6,2019-01-01,2021-06-01,,2019-02-01,2020-12-01,CR,55
P8,2020-09-01,2021-06-01,,2020-10-01,,CR,60
P9,2019-01-01,2021-06-01,,2019-02-01,,CR,58
"""
EVENTS_A = EV_HEAD + """P9,Pneumonia,infection,bacterial,2019-05-01,2019-05-20,3,recovered
P6,Neuropathy,neurological,,2019-06-01,2019-08-01,1,recovered
P6,Zoster,infection,viral,2020-06-01,,2,ongoing
"""
EVENTS_B = EV_HEAD + """P6,Neuropathy,neurological,,2019-06-01,2019-08-01,2,recovered
P6,Zoster,infection,viral,2020-06-01,2020-07-15,2,recovered
P9,Bacteraemia,infection,bacterial,2020-02-01,2020-02-10,3,recovered
P9,Sepsis,infection,bacterial,2021-01-01,2021-01-10,3,recovered
"""


def test_every_diff_rule_on_a_hand_made_study(tmp_path):
    from ltfu import store as st

    for name, patients, events in (("a", CUT_A, EVENTS_A), ("b", CUT_B, EVENTS_B)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "patients.csv").write_text(patients)
        (tmp_path / name / "events.csv").write_text(events)
    path = tmp_path / "s.ltfu"
    st.init(path)
    st.add_cut(path, tmp_path / "a", "2020-06-30", label="A")
    st.add_cut(path, tmp_path / "b", "2021-06-30", label="B")
    d = st.diff(path, "A", "B")
    assert d.added == ("P8",) and d.removed == ("P7",)
    got = {(f.kind, f.patient_id, f.table, f.field) for f in d.flags}
    want = {("patient_removed", "P7", "patients", "patient_id"),
            ("date_moved", "P1", "patients", "death_day"),                 # death moved by 9 days
            ("date_removed", "P2", "patients", "relapse_day"),             # relapse removed ...
            ("status_backwards", "P2", "patients", "relapse_day"),         # ... relapsed -> not
            ("infusion_changed", "P3", "patients", "infusion_date"),
            ("date_moved", "P3", "patients", "response_day"),              # the same date, 4 days nearer infusion
            ("follow_up_shrank", "P3", "patients", "last_contact_day"),
            ("follow_up_shrank", "P4", "patients", "last_contact_day"),    # last contact 2020-06-15 -> 05-01
            ("date_backdated", "P5", "patients", "relapse_day"),           # 2020-04-01, before A's 2020-06-20
            ("value_changed", "P9", "patients", "age"),
            ("row_removed", "P9", "events", "onset_day"),                  # the pneumonia is gone
            ("row_changed", "P6", "events", "grade"),                      # neuropathy grade 1 -> 2
            ("row_backdated", "P9", "events", "onset_day")}                # bacteraemia 2020-02-01 added
    assert got == want
    # P6's relapse after A's cut-off, the zoster resolved since, P9's sepsis in 2021: maturation only
    moved = next(f for f in d.flags if f.kind == "date_moved" and f.patient_id == "P1")
    assert (moved.before, moved.after) == (day("2019-01-01", "2020-03-01"), day("2019-01-01", "2020-03-10"))
    assert d.rows["events"] == {"added": 2, "removed": 1, "changed": {"resolution_day": 1, "grade": 1, "outcome": 1}}
    assert {f: len(v) for f, v in d.changed.items()}["relapse_day"] == 3     # P2 removed, P5 and P6 added
    again = st.diff(path, "2020-06-30", "2021-06-30")          # cuts named by date as well as label
    assert again.flag_counts() == d.flag_counts()
    with pytest.raises(st.StoreError, match="with itself"):
        st.diff(path, "A", "2020-06-30")


def test_a_single_table_export_keeps_the_files_checksum(tmp_path):
    import hashlib

    from ltfu import store as st
    from ltfu.demo import demo_path

    path = tmp_path / "one.ltfu"
    st.init(path)
    p = run("study", "list", path)
    assert p.returncode == 0 and "holds no cut yet" in p.stdout
    assert run("report", path, "--out", tmp_path / "r").returncode == 2
    info = st.add_cut(path, demo_path(), "2016-12-01")
    assert info.kind == "table" and info.sha256 == hashlib.sha256(demo_path().read_bytes()).hexdigest()
    assert (info.n_patients, info.n_events, info.n_assessments) == (len(rows(demo_path())), 0, 0)
    study = st.load_cut(path, "2016-12-01")
    assert study.cohort.synthetic and study.cohort.cutoff_date == "2016-12-01" and not study.longitudinal


def test_maturity_safety_rates_are_the_safety_modules():
    """The maturity section's per-cut rates equal ltfu.safety.incidence (every event, whole person-time)."""
    from ltfu import safety
    from ltfu.analysis import AnalysisOptions
    from ltfu.analysis.maturity import apply_cutoff, safety_rates
    from ltfu.demo import load_demo_study

    study, opts = load_demo_study(), AnalysisOptions()
    for cohort in (study.cohort, apply_cutoff(study.cohort, "2016-12-01", "2015-06-30")):
        got = safety_rates(cohort, study.events, opts)
        pt = safety.person_time(cohort)
        for key, cat in (("all_events", None), ("second_primary_malignancy", "second_primary_malignancy")):
            r = safety.incidence(study.events, pt, category=cat, first_only=False)
            assert got[key]["events"] == r.events
            assert got[key]["rate_per_100py"] == pytest.approx(r.rate.value, rel=1e-12)
            assert (got[key]["lower"], got[key]["upper"]) == pytest.approx((r.rate.lower, r.rate.upper), rel=1e-12)


def test_a_swallowed_ctrl_c_commits_no_cut(exports, tmp_path, monkeypatch):
    """The store's commit checks the Ctrl-C record too (a review found only the report's did)."""
    import contextlib

    import ltfu.store.cuts as cuts
    from ltfu import interrupt
    from ltfu.store import add_cut, init, list_cuts

    path = init(tmp_path / "s.ltfu")

    def pressed():
        with contextlib.suppress(BaseException):          # a library swallows the interrupt
            interrupt.handler(signal.SIGINT, None)
    monkeypatch.setattr(cuts, "_pause_for_tests", pressed)
    date, _, folder = exports[0]
    try:
        with pytest.raises(interrupt.Interrupted):
            add_cut(path, folder, date)
    finally:
        interrupt.reset()
    assert list_cuts(path) == []
    monkeypatch.undo()
    assert add_cut(path, folder, date).cut_date is not None and len(list_cuts(path)) == 1

"""ltfu.registry.prepare / ``ltfu prepare``: the prepared table holds, patient by patient, the
loader's typed columns and ``ltfu.endpoints``' endpoints (computed from the loaded, validated
cohort), whatever the batches it was read in; an error writes nothing; the input is never written."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from ltfu import endpoints as ep
from ltfu.cli import main
from ltfu.cohort import load_cohort
from ltfu.cohort.schema import FIELD_BY_NAME
from ltfu.cohort.stream import validate_parquet
from ltfu.errors import DataError, OutputError
from ltfu.registry import ENDPOINTS, prepare, schema
from ltfu.simulate import simulate, write_registry


def _registry(tmp_path, seed, n=3000):
    """A simulated registry with the gaps a real one has: unknown blasts or extramedullary disease,
    no best response recorded, a CR without its date, a data cut-off before some last contacts, a
    death after the recorded last contact, codes in the spellings the loader accepts."""
    df = simulate(n, seed=seed)
    rng = np.random.default_rng(seed)
    df.loc[rng.random(n) < 0.05, "marrow_blasts_pct"] = np.nan
    df.loc[rng.random(n) < 0.05, "extramedullary"] = None
    no_response = rng.random(n) < 0.03
    df.loc[no_response, "best_response"] = None
    df.loc[no_response, "mrd_negative"] = None
    df.loc[no_response, "response_date"] = pd.NaT
    cr_no_date = (df["best_response"] == "CR") & df["relapse_date"].isna() & (rng.random(n) < 0.02)
    df.loc[cr_no_date, "response_date"] = pd.NaT
    before = df[["infusion_date", "response_date", "relapse_date", "allo_hct_date"]].max(axis=1)
    dead = np.flatnonzero((df["death_date"] - before > pd.Timedelta(days=5)).to_numpy())[:40]
    df.loc[dead, "last_contact_date"] = df.loc[dead, "death_date"] - pd.Timedelta(days=3)
    for column, old, new in (("best_response", "CR", "cr "), ("best_response", "CRi", "CRh"),
                             ("extramedullary", "yes", " Y"), ("extramedullary", "no", "false"),
                             ("prior_allo_hct", "yes", "Yes"), ("ph_positive", "no", "0")):
        pick = rng.random(n) < 0.3
        df.loc[pick & (df[column] == old).to_numpy(), column] = new
    pick = rng.random(n) < 0.3
    df.loc[pick, "centre"] = "  " + df.loc[pick, "centre"] + "\u00a0"
    df.loc[rng.random(n) < 0.02, "centre"] = "NA"
    df["data_cutoff_date"] = df["infusion_date"].max() + pd.Timedelta(days=1)
    path = tmp_path / f"registry_{seed}.parquet"
    df.to_parquet(path, index=False)
    return path


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module", params=[3, 8])
def both(request, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("registry")
    path = _registry(tmp, request.param)
    before = _digest(path)
    done = prepare(path, tmp / "prepared.parquet", batch_rows=700)       # five batches
    assert _digest(path) == before                                       # the input only read
    return load_cohort(path), pq.read_table(done.path).to_pandas(), done


def _endpoints(cohort, **options):
    nonresponder = options.get("nonresponder", "day0")
    hct = options.get("censor_at_hct", False)
    return {"os": ep.overall_survival(cohort),
            "efs": ep.event_free_survival(cohort, nonresponder=nonresponder, censor_at_hct=hct),
            "rfs": ep.relapse_free_survival(cohort, censor_at_hct=hct), "relapse_cr": ep.relapse_competing(cohort),
            "allo_hct": ep.time_to_allo_hct(cohort)}


def _same_endpoints(table, want):
    for name, e in want.items():
        kept = table[f"{name}_status"].notna().to_numpy()
        assert np.array_equal(table.loc[kept, "patient_id"].to_numpy(object), np.asarray(e.patient_id, object)), name
        assert np.array_equal(table.loc[kept, f"{name}_time"].to_numpy(float), e.time), name
        assert np.array_equal(table.loc[kept, f"{name}_status"].to_numpy(int), e.status), name
        assert table.loc[~kept, f"{name}_time"].isna().all(), name


def test_every_endpoint_equals_the_reports_patient_by_patient(both):
    cohort, table, done = both
    assert done.rows == len(table) == cohort.n
    _same_endpoints(table, _endpoints(cohort))
    assert (table["efs_time"] == 0).sum() > 100                     # non-responders fail at day 0
    assert set(table["relapse_cr_status"].dropna().astype(int)) == {0, 1, 2}
    # CR/CRi patients only, and among them those with a response date for rfs and relapse_cr
    cr = cohort.data["best_response"].isin(["CR", "CRi"]).to_numpy()
    assert table["allo_hct_status"].notna().sum() == cr.sum() > table["rfs_status"].notna().sum()


def test_the_typed_columns_are_the_loaders(both):
    cohort, table, _ = both
    d = cohort.data
    assert list(table.columns) == schema().names
    for column in d.columns:
        if column not in table:
            assert column in ("product", "indication"), column           # outside the data model
            continue
        want, got = d[column], table[column]
        if column == "infusion_date":
            got = pd.to_datetime(got)
        assert (want.isna().to_numpy() == got.isna().to_numpy()).all(), column
        known = want.notna().to_numpy()
        assert (want[known].astype(str).to_numpy() == got[known].astype(str).to_numpy()).all(), column
    assert table["burden"].isna().sum() == d["burden"].isna().sum() > 0
    assert set(table["best_response"].dropna()) <= set(FIELD_BY_NAME["best_response"].allowed)
    centre = table["centre"].dropna()
    assert (centre == centre.str.strip()).all() and table["centre"].isna().sum() > 0       # stripped; NA missing


def test_the_metadata_says_what_the_file_is(both):
    cohort, _, done = both
    meta = json.loads(pq.read_metadata(done.path).metadata[b"ltfu"])
    assert meta["rows"] == cohort.n and meta["data_cutoff"] == cohort.cutoff_date == done.cutoff
    assert meta["options"] == {"cutoff": None, "burden_threshold": 5.0, "efs_nonresponder": "day0",
                               "censor_at_hct": False}
    assert set(meta["endpoints"]) == set(ENDPOINTS)
    assert meta["endpoints"]["efs"] == ep.event_free_survival(cohort).definition
    assert meta["not_copied"] == ["product", "indication"] == list(done.not_copied)
    assert meta["warnings"] == {code: sum(w.code == code for w in cohort.warnings)
                                for code in sorted({w.code for w in cohort.warnings})}
    assert meta["source_note"] is None                                  # written by pandas: no note
    assert meta["source_sha256"] == _digest(Path(cohort.source))


@pytest.mark.parametrize("batch_rows", [1, 13])
def test_the_batches_do_not_change_the_file(tmp_path, batch_rows):
    df = simulate(60, seed=5)
    df.loc[3, "best_response"] = "cr"
    df.loc[7, "extramedullary"] = None
    path = tmp_path / "r.parquet"
    df.to_parquet(path, index=False)
    whole = pq.read_table(prepare(path, tmp_path / "whole.parquet").path)
    batched = pq.read_table(prepare(path, tmp_path / "batched.parquet", batch_rows=batch_rows).path)
    assert batched.equals(whole)
    csv = tmp_path / "r.csv"
    df.to_csv(csv, index=False)
    from_csv = prepare(csv, tmp_path / "from_csv.parquet").path
    assert pq.read_table(from_csv).equals(whole)                                      # another format
    assert json.loads(pq.read_metadata(from_csv).metadata[b"ltfu"])["source_sha256"] == _digest(csv)


def test_the_options_are_the_endpoints_options(tmp_path):
    path = _registry(tmp_path, 11, n=800)
    # after every infusion, before many last contacts (the file's own cut-off column is overridden)
    cutoff = str((pd.read_parquet(path)["infusion_date"].max() + pd.Timedelta(days=2)).date())
    done = prepare(path, tmp_path / "p.parquet", efs_nonresponder="assessment", censor_at_hct=True,
                   cutoff=cutoff, burden_threshold=20.0)
    cohort = load_cohort(path, cutoff=cutoff, burden_threshold=20.0)
    table = pq.read_table(done.path).to_pandas()
    _same_endpoints(table, _endpoints(cohort, nonresponder="assessment", censor_at_hct=True))
    assert (table["burden"].isna() == cohort.data["burden"].isna()).all()
    assert (table["burden"].astype(object) == cohort.data["burden"].astype(object)).sum() > 0
    default = load_cohort(path)                     # the options change the endpoints and the burden
    assert not np.array_equal(table["efs_time"].to_numpy(), ep.event_free_survival(default).time)
    assert (table["burden"] == "high").sum() < (default.data["burden"] == "high").sum()
    meta = json.loads(pq.read_metadata(done.path).metadata[b"ltfu"])
    assert meta["options"]["cutoff"] == cutoff == meta["data_cutoff"]
    assert "Censored at a subsequent allogeneic HCT" in meta["endpoints"]["efs"]


def test_an_error_writes_nothing_and_lists_every_problem(tmp_path):
    df = simulate(50, seed=2)
    df.loc[4, "patient_id"] = df.loc[9, "patient_id"]        # a duplicate id (found in the first pass)
    df.loc[30, "crs_grade"] = 9                              # a grade out of range (in the last batch)
    path = tmp_path / "r.parquet"
    df.to_parquet(path, index=False)
    out = tmp_path / "p.parquet"
    with pytest.raises(DataError) as err:
        prepare(path, out, batch_rows=10)
    assert {p.code for p in err.value.problems if p.severity == "error"} >= {"DUPLICATE_ID", "OUT_OF_RANGE"}
    assert err.value.problems == validate_parquet(path).problems          # what `ltfu validate` lists
    assert sorted(x.name for x in tmp_path.iterdir()) == ["r.parquet"]      # no file, no temporary left


def test_the_output_is_checked_before_anything_is_read(tmp_path):
    path = write_registry(tmp_path / "r.parquet", 30, seed=1)
    before = _digest(path)
    with pytest.raises(OutputError, match="is the input"):
        prepare(path, path, overwrite=True)
    (tmp_path / "taken.parquet").write_bytes(b"not mine")
    with pytest.raises(OutputError, match="already exists"):
        prepare(path, tmp_path / "taken.parquet")
    assert (tmp_path / "taken.parquet").read_bytes() == b"not mine"
    with pytest.raises(OutputError, match="extension"):
        prepare(path, tmp_path / "p.csv")
    assert _digest(path) == before
    done = prepare(path, tmp_path / "taken.parquet", overwrite=True)
    assert pq.read_table(done.path).num_rows == 30


def test_the_command(tmp_path, capsys):
    path = write_registry(tmp_path / "r.parquet", 40, seed=4)
    out = tmp_path / "p.parquet"
    assert main(["prepare", str(path), "--out", str(out)]) == 0
    said = capsys.readouterr().out
    assert "Wrote the prepared table of 40 patients" in said and "not copied" in said
    assert "SYNTHETIC" in json.loads(pq.read_metadata(out).metadata[b"ltfu"])["source_note"]   # simulate's note
    assert main(["prepare", str(path), "--out", str(out)]) == 2                     # exists: refused
    assert main(["prepare", str(path), "--out", str(out), "--overwrite", "--format", "json"]) == 0
    assert [p["code"] for p in json.loads(capsys.readouterr().out)] == ["UNKNOWN_COLUMN"] * 2
    bad = simulate(20, seed=4)
    bad.loc[2, "age"] = -4
    bad.to_parquet(tmp_path / "bad.parquet", index=False)
    assert main(["prepare", str(tmp_path / "bad.parquet"), "--out", str(tmp_path / "q.parquet")]) == 1
    said = capsys.readouterr()
    assert "OUT_OF_RANGE" in said.out and "nothing was written" in said.err
    assert not (tmp_path / "q.parquet").exists()
    assert main(["prepare", str(tmp_path), "--out", str(tmp_path / "q.parquet")]) == 1       # a folder


def test_a_failed_write_is_the_outputs_error_not_the_inputs(tmp_path, monkeypatch):
    """A full disk while writing is said as such (a hunt found it blamed on the input, "cannot be read
    as parquet"), and nothing is left behind."""
    import errno

    import ltfu.registry as registry

    path = write_registry(tmp_path / "r.parquet", 50, seed=3)

    def full(self, table):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(registry._Writer, "write", full)
    with pytest.raises(OutputError, match="No space left"):
        prepare(path, tmp_path / "p.parquet", batch_rows=20)
    assert sorted(x.name for x in tmp_path.iterdir()) == ["r.parquet"]


def test_every_column_not_copied_is_named(tmp_path):
    """The file's own burden (ltfu derives it: a warning says so) and columns named as the prepared
    table's computed ones (os_time) are named with the columns outside the data model."""
    df = simulate(30, seed=6)
    df["burden"] = "high"
    df["os_time"] = 1.0
    path = tmp_path / "r.parquet"
    df.to_parquet(path, index=False)
    done = prepare(path, tmp_path / "p.parquet")
    assert set(done.not_copied) == {"product", "indication", "burden", "os_time"}
    [said] = [w for w in done.warnings if w.field == "burden"]
    assert said.code == "UNKNOWN_COLUMN" and "derives" in said.message
    table = pq.read_table(done.path).to_pandas()
    assert (table["burden"] == load_cohort(path).data["burden"]).all() and (table["os_time"] != 1.0).any()


def test_a_cutoff_before_every_infusion_is_one_usage_error(tmp_path, capsys):
    path = write_registry(tmp_path / "r.parquet", 200, seed=2)
    code = main(["prepare", str(path), "--out", str(tmp_path / "p.parquet"), "--cutoff", "2000-01-01"])
    err = capsys.readouterr().err
    assert code == 2 and "before every patient's infusion" in err and err.count("CUTOFF_BEFORE_INFUSION") == 0
    assert not (tmp_path / "p.parquet").exists()


@pytest.mark.parametrize("bad", [0, 101, float("nan"), True, "5"])
def test_the_burden_threshold_is_checked(tmp_path, bad):
    from ltfu.errors import InvalidInputError

    path = write_registry(tmp_path / "r.parquet", 10, seed=1)
    with pytest.raises(InvalidInputError, match="burden_threshold"):
        prepare(path, tmp_path / "p.parquet", burden_threshold=bad)
    assert sorted(x.name for x in tmp_path.iterdir()) == ["r.parquet"]

#!/usr/bin/env python3
"""Kaplan-Meier, Nelson-Aalen, median follow-up and Gray's test by group (and Cox) from a Parquet
registry: DuckDB counting vs numpy, and vs DuckDB's bare GROUP BY; writes benchmarks/ENGINES.md.

    PYTHONPATH=src .venv/bin/python benchmarks/engines.py [--sizes 1e6 1e7 [1e8]] [--repeat 3]
    PYTHONPATH=src .venv/bin/python benchmarks/engines.py --sizes 1e8 --copies 10 --modes bare duckdb-exit duckdb

``--copies K`` reads the registry file K times over (a list of K equal paths, one scan of each):
K x the rows, with the same distinct times, so a 1e9-row measurement needs no 2.5 GB file.

The registry (written once per size, in chunks, to --dir): whole days 1..2000 (2,000 distinct
times), two groups, 30% censored, 20% delayed entry (entry uniform before exit, the others 0).
Each measurement runs in a fresh child process, which times its own work (imports excluded);
peak memory is the child's maximum resident set, read by the measuring process as
``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss`` after the child ends (one measuring process per
run, so no other child inflates it).  The children also print a digest of every KaplanMeier field,
so the table says whether the engines' results are identical.

Modes:
  numpy        read the four columns with pyarrow, then ``kaplan_meier_from(arrays, engine="numpy")``
               (``kaplan_meier`` per group after R's pooled time merging): the registry in memory
  duckdb       ``kaplan_meier_from(path, engine="duckdb", by="g", entry="en")``: one GROUPING SETS scan
  duckdb-exit  the same without delayed entry (exits only)
  bare         DuckDB's bare ``SELECT g, t, count(*), sum(e) ... GROUP BY g, t``: the floor for any
               exit-only counting query on this file
  bare-entry   the bare query UNION ALL ``SELECT g, en, count(*) ... GROUP BY g, en``: the floor with
               delayed entry (entries must be counted too), without ltfu's checks
  cox-numpy    ``ltfu.stats.cox`` (Efron, delayed entry) on three covariates read into memory
  cox-duckdb   ``cox_from`` on the same relation: one scan per Newton step
  na-*         ``nelson_aalen_from(by="g", entry="en")``, columns in memory (numpy) or counted by DuckDB
  fu-*         ``median_follow_up_from(by="g")`` (reverse Kaplan-Meier; DuckDB counts twice: merged times
               and the times as given, for the simple median)
  gray-*       ``gray_test_from(status=<e, or 2 for a pseudo-random tenth of the events>, by="g")``
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CHUNK = 5_000_000
MODES = ("numpy", "duckdb", "duckdb-exit", "bare", "bare-entry", "cox-numpy", "cox-duckdb", "na-numpy", "na-duckdb",
         "fu-numpy", "fu-duckdb", "gray-numpy", "gray-duckdb")
NUMPY_MODES = ("numpy", "cox-numpy", "na-numpy", "fu-numpy", "gray-numpy")
# Cox covariates made in the query (issue 20's target has three): the group, a pseudo-random score
# (0 to 9.9 by tenths) and an age-like integer (18 to 79), each from a hash of the row's times
COX_SQL = ("SELECT t, e, en, CAST(g = 'CAR-T' AS DOUBLE) AS cart, "
           "CAST(hash(t * 7 + en) % 100 AS DOUBLE) / 10 AS score, "
           "CAST(18 + hash(t * 13 + en * 3 + 1) % 62 AS DOUBLE) AS age FROM {source}")
COX_COVARIATES = ["cart", "score", "age"]


def write_registry(path: Path, n: int, seed: int = 2024) -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    tmp = path.with_suffix(".tmp")
    schema = pa.schema([("t", pa.float64()), ("e", pa.int8()), ("g", pa.string()), ("en", pa.float64())])
    with pq.ParquetWriter(tmp, schema) as w:
        for i, start in enumerate(range(0, n, CHUNK)):
            m = min(CHUNK, n - start)
            rng = np.random.default_rng([seed, i])
            t = rng.integers(1, 2001, m).astype(np.float64)
            e = (rng.random(m) >= 0.30).astype(np.int8)
            g = np.where(rng.random(m) < 0.5, "CAR-T", "SCT")
            en = np.where(rng.random(m) < 0.20, np.floor(rng.random(m) * t), 0.0)
            w.write_table(pa.table({"t": t, "e": e, "g": g, "en": en}, schema=schema), row_group_size=1 << 20)
    os.replace(tmp, path)


def digest_fields(results, fields) -> str:
    """A digest of the named array fields of each result (identical digests: bit-identical)."""
    import numpy as np

    h = hashlib.sha256()
    for key in sorted(results, key=str):
        h.update(str(key).encode())
        for f in fields:
            h.update(np.asarray(getattr(results[key], f), float).tobytes())
    return h.hexdigest()[:12]


# two causes made in the query for Gray's test: a pseudo-random tenth of the events is cause 2
GRAY_SQL = ("SELECT t, g, CASE WHEN e = 1 AND hash(t * 7 + en) % 10 = 0 THEN 2 ELSE e END AS s "
            "FROM {source}")


def digest(fits) -> str:
    h = hashlib.sha256()
    for key in sorted(fits, key=str):
        km = fits[key]
        h.update(str(key).encode())
        for f in ("time", "n_risk", "n_event", "n_censor", "survival", "std_err", "ci_lower", "ci_upper",
                  "std_err_log"):
            h.update(getattr(km, f).tobytes())
    return h.hexdigest()[:12]


def _cox_digest(fit) -> str:
    return f"coef {' '.join(f'{b:.10f}' for b in fit.coef)}, {fit.iterations} it"


def _source(path: str):
    """``path``, or ``[path] * K`` for "path*K" (--copies)."""
    name, star, k = path.rpartition("*")
    return [name] * int(k) if star and k.isdigit() else path


def _sql_source(path: str) -> str:
    """The read_parquet(...) of ``path`` or of its K copies, as SQL."""
    src = _source(path)
    return f"read_parquet({src!r})" if isinstance(src, list) else f"read_parquet('{src}')"


def child(mode: str, path: str) -> dict:
    """One measurement (run in its own process): seconds and a digest of the result."""
    import duckdb
    import numpy as np
    import pyarrow.parquet as pq

    import ltfu.stats.engines.duckdb
    import ltfu.stats.km  # noqa: F401  (imports are not timed: scipy alone takes a second)
    from ltfu.stats.engines import kaplan_meier_from

    t0 = time.perf_counter()
    out = {}
    if mode == "numpy":
        tab = pq.read_table(path, columns=["t", "e", "g", "en"])
        cols = {c: tab.column(c).to_numpy() for c in ("t", "e", "g", "en")}
        del tab
        out["load_s"] = time.perf_counter() - t0
        fits = kaplan_meier_from(cols, time="t", event="e", entry="en", by="g", engine="numpy")
        out["digest"] = digest(fits)
    elif mode in ("duckdb", "duckdb-exit"):
        fits = kaplan_meier_from(_source(path), time="t", event="e", entry="en" if mode == "duckdb" else None, by="g",
                                 engine="duckdb")
        out["digest"] = digest(fits)
    elif mode == "cox-duckdb":
        from ltfu.stats.engines import cox_from

        con = duckdb.connect()
        fit = cox_from(con.sql(COX_SQL.format(source=_sql_source(path))), time="t", event="e", entry="en",
                       covariates=COX_COVARIATES)
        out["digest"] = _cox_digest(fit)
    elif mode == "cox-numpy":
        from ltfu.stats import cox

        d = duckdb.connect().sql(COX_SQL.format(source=_sql_source(path))).fetchnumpy()
        out["load_s"] = time.perf_counter() - t0
        fit = cox(np.column_stack([d[c] for c in COX_COVARIATES]), d["t"], d["e"], entry=d["en"])
        out["digest"] = _cox_digest(fit)
    elif mode.startswith(("na-", "fu-", "gray-")):
        from ltfu.stats.engines import gray_test_from, median_follow_up_from, nelson_aalen_from

        kind, engine = mode.split("-")
        if kind == "gray":
            rel = duckdb.connect().sql(GRAY_SQL.format(source=_sql_source(path)))
            source = rel if engine == "duckdb" else {k: np.asarray(v) for k, v in rel.fetchnumpy().items()}
            if engine == "numpy":
                out["load_s"] = time.perf_counter() - t0
            res = gray_test_from(source, time="t", status="s", by="g", engine=engine)
            out["digest"] = digest_fields({"gray": res}, ("statistic", "p_value"))
        else:
            source = _source(path)
            if engine == "numpy":
                tab = pq.read_table(path, columns=["t", "e", "g", "en"])
                source = {c: tab.column(c).to_numpy() for c in ("t", "e", "g", "en")}
                del tab
                out["load_s"] = time.perf_counter() - t0
            if kind == "na":
                fits = nelson_aalen_from(source, time="t", event="e", entry="en", by="g", engine=engine)
                out["digest"] = digest_fields(fits, ("time", "n_risk", "n_event", "cumhaz", "std_err"))
            else:
                fus = median_follow_up_from(source, time="t", death="e", by="g", engine=engine)
                out["digest"] = digest_fields({k: v.reverse_km for k, v in fus.items()}, ("value", "lower", "upper")) \
                    + " " + digest_fields(fus, ("simple_median", "min", "max"))
    else:
        src = _sql_source(path)
        sql = f"SELECT g, t, count(*) AS n, sum(e) AS d FROM {src} GROUP BY g, t"
        if mode == "bare-entry":
            sql += f" UNION ALL SELECT g, en, 0 AS n, count(*) AS d FROM {src} GROUP BY g, en"
        res = duckdb.connect().sql(sql).fetchnumpy()
        out["digest"] = f"{np.asarray(res['n']).sum()} rows"
    out["seconds"] = time.perf_counter() - t0
    return out


def measure(mode: str, path: str) -> dict:
    """Run the child and report its result with its peak RSS (this process has no other child)."""
    proc = subprocess.run([sys.executable, __file__, "--child", mode, path], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(HERE.parent / "src")})
    if proc.returncode:
        raise RuntimeError(proc.stderr)
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    res["peak_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024     # KiB on Linux
    return res


def run(mode: str, path: str) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--measure", mode, path], capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(proc.stderr)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", nargs="+", type=float, default=[1e6])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    ap.add_argument("--copies", type=int, default=1,
                    help="read each size's file this many times over (rows x copies; 10 with 1e8: 1e9 rows)")
    ap.add_argument("--numpy-max", type=float, default=1e7,
                    help="largest size for the numpy path (it holds every row: ~2 GB per 1e7 rows here)")
    ap.add_argument("--dir", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "ltfu-engines-bench")
    ap.add_argument("--out", type=Path, default=HERE / "ENGINES.md")
    ap.add_argument("--results", type=Path, default=HERE / "ENGINES.json", help="stored measurements (updated)")
    ap.add_argument("--render", action="store_true", help="only rewrite --out from --results")
    ap.add_argument("--child", nargs=2, metavar=("MODE", "PATH"), help=argparse.SUPPRESS)
    ap.add_argument("--measure", nargs=2, metavar=("MODE", "PATH"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(child(*args.child)))
        return
    if args.measure:
        print(json.dumps(measure(*args.measure)))
        return
    if args.render:
        render(json.loads(args.results.read_text()), args.out)
        return
    args.dir.mkdir(parents=True, exist_ok=True)
    store = json.loads(args.results.read_text()) if args.results.exists() else {}
    for size in args.sizes:
        n = int(size)
        path = args.dir / f"registry_{n}.parquet"
        if not path.exists():
            t0 = time.perf_counter()
            write_registry(path, n)
            print(f"wrote {path} ({path.stat().st_size / 2**20:.0f} MB) in {time.perf_counter() - t0:.0f} s",
                  flush=True)
        rows, source = n * args.copies, str(path) + (f"*{args.copies}" if args.copies > 1 else "")
        for mode in args.modes:
            if mode in NUMPY_MODES and rows > args.numpy_max:
                store[f"{rows}/{mode}"] = {"skipped": True, "parquet_bytes": path.stat().st_size * args.copies}
                continue
            reps = [run(mode, source) for _ in range(args.repeat if rows <= 10_000_000 else 1)]
            best = min(reps, key=lambda r: r["seconds"])
            best["peak_mb"] = max(r["peak_mb"] for r in reps)
            best["parquet_bytes"] = path.stat().st_size * args.copies
            best["date"] = time.strftime("%Y-%m-%d")
            if args.copies > 1:
                best["copies"] = args.copies
            store[f"{rows}/{mode}"] = best
            print(rows, mode, best, flush=True)
            args.results.write_text(json.dumps(store, indent=1, sort_keys=True) + "\n")
    args.results.write_text(json.dumps(store, indent=1, sort_keys=True) + "\n")
    render(store, args.out)
    print(f"wrote {args.out}")


NAMES = {"numpy": "numpy path (columns in memory), with entry", "duckdb": "DuckDB counts, with entry",
         "duckdb-exit": "DuckDB counts, exits only", "bare": "DuckDB bare `GROUP BY g, t` count query",
         "bare-entry": "DuckDB bare count queries of exits and of entries (UNION ALL)",
         "cox-numpy": "Cox (Efron, entry, 3 covariates): `ltfu.stats.cox` in memory",
         "cox-duckdb": "Cox (Efron, entry, 3 covariates): `cox_from`, DuckDB sums",
         "na-numpy": "Nelson-Aalen by group, with entry: columns in memory",
         "na-duckdb": "Nelson-Aalen by group, with entry: DuckDB counts",
         "fu-numpy": "median follow-up by group: columns in memory",
         "fu-duckdb": "median follow-up by group: DuckDB counts (two queries)",
         "gray-numpy": "Gray's test, 2 causes, 2 groups: columns in memory",
         "gray-duckdb": "Gray's test, 2 causes, 2 groups: DuckDB counts"}


def render(store: dict, out: Path) -> None:
    """ENGINES.md from every stored measurement (a run updates only the rows it measured)."""
    dates = sorted({r["date"] for r in store.values() if "date" in r})
    lines = ["# Survival from Parquet: DuckDB counting vs numpy (Kaplan-Meier, Nelson-Aalen, median follow-up and "
             "Gray's test by group; Cox)", "",
             f"Written by `benchmarks/engines.py` (measured {', '.join(dates)}; raw results in ENGINES.json): "
             f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
             f"duckdb {_version('duckdb')}, numpy {_version('numpy')}.", "",
             "Registry: whole days 1..2000 (2,000 distinct times), two groups, 30% censored, 20% delayed entry; "
             "Cox covariates made in the query (the group, a score and an age-like integer from hashes of the row). "
             "Seconds: wall clock of the work in a fresh process, best of the runs (one run at 1e8); "
             "peak memory: the child's maximum resident set (`getrusage(RUSAGE_CHILDREN).ru_maxrss`, "
             "interpreter and imports (numpy, scipy, pyarrow, duckdb, ltfu) included: ~200 MB, the bare query's "
             "floor). Result: a digest of every KaplanMeier field (identical digests = bit-identical results; "
             "for Nelson-Aalen its table, for the median follow-up the reverse Kaplan-Meier median with its "
             "limits and then the simple median, minimum and maximum, for Gray's test the statistics and p-values); "
             "for Cox the coefficients to 10 decimals and the Newton iterations.", "",
             "| rows | Parquet MB | path | seconds | of which reading | peak MB | result |",
             "|---:|---:|---|---:|---:|---:|---|"]
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    keys = sorted(store, key=lambda k: (int(k.split("/")[0]), MODES.index(k.split("/")[1])))
    for key in keys:
        n, mode = int(key.split("/")[0]), key.split("/")[1]
        r = store[key]
        size = r["parquet_bytes"] / 2**20
        if r.get("skipped"):
            measured = [(int(k.split("/")[0]), v["peak_mb"]) for k, v in store.items()
                        if k.endswith(f"/{mode}") and not v.get("skipped")]
            need = ""
            if measured:
                m, mb = max(measured)
                need = f"~{mb * n / m / 1024:.0f} GB at the {m:,}-row rate, "
            lines.append(f"| {n:,} | {size:.0f} | {NAMES[mode]} | not run | | | every row in memory: {need}"
                         f"on a machine with {ram:.0f} GB |")
            continue
        load = f"{r['load_s']:.2f}" if "load_s" in r else ""
        name = NAMES[mode] + (f" (the {n // r['copies']:,}-row file read {r['copies']} times)" if "copies" in r else "")
        lines.append(f"| {n:,} | {size:.0f} | {name} | {r['seconds']:.2f} | {load} | {r['peak_mb']:.0f} | "
                     f"`{r['digest']}` |")
    lines += ["", "The DuckDB paths hold O(distinct times x groups) rows, so their memory stays flat as the "
              "registry grows (the same at 1e9 rows as at 1e6), while the numpy path holds every row (and sorts "
              "them).  The 1e9-row rows read the 1e8-row file ten times over (`--copies 10`): the same "
              "distinct times, ten times the scanning.  Exits only, Kaplan-Meier costs what DuckDB's bare "
              "`GROUP BY g, t` costs (1.0x at 1e8 rows, 1.15x at 1e9 on 2026-11-26).  With delayed entry the "
              "entries must be counted too: its floor is the bare exit and entry queries together "
              "(`bare-entry`), and ltfu's one GROUPING SETS scan, which also checks every row (status codes, "
              "NULLs, entry < exit), took 1.47x that floor at 1e8 and 1.30x at 1e9.  Two separate scans "
              "(UNION ALL) were about 10% faster than GROUPING SETS on this machine's page cache, but read "
              "the source twice: on a registry not in memory the single scan is the cheaper one.  Most of "
              "the numpy path's time is `check_groups` sorting the text group column (np.unique over Python "
              "strings: 22 of its 27 s at 1e7 rows when this note was written; check, merge and the two "
              "curves take the other ~5 s).  Cox from DuckDB scans the registry once for the checks and "
              "once per Newton evaluation (here 4 scans), each computing exp(x'b) and, for three "
              "covariates, ten sums per row (1 + 3 + 6); Efron's tied deaths are expanded in numpy in "
              "blocks of 2^18.  Timings of one day vary: the same 1e8-row Cox fit with two covariates took "
              "75 s on 2026-11-25 and 33 s on 2026-11-26 (same code, digest and iterations), as did the "
              "exit-only count (7.5 and 1.8 s); with three covariates (issue 20's target) 50 s on 2026-11-27."]
    tmp = out.with_suffix(".tmp")
    tmp.write_text("\n".join(lines) + "\n")
    os.replace(tmp, out)


def _version(mod):
    try:
        return __import__(mod).__version__
    except Exception:  # pragma: no cover
        return "?"


if __name__ == "__main__":
    main()

"""Counts from DuckDB: Parquet files (a path, a glob or a list of paths), CSV files, a DuckDB
relation (``con.sql(...)``, ``con.table(...)``), or an in-memory frame that DuckDB scans in place
(pandas, Polars, a pyarrow Table, a mapping of column name to array).

DuckDB streams the source through one hash aggregation (``_sql.aggregate_sql``) and returns only
its per-(keys, time, status) rows; it spills the hash table to disk when it outgrows memory, so a
registry larger than memory is counted in the memory of its distinct times.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np

from ltfu.errors import InvalidInputError
from ltfu.stats.engines._counts import Aggregates, Spec, TableCounts, assemble, column, make_spec
from ltfu.stats.engines._sql import NUMERIC_DUCKDB, aggregate_sql, check_columns, quote_duckdb, runs_sql

_VIEW = "ltfu_source"


def _duckdb():
    try:
        import duckdb
    except ImportError as err:              # pragma: no cover - duckdb is a dependency
        raise InvalidInputError("engine='duckdb' needs the duckdb package (pip install duckdb)") from err
    return duckdb


def relation(source, *, connection=None):
    """A DuckDB relation over ``source`` (see the module docstring for what a source may be)."""
    duckdb = _duckdb()
    if isinstance(source, duckdb.DuckDBPyRelation):
        return source
    con = connection if connection is not None else duckdb.connect()
    if isinstance(source, (str, os.PathLike)) or (isinstance(source, (list, tuple)) and source
                                                   and all(isinstance(p, (str, os.PathLike)) for p in source)):
        paths = [os.fspath(p) for p in ([source] if isinstance(source, (str, os.PathLike)) else source)]
        try:
            if all(p.lower().endswith((".csv", ".csv.gz", ".tsv")) for p in paths):
                return con.read_csv(paths if len(paths) > 1 else paths[0])
            return con.read_parquet(paths if len(paths) > 1 else paths[0])
        except duckdb.Error as exc:        # no such file, a glob matching none, not Parquet ...
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise InvalidInputError(f"source: DuckDB cannot read {', '.join(map(repr, paths))}: {reason}") from None
    module = type(source).__module__.split(".")[0]
    if module == "pandas" and hasattr(source, "columns"):
        _distinct_names(list(source.columns))
        _no_text_collisions(source)
        return con.from_df(source)
    if module == "polars":
        frame = source.collect() if hasattr(source, "collect") else source
        _distinct_names(frame.columns)
        return con.from_arrow(frame.to_arrow())
    if module == "pyarrow":
        _distinct_names(list(source.column_names) if hasattr(source, "column_names") else [])
        return con.from_arrow(source)
    if isinstance(source, Mapping):
        import pyarrow as pa

        for k, v in source.items():
            if isinstance(v, np.ma.MaskedArray):      # np.asarray would drop the mask: read masked values
                raise InvalidInputError(f"{k}: masked arrays are not accepted (fill or drop the masked values "
                                        "first)")
        _distinct_names([str(k) for k in source])
        return con.from_arrow(pa.table({str(k): np.asarray(v) if not hasattr(v, "__arrow_array__") else v
                                        for k, v in source.items()}))
    raise InvalidInputError(f"source: DuckDB cannot read a {type(source).__name__}; give a Parquet path or glob, a "
                            "DuckDB relation, a pandas or Polars DataFrame, a pyarrow Table or a mapping of arrays")


def _distinct_names(names) -> None:
    """DuckDB matches column names without regard to case and renames a repeated one (t, T -> t,
    T_1; t, t -> t, t_1), so such a frame's columns would not be the ones named: refused."""
    seen: dict = {}
    for name in map(str, names):
        other = seen.get(name.lower())
        seen[name.lower()] = name
        if other == name:
            raise InvalidInputError(f"source: column {name!r} appears twice; rename one")
        if other is not None:
            raise InvalidInputError(f"source: columns {other!r} and {name!r} differ only in case, which DuckDB does "
                                    "not tell apart; rename one (or use engine='numpy')")


def _no_text_collisions(frame) -> None:
    """DuckDB reads a pandas column of texts and numbers as text, so 1 and "1" would be one group:
    refused, as the numpy engine refuses it (``check_groups``)."""
    import pandas as pd

    from ltfu.stats._common import text_collision

    for name in frame.columns:
        col = frame[name]
        if col.dtype == object and pd.api.types.infer_dtype(col, skipna=True).startswith("mixed"):
            same = text_collision(col.to_numpy())
            if same is not None:
                raise InvalidInputError(f"{name}: {same[0]!r} and {same[1]!r} are different values with the same "
                                        "text, which would make one group; give the column in one type")


class DuckDBEngine:
    """The ``Engine`` of ``_counts``, over one relation."""

    def __init__(self, rel):
        self.rel = rel

    source_name = _VIEW
    quote = staticmethod(quote_duckdb)
    numeric_types = NUMERIC_DUCKDB

    def query(self, sql: str):
        return self.rel.query(_VIEW, sql)

    def columns(self) -> dict:
        """Column name -> type name."""
        return dict(zip(self.rel.columns, map(str, self.rel.types)))

    def fetch(self, sql: str) -> dict:
        """The result's columns as numpy (masked where NULL) arrays."""
        return self.query(sql).fetchnumpy()

    def check(self, spec: Spec) -> None:
        check_columns(spec, self.columns(), NUMERIC_DUCKDB, "source")

    def aggregate(self, spec: Spec) -> Aggregates:
        self.check(spec)
        res = self.query(aggregate_sql(spec, _VIEW, quote_duckdb)).fetchnumpy()
        keys = [f"k{i}" for i in range(len(spec.keys))]
        if spec.entry is None:
            return Aggregates([column(res[k], numeric=False) for k in keys], column(res["t"], numeric=True)[0],
                              column(res["e"], numeric=True)[0], np.asarray(res["n"], np.int64))
        ex = np.asarray(res["is_exit"]) == 1
        pick = lambda name, m, numeric: column(res[name][m], numeric=numeric)
        return Aggregates([pick(k, ex, False) for k in keys], pick("t", ex, True)[0], pick("e", ex, True)[0],
                          np.asarray(res["n"][ex], np.int64),
                          [pick(k, ~ex, False) for k in keys], pick("en", ~ex, True)[0],
                          np.asarray(res["n"][~ex], np.int64), np.asarray(res["bad"][~ex], np.int64))

    def rows_in_runs(self, spec: Spec, lo, hi) -> int:
        return int(self.query(runs_sql(spec, _VIEW, quote_duckdb, lo, hi)).fetchall()[0][0])


def counts_spec(source, spec: Spec, *, connection=None) -> TableCounts:
    engine = DuckDBEngine(relation(source, connection=connection))
    return assemble(engine.aggregate(spec), spec, engine)


def counts(source, *, time: str, event: str, entry: str | None = None, group=None, strata=None, causes=None,
           cencode: int = 0, timefix: bool = True, connection=None) -> TableCounts:
    """The counts tables of ``source`` computed by DuckDB (``ltfu.stats.engines.counts``)."""
    spec = make_spec(time=time, event=event, entry=entry, group=group, strata=strata, causes=causes,
                     cencode=cencode, timefix=timefix)
    return counts_spec(source, spec, connection=connection)


def read_columns(source, names, *, connection=None) -> dict:
    """The named columns of ``source`` as numpy arrays (for engine="numpy"): NULL becomes NaN in a
    numeric column and None elsewhere, so the numpy checks report it as missing."""
    rel = relation(source, connection=connection)
    missing = [n for n in names if n not in rel.columns]
    if missing:
        raise InvalidInputError(f"no column {missing[0]!r} in the source (columns: "
                                f"{', '.join(map(repr, rel.columns))})")
    res = rel.select(*[quote_duckdb(n) for n in dict.fromkeys(names)]).fetchnumpy()
    out = {}
    for name in names:
        a = res[name]
        if isinstance(a, np.ma.MaskedArray):
            mask = np.ma.getmaskarray(a)
            data = np.ma.getdata(a)
            if data.dtype.kind in "iufb":
                a = np.where(mask, np.nan, data.astype(float)) if mask.any() else data
            else:
                a = data.astype(object)
                a[mask] = None
        out[name] = a
    return out

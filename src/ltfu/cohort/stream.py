"""Validation of a Parquet patient table too large to hold in memory, in row batches.

``ltfu validate`` reads a table whole when it is within ``Limits.max_cells``; a larger Parquet
file (a registry of 1e7 patients) is validated here, with every problem the whole-table validation
would list (``tests/test_stream_validate.py`` compares the two on files within the limit, batch
by batch down to one row per batch).  Two passes over the file:

1. **What no single batch can decide**, from the id column and the text date columns only:
   * the day/month order of the file's dates: each date column's distinct values that prove an
     order (``ltfu.cohort.dates``), gathered over every batch, decide it as they would for the
     whole table;
   * duplicate ids and ids that differ only by case: every id's normalised, case-folded key is
     kept (as Arrow text: about 20 bytes per patient); the rows whose key is missing or appears
     more than once are then checked together by the whole-table rule (``_check_ids``), which
     names the first row of each id as it would.
2. **Every batch** through the whole-table validation (``ltfu.cohort.validate.check``) with what
   pass 1 decided (``Shared``): the row-level problems of each batch, the column-level ones once,
   and the patients with an event after the cut-off counted over every batch into one warning.

The problems are listed table-level first, then by row.  Memory is that of one batch (sized in
cells, ``BATCH_CELLS``) plus the ids' keys; the file is opened read-only.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ltfu.cohort.dates import decide_order, order_counts
from ltfu.cohort.load import _long_cells, _unique_columns
from ltfu.cohort.model import DEFAULT_BURDEN_THRESHOLD
from ltfu.cohort.parse import _check_ids, _Collector, _distinct, _id_keys, _text
from ltfu.cohort.raw import LIMITS, Limits, RawTable, _string_dtype, _too_many_columns
from ltfu.cohort.schema import DATE_FIELDS, resolve_columns
from ltfu.cohort.validate import DEFAULT_DATE_FLOOR, DEFAULT_MAX_FOLLOW_UP_YEARS, Shared, after_cutoff, check
from ltfu.errors import LoadError

BATCH_CELLS = 4_000_000      # cells per batch: about 150,000 rows of a 28-column registry


@dataclass(frozen=True)
class Checked:
    """What validating a table in batches found: every problem, its rows, its data cut-off."""

    problems: list
    rows: int
    cutoff: str | None


def too_large(path, limits: Limits | None = None) -> bool:
    """Whether ``path`` is a Parquet file with more cells than ``limits.max_cells`` or more column
    data than ``limits.max_unpacked_bytes`` once decompressed (default: the loader's ``LIMITS``),
    which ``ltfu.cohort.load`` refuses to hold and this module validates in batches."""
    import pyarrow.parquet as pq

    from ltfu.cohort import raw

    limits = limits or raw.LIMITS
    path = Path(path)
    if path.suffix.lower() not in (".parquet", ".pq") or not path.is_file():
        return False
    try:
        meta = pq.read_metadata(path)
    except Exception:  # not Parquet after all: the loader says why
        return False
    unpacked = sum(meta.row_group(g).column(c).total_uncompressed_size
                   for g in range(meta.num_row_groups) for c in range(meta.num_columns))
    return meta.num_rows * meta.num_columns > limits.max_cells or unpacked > limits.max_unpacked_bytes


def validate_parquet(path, *, cutoff=None, burden_threshold: float = DEFAULT_BURDEN_THRESHOLD, today=None,
                     date_floor=DEFAULT_DATE_FLOOR, max_follow_up_years: float = DEFAULT_MAX_FOLLOW_UP_YEARS,
                     batch_rows: int | None = None, limits: Limits = LIMITS) -> Checked:
    """Every problem of the Parquet patient table at ``path``, read in batches of ``batch_rows``
    rows (default: ``BATCH_CELLS`` cells).  Raises LoadError when the file cannot be read."""
    import pyarrow.parquet as pq

    path = Path(path)
    try:
        file = pq.ParquetFile(path, pre_buffer=False)     # row groups decoded one at a time, unbuffered
    except Exception as exc:  # a corrupt file: say so, without a traceback
        raise _unreadable(path, exc) from None
    header = tuple(file.schema_arrow.names)
    stripped = tuple(str(h).strip() for h in header)
    _too_many_columns(path.name, len(header), limits)
    if batch_rows is None:
        batch_rows = max(1, BATCH_CELLS // max(1, len(header)))
    today = today or dt.date.today()
    empty, _ = _unique_columns(file.schema_arrow.empty_table().to_pandas(types_mapper=_string_dtype))
    mapping = resolve_columns(empty.columns)[0]
    canon = {v: k for k, v in mapping.items()}
    # the file's columns by position (a repeated name is renamed by _unique_columns, not by the file)
    position = {name: i for i, name in enumerate(empty.columns)}
    id_column = canon.get("patient_id")
    import pyarrow as pa

    # only text can prove a day/month order: Parquet dates and timestamps are dates already
    types = {name: file.schema_arrow.types[i] for name, i in position.items()}
    text_dates = [canon[d] for d in DATE_FIELDS if d in canon
                  and not (pa.types.is_date(types[canon[d]]) or pa.types.is_timestamp(types[canon[d]]))]
    try:
        nullable = _nullable(file, batch_rows)
        order, evidence, id_problems = _first_pass(file, header, position, id_column, text_dates, canon,
                                                   batch_rows, nullable)
        shared = Shared(order, evidence)
        problems: list = []
        cut = None
        start = 0
        for batch in file.iter_batches(batch_size=batch_rows):
            df, renamed = _unique_columns(_frame(batch, nullable))
            rows = np.arange(start + 1, start + len(df) + 1)
            start += len(df)
            raw = RawTable(df, rows, str(path), "", "parquet",
                           tuple([*(renamed if shared.first else []), *_long_cells(df, rows)]),
                           stripped)
            found, _, batch_cut = check(raw, cutoff=cutoff, burden_threshold=burden_threshold, today=today,
                                        date_floor=date_floor, max_follow_up_years=max_follow_up_years,
                                        shared=shared)
            problems.extend(found)
            cut = batch_cut if cut is None or (batch_cut is not None and batch_cut > cut) else cut
            shared.first = False
    except LoadError:
        raise
    except Exception as exc:  # a corrupt page found while reading
        raise _unreadable(path, exc) from None
    if start == 0:          # no rows: the whole-table validation (nothing to hold)
        from ltfu.cohort.validate import validate

        raw = RawTable(empty, np.arange(1, 1), str(path), "", "parquet", (), stripped)
        return Checked(validate(raw, cutoff=cutoff, burden_threshold=burden_threshold, today=today,
                                date_floor=date_floor, max_follow_up_years=max_follow_up_years), 0, None)
    problems.extend(id_problems)
    if shared.after_cutoff:
        col = _Collector(np.empty(0, np.int64), np.empty(0, object), canon)
        after_cutoff(col, shared.after_cutoff)
        problems.extend(col.problems)
    if cutoff is not None:
        cut = str(np.datetime64(cutoff, "D"))
    return Checked(_in_order(problems), start, cut)


def _unreadable(path, exc) -> LoadError:
    """The loader's words for a file that is not readable Parquet."""
    return LoadError(f"{path.name}: cannot be read as parquet ({type(exc).__name__}: {str(exc)[:200]})")


def _nullable(file, batch_rows) -> set:
    """The positions of the integer and boolean columns with a missing value anywhere in the file.
    pandas reads such a column as floats (1003.0) or objects when the whole table is read, but a
    batch without a missing value as integers (1003) or booleans: ``_frame`` reads every batch as
    the whole table would be read, so problems name the same values (and ids the same keys)."""
    import pyarrow as pa

    types = file.schema_arrow.types
    candidates = [i for i, t in enumerate(types) if pa.types.is_integer(t) or pa.types.is_boolean(t)]
    found, unsure = set(), []
    meta = file.metadata
    for i in candidates:
        counts = [meta.row_group(g).column(i).statistics for g in range(meta.num_row_groups)]
        if all(c is not None and c.has_null_count for c in counts):
            if sum(c.null_count for c in counts):
                found.add(i)
        else:
            unsure.append(i)
    if unsure:                           # no statistics: counted
        names = file.schema_arrow.names
        for batch in file.iter_batches(batch_size=batch_rows,
                                       columns=[names[i] for i in unsure] if len(set(names)) == len(names) else None):
            for k, i in enumerate(unsure):
                column = batch.column(k if len(set(names)) == len(names) else i)
                if column.null_count:
                    found.add(i)
    return found


def _frame(batch, nullable: set):
    """One batch as pandas, each column as the whole table's reading makes it (``_nullable``)."""
    import pyarrow as pa

    df = batch.to_pandas(types_mapper=_string_dtype)
    for i in nullable:
        if pa.types.is_integer(batch.schema.types[i]) and df.iloc[:, i].dtype.kind in "iu":
            df.isetitem(i, df.iloc[:, i].astype("float64"))
        elif pa.types.is_boolean(batch.schema.types[i]) and df.iloc[:, i].dtype == bool:
            df.isetitem(i, df.iloc[:, i].astype(object))
    return df


def _first_pass(file, header, position, id_column, text_dates, canon, batch_rows, nullable):
    """(the dates' order, its evidence, the id problems) over every batch of the file."""
    wanted = [c for c in [id_column, *text_dates] if c is not None]
    if not wanted:
        return None, (0, 0), []
    unique = len(set(header)) == len(header)
    columns = [header[position[c]] for c in wanted] if unique else None
    proving: dict[str, set] = {c: set() for c in text_dates}
    hashes, missing = [], []
    for batch in file.iter_batches(batch_size=batch_rows, columns=columns):
        arrays = {n: batch.column(wanted.index(n) if unique else position[n]) for n in wanted}
        for c in text_dates:
            _, values = _distinct(arrays[c].to_pandas(types_mapper=_string_dtype))
            proving[c].update(v for v in values if isinstance(v, str) and any(order_counts([v])))
        if id_column is not None:
            # each id's duplicate-finding key, case-folded, as a 64-bit hash: ids whose hash is
            # repeated (or missing) are the only ones that can be a DUPLICATE_ID or ID_CASE_VARIANT
            keys = _id_keys(_text(_as_read(arrays[id_column], position[id_column] in nullable)))
            absent = keys == None  # noqa: E711 (elementwise on an object array)
            missing.append(absent)
            hashes.append(pd.util.hash_array(np.array([k.casefold() if k is not None else "" for k in keys],
                                                      dtype=object), categorize=False))
    evidence = tuple(int(x) for x in np.sum([order_counts(v) for v in proving.values()] or [(0, 0)], axis=0))
    order = decide_order(*evidence)
    if id_column is None:
        return order, evidence, []
    every = np.concatenate(hashes) if hashes else np.empty(0, np.uint64)
    del hashes
    ordered = np.sort(every)
    repeated = np.unique(ordered[1:][ordered[1:] == ordered[:-1]])
    del ordered
    suspect = np.flatnonzero(np.isin(every, repeated) | np.concatenate([np.empty(0, bool), *missing]))
    if suspect.size == 0:
        return order, evidence, []
    series = _rows_of_column(file, header[position[id_column]] if unique else None, position[id_column],
                             suspect, batch_rows, position[id_column] in nullable)
    ids = _text(series)
    col = _Collector(suspect + 1, ids, canon)
    _check_ids(ids, col, series)
    return order, evidence, col.problems


def _as_read(array, nullable: bool):
    """One column as pandas, as the whole table's reading makes it (``_nullable``)."""
    import pyarrow as pa

    if nullable and pa.types.is_integer(array.type):
        array = array.cast(pa.float64())
    series = array.to_pandas(types_mapper=_string_dtype)
    return series.astype(object) if nullable and series.dtype == bool else series


def _rows_of_column(file, name, index, rows, batch_rows, nullable):
    """The cells of one column at ``rows`` (sorted row indices), read batch by batch."""
    import pyarrow as pa

    parts, start = [], 0
    for batch in file.iter_batches(batch_size=batch_rows, columns=None if name is None else [name]):
        column = batch.column(index if name is None else 0)
        lo, hi = np.searchsorted(rows, [start, start + len(column)])
        if hi > lo:
            parts.append(column.take(pa.array(rows[lo:hi] - start)))
        start += len(column)
    return _as_read(pa.chunked_array(parts), nullable)


def _in_order(problems):
    """Table-level problems first (in the order found), then by row (stable)."""
    return sorted(problems, key=lambda p: (p.row is not None, p.row or 0))

"""Validation of a Parquet patient table too large to hold in memory, in row batches.

``ltfu validate`` reads a table whole when it is within the loader's limits (``Limits.max_cells``,
``max_unpacked_bytes``); a larger Parquet file (a registry of 1e7 patients) is validated here,
with every problem the whole-table validation would list (``tests/test_stream_validate.py``
compares the two on files within the limits, down to one row per batch, and on files a hunt made
odd).  Each batch is read as the whole table's reading makes it (``_convert``: by name, through an
Arrow Table so the file's pandas metadata applies, integer and boolean columns with a gap anywhere
as floats and objects).  Two passes over the file:

1. **What no single batch can decide**, from the id column and the text date columns only:
   * the day/month order of the file's dates: each date column's distinct values that prove an
     order (``ltfu.cohort.dates``), gathered over every batch, decide it as they would for the
     whole table;
   * duplicate ids and ids that differ only by case: a 64-bit hash of every id's normalised,
     case-folded key is kept (8 bytes per patient); the rows whose hash is missing or repeated
     are read again and checked together by the whole-table rule (``_check_ids``), which names
     the first row of each id as it would (a hash collision only adds rows to that check).
2. **Every batch** through the whole-table validation (``ltfu.cohort.validate.check``) with what
   pass 1 decided (``Shared``): the row-level problems of each batch, the column-level ones once,
   and the patients with an event after the cut-off counted over every batch into one warning.

The problems are listed table-level first, then by row.  Memory is that of one decoded Parquet row
group and one batch (sized in cells, ``BATCH_CELLS``) plus the ids' hashes; the file is opened
read-only.

Pass 2 may run on two processes (``workers=None`` or 2; the CLI asks for it, a library call runs
serially unless it does, since spawned workers import the caller's main module, which must then
be guarded by ``if __name__ == "__main__":`` as with any multiprocessing): for a large file
(``PARALLEL_MIN_ROWS``) with several row groups, each worker validates whole row groups (each
batch numbered from the row groups before it) and the caller takes their results in the file's
order, so the problems, in their order, and the rows a sink receives, in theirs, are the serial
pass's (the batches may be cut differently: the tests compare both).  A sink given as a
``(convert, write)`` pair has ``convert`` (the typed batch to an Arrow table: the sink's own
arithmetic) run in the workers and ``write`` in the caller, in order.  The workers ignore Ctrl-C
(the caller stops them) and are stopped whenever the caller stops reading their results.
"""

from __future__ import annotations

import datetime as dt
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ltfu.cohort import raw as _raw
from ltfu.cohort.dates import decide_order, order_counts
from ltfu.cohort.load import _long_cells, _unique_columns
from ltfu.cohort.model import DEFAULT_BURDEN_THRESHOLD
from ltfu.cohort.parse import _check_ids, _Collector, _distinct, _id_keys, _text
from ltfu.cohort.raw import Limits, RawTable, _too_many_columns, arrow_to_pandas
from ltfu.cohort.schema import DATE_FIELDS, resolve_columns
from ltfu.cohort.validate import DEFAULT_DATE_FLOOR, DEFAULT_MAX_FOLLOW_UP_YEARS, Shared, after_cutoff, check
from ltfu.errors import LoadError

BATCH_CELLS = 4_000_000      # cells per batch: about 150,000 rows of a 28-column registry
PARALLEL_MIN_ROWS = 1_000_000   # a file of at least this many rows in several row groups: two workers
QUEUE_BATCHES = 8               # batches a worker may validate ahead of the caller


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
                     batch_rows: int | None = None, limits: Limits | None = None, sink=None,
                     workers: int | None = 1) -> Checked:
    """Every problem of the Parquet patient table at ``path``, read in batches of ``batch_rows``
    rows (default: ``BATCH_CELLS`` cells).  Raises LoadError when the file cannot be read.
    ``sink``, when given, receives each batch's typed frame (the loader's columns, as
    ``validate.check`` makes them) in the file's order, as long as no error has been found before or
    in that batch (``ltfu.registry.prepare`` writes them): a function of the frame, or a
    ``(convert, write)`` pair (``write(convert(typed))``; ``convert`` picklable, run in the workers).
    ``workers``: processes for pass 2 (1, the default: serial; None: two for a file of
    ``PARALLEL_MIN_ROWS`` rows or more in several row groups on a machine with two cores or more;
    see the module docstring for the main-module guard this needs)."""
    import pyarrow.parquet as pq

    path = Path(path)
    today = today or dt.date.today()
    try:
        file = pq.ParquetFile(path, pre_buffer=False)     # row groups decoded one at a time, unbuffered
        return _validate(path, file, cutoff, burden_threshold, today, date_floor, max_follow_up_years,
                         batch_rows, _raw.LIMITS if limits is None else limits, sink,   # read now, as too_large
                         workers)
    except LoadError:
        raise
    except _SinkFailed as failed:   # the writer's own error (a full disk ...): not the input's
        raise failed.error from None
    except Exception as exc:  # a corrupt file or page: say so, without a traceback
        raise _unreadable(path, exc) from None


class _SinkFailed(Exception):
    """Carries an exception raised by ``sink`` past the reading's handler."""

    def __init__(self, error: Exception):
        super().__init__(str(error))
        self.error = error

    def __reduce__(self):                 # from a worker process: the error itself, not its text
        return (_SinkFailed, (self.error,))


def _validate(path, file, cutoff, burden_threshold, today, date_floor, max_follow_up_years, batch_rows, limits,
              sink=None, workers=None):
    header = tuple(file.schema_arrow.names)
    stripped = tuple(str(h).strip() for h in header)
    _too_many_columns(path.name, len(header), limits)
    if batch_rows is None:
        batch_rows = max(1, BATCH_CELLS // max(1, len(header)))
    nullable = _nullable(file, batch_rows)
    # the columns as the loader's reading names them (pandas metadata may make one the index)
    empty, renamed = _unique_columns(_convert(file.schema_arrow.empty_table(), nullable))
    mapping = resolve_columns(empty.columns)[0]
    canon = {v: k for k, v in mapping.items()}
    id_column = canon.get("patient_id")
    # only text can prove a day/month order: dates and timestamps are dates already
    text_dates = [canon[d] for d in DATE_FIELDS if d in canon
                  and not pd.api.types.is_datetime64_any_dtype(empty[canon[d]])]
    reader = _Reader(file, header, batch_rows, nullable)
    order, evidence, id_problems = _first_pass(reader, id_column, text_dates, canon)
    shared = Shared(order, evidence)
    problems: list = []
    cut = None
    start = 0
    failed = any(p.severity == "error" for p in id_problems)
    convert, write = sink if isinstance(sink, tuple) else (None, sink)
    task = _Task(str(path), batch_rows, nullable, tuple(renamed), stripped,
                 dict(cutoff=cutoff, burden_threshold=burden_threshold, today=today, date_floor=date_floor,
                      max_follow_up_years=max_follow_up_years), order, evidence, convert if write else None,
                 write is not None)
    n_workers = _workers(file, workers)
    state = {"failed": failed}       # read by the serial pass: after an error nothing more is converted
    started = _start_workers(task, file, n_workers) if n_workers > 1 else None
    results = _in_workers(task, file, *started) if started else _serial(task, reader, state)
    with closing(results):           # an error or an interrupt here stops the workers at once
        for found, typed, batch_cut, n_rows, after in results:
            start += n_rows
            problems.extend(found)
            shared.after_cutoff += after
            failed = state["failed"] = failed or any(p.severity == "error" for p in found)
            if write is not None and not failed:
                try:
                    write(typed)
                except Exception as exc:
                    raise _SinkFailed(exc) from exc
            del typed
            cut = batch_cut if cut is None or (batch_cut is not None and batch_cut > cut) else cut
    if start == 0:          # no rows: the whole-table validation (nothing to hold)
        from ltfu.cohort.validate import validate

        raw = RawTable(empty, np.arange(1, 1), str(path), "", "parquet", tuple(renamed), stripped)
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


@dataclass(frozen=True)
class _Task:
    """What a batch's validation needs besides the batch (picklable, for the workers): pass 1's
    decisions and the sink's ``convert`` (None: the typed frame itself is handed over)."""

    path: str
    batch_rows: int
    nullable: set
    renamed: tuple
    stripped: tuple
    options: dict
    order: str | None
    evidence: tuple
    convert: Any = None
    keep: bool = True          # the typed batch (or its conversion) is wanted: a sink was given

    def check(self, df, rows, shared, failed=False):
        """(problems, the typed batch or its conversion (None after an error, here or before:
        ``failed``), cut-off, rows, the patients with an event after the cut-off)."""
        before = shared.after_cutoff
        raw = RawTable(df, rows, self.path, "", "parquet",
                       tuple([*(self.renamed if shared.first else []), *_long_cells(df, rows)]), self.stripped)
        found, typed, cut = check(raw, shared=shared, **self.options)
        shared.first = False
        if not self.keep or failed:
            typed = None                     # nothing to hand over (and nothing to send from a worker)
        elif self.convert is not None:
            try:
                typed = None if any(p.severity == "error" for p in found) else self.convert(typed)
            except Exception as exc:
                raise _SinkFailed(exc) from exc
        return found, typed, cut, len(df), shared.after_cutoff - before


def _serial(task: _Task, reader, state):
    shared = Shared(task.order, task.evidence)
    for df, rows in reader.batches(None):
        yield task.check(df, rows, shared, state["failed"])


def _workers(file, workers) -> int:
    from ltfu.machine import cores

    if workers is not None:
        return max(1, int(workers))
    meta = file.metadata
    if meta.num_row_groups < 2 or meta.num_rows < PARALLEL_MIN_ROWS:
        return 1
    return min(2, cores())


def _worker(task: _Task, groups, starts, queue) -> None:
    """A worker process: its row groups in order, each batch's result put on ``queue`` as it is
    made (the queue is short: the worker waits while the caller is behind), then ("end", group);
    an exception is put as ("error", exc) and ends the worker."""
    import pickle
    import signal

    import pyarrow.parquet as pq

    signal.signal(signal.SIGINT, signal.SIG_IGN)      # Ctrl-C is the caller's, which stops the workers
    try:
        file = pq.ParquetFile(task.path, pre_buffer=False)
        for group in groups:
            shared = Shared(task.order, task.evidence, first=group == 0)
            start = int(starts[group])
            for batch in file.iter_batches(batch_size=task.batch_rows, row_groups=[group]):
                df, _ = _unique_columns(_convert(batch, task.nullable))
                rows = np.arange(start + 1, start + len(df) + 1)
                start += len(df)
                queue.put(("batch", task.check(df, rows, shared)))
                del df, batch
            queue.put(("end", group))
    except BaseException as exc:            # said by the caller, who raises it
        try:
            pickle.loads(pickle.dumps(exc))
        except Exception:                   # an exception that cannot cross: its text does
            exc = RuntimeError(f"{type(exc).__name__}: {exc}")
        queue.put(("error", exc))


def _start_workers(task: _Task, file, workers: int):
    """(queues, processes) of ``workers`` started workers: row group g goes to worker g mod
    ``workers``; None when this system cannot start them (no shared-memory semaphores, a sandbox
    forbidding processes): the pass then runs in one process, with the same result."""
    import multiprocessing

    meta = file.metadata
    starts = np.r_[0, np.cumsum([meta.row_group(g).num_rows for g in range(meta.num_row_groups)])]
    procs: list = []
    try:
        # spawned, not forked: the caller may hold threads (Arrow's, DuckDB's) that a fork would copy
        ctx = multiprocessing.get_context("spawn")
        queues = [ctx.Queue(maxsize=QUEUE_BATCHES) for _ in range(workers)]
        for w, q in enumerate(queues):
            procs.append(ctx.Process(target=_worker, args=(task, list(range(w, meta.num_row_groups, workers)), starts,
                                                          q), daemon=True))
            procs[-1].start()
    except (OSError, ImportError, RuntimeError):
        for proc in procs:
            proc.terminate()
            proc.join()
        return None
    return queues, procs


def _in_workers(task: _Task, file, queues, procs):
    """Pass 2's results in the file's order from the started workers (``_start_workers``), each
    putting each batch's result on its own short queue; the caller takes them group by group, so
    it holds a few batches, not row groups."""
    from queue import Empty

    meta = file.metadata
    workers = len(procs)
    try:
        for g in range(meta.num_row_groups):
            q, proc = queues[g % workers], procs[g % workers]
            while True:
                try:
                    kind, value = q.get(timeout=1.0)
                except Empty:
                    if proc.is_alive():
                        continue
                    try:                     # it may have put its last result just before it ended
                        kind, value = q.get(timeout=1.0)
                    except Empty:
                        code = proc.exitcode
                        why = f"killed by signal {-code}, e.g. for lack of memory" if code is not None and code < 0 \
                            else f"exit code {code}"
                        raise LoadError(f"{Path(task.path).name}: a validation worker process stopped ({why}) "
                                        "before it had validated its part of the file; nothing was written. Run it "
                                        "again (from Python, workers=1 validates in one process)") from None
                if kind == "error":
                    raise value
                if kind == "end":
                    break
                yield value
        for proc in procs:
            proc.join()
    finally:
        for proc in procs:                   # an error, an interrupt, or a caller that stopped early
            if proc.is_alive():
                proc.terminate()
                proc.join()


def _unreadable(path, exc) -> LoadError:
    """The loader's words for a file that is not readable Parquet."""
    return LoadError(f"{path.name}: cannot be read as parquet ({type(exc).__name__}: {str(exc)[:200]})")


def _nullable(file, batch_rows) -> set:
    """The names of the integer and boolean columns with a missing value anywhere in the file.
    pandas reads such a column as floats (1003.0) or objects when the whole table is read, but a
    batch without a missing value as integers (1003) or booleans: ``_convert`` reads every batch as
    the whole table would be read, so problems name the same values (and ids the same keys)."""
    import pyarrow as pa

    schema = file.schema_arrow
    candidates = {f.name for f in schema if pa.types.is_integer(f.type) or pa.types.is_boolean(f.type)}
    meta = file.metadata
    found, unsure = set(), set()
    for name in candidates:
        stats: list = []
        for g in range(meta.num_row_groups):
            group = meta.row_group(g)
            chunks = [group.column(c) for c in range(group.num_columns) if group.column(c).path_in_schema == name]
            stats.extend(c.statistics for c in chunks)
            if len(chunks) != 1:
                stats.append(None)       # a repeated name or a nested path: counted instead
        if all(st is not None and st.has_null_count for st in stats):
            if sum(st.null_count for st in stats):
                found.add(name)
        else:
            unsure.add(name)
    if unsure:                           # no statistics to go by: counted, reading only those columns
        names = list(schema.names)
        repeated = any(names.count(u) > 1 for u in unsure)      # a name read by position, not projected
        for batch in file.iter_batches(batch_size=batch_rows, columns=None if repeated else sorted(unsure)):
            for field, column in zip(batch.schema, batch.columns):
                if field.name in unsure and column.null_count:
                    found.add(field.name)
    return found


def _convert(table, nullable: set):
    """A batch (or a table) as pandas, as the whole table's reading makes it: through a Table, so
    the file's pandas metadata applies (nullable Int64, an index column); an integer or boolean
    column with a missing value elsewhere in the file (``_nullable``) as floats or objects."""
    import pyarrow as pa

    if isinstance(table, pa.RecordBatch):
        table = pa.Table.from_batches([table])
    df = arrow_to_pandas(table)
    for i, name in enumerate(df.columns):
        if name in nullable:
            s = df.iloc[:, i]
            if not isinstance(s.dtype, np.dtype):     # a pandas extension type (Int64, boolean): as it is
                continue
            if s.dtype.kind in "iu":
                df.isetitem(i, s.astype("float64"))
            elif s.dtype == bool:
                df.isetitem(i, s.astype(object))
    return df


class _Reader:
    """The file's batches as the loader's reading makes them, with their row numbers; projected to
    some columns (by the names ``_unique_columns`` gives) when the header has no repeated name."""

    def __init__(self, file, header, batch_rows, nullable):
        self.file, self.batch_rows, self.nullable = file, batch_rows, nullable
        # projected by name only when no two names are one once stripped (the loader keeps the first)
        names = [str(h).strip() for h in header]
        self.by_name = dict(zip(names, header)) if len(set(names)) == len(names) else None

    def batches(self, wanted):
        columns = None if wanted is None or self.by_name is None else [self.by_name[c] for c in wanted]
        start = 0
        for batch in self.file.iter_batches(batch_size=self.batch_rows, columns=columns):
            df, _ = _unique_columns(_convert(batch, self.nullable))     # the renames: said from the schema
            rows = np.arange(start + 1, start + len(df) + 1)
            start += len(df)
            yield df, rows


def _first_pass(reader: _Reader, id_column, text_dates, canon):
    """(the dates' order, its evidence, the id problems) over every batch of the file."""
    wanted = [c for c in [id_column, *text_dates] if c is not None]
    if not wanted:
        return None, (0, 0), []
    proving: dict[str, set] = {c: set() for c in text_dates}
    hashes, missing = [], []
    for df, rows in reader.batches(wanted):
        for c in text_dates:
            _, values = _distinct(df[c])
            proving[c].update(v for v in values if isinstance(v, str) and any(order_counts([v])))
        if id_column is not None:
            # each id's duplicate-finding key, case-folded, as a 64-bit hash: ids whose hash is
            # repeated (or missing) are the only ones that can be a DUPLICATE_ID or ID_CASE_VARIANT
            keys = _id_keys(_text(_as_loaded(df, id_column, rows)))
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
    parts = []
    for df, rows in reader.batches([id_column]):
        lo, hi = np.searchsorted(suspect, [rows[0] - 1, rows[-1]]) if len(rows) else (0, 0)
        if hi > lo:
            parts.append(_as_loaded(df, id_column, rows).iloc[suspect[lo:hi] - (rows[0] - 1)])
    series = pd.concat(parts, ignore_index=True)
    ids = _text(series)
    col = _Collector(suspect + 1, ids, canon)
    _check_ids(ids, col, series)
    return order, evidence, col.problems


def _as_loaded(df, column, rows):
    """A column as the loader leaves it: a cell longer than MAX_CELL shortened (``_long_cells``)."""
    one = df[[column]].copy()
    _long_cells(one, rows)
    return one[column].reset_index(drop=True)


def _in_order(problems):
    """Table-level problems first (in the order found), then by row (stable)."""
    return sorted(problems, key=lambda p: (p.row is not None, p.row or 0))

"""The prepared table: a patient table of any size validated and typed once, with the report's
endpoints, for the engine functions (``ltfu.stats.engines``) when a registry is too large for
``ltfu report``.

``prepare(path, out)`` reads the patient table (a Parquet file in row batches whatever its size,
``ltfu.cohort.stream``; another format whole, within the loader's limits), validates it as
``ltfu validate`` does and, only when no problem is an error, writes one Parquet file with one row
per patient:

* the data model's columns as the loader types them (``ltfu.cohort.validate``): ``patient_id``,
  ``infusion_date`` (a date), the other dates as days from infusion (``death_day`` ...; a death
  after the recorded last contact is the last contact), codes canonical (``CR``, ``yes``), yes/no
  fields as booleans, numbers and integers as such, missing as NULL; and ``burden`` (high, low or
  NULL) as the loader derives it;
* the report's endpoints, computed by ``ltfu.endpoints`` itself on each batch (every endpoint is a
  function of the patient's own row): ``<name>_time`` in days and ``<name>_status`` for
  ``ENDPOINTS`` (status 0 censored, 1 the event; for the competing ``relapse_cr`` 1 relapse and 2
  death in remission, for ``allo_hct`` 1 transplant in remission and 2 relapse or death first),
  NULL for a patient outside the endpoint (``rfs``, ``relapse_cr``: CR/CRi patients with a response
  date; ``allo_hct``: CR/CRi patients).  The follow-up endpoint is ``os_time`` with ``os_status``
  (its reverse Kaplan-Meier counts the censorings).

Columns outside the data model are not copied (join them back by ``patient_id``); their names are
in the file's metadata and in ``Prepared.not_copied``.  The metadata (key ``ltfu``, JSON) also
holds the source's name and SHA-256, the options, the data cut-off, each endpoint's definition, the
warnings by code, and the source's own ``ltfu`` note (a registry ``ltfu simulate`` wrote says it is
synthetic).  The file is written atomically; the input is only read.

The report's count-based sections come from a prepared table counted by DuckDB (one GROUP BY per
column, ``ltfu.analysis.tally``), with the report's own arithmetic, so their numbers are the
report's bit for bit: ``baseline(source)`` (Table 1), ``response(source)`` (complete remission
and MRD negativity with exact intervals), ``safety(source)`` (CRS and neurotoxicity by grade and
their rates; the association models of severe toxicity fitted on the covariate patterns a GROUP BY
returns, ``stats.logistic_counts``, to about 1e-12) and, counted per distinct time by the engine functions,
``follow_up(source)`` (the median follow-up), ``survival(source)`` (the Kaplan-Meier estimates of
event-free, overall and relapse-free survival, overall and by burden, with the log-rank tests and
figures) and ``competing(source)`` (the cumulative incidence of relapse and of death in remission
with Gray's test, and the Fine-Gray models on counted cells); ``cox(source)``, the univariable and multivariable
Cox models (on counted cells or by ``cox_from``: the in-memory fits to about 1e-10) with the
multivariable models' proportional-hazards checks; and ``transplant(source)``, the subsequent
allogeneic HCT as a time-dependent exposure (the counting-process rows split in SQL by the in-memory
rules; Mantel-Byar from their counts in each state, the landmark analysis and the Simon-Makuch
curves counted).
Each returns a ``ltfu.results.Part``:
``tables``, ``figures``, and ``numbers`` as results.json holds them.  ``source``: a prepared
table's path or a DuckDB relation of one.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ltfu import endpoints as ep
from ltfu.cohort.model import Cohort
from ltfu.cohort.schema import DATE_FIELDS, FIELDS
from ltfu.defaults import BURDEN_THRESHOLD, EFS_NONRESPONDER
from ltfu.errors import DataError, InvalidInputError, LoadError, OutputError
from ltfu.machine import one_blas_thread

#: the endpoints of the prepared table, each as ``<name>_time`` and ``<name>_status``
ENDPOINTS = ("os", "efs", "rfs", "relapse_cr", "allo_hct")
SUFFIXES = (".parquet",)
_DAY_COLUMNS = tuple(d.replace("_date", "_day") for d in DATE_FIELDS[1:])


def _arrow_type(kind: str):
    import pyarrow as pa

    return {"id": pa.string(), "code": pa.string(), "text": pa.string(), "yesno": pa.bool_(),
            "integer": pa.int64(), "number": pa.float64()}[kind]


def schema():
    """The prepared table's columns and their Arrow types, in order."""
    import pyarrow as pa

    fields = [pa.field("patient_id", pa.string()), pa.field("infusion_date", pa.date32())]
    fields += [pa.field(day, pa.float64()) for day in _DAY_COLUMNS]
    fields += [pa.field(f.name, _arrow_type(f.type)) for f in FIELDS if f.type != "date" and f.type != "id"]
    fields.append(pa.field("burden", pa.string()))
    for name in ENDPOINTS:
        fields += [pa.field(f"{name}_time", pa.float64()), pa.field(f"{name}_status", pa.int8())]
    return pa.schema(fields)


@dataclass(frozen=True)
class Prepared:
    """What ``prepare`` wrote: the file, its rows, the warnings (an error writes nothing), the data
    cut-off and the source's columns whose values are not copied (``_not_copied``)."""

    path: Path
    rows: int
    warnings: list
    cutoff: str | None
    not_copied: tuple


def _endpoints(cohort: Cohort, nonresponder: str, censor_at_hct: bool) -> tuple:
    """The prepared table's endpoints (``ENDPOINTS``) of ``cohort``, with these options."""
    return (ep.overall_survival(cohort),
            ep.event_free_survival(cohort, nonresponder=nonresponder, censor_at_hct=censor_at_hct),
            ep.relapse_free_survival(cohort, censor_at_hct=censor_at_hct), ep.relapse_competing(cohort),
            ep.time_to_allo_hct(cohort))


def _endpoint_columns(cohort: Cohort, nonresponder: str, censor_at_hct: bool) -> dict:
    n = cohort.n
    out = {}
    for e in _endpoints(cohort, nonresponder, censor_at_hct):
        rows = np.ones(n, bool) if e.rows is None else e.rows
        time = np.full(n, np.nan)
        time[rows] = e.time
        status = pd.array(np.zeros(n, np.int8), dtype="Int8")
        status[rows] = e.status
        status[~rows] = pd.NA
        out[f"{e.name}_time"], out[f"{e.name}_status"] = time, status
    return out


def _definitions(nonresponder: str, censor_at_hct: bool) -> dict:
    """Each endpoint's definition with these options (from a one-patient cohort: the text only)."""
    one = pd.DataFrame({"patient_id": ["x"], "best_response": ["CR"], "response_day": [1.0]})
    return {e.name: e.definition for e in _endpoints(Cohort(one), nonresponder, censor_at_hct)}


@dataclass(frozen=True)
class _Converter:
    """A typed batch as the prepared table's rows: its columns and its endpoints, as an Arrow table
    of ``schema()`` (picklable: run in the validation's worker processes)."""

    burden_threshold: float
    nonresponder: str
    censor_at_hct: bool

    def __call__(self, typed: pd.DataFrame):
        import pyarrow as pa

        from ltfu.machine import cores

        sch = schema()
        names = sch.names
        columns = {c: typed[c] for c in names if c in typed}
        columns["infusion_date"] = typed["infusion_date"].to_numpy().astype("datetime64[D]")
        columns.update(_endpoint_columns(Cohort(typed, burden_threshold=self.burden_threshold), self.nonresponder,
                                         self.censor_at_hct))
        frame = pd.DataFrame(columns)[names]
        # the text columns' Python strings converted on up to four threads (0.85 against 1.4 s per 1e6 rows)
        return pa.Table.from_pandas(frame, schema=sch, preserve_index=False, nthreads=cores())


class _Writer:
    """Each batch's converted rows appended to one Parquet file of ``schema()``; ``sink``: the
    ``(convert, write)`` pair the batched validation takes."""

    def __init__(self, path, burden_threshold, nonresponder, censor_at_hct):
        import pyarrow.parquet as pq

        self.schema = schema()
        self.file = pq.ParquetWriter(path, self.schema)
        self.sink = (_Converter(float(burden_threshold), nonresponder, censor_at_hct), self.write)
        self.rows = 0

    def write(self, table) -> None:
        from ltfu import interrupt

        interrupt.check()
        self.file.write_table(table)
        self.rows += table.num_rows

    def __call__(self, typed: pd.DataFrame) -> None:
        self.write(self.sink[0](typed))

    def close(self, metadata: dict) -> None:
        self.file.add_key_value_metadata({"ltfu": json.dumps(metadata, sort_keys=True)})
        self.file.close()


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _source_note(path: Path) -> str | None:
    """The source's own ``ltfu`` metadata (``ltfu simulate`` says its registry is synthetic)."""
    if path.suffix.lower() not in (".parquet", ".pq"):
        return None
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(path).schema_arrow.metadata or {}
    note = meta.get(b"ltfu")
    return note.decode("utf-8", "replace") if note is not None else None


def _same_file(a: Path, b: Path) -> bool:
    try:
        return b.exists() and a.samefile(b)
    except OSError:
        return False


def prepare(path, out, *, cutoff=None, burden_threshold: float = BURDEN_THRESHOLD,
            efs_nonresponder: str = EFS_NONRESPONDER, censor_at_hct: bool = False, overwrite: bool = False,
            today=None, batch_rows: int | None = None, workers: int | None = 1) -> Prepared:
    """Validate the patient table at ``path`` and write its prepared table to ``out`` (module
    docstring).  Raises DataError listing every problem when one is an error (nothing is written),
    LoadError when the table cannot be read, OutputError when ``out`` is refused (an existing file
    without ``overwrite``, a directory, a link, the input itself, another extension).  ``workers``:
    processes validating a large Parquet file (``ltfu.cohort.stream``: None, two for a large file,
    as the CLI does, which needs the caller's main module guarded by ``if __name__ == "__main__":``)."""
    from ltfu.outputs import check_out_file, write_file_atomic

    path = Path(path)
    if not path.exists():
        raise LoadError(f"{path}: no such file")
    if not path.is_file():
        raise InvalidInputError(f"{path}: not a file; prepare takes one patient table (CSV, Excel, Parquet, "
                                "SAS), not a study folder")
    if efs_nonresponder not in ("day0", "assessment"):
        raise InvalidInputError(f"efs_nonresponder: must be day0 or assessment, got {efs_nonresponder!r}")
    if isinstance(burden_threshold, bool) or not isinstance(burden_threshold, (int, float)) \
            or not np.isfinite(burden_threshold) or not 0 < burden_threshold <= 100:
        raise InvalidInputError(f"burden_threshold: must lie in (0, 100], got {burden_threshold!r}")
    target = check_out_file(out, suffixes=SUFFIXES, overwrite=overwrite, example="prepared.parquet")
    if _same_file(path, target):
        raise OutputError(f"--out {str(out)!r} is the input table; ltfu never writes over its input", usage=True)
    options = {"cutoff": None if cutoff is None else str(np.datetime64(cutoff, "D")),
               "burden_threshold": float(burden_threshold), "efs_nonresponder": efs_nonresponder,
               "censor_at_hct": bool(censor_at_hct)}
    result: dict = {}

    def fill(tmp):
        writer = _Writer(tmp, burden_threshold, efs_nonresponder, censor_at_hct)
        try:
            problems, cut, rows, header, sha = _validated(path, writer, cutoff, burden_threshold, today, batch_rows,
                                                          workers)
            errors = [p for p in problems if p.severity == "error"]
            if errors:
                raise DataError(f"{len(errors)} error(s) in the patient table: nothing was written", problems,
                                rows=rows)
            not_copied = _not_copied(header)
            warnings = [p for p in problems if p.severity == "warning"]
            metadata = {"prepared_by": f"ltfu {_version()}", "prepared_on": dt.date.today().isoformat(),
                        "source": path.name, "source_sha256": sha or _sha256(path), "rows": writer.rows,
                        "data_cutoff": cut, "options": options,
                        "endpoints": _definitions(efs_nonresponder, censor_at_hct),
                        "warnings": dict(sorted(Counter(p.code for p in warnings).items())),
                        "warning_lines": _warning_lines(warnings),
                        "not_copied": list(not_copied), "source_note": _source_note(path)}
            writer.close(metadata)
        except BaseException:
            writer.file.close()
            raise
        result.update(rows=writer.rows, warnings=warnings, cutoff=cut, not_copied=not_copied)

    written = write_file_atomic(target, fill, overwrite=overwrite)
    return Prepared(written, result["rows"], result["warnings"], result["cutoff"], result["not_copied"])


#: warnings listed one by one in a prepared table's metadata (beyond: the table-level ones, and the
#: row-level ones counted by code)
WARNING_LINES_MAX = 1000


def _warning_lines(warnings) -> list:
    """The warnings as the in-memory report lists them (``warning_line``: code, field, message); a
    table with more than WARNING_LINES_MAX keeps its table-level ones so and counts the others."""
    from ltfu.analysis.common import warning_line

    if len(warnings) <= WARNING_LINES_MAX:
        return [warning_line(p) for p in warnings]
    rows = Counter(p.code for p in warnings if p.row is not None)
    return [warning_line(p) for p in warnings if p.row is None] + [
        f"{code} ({count:,} rows of the patient table)" for code, count in sorted(rows.items())]


def _version() -> str:
    from ltfu import __version__

    return __version__


def _not_copied(header) -> tuple:
    """The source's columns whose values are not in the prepared table: outside the data model,
    repeating a field already given, in a unit ltfu does not read, or ``burden`` (derived)."""
    from ltfu.cohort.schema import resolve_columns

    mapping = resolve_columns(header)[0]
    return tuple(str(h) for h in header if h not in mapping or mapping[h] == "burden")


def _validated(path: Path, sink, cutoff, burden_threshold, today, batch_rows, workers=1):
    """(every problem, the data cut-off, the rows, the header, the file's SHA-256 when the reading
    computed it), each typed batch handed to ``sink`` while no error is found: a Parquet file in row
    batches, another format whole (``ltfu.cohort.load``, which hashes the bytes it reads)."""
    from ltfu.cohort.validate import check

    if path.suffix.lower() in (".parquet", ".pq"):
        import pyarrow.parquet as pq

        from ltfu.cohort.stream import validate_parquet

        checked = validate_parquet(path, cutoff=cutoff, burden_threshold=burden_threshold, today=today,
                                   batch_rows=batch_rows, sink=sink.sink, workers=workers)
        header = [str(h).strip() for h in pq.ParquetFile(path).schema_arrow.names]
        return checked.problems, checked.cutoff, checked.rows, header, None
    from ltfu.cohort.load import load

    raw = load(path)
    problems, typed, cut = check(raw, cutoff=cutoff, burden_threshold=burden_threshold, today=today)
    if not any(p.severity == "error" for p in problems):
        sink(typed)
    return problems, cut, len(raw.data), list(raw.header), raw.sha256


def _relation(source, connection=None):
    """A DuckDB relation of a prepared table: ``source`` itself, or the Parquet file at that path."""
    if isinstance(source, (str, Path)):
        import duckdb

        con = connection or duckdb.connect()
        return con.read_parquet(str(source))
    return source


#: a model whose distinct (time, status, covariates) cells are at most this many is fitted in memory
#: on them with their counts as frequency weights (one scan) rather than by cox_from (a scan a step)
CELLS_MAX = 1_000_000


def _cells(rel, columns: dict, counts: dict | None = None, *, limit: int | None = None):
    """The distinct values of ``columns`` (name: SQL) in ``rel`` with ``counts`` (name: SQL
    aggregate; default ``n``, the rows), as numpy arrays by name, ordered by the columns so that a
    fit's sums are the same run to run (DuckDB groups in any order); None beyond ``limit`` cells."""
    counts = counts or {"n": "count(*)"}
    chosen = ", ".join(f"{sql} AS {name}" for name, sql in [*columns.items(), *counts.items()])
    got = rel.aggregate(chosen, ", ".join(columns.values())).order(", ".join(columns))
    out = (got if limit is None else got.limit(limit + 1)).fetchnumpy()
    if limit is not None and len(out[next(iter(counts))]) > limit:
        return None
    return {k: np.asarray(v) for k, v in out.items()}


def baseline(source, *, connection=None):
    """Table 1 of the report (``ltfu.analysis.baseline``) from a prepared table, counted by DuckDB."""
    from ltfu.analysis import baseline as section
    from ltfu.analysis.tally import tally_relation

    rel = _relation(source, connection)
    columns = set(rel.columns)
    return section.from_tallies(lambda col: tally_relation(rel, col) if col in columns else None,
                                n=tally_relation(rel, "burden").n)


def response(source, options=None, *, connection=None):
    """The report's response table (``ltfu.analysis.response``) from a prepared table, counted by
    DuckDB; ``options``: ``AnalysisOptions`` (its interval method and level; default the report's)."""
    from ltfu.analysis import response as section
    from ltfu.analysis.options import AnalysisOptions
    from ltfu.analysis.tally import tally_relation
    from ltfu.defaults import COMPLETE_RESPONSE

    rel = _relation(source, connection)
    return section.from_tallies(tally_relation(rel, "best_response"),
                                tally_relation(rel, "mrd_negative", among=("best_response", COMPLETE_RESPONSE)),
                                options or AnalysisOptions())


def _covariate_terms(rel, names) -> dict:
    """The terms of ``names`` that ``ltfu.analysis.plan.covariates`` would make from a prepared
    table, each as its SQL expression, by the same rules: the burden as 1/0; age per 10 years when any
    age is known; the dose (raw: its log10 is taken by numpy on the values, as the report takes it)
    when every patient has one, positive and not all the same; a yes/no characteristic when it
    takes both values."""
    yes_no = [t for t in names if t not in ("high_burden", "age_per_10y", "log10_dose")]
    got = rel.aggregate(", ".join(["count(*)", "count(age)", "count(dose_cells_per_kg)",
                                   "count(DISTINCT dose_cells_per_kg)", "min(dose_cells_per_kg)",
                                   *[f'count(DISTINCT "{t}")' for t in yes_no]])).fetchall()[0]
    n, ages, doses, distinct_doses, lowest = got[:5]
    terms = {"high_burden": "CASE burden WHEN 'high' THEN 1.0 WHEN 'low' THEN 0.0 END"}
    if ages:
        terms["age_per_10y"] = "CAST(age AS DOUBLE) / 10.0"
    if doses == n and distinct_doses > 1 and lowest > 0:
        terms["log10_dose"] = "CAST(dose_cells_per_kg AS DOUBLE)"
    for t, distinct in zip(yes_no, got[5:]):
        if distinct > 1:
            terms[t] = f'CAST("{t}" AS DOUBLE)'
    return {t: terms[t] for t in names if t in terms}


def _association(rel, opts, numbers):
    """The report's association models of severe toxicity from a prepared table: each model's
    distinct covariate patterns with their patients and severe events from one GROUP BY, fitted by
    ``toxicity.counted_fit`` (``stats.logistic_counts``: the report's fit to about 1e-12)."""
    from ltfu.analysis.plan import TOXICITY_COVARIATES
    from ltfu.analysis.toxicity import association_table, counted_fit
    from ltfu.defaults import SEVERE_GRADE

    terms = _covariate_terms(rel, TOXICITY_COVARIATES)
    counted = rel.aggregate(", ".join(["count(*)", *[f"count({sql})" for sql in terms.values()]])).fetchall()[0]
    missing = {t for t, k in zip(terms, counted[1:]) if k < counted[0]}

    def fit(col, cols):
        graded = rel.filter(f"{col} IS NOT NULL")
        known = " AND ".join(f"({terms[c]}) IS NOT NULL" for c in cols)
        n_graded = int(graded.aggregate("count(*)").fetchall()[0][0])
        patterns = _cells(graded.filter(known), {c: terms[c] for c in cols},
                          {"k": "count(*)", "e": f"count(*) FILTER (WHERE {col} >= {SEVERE_GRADE})"})
        k, e = patterns["k"].astype(float), patterns["e"].astype(float)
        X = np.column_stack([patterns[c].astype(float) for c in cols]).reshape(k.size, len(cols))
        if "log10_dose" in cols:
            j = list(cols).index("log10_dose")
            X[:, j] = np.log10(X[:, j])
        return counted_fit(pd.DataFrame(X, columns=list(cols)), k, e, n_graded - int(k.sum()), opts)

    return association_table(list(terms), fit, missing, numbers)


def safety(source, options=None, *, connection=None):
    """The report's safety section (``ltfu.analysis.toxicity``) from a prepared table: the tables
    by grade and the rates from tallies (bit for bit), the association models of severe toxicity
    from covariate patterns (``stats.logistic_counts``, to about 1e-12)."""
    from ltfu.analysis import toxicity as section
    from ltfu.analysis.options import AnalysisOptions
    from ltfu.analysis.tally import tally_relation

    rel = _relation(source, connection)
    grades, scales = {}, {}
    for _, col, _ in section.KINDS:
        grades[col] = tally_relation(rel, col)
        scale = col.replace("_grade", "_scale")
        written = rel.query("t", f'SELECT DISTINCT "{scale}" FROM t WHERE "{scale}" IS NOT NULL').fetchall()
        scales[col] = sorted(str(v) for (v,) in written)
    recorded, deaths = rel.query("t", "SELECT count(crs_death), count(*) FILTER (WHERE crs_death) FROM t").fetchall()[0]
    opts = options or AnalysisOptions()
    return section.from_tallies(grades, scales, int(deaths) if recorded else None, opts,
                                lambda numbers: _association(rel, opts, numbers))


def follow_up(source, options=None, *, connection=None):
    """The report's follow-up table (reverse Kaplan-Meier median of ``os_time``, ``os_status``)."""
    from ltfu.analysis import follow_up as section
    from ltfu.analysis.options import AnalysisOptions
    from ltfu.stats.engines import median_follow_up_from

    opts = options or AnalysisOptions()
    res = median_follow_up_from(_relation(source, connection), time="os_time", death="os_status",
                                conf_type=opts.conf_type, conf_level=opts.conf_level)["all"]
    return section.from_result(res)


def _definitions_of(source, definitions) -> dict:
    """The endpoints' definitions: given, or those a prepared table's metadata records (a DuckDB
    relation carries none, and the endpoints' options cannot be guessed from its columns)."""
    if definitions is not None:
        return dict(definitions)
    recorded = _meta(source).get("endpoints")
    if not recorded:
        raise InvalidInputError("the endpoints' definitions are in a prepared table's metadata: give its path "
                                "(or definitions=, the metadata's 'endpoints')")
    return recorded


def _meta(source) -> dict:
    if isinstance(source, (str, Path)):
        import pyarrow.parquet as pq

        kv = pq.read_metadata(source).metadata or {}
        if b"ltfu" in kv:
            return json.loads(kv[b"ltfu"])
    return {}


_LABELS = {"efs": "Event-free survival", "os": "Overall survival", "rfs": "Relapse-free survival"}


def survival(source, options=None, *, connection=None, definitions=None):
    """The report's Kaplan-Meier part (``ltfu.analysis.survival.km_part``) from a prepared table:
    each curve and log-rank test counted by DuckDB (``ltfu.stats.engines``), the endpoints'
    definitions from the file's metadata (with a relation: ``definitions``)."""
    from ltfu.analysis.common import GROUPS
    from ltfu.analysis.options import AnalysisOptions
    from ltfu.analysis.survival import km_part, survival_part
    from ltfu.errors import ConvergenceError
    from ltfu.stats.engines import kaplan_meier_from, logrank_from

    opts = options or AnalysisOptions()
    definitions = _definitions_of(source, definitions)
    rel = _relation(source, connection)
    where = {"all": "TRUE", "low_burden": "burden = 'low'", "high_burden": "burden = 'high'"}
    counted = {}
    for key in ("efs", "os", "rfs"):
        kept = rel.filter(f"{key}_status IS NOT NULL")
        # the patients of every group in one scan
        sizes = dict(zip([g for g, _ in GROUPS], kept.aggregate(
            ", ".join(f"count(*) FILTER (WHERE {where[g]})" for g, _ in GROUPS)).fetchall()[0]))
        entry: dict = {"label": _LABELS[key], "definition": definitions[key], "n": int(sizes["all"]), "kms": {},
                       "logrank": None}
        counted[key] = entry
        for g, _ in GROUPS:
            if sizes[g]:
                entry["kms"][g] = kaplan_meier_from(kept.filter(where[g]), time=f"{key}_time", event=f"{key}_status",
                                                    conf_type=opts.conf_type, conf_level=opts.conf_level)["all"]
        if "low_burden" in entry["kms"] and "high_burden" in entry["kms"]:
            try:
                entry["logrank"] = logrank_from(kept.filter("burden IN ('low', 'high')"), time=f"{key}_time",
                                                event=f"{key}_status", by="burden")
            except ConvergenceError as exc:
                entry["logrank"] = exc
    numbers, table, figures = km_part(counted, opts)
    return survival_part(numbers, (table,), figures, (), {_LABELS[k]: definitions[k] for k in ("efs", "os", "rfs")})


def competing(source, options=None, *, connection=None, definitions=None):
    """The report's competing-risks part (``ltfu.analysis.competing.cif_part``) from a prepared
    table: the cumulative incidence of relapse and of death in remission, overall and by burden, the
    groups' follow-up and Gray's test, counted by DuckDB, and the Fine-Gray models of high against low
    burden, fitted on the distinct (burden, time, status) cells with their counts as frequency
    weights (the fit on the rows, to rounding)."""
    from ltfu.analysis.competing import cif_part, fine_gray_rows
    from ltfu.analysis.options import AnalysisOptions
    from ltfu.errors import ConvergenceError
    from ltfu.stats import fine_gray
    from ltfu.stats.engines import cumulative_incidence_from, gray_test_from, kaplan_meier_from

    opts = options or AnalysisOptions()
    definitions = _definitions_of(source, definitions)
    rel = _relation(source, connection)
    cr = rel.filter("relapse_cr_status IS NOT NULL")
    n, relapses, deaths = cr.aggregate("count(*), count(*) FILTER (WHERE relapse_cr_status = 1), "
                                       "count(*) FILTER (WHERE relapse_cr_status = 2)").fetchall()[0]
    counted: dict = {"definition": definitions["relapse_cr"], "n": int(n), "relapses": int(relapses),
                     "deaths_in_remission": int(deaths)}
    if n == 0 or relapses + deaths == 0:
        return cif_part(counted, opts)
    time, status = "relapse_cr_time", "relapse_cr_status"
    counted["overall"] = cumulative_incidence_from(cr, time=time, status=status, conf_level=opts.conf_level)
    known = cr.filter("burden IN ('low', 'high')")
    levels = {v for (v,) in known.query("t", "SELECT DISTINCT burden FROM t").fetchall()}
    if levels == {"low", "high"}:
        counted["by"] = cumulative_incidence_from(known, time=time, status=status, by="burden",
                                                  conf_level=opts.conf_level)
        ended = known.select(f"{time}, CAST({status} <> 0 AS INTEGER) AS ended, burden")
        counted["at_risk"] = tuple(kaplan_meier_from(ended.filter(f"burden = '{g}'"), time=time,
                                                     event="ended")["all"] for g in ("low", "high"))
        try:
            counted["gray"] = gray_test_from(known, time=time, status=status, by="burden")
        except (ConvergenceError, InvalidInputError) as exc:
            counted["gray"] = exc
        # the Fine-Gray models' one covariate, time and status take few distinct values together:
        # the fit on them with their counts as frequency weights is the fit on the rows
        cells = _cells(known, {"x": "CAST(burden = 'high' AS DOUBLE)", "t": f"CAST({time} AS DOUBLE)",
                               "s": f"CAST({status} AS BIGINT)"})
        fg_numbers: dict = {}
        counted["fine_gray"] = (fine_gray_rows(lambda cause: fine_gray(
            cells["x"], cells["t"], cells["s"], weights=cells["n"], cause=cause, conf_level=opts.conf_level),
            fg_numbers), fg_numbers)
    else:
        counted["fine_gray"] = ([], {})               # no comparison: the table says so, empty, as in memory
    return cif_part(counted, opts)


def _split_sql(rel) -> str:
    """SQL of the counting-process rows of ``rel`` (columns t, s, x: time, status, transplant day
    or NULL), by ``ltfu.stats.timedep.split_at_event``'s rules (R tmerge's): a transplant after day
    0 and before the end of follow-up splits the patient at it, one on day 0 or before makes him
    exposed from the start, one at or after the end is ignored; rows of no length are dropped, as
    the in-memory analyses drop them."""
    during = "(x > 0 AND x < t)"
    return (f"SELECT * FROM (SELECT 0.0 AS en, CASE WHEN {during} THEN x ELSE t END AS ex, "
            f"CASE WHEN {during} THEN 0 ELSE s END AS ev, CASE WHEN x <= 0 THEN 1 ELSE 0 END AS z FROM {rel} "
            f"UNION ALL SELECT x AS en, t AS ex, s AS ev, 1 AS z FROM {rel} WHERE {during}) WHERE ex > en")


def _transplant_computed(cr, opts, connection) -> dict:
    """``ltfu.analysis.transplant.computed`` from a relation of CR/CRi patients (t, s, x), every
    number counted or fitted by the engine functions on its split rows."""
    from ltfu.errors import ConvergenceError
    from ltfu.stats import TestResult
    from ltfu.stats.engines import counts, cox_from, kaplan_meier_from, logrank_from
    from ltfu.stats.engines.cox import cox_group_counts
    from ltfu.stats.timedep import Landmark, MantelByar, SimonMakuch, StateCounts

    n, n_tx, n_exposed, t_max = cr.aggregate(
        "count(*), count(*) FILTER (WHERE x < t), count(*) FILTER (WHERE x <= 0 OR x < t), max(t)").fetchall()[0]
    out: dict = {"n": int(n), "n_transplanted": int(n_tx), "t_max": float(t_max)}
    if n_tx in (0, n):
        return out
    con = connection
    con.register("ltfu_cr", cr)
    split = con.sql(_split_sql("ltfu_cr"))
    try:
        # the score test of the Cox model with the transplant as a time-dependent covariate (as
        # stats.mantel_byar: Efron ties, 95% limits), from the split rows' counts by state (its
        # only covariate is the state); the term named as stats.mantel_byar's fit names it
        tab = counts(split, time="ex", event="ev", entry="en", group="z", connection=con)
        fit = cox_group_counts(tab, term="x1") if len(tab.groups) == 2 else cox_from(
            split.select("ex, ev, en, CAST(z AS DOUBLE) AS x1"), time="ex", event="ev", covariates=["x1"], entry="en",
            connection=con)
        out["mantel_byar"] = MantelByar(fit.score_test.statistic, 1.0, fit.score_test.p_value,
                                        float(fit.hazard_ratio[0]), float(fit.hr_lower[0]), float(fit.hr_upper[0]),
                                        int(n), int(n_exposed))
    except (ConvergenceError, InvalidInputError) as exc:
        out["mantel_byar"] = exc
    try:
        day = float(opts.landmark_days)
        lit = f"CAST('{day!r}' AS DOUBLE)"
        after = con.sql(f"SELECT t - {lit} AS tt, s AS ee, CAST(x IS NOT NULL AND x <= {lit} AS INTEGER) AS z "
                        f"FROM ltfu_cr WHERE t > {lit}")
        n_lm, n_lm_exposed, lm_events = after.aggregate("count(*), count(*) FILTER (WHERE z = 1), "
                                                        "count(*) FILTER (WHERE ee <> 0)").fetchall()[0]
        kms = {z: kaplan_meier_from(after.filter(f"z = {z}"), time="tt", event="ee", conf_type=opts.conf_type,
                                    conf_level=opts.conf_level)["all"]
               if (n_lm_exposed if z else n_lm - n_lm_exposed) else None for z in (0, 1)}
        test = None
        if kms[0] is not None and kms[1] is not None and lm_events:
            try:
                lr = logrank_from(after, time="tt", event="ee", by="z")
                test = TestResult(lr.statistic, float(lr.df), lr.p_value)
            except ConvergenceError:          # no variance to test with, as stats.landmark
                test = None
        out["landmark"] = Landmark(day, int(n_lm), int(n_lm_exposed), int(n_lm - n_lm_exposed), kms[1], kms[0], test)
        curves, states = [], []
        for z in (0, 1):
            rows = split.filter(f"z = {z}")
            if not rows.aggregate("count(*)").fetchall()[0][0]:
                raise InvalidInputError(f"exposure_time: no patient is {'ever' if z else 'ever un'}exposed")
            curves.append(kaplan_meier_from(rows, time="ex", event="ev", entry="en", conf_type=opts.conf_type,
                                            conf_level=opts.conf_level)["all"])
            en = np.array(rows.aggregate("en, count(*)", "en").fetchall(), float).reshape(-1, 2)
            ex = np.array(rows.aggregate("ex, count(*)", "ex").fetchall(), float).reshape(-1, 2)
            states.append(StateCounts.from_counts(en[:, 0], en[:, 1], ex[:, 0], ex[:, 1]))
        first = float(split.filter("z = 1").aggregate("min(en)").fetchall()[0][0])
        out["simon_makuch"] = SimonMakuch(curves[0], curves[1], tuple(states), first)
    except (ConvergenceError, InvalidInputError) as exc:
        out["landmark"] = exc
        out.pop("simon_makuch", None)
    finally:
        con.unregister("ltfu_cr")
    return out


def transplant(source, options=None, *, connection=None):
    """The report's transplant part (``ltfu.analysis.transplant``: subsequent allo-HCT as a
    time-dependent exposure among CR/CRi patients; Mantel-Byar, landmark, Simon-Makuch) from a
    prepared table: the counting-process rows split in SQL, Mantel-Byar's Cox model fitted from
    their counts in each state (``cox_group_counts``) and the curves counted by DuckDB."""
    import duckdb

    from ltfu.analysis.options import AnalysisOptions
    from ltfu.analysis.transplant import layout, transplant_part
    from ltfu.defaults import COMPLETE_RESPONSE

    opts = options or AnalysisOptions()
    con = connection or duckdb.connect()
    rel = _relation(source, con)
    codes = ", ".join(f"'{c}'" for c in COMPLETE_RESPONSE)
    cr = f"best_response IN ({codes})"
    numbers: dict = {"n_cr": int(rel.filter(cr).aggregate("count(*)").fetchall()[0][0])}
    rows: list = []
    figures: list = []
    for key in ("efs", "os"):
        kept = rel.filter(f"{key}_status IS NOT NULL AND {cr}").select(
            f"{key}_time AS t, {key}_status AS s, allo_hct_day AS x")
        if kept.aggregate("count(*)").fetchall()[0][0] < 3:
            continue
        numbers[key] = layout(_LABELS[key], key, _transplant_computed(kept, opts, con), opts, rows, figures)
    return transplant_part(numbers, rows, figures)


#: how a report from a prepared table was computed (said in the report and in results.json)
AT_SCALE = ("Computed at registry scale from a prepared table, by DuckDB: the counted numbers (Table 1, "
            "response, safety by grade, follow-up, Kaplan-Meier and log-rank, cumulative incidence and Gray's "
            "test, the landmark and Simon-Makuch curves) are the in-memory report's bit for bit; the Cox, "
            "logistic and Fine-Gray models and the proportional-hazards checks are fitted from the engine's "
            "sums or counted cells and agree with the in-memory fits to about 1e-9 relative")


def is_prepared(path) -> bool:
    """Whether ``path`` is a Parquet file ``prepare`` wrote (its metadata says so)."""
    p = Path(path)
    if p.suffix.lower() not in (".parquet", ".pq") or not p.is_file():
        return False
    try:
        return "prepared_by" in _meta(p)
    except Exception:                 # not readable Parquet, or metadata that is not ltfu's JSON
        return False


@one_blas_thread()
def analyse(source, options=None, *, temporary: bool = False):
    """The report of a prepared table (a path), computed from counts and sums in DuckDB: data
    summary, Table 1, response, safety (its association models on covariate patterns), follow-up,
    and the survival section (Kaplan-Meier, competing risks with Fine-Gray, the transplant analyses,
    the Cox models with their proportional-hazards checks), as ``ltfu.results.Results`` that
    ``ltfu.report.write_report`` writes (``AT_SCALE`` says how, in the report and in results.json).
    ``options``: default the endpoint options the table was prepared with (other ones are an error:
    its endpoints are computed); ``temporary``: the table was made for this report and is removed after."""
    import duckdb

    from ltfu import __version__
    from ltfu.analysis import _truncated
    from ltfu.analysis.data import ENDPOINT_NAMES, defaults_for, sentences
    from ltfu.analysis.options import AnalysisOptions
    from ltfu.analysis.survival import survival_part
    from ltfu.results import Part, Results, Section, Table

    meta = _meta(source)
    if "prepared_by" not in meta:
        raise InvalidInputError(f"{Path(source).name}: not a table ltfu prepare wrote (no ltfu metadata)")
    made = meta.get("options", {})
    prepared_with = {"efs_nonresponder": made.get("efs_nonresponder", EFS_NONRESPONDER),
                     "censor_at_hct": bool(made.get("censor_at_hct", False))}
    if options is None:
        opts = AnalysisOptions(**prepared_with)
    else:
        opts = options
        differ = [f"{k}={getattr(opts, k)!r} (prepared with {v!r})" for k, v in prepared_with.items()
                  if getattr(opts, k) != v]
        if differ:
            raise InvalidInputError(f"{Path(source).name} was prepared with other endpoint options: "
                                    f"{', '.join(differ)}; give its options or prepare the table again")
    con = duckdb.connect()
    rel = _relation(source, con)
    n = int(rel.aggregate("count(*)").fetchall()[0][0])
    defaults = defaults_for(opts, float(made.get("burden_threshold", BURDEN_THRESHOLD)))
    # in the in-memory data summary's order (the metadata's JSON has its keys sorted)
    recorded = meta["endpoints"]
    definitions = {k: recorded[k] for k in ("os", "efs", "rfs", "relapse_cr")}
    definitions["follow_up"] = ep.follow_up(Cohort(pd.DataFrame({"patient_id": []}))).definition
    definitions["allo_hct"] = recorded["allo_hct"]
    warned = meta.get("warnings", {})
    listed = tuple(meta["warning_lines"]) if "warning_lines" in meta else tuple(
        f"{code} ({count} in the patient table)" for code, count in warned.items())   # a table prepared before
    info = {"ltfu_version": __version__, "source": meta.get("source", Path(source).name),
            "sha256": meta.get("source_sha256"), "n_patients": n, "data_cutoff": meta.get("data_cutoff"),
            "synthetic": False, "deidentified": False, "options": opts.to_dict(),
            "prepared_table": None if temporary else Path(source).name, "computed": AT_SCALE}
    summary = Table("data_summary", "Data summary", ("item", "value"), (
        ("source file", info["source"]), ("SHA-256", info["sha256"] or "-"), ("patients", n),
        ("data cut-off", info["data_cutoff"] or "-"), ("validation warnings", sum(warned.values())),
        ("prepared table", "made for this report by " + meta.get("prepared_by", "ltfu") + ", then removed"
         if temporary else f"{info['prepared_table']} ({meta.get('prepared_by', 'ltfu')})"),
        ("ltfu version", __version__)))
    rows = list(sentences(defaults))
    rows += [(ENDPOINT_NAMES.get(k, k), v) for k, v in definitions.items()]
    data = Part(None, {"n_patients": n, "defaults": defaults.to_dict(), "definitions": definitions,
                       "validation_warnings": list(listed)},
                (summary, Table("definitions", "Definitions and defaults in force", ("item", "value"), tuple(rows))),
                (), Section("data", "Data summary", tables=("data_summary", "definitions"),
                            paragraphs=(f"{AT_SCALE}.",)))
    km = survival(rel, opts, connection=con, definitions=recorded)
    subs = (competing(rel, opts, connection=con, definitions=recorded), transplant(rel, opts, connection=con),
            cox(rel, opts, connection=con))
    surv = survival_part(dict(km.numbers), km.tables, km.figures, subs,
                         {_LABELS[k]: recorded[k] for k in ("efs", "os", "rfs")})
    parts = [data, baseline(rel), response(rel, opts), safety(rel, opts), follow_up(rel, opts), surv]
    if opts.max_months is not None:
        parts = [_truncated(p, opts.max_months) for p in parts]
    return Results.from_parts("Long-term follow-up report (registry scale)", parts, meta=info, defaults=defaults,
                              warnings=listed)


def cox(source, options=None, *, connection=None):
    """The report's univariable and multivariable Cox models of event-free and overall survival
    (``ltfu.analysis.models``) from a prepared table: a univariable model with at most ``CELLS_MAX``
    distinct (time, status, covariate) cells by ``stats.cox(counts=)`` on them, the others by
    ``cox_from`` (the Newton steps' sums from DuckDB); ``stats.cox``'s fits to about 1e-10; with the
    multivariable models' proportional-hazards checks (``stats.cox_zph`` of a ``cox_from`` fit: one
    more query)."""
    from ltfu.analysis.models import NO_EVENTS, cox_part, forest_figure, models_of, ph_check
    from ltfu.analysis.options import AnalysisOptions
    from ltfu.analysis.plan import COX_COVARIATES
    from ltfu.errors import ConvergenceError
    from ltfu.stats import cox
    from ltfu.stats._common import check_time_event
    from ltfu.stats.engines import cox_from

    opts = options or AnalysisOptions()
    rel = _relation(source, connection)
    numbers: dict = {}
    rows: list = []
    notes: list = []
    figures: list = []
    zph_rows: list = []
    for key in ("efs", "os"):
        kept = rel.filter(f"{key}_status IS NOT NULL")
        terms = _covariate_terms(kept, COX_COVARIATES)
        model = kept.select(", ".join([f"{key}_time AS t", f"{key}_status AS e",
                                       *[f"{sql} AS {t}" for t, sql in terms.items()]]))
        n, events, *known = model.aggregate(", ".join(["count(*)", "count(*) FILTER (WHERE e = 1)",
                                                       *[f"count({t})" for t in terms]])).fetchall()[0]
        numbers[key] = {}
        if n == 0 or events == 0:
            numbers[key]["note"] = NO_EVENTS
            continue
        missing = {t for t, k in zip(terms, known) if k < n}

        def fit(cols, model=model, n=n, missing=missing, terms=terms):
            complete = model.filter(" AND ".join(f"{c} IS NOT NULL" for c in cols))
            # a univariable model with few distinct (time, status, covariate) cells: fitted on them
            # with their counts (one scan); else by cox_from (a scan per Newton step), always for the
            # multivariable model, whose proportional-hazards check needs the rows
            cells = None if len(cols) == len(terms) else _cells(
                complete, {"t": "t", "e": "e", **{c: c for c in cols}}, limit=CELLS_MAX)
            used = int(cells["n"].sum()) if cells is not None else int(complete.aggregate("count(*)").fetchall()[0][0])
            try:
                if used == 0:                   # said as stats.cox says it (the engine adds "the source")
                    check_time_event(np.empty(0), np.empty(0))
                if cells is None:
                    result = cox_from(complete, time="t", event="e", covariates=list(cols), ties=opts.ties,
                                      conf_level=opts.conf_level, connection=connection)
                else:
                    result = cox(pd.DataFrame({c: cells[c].astype(float) for c in cols}), cells["t"], cells["e"],
                                 counts=cells["n"], ties=opts.ties, conf_level=opts.conf_level)
            except (ConvergenceError, InvalidInputError) as exc:
                result = exc
            gone = [c for c in cols if c in missing]
            note = f"; {n - used} excluded (missing {', '.join(gone)})" if n - used else ""
            return result, n - used, note

        label = _LABELS[key]
        forest_figure(key, label, models_of(label, list(terms), fit, numbers[key], rows, notes,
                                            lambda f, label=label: ph_check(f, label, zph_rows)), figures)
    return cox_part(numbers, rows, notes, figures, opts, zph_rows)

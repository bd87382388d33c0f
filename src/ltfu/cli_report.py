"""ltfu report: load (a table, a study, a stored cut or the demo), analyse, write the report."""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

import typer

from ltfu import defaults
from ltfu.cli_common import (
    BURDEN_THRESHOLD_OPTION,
    CENSOR_AT_HCT_OPTION,
    EFS_NONRESPONDER_OPTION,
    ConfType,
    Engine,
    NonResponder,
    StopAt,
    _check_burden_threshold,
    _check_formats,
    _check_landmark_days,
    _console,
    _fail,
    _load_study,
    _output_error,
    app,
)


def _engine_for(engine: str, path) -> str:
    from ltfu.analysis.engine import resolve

    return resolve(engine, path)


@app.command()
def report(
    path: Path | None = typer.Argument(None, metavar="FILE", help="Patient table (omit with --demo)."),
    out: str = typer.Option(
        defaults.REPORT_DIR, "--out", metavar="DIR",
        help="Output directory: new, empty, or a report ltfu wrote (replaced atomically); anything else is refused."),
    use_demo: bool = typer.Option(False, "--demo", help="Run on the synthetic demonstration cohort."),
    sheet: str | None = typer.Option(None, metavar="SHEET", help="Excel sheet name (Excel files only)."),
    cutoff: str | None = typer.Option(None, metavar="DATE",
                                         help="Data cut-off date, YYYY-MM-DD (default: the file's)."),
    burden_threshold: float = BURDEN_THRESHOLD_OPTION,
    efs_nonresponder: NonResponder = EFS_NONRESPONDER_OPTION,
    censor_at_hct: bool = CENSOR_AT_HCT_OPTION,
    conf_type: ConfType = typer.Option(ConfType(defaults.KM_CONF_TYPE), help="Kaplan-Meier CI transform (R names)."),
    landmark_days: float = typer.Option(defaults.LANDMARK_DAYS, metavar="D",
                                        help="Landmark day for the transplant analysis (D > 0)."),
    safety_stop_at: StopAt = typer.Option(
        StopAt(defaults.SAFETY_STOP_AT), help="Long-term safety: stop each patient's person-time at the first later "
        "anticancer therapy and/or allo-HCT (studies with a therapies table)."),
    deidentify: bool = typer.Option(False, help="Replace ids by sequence numbers, dates by days, free text by "
                                                "categories; withhold the file's name, checksum and column names."),
    keep_checksum: bool = typer.Option(False, "--keep-checksum",
                                       help="With --deidentify: still record the input's SHA-256."),
    record_path: bool = typer.Option(False, "--record-path",
                                     help="Record the input's absolute path (default: its file name only)."),
    max_months: float | None = typer.Option(None, metavar="M", help="End the x axis of the survival and "
                                               "incidence figures at M months (default: where fewer than 10% of "
                                               "a group remain at risk)."),
    formats: str = typer.Option(",".join(defaults.REPORT_FORMATS), metavar="LIST",
                                help="Comma-separated outputs to write (also: tiff)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    cut: str | None = typer.Option(None, "--cut", metavar="CUT", help="With a study store (FILE.ltfu): the "
                                      "cut to report, by date, label or number (default: the latest)."),
    engine: Engine = typer.Option(Engine(defaults.ENGINE), help="Who counts the survival sections' risk sets (the "
                                  "same numbers); auto: DuckDB for a Parquet file too large for memory, else numpy."),
    by: str | None = typer.Option(None, "--by", metavar="COLUMN", help="Also compare event-free and overall "
                                  f"survival across a baseline column: {', '.join(defaults.BY_COLUMNS)}."),
):
    """Run the full long-term follow-up analysis and write the report into --out."""
    fmts = _check_formats(formats)
    _check_burden_threshold(burden_threshold)
    _check_landmark_days(landmark_days)
    if max_months is not None and not (math.isfinite(max_months) and max_months > 0):
        _fail(f"--max-months must be a positive number of months, got {max_months:g}", code=2)
    if by is not None and by not in defaults.BY_COLUMNS:
        _fail(f"--by must name a baseline column: {', '.join(defaults.BY_COLUMNS)} (got {by!r}; comparing survival "
              "across a response or another value known only after infusion would be biased)", code=2)
    if by == "centre" and deidentify:
        _fail("--by centre cannot be used with --deidentify: de-identified reports withhold the centre", code=2)
    from ltfu.errors import OutputError
    from ltfu.outputs import check_report_target, resolve_report_target

    inputs = () if path is None else (path,)
    try:  # refuse an unsafe --out before any work (and again, under a lock, just before the swap)
        check_report_target(resolve_report_target(out, inputs=inputs))
    except OutputError as exc:
        _output_error(exc)
    except OSError as exc:
        _fail(f"cannot check --out {out!r}: {exc.strerror or exc}", code=1)
    from ltfu.cohort.stream import too_large

    if path is not None and not use_demo and too_large(path):
        # beyond what ltfu holds in memory: prepared (validated and typed) once, then counted by DuckDB
        given = {"--by": by is not None, "--deidentify": deidentify, "--cut": cut is not None,
                 "--sheet": sheet is not None, f"--engine {engine.value}": engine.value in ("numpy", "spark")}
        refused = [name for name, on in given.items() if on]
        if refused:
            _fail(f"{', '.join(refused)}: not available for a table this size ({Path(path).name} is beyond the "
                  "cells ltfu holds in memory), whose report is counted by DuckDB from a prepared table", code=2)
        from ltfu.analysis import AnalysisOptions

        options = AnalysisOptions(efs_nonresponder=efs_nonresponder.value, censor_at_hct=censor_at_hct,
                                  conf_type=conf_type.value, landmark_days=landmark_days,
                                  safety_stop_at=safety_stop_at.value, max_months=max_months, engine="duckdb")
        main_file = _registry_report(path, out, fmts, inputs, options, cutoff, burden_threshold, quiet)
        typer.echo("Note: at this size the report is computed from counts and sums in DuckDB (the fitted "
                   "models agree with the in-memory fits to about 1e-9; the report says so).")
        typer.echo(f"Report written: {Path(main_file).resolve()}")
        return
    show = not quiet and sys.stderr.isatty()
    from contextlib import nullcontext

    progress_cm: Any = nullcontext()
    if show:
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        progress_cm = Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
                               console=_console(stderr=True), transient=True)
    with progress_cm as progress:
        task = progress.add_task("Loading and validating", total=3) if show else None

        def step(desc):
            if show:
                progress.update(task, advance=1, description=desc)

        from ltfu.cli_study import report_input  # FILE.ltfu: a cut of a study store, with its history

        preload = _preload()
        study = report_input(path, use_demo, cut, cutoff, burden_threshold, sheet, deidentify=deidentify,
                             load_study=_load_study)
        step("Analysing")
        from ltfu.analysis import AnalysisOptions, run

        options = AnalysisOptions(efs_nonresponder=efs_nonresponder.value, censor_at_hct=censor_at_hct,
                                  conf_type=conf_type.value, landmark_days=landmark_days,
                                  safety_stop_at=safety_stop_at.value, max_months=max_months, deidentify=deidentify,
                                  keep_checksum=keep_checksum, record_path=record_path,
                                  engine=_engine_for(engine.value, path), by=by)
        # a large cohort's sections are computed on every core, each figure drawn beside its part
        from ltfu.report.writer import FIGURE_FORMATS, figure_files

        preload.join()
        results, drawn = run(study, options, workers=None,
                             draw=figure_files if set(fmts) & FIGURE_FORMATS else None)
        step("Writing the report")
        main_file = _write(results, out, fmts, inputs, drawn)
        step("Done")
    if study.cohort.synthetic:
        typer.echo("Note: the demonstration data are SYNTHETIC (not patient data).")
    typer.echo(f"Report written: {Path(main_file).resolve()}")


# what the analysis and the report import beyond what loading the data imports (seconds of import)
PRELOADED = ("scipy.stats", "statsmodels.discrete.discrete_model", "statsmodels.genmod.families",
             "statsmodels.genmod.generalized_linear_model", "matplotlib.figure", "matplotlib.backends.backend_agg",
             "matplotlib.backends.backend_svg", "reportlab.platypus", "jinja2")


def _preload():
    """A thread importing ``PRELOADED`` while the data are read and validated (1.5-2 s less for a
    large table; each worker process of the analysis inherits them).  Third-party modules only,
    which loading does not import, so the two threads do not import the same package; a module
    that fails here is simply imported, or fails, where it is used."""
    import contextlib
    import importlib
    import threading

    def load():
        for name in PRELOADED:
            with contextlib.suppress(Exception):    # its user imports it again and says what failed
                importlib.import_module(name)

    thread = threading.Thread(target=load, name="ltfu-preload", daemon=True)
    thread.start()
    return thread


def _registry_report(path, out, fmts, inputs, options, cutoff, burden_threshold, quiet):
    """The report of a registry too large for memory: its prepared table (``ltfu prepare``, given or
    made here in a temporary folder beside --out and removed after), reported from counts and sums
    in DuckDB (``ltfu.registry.analyse``), written as any report."""
    import contextlib
    import os

    from ltfu import registry
    from ltfu.cli_common import _check_cutoff_before_all, _parse_cutoff, _print_problems
    from ltfu.errors import DataError, OutputError

    say = (lambda msg: None) if quiet else (lambda msg: typer.echo(msg, err=True))
    if registry.is_prepared(path):
        made = registry._meta(path).get("options", {})
        cut = None if cutoff is None else str(_parse_cutoff(cutoff))
        asked = {"--cutoff": (cut, made.get("cutoff")) if cut is not None else None,
                 "--burden-threshold": (float(burden_threshold), made.get("burden_threshold")),
                 "--efs-nonresponder": (options.efs_nonresponder, made.get("efs_nonresponder")),
                 "--censor-at-hct": (options.censor_at_hct, made.get("censor_at_hct"))}
        differ = [f"{k} (prepared with {v[1]!r}, asked {v[0]!r})" for k, v in asked.items() if v and v[0] != v[1]]
        if differ:
            _fail(f"{Path(path).name} is a prepared table made with other options: {'; '.join(differ)}; give its "
                  "options, or prepare the source table again with yours", code=2)
        return _write(registry.analyse(path, options), out, fmts, inputs)
    # ltfu's own build folder beside --out (never the system's temporary folder: the prepared table is
    # patient data), its marker held while this run lives, so a later run removes it if this one is killed
    from ltfu.outputs import resolve_report_target
    from ltfu.outputs.cleanup import _remove_partial
    from ltfu.outputs.transaction import _make_parents, _new_tmp

    target = resolve_report_target(out, inputs=inputs)
    created = _make_parents(target.parent)
    scratch, held = _new_tmp(target)
    done = False
    try:
        say(f"{Path(path).name} is beyond the cells ltfu holds in memory: validating it in row batches and "
            "preparing it for DuckDB (ltfu prepare)")
        try:
            prepared = registry.prepare(path, scratch / "prepared.parquet", cutoff=_parse_cutoff(cutoff),
                                        burden_threshold=burden_threshold,
                                        efs_nonresponder=options.efs_nonresponder,
                                        censor_at_hct=options.censor_at_hct, workers=None)
        except DataError as exc:
            _check_cutoff_before_all(exc.problems, exc.rows or 0, cutoff)     # one usage error, not one per row
            _print_problems(exc.problems, stream_err=True)
            errors = sum(p.severity == "error" for p in exc.problems)      # said as the in-memory report says it
            _fail(f"{errors} error(s) in the data: fix the errors above and run again (nothing was written).")
        except OutputError as exc:
            _output_error(exc)
        say("Counting the report's sections with DuckDB")
        written = _write(registry.analyse(prepared.path, options, temporary=True), out, fmts, inputs)
        done = True
        return written
    finally:
        _remove_partial(scratch)            # ltfu's own build folder, its marker last
        os.close(held)
        if not done:                        # the folders made for --out, when nothing was written there
            for d in reversed(created):
                with contextlib.suppress(OSError):
                    os.rmdir(d)


def _write(results, out, fmts, inputs, drawn=None):
    """The report's files (``write_report``; ``drawn``: figures drawn already), an output refused
    said as a usage or write error."""
    from ltfu.errors import OutputError
    from ltfu.report import write_report

    try:
        return write_report(results, out, formats=fmts, inputs=inputs, drawn=drawn)
    except OutputError as exc:
        _output_error(exc)

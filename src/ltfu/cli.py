"""The ``ltfu`` command line: parses arguments and calls the library, nothing more.

Exit codes: 0 success, 1 data problems (errors found) or a failed run (including a file-system
error or another run holding the output's lock), 2 usage error (including an output path ltfu
refuses: see ``ltfu.outputs``), 130 interrupted (Ctrl-C: one line, no traceback).  Text from a
file is printed through ``ltfu.terminal.visible``: control characters appear as escapes, never act
on the terminal.
A data problem never shows a traceback; ``--debug`` shows one for anything unexpected.
Heavy modules (pandas, scipy, matplotlib) are imported inside the commands, so ``ltfu --help``
stays fast.
"""

from __future__ import annotations

import enum
import json
import math
import signal
import sys

if __name__ == "__main__":      # python -m ltfu.cli: Ctrl-C is handled from here on, not only from main()
    def _early_sigint(signum, frame):
        print("interrupted; nothing was written", file=sys.stderr)
        sys.exit(130)

    signal.signal(signal.SIGINT, _early_sigint)
from pathlib import Path
from typing import Any

import typer
from typer.core import TyperCommand

from ltfu import defaults
from ltfu.terminal import visible


class _Command(TyperCommand):
    """Usage lines as a user writes them: ``ltfu validate [OPTIONS] FILE`` (typer would print
    ``{path}``)."""

    def collect_usage_pieces(self, ctx):
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if param.param_type_name == "argument":
                name = param.metavar or param.name.upper()
                pieces.append(name if param.required else f"[{name}]")
        return pieces


app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    help="ltfu: long-term follow-up analysis of cell-therapy trials.\n\n"
         "Point it at a patient table (CSV, TSV, XLSX, Parquet, SAS7BDAT, XPT), get every problem in "
         "the data listed at once, then a complete, reproducible report.",
)

MAX_RICH_ROWS = 200       # problems shown in a rich table; the rest as plain lines (a rich table of
                          # 100,000 rows takes minutes to lay out)
EXCEL_SUFFIXES = (".xlsx", ".xlsm")


class OutputFormat(enum.StrEnum):
    table = "table"
    json = "json"


class NonResponder(enum.StrEnum):
    day0 = "day0"
    assessment = "assessment"


class StopAt(enum.StrEnum):
    none = "none"
    anticancer = "anticancer"
    allo_hct = "allo_hct"
    anticancer_or_allo_hct = "anticancer_or_allo_hct"


class ConfType(enum.StrEnum):
    log_log = "log-log"
    log = "log"
    plain = "plain"


class Engine(enum.StrEnum):          # --engine; the same list as defaults.ENGINES (tests/test_defaults.py)
    auto = "auto"
    numpy = "numpy"
    duckdb = "duckdb"
    spark = "spark"


def _version(value: bool):
    if value:
        from ltfu import __version__

        typer.echo(f"ltfu {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    debug: bool = typer.Option(False, "--debug", help="Show a traceback for unexpected errors."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
):
    """Options of every command; --debug itself is read by main() (a traceback for the unexpected)."""


def _console(stderr: bool = False):
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=False)


def _fail(message: str, code: int = 1):
    from rich.markup import escape

    # soft_wrap: one logical line, never broken inside a path (the terminal wraps it)
    _console(stderr=True).print(f"[bold red]error:[/] {escape(visible(message))}", markup=True, soft_wrap=True)
    raise typer.Exit(code)


def _warn(message: str):
    from rich.markup import escape

    _console(stderr=True).print(f"[bold yellow]warning:[/] {escape(visible(message))}", markup=True, soft_wrap=True)


def _parse_cutoff(cutoff: str | None):
    if cutoff is None:
        return None
    import datetime as dt

    try:
        date = dt.date.fromisoformat(cutoff)
    except ValueError:
        _fail(f"--cutoff must be an ISO date (YYYY-MM-DD), got {cutoff!r}", code=2)
    if date > dt.date.today():
        _warn(f"--cutoff {date.isoformat()} is in the future: follow-up runs to each patient's last contact")
    return date


def _check_burden_threshold(value: float):
    if not (math.isfinite(value) and 0 < value <= 100):
        _fail(f"--burden-threshold must be a percentage of marrow blasts in (0, 100], got {value!r}", code=2)


def _check_landmark_days(value: float):
    if not (math.isfinite(value) and value > 0):
        _fail(f"--landmark-days must be a positive number of days, got {value!r}", code=2)


def _check_sheet(path, sheet):
    if sheet is not None and path is not None and Path(path).suffix.lower() not in EXCEL_SUFFIXES:
        _fail(f"--sheet applies to Excel files ({', '.join(EXCEL_SUFFIXES)}); {Path(path).name} is not one",
              code=2)


def _check_cutoff_before_all(problems, table, cutoff):
    """A --cutoff before every patient's infusion is a mistake in the command, not in the data:
    one usage error instead of one CUTOFF_BEFORE_INFUSION error per patient."""
    if cutoff is None or not len(table.data):
        return
    rows = {p.row for p in problems if p.code == "CUTOFF_BEFORE_INFUSION"}
    if len(rows) >= len(table.data):
        _fail(f"--cutoff {cutoff} is before every patient's infusion, so nobody would be followed up; "
              "give the date the data were frozen", code=2)


def _cells(p):
    """A problem's printable fields; text from the file made visible (no control characters)."""
    field = p.field or ""
    if getattr(p, "table", None):                 # a study's longitudinal table: name it with the column
        field = f"{p.table}: {field}" if field else p.table
    return (p.severity, p.code, "" if p.row is None else str(p.row),
            "" if p.patient_id is None else visible(p.patient_id), visible(field),
            None if p.value is None else visible(p.value), visible(p.message), visible(p.fix or ""))


def _plain_line(p) -> str:
    severity, code, row, pid, field, value, message, fix = _cells(p)
    where = "  ".join(x for x in ("" if not row else f"row {row}", "" if not pid else f"patient {pid}",
                                  "" if not field else f"field {field}",
                                  "" if value is None else f"value '{value}'") if x)
    return f"{severity} {code}  {where}  {message}" + (f"; what to do: {fix}" if fix else "")


def _print_problems(problems, *, fmt: str = "table", stream_err: bool = False) -> None:
    """Print every problem: a table (rich) or JSON. Values are already truncated by validation.

    Text from the file never reaches the terminal raw: control characters are printed as escapes
    (JSON escapes them by its own rules).  Beyond MAX_RICH_ROWS problems the rest are plain lines."""
    if fmt == "json":
        typer.echo(json.dumps([p.to_dict() for p in problems], indent=2, sort_keys=True, ensure_ascii=True))
        return
    from rich.table import Table

    console = _console(stderr=stream_err)
    n_err = sum(p.severity == "error" for p in problems)
    n_warn = len(problems) - n_err
    if not problems:
        console.print("No problems found.")
        return
    from collections import Counter

    from rich.markup import escape

    counts = Counter((p.severity, p.code) for p in problems)
    summary = ", ".join(f"{code} {k}" for (_, code), k in sorted(counts.items()))
    console.print(f"[bold]{n_err} error(s), {n_warn} warning(s)[/bold]: {escape(visible(summary))}")
    shown, rest = problems[:MAX_RICH_ROWS], problems[MAX_RICH_ROWS:]
    if console.width >= 120:
        table = Table(show_lines=False)
        table.add_column("severity", no_wrap=True)
        table.add_column("code", no_wrap=True)
        table.add_column("row", no_wrap=True, justify="right")
        for col in ("patient", "field", "value", "problem", "what to do"):
            table.add_column(col, overflow="fold")
        for p in shown:
            severity, code, row, pid, field, value, message, fix = _cells(p)
            table.add_row(severity, escape(code), row, escape(pid), escape(field),
                          "" if value is None else escape(value), escape(message), escape(fix))
        console.print(table)
    else:
        # narrow terminals: one short block per problem, so codes and messages are never cut apart
        for p in shown:
            severity, code, row, pid, field, value, message, fix = _cells(p)
            where = "  ".join(x for x in ("" if not row else f"row {row}", "" if not pid else f"patient {escape(pid)}",
                                          "" if not field else f"field {escape(field)}",
                                          "" if value is None else f"value '{escape(value)}'") if x)
            colour = "red" if p.severity == "error" else "yellow"
            console.print(f"[{colour}]{severity}[/{colour}] [bold]{escape(code)}[/bold]  {where}", soft_wrap=False)
            # soft_wrap: the terminal wraps a long message; rich would break it inside a path
            console.print(f"    {escape(message)}", soft_wrap=True)
            if fix:
                console.print(f"    what to do: {escape(fix)}", soft_wrap=True)
    if rest:
        console.print(f"... and {len(rest)} more problem(s), one per line:")
        console.file.write("\n".join(map(_plain_line, rest)) + "\n")
        console.file.flush()


class SchemaTable(enum.StrEnum):
    patients = "patients"
    events = "events"
    assessments = "assessments"
    therapies = "therapies"


@app.command()
def schema(fmt: OutputFormat = typer.Option(OutputFormat.table, "--format", help="table or json."),
           which: SchemaTable = typer.Option(SchemaTable.patients, "--table",
                                             help="Which table of a study: patients, events, assessments, therapies.")):
    """Print the data model of a table: every field, its type, whether required, allowed values, meaning."""
    from ltfu.cohort.schema import FIELDS
    from ltfu.study.schema import TABLES, TESTS

    if which is SchemaTable.patients:
        fields, title = FIELDS, "ltfu data model: one row per infused patient"
    else:
        spec = TABLES[which.value]
        fields, title = spec.fields, f"ltfu data model, {spec.name}: {spec.meaning[0].lower()}{spec.meaning[1:]}"
    if fmt is OutputFormat.json:
        typer.echo(json.dumps([{
            "name": f.name, "type": f.type, "required": f.required,
            "allowed": list(f.allowed) if f.allowed else None, "aliases": list(f.aliases),
            "meaning": f.meaning} for f in fields], indent=2))
        return
    console = _console()
    notes = []
    if which is SchemaTable.assessments:
        notes = ["tests (canonical unit): " + "; ".join(f"{k} ({u or 'a code'})" for k, (u, *_) in TESTS.items())]
    if console.width < 150:
        # narrow terminals: a block per field, wrapped on word boundaries (a table would cut words)
        import textwrap

        lines = [title, ""]
        for f in fields:
            lines.append(f"{f.name}  ({f.type}{', required' if f.required else ''})")
            for label, text in (("allowed", ", ".join(map(str, f.allowed or ()))), ("aliases", ", ".join(f.aliases)),
                                ("meaning", f.meaning)):
                if text:
                    lines.append(textwrap.fill(f"{label}: {text}", width=max(console.width - 1, 40),
                                               initial_indent="    ", subsequent_indent="        ",
                                               break_long_words=False, break_on_hyphens=False))
        for n in notes:
            lines += ["", textwrap.fill(n, width=max(console.width - 1, 40), break_long_words=False)]
        typer.echo("\n".join(lines))
        return
    from rich.table import Table

    table = Table(title=title)
    longest = lambda words: max((len(w) for w in words), default=1) + 1
    table.add_column("field", no_wrap=True)
    table.add_column("type", no_wrap=True)
    table.add_column("required", no_wrap=True)
    table.add_column("allowed values", min_width=longest(str(a) for f in fields for a in f.allowed))
    table.add_column("aliases", min_width=longest(a for f in fields for a in f.aliases))
    table.add_column("meaning", min_width=longest(w for f in fields for w in f.meaning.split()), ratio=1)
    for f in fields:
        table.add_row(f.name, f.type, "yes" if f.required else "", ", ".join(map(str, f.allowed or ())),
                      ", ".join(f.aliases), f.meaning)
    console.print(table)
    for n in notes:
        console.print(n, markup=False, highlight=False)


@app.command()
def validate(
    path: Path = typer.Argument(..., metavar="FILE",
                                help="Patient table (.csv .tsv .txt .xlsx .parquet .sas7bdat .xpt), or a study: a "
                                     "workbook with sheets patients, events, assessments, therapies, or a folder of "
                                     "such files"),
    sheet: str | None = typer.Option(None, metavar="SHEET", help="Excel sheet name (default: the first)."),
    cutoff: str | None = typer.Option(None, metavar="DATE", help="Data cut-off date, YYYY-MM-DD."),
    burden_threshold: float = typer.Option(defaults.BURDEN_THRESHOLD, metavar="P",
                                           help="Marrow blasts % at or above which burden is high (0 < P <= 100)."),
    fmt: OutputFormat = typer.Option(OutputFormat.table, "--format", help="table or json."),
):
    """List every problem in a patient table (or every table of a study) at once. Exit 1 if there are
    errors, else 0."""
    from ltfu.study import check_study, find_tables

    _check_burden_threshold(burden_threshold)
    _check_sheet(path, sheet)
    cut = _parse_cutoff(cutoff)
    files = find_tables(path, sheet=sheet)
    # validation's list already begins with the problems met while reading the files
    problems, _ = check_study(files, cutoff=cut, burden_threshold=burden_threshold)
    _check_cutoff_before_all(problems, files.patients, cutoff)
    _print_problems(problems, fmt=fmt.value)
    if any(p.severity == "error" for p in problems):
        raise typer.Exit(1)


def _check_formats(formats: str) -> tuple:
    """--formats as a tuple of outputs, or a usage error."""
    fmts = tuple(f.strip().lower() for f in formats.split(",") if f.strip())
    allowed = set(defaults.REPORT_FORMATS) | set(defaults.OPTIONAL_FORMATS)
    if not fmts or set(fmts) - allowed:
        _fail(f"--formats takes a comma-separated subset of {', '.join(sorted(allowed))}", code=2)
    return fmts


def _output_error(exc) -> None:
    """An output path refused (exit 2) or a file-system failure (exit 1): one plain line."""
    _fail(exc.message, code=exc.exit_code)


@app.command()
def demo(
    out: str = typer.Option(..., "--out", help="Where to write: a .csv file (the patient table), an .xlsx "
                            "workbook (the whole study, a sheet per table) or a folder (the four tables as CSV)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace the file if it exists."),
):
    """Write the SYNTHETIC demonstration study (53 patients and their events, assessments and
    therapies; not patient data)."""
    from ltfu.demo import write_demo
    from ltfu.errors import OutputError

    try:
        path = write_demo(out, overwrite=overwrite)
    except OutputError as exc:
        _output_error(exc)
    typer.echo(f"Wrote the synthetic demonstration cohort (not patient data) to {path}")


@app.command()
def endpoints(
    path: Path | None = typer.Argument(None, metavar="FILE", help="Patient table (omit with --demo)."),
    use_demo: bool = typer.Option(False, "--demo", help="Use the synthetic demonstration cohort."),
    cutoff: str | None = typer.Option(None, metavar="DATE", help="Data cut-off date, YYYY-MM-DD."),
    burden_threshold: float = typer.Option(defaults.BURDEN_THRESHOLD, metavar="P",
                                           help="Marrow blasts % at or above which burden is high (0 < P <= 100)."),
    efs_nonresponder: NonResponder = typer.Option(NonResponder(defaults.EFS_NONRESPONDER)),
    censor_at_hct: bool = typer.Option(False, help="Censor EFS and RFS at a subsequent allo-HCT."),
):
    """Print each endpoint's definition, patients and events (no patient rows)."""
    from rich.table import Table

    from ltfu import endpoints as ep

    cohort = _load_cohort(path, use_demo, cutoff, burden_threshold, sheet=None)
    rows = [
        ep.overall_survival(cohort),
        ep.event_free_survival(cohort, nonresponder=efs_nonresponder.value, censor_at_hct=censor_at_hct),
        ep.relapse_free_survival(cohort, censor_at_hct=censor_at_hct),
        ep.relapse_competing(cohort),
        ep.follow_up(cohort),
    ]
    table = Table(title=f"Endpoints ({cohort.n} patients)" + (" - SYNTHETIC DATA" if cohort.synthetic else ""))
    for col in ("endpoint", "patients", "events", "definition"):
        table.add_column(col, overflow="fold")
    for e in rows:
        events = ", ".join(f"{int((e.status == k).sum())} cause {k}" for k in sorted(set(e.status.tolist())) if k) \
            if e.status.max(initial=0) > 1 else str(int((e.status == 1).sum()))
        table.add_row(e.label, str(e.n), events, e.definition)
    _console().print(table)


@app.command()
def simulate(
    patients: int = typer.Option(..., "--patients", min=1, metavar="N", help="Number of patients (N >= 1)."),
    seed: int = typer.Option(1, "--seed", min=0, metavar="S", help="Random seed, S >= 0 (same seed, same file)."),
    out: str = typer.Option(..., "--out", help="Output file: .parquet or .csv (the patient table), or a folder "
                            "(a path without an extension) for the four tables of a study as Parquet."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace the file if it exists."),
):
    """Write a SYNTHETIC multi-centre registry (for benchmarks and design studies)."""
    from ltfu.errors import OutputError
    from ltfu.simulate import write_registry

    try:
        path = write_registry(out, patients, seed=seed, overwrite=overwrite)
    except OutputError as exc:
        _output_error(exc)
    typer.echo(f"Wrote {patients} SYNTHETIC registry patients (not patient data) to {path}")


MAX_BY_LEVELS = 10


def _check_adam_by(covariates, by):
    """--by names a character (categorical) ADSL variable with at most MAX_BY_LEVELS values."""
    import pandas as pd

    var = by.upper()
    if var not in covariates.columns:
        _fail(f"--by {by!r} is not an ADSL variable", code=2)
    values = covariates[var].dropna()
    n = int(values.nunique())
    how = (f"--by compares groups: give a character ADSL variable with at most {MAX_BY_LEVELS} values. Cut {var} "
           "into a few groups first (e.g. derive AGEGR1 = '<65' / '>=65' from AGE in ADSL) or use the character "
           "variable it codes (AGEGR1 rather than AGEGR1N), and give that to --by.")
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        _fail(f"--by {var} is a numeric variable ({n} distinct values). {how}", code=2)
    if n > MAX_BY_LEVELS:
        _fail(f"--by {var} has {n} distinct values (more than {MAX_BY_LEVELS}). {how}", code=2)


@app.command()
def adam(
    adsl: Path = typer.Argument(..., metavar="ADSL", help="ADSL dataset (.xpt, .sas7bdat, .csv, .parquet ...)."),
    adtte: Path = typer.Argument(..., metavar="ADTTE", help="ADTTE dataset."),
    by: str | None = typer.Option(None, "--by", metavar="VAR",
                                     help="An ADSL variable to compare groups (log-rank); at most 10 groups."),
    param: list[str] | None = typer.Option(None, "--param", metavar="CODE",
                                              help="PARAMCD to analyse (repeatable; default all)."),
    conf_type: ConfType = typer.Option(ConfType(defaults.KM_CONF_TYPE), help="Kaplan-Meier CI transform (R names)."),
    fmt: OutputFormat = typer.Option(OutputFormat.table, "--format", help="table or json."),
    out: str | None = typer.Option(None, "--out", metavar="DIR",
                                      help="Also write a report into DIR (same rules as ltfu report --out)."),
    formats: str = typer.Option(",".join(defaults.REPORT_FORMATS), metavar="LIST",
                                help="With --out: comma-separated outputs to write."),
):
    """Analyse CDISC ADaM time-to-event parameters directly (ADSL + ADTTE): Kaplan-Meier per PARAMCD,
    log-rank and, for a two-level --by, the Cox hazard ratio; with --out a full report."""
    from ltfu.analysis.adam import AdamOptions, analyse_adam, console_rows
    from ltfu.cohort import load as load_table
    from ltfu.cohort.adam import load_adam
    from ltfu.errors import DataError, OutputError

    try:
        data = load_adam(adsl, adtte)
    except DataError as exc:
        _print_problems(exc.problems, stream_err=True)
        _fail(f"{exc.message}: fix the errors above and run again.")
    if param:
        present = sorted(data.endpoints)
        by_upper = {code.upper(): code for code in present}
        chosen = [p if p in data.endpoints else by_upper.get(p.strip().upper()) for p in param]
        unknown = [p for p, c in zip(param, chosen) if c is None]
        if unknown:
            _fail(f"--param {', '.join(unknown)}: no such PARAMCD in {adtte.name}; present: "
                  f"{', '.join(present) or 'none'}", code=2)
        endpoints = {c: data.endpoints[c] for c in dict.fromkeys(chosen)}
    else:
        endpoints = data.endpoints
    if by is not None:
        _check_adam_by(data.covariates, by)
    fmts = _check_formats(formats) if out is not None else ()
    header = {h.upper() for h in load_table(adtte, columns=lambda name: False).header}
    unit_note = ("AVALU given: converted to days by its unit." if "AVALU" in header else
                 "ADTTE has no AVALU: AVAL was taken as days (give AVALU if it is in weeks, months or years).")
    results = analyse_adam(data, endpoints, AdamOptions(by=by, conf_type=conf_type.value), unit_note=unit_note)
    rows = console_rows(results)
    if out is not None:
        from ltfu.report import write_report

        try:
            main_file = write_report(results, out, formats=fmts, inputs=(adsl, adtte))
        except OutputError as exc:
            _output_error(exc)
        typer.echo(f"Report written: {Path(main_file).resolve()}")
    if fmt is OutputFormat.json:
        typer.echo(json.dumps(rows, indent=2, allow_nan=False))
        return
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=f"ADaM time-to-event parameters ({len(data.covariates)} subjects in ADSL)")
    for col in ("PARAMCD", "group", "n", "events", "median, months (95% CI)", "log-rank p"):
        table.add_column(col)
    f = lambda v: "NE" if v is None else f"{v:.1f}"
    for r in rows:
        p = r["logrank"]["p_value"] if r["logrank"] else None
        table.add_row(escape(visible(r["paramcd"])), escape(visible(r["group"])), str(r["n"]), str(r["events"]),
                      f"{f(r['median_months'])} ({f(r['lower_months'])} to {f(r['upper_months'])})",
                      "" if p is None else f"{p:.3g}")
    _console().print(table)


def _load_cohort(path, use_demo, cutoff, burden_threshold, sheet, *, deidentify=False):
    """The validated cohort of a user's file (or the demonstration cohort), after the checks of the
    options that need the data.  Only the packaged demonstration cohort is synthetic."""

    study = _load_study(path, use_demo, cutoff, burden_threshold, sheet, deidentify=deidentify)
    return study.cohort


def _load_study(path, use_demo, cutoff, burden_threshold, sheet, *, deidentify=False):
    """The validated study of a user's file, workbook or folder (or the demonstration study), after
    the checks of the options that need the data.  Only the packaged demonstration data are synthetic."""
    from dataclasses import replace

    from ltfu.cohort.schema import is_model_column
    from ltfu.demo import marked
    from ltfu.study import check_study, find_tables

    if use_demo == (path is not None):
        _fail("give either a patient table (or study) or --demo", code=2)
    _check_burden_threshold(burden_threshold)
    _check_sheet(path, sheet)
    cut = _parse_cutoff(cutoff)
    if use_demo:
        from ltfu.demo import load_demo_study

        return load_demo_study(cutoff=cut, burden_threshold=burden_threshold)
    files = find_tables(path, sheet=sheet, columns=is_model_column)   # the patient table projected, header kept
    problems, study = check_study(files, cutoff=cut, burden_threshold=burden_threshold)
    if study is None:
        errors = [p for p in problems if p.severity == "error"]
        _check_cutoff_before_all(problems, files.patients, cutoff)
        _print_problems(problems, stream_err=True)
        _fail(f"{len(errors)} error(s) in the data: fix the errors above and run again (nothing was written).")
    study = replace(study, cohort=marked(study.cohort))   # a file's `synthetic` column is an ordinary column
    if deidentify:
        from ltfu.deid import deidentify_study

        study = deidentify_study(study, header=files.patients.header)   # columns named by position
    return study


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
    burden_threshold: float = typer.Option(defaults.BURDEN_THRESHOLD, metavar="P",
                                           help="Marrow blasts % at or above which burden is high (0 < P <= 100)."),
    efs_nonresponder: NonResponder = typer.Option(
        NonResponder(defaults.EFS_NONRESPONDER),
        help="A patient without CR/CRi has an EFS event at day 0 or at the assessment date."),
    censor_at_hct: bool = typer.Option(False, help="Censor EFS and RFS at a subsequent allo-HCT."),
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
):
    """Run the full long-term follow-up analysis and write the report into --out."""
    fmts = _check_formats(formats)
    _check_burden_threshold(burden_threshold)
    _check_landmark_days(landmark_days)
    if max_months is not None and not (math.isfinite(max_months) and max_months > 0):
        _fail(f"--max-months must be a positive number of months, got {max_months:g}", code=2)
    from ltfu.errors import OutputError
    from ltfu.outputs import check_report_target, resolve_report_target

    inputs = () if path is None else (path,)
    try:  # refuse an unsafe --out before any work (and again, under a lock, just before the swap)
        check_report_target(resolve_report_target(out, inputs=inputs))
    except OutputError as exc:
        _output_error(exc)
    except OSError as exc:
        _fail(f"cannot check --out {out!r}: {exc.strerror or exc}", code=1)
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

        study = report_input(path, use_demo, cut, cutoff, burden_threshold, sheet, deidentify=deidentify,
                             load_study=_load_study)
        step("Analysing")
        from ltfu.analysis import AnalysisOptions, analyse

        options = AnalysisOptions(efs_nonresponder=efs_nonresponder.value, censor_at_hct=censor_at_hct,
                                  conf_type=conf_type.value, landmark_days=landmark_days,
                                  safety_stop_at=safety_stop_at.value, max_months=max_months, deidentify=deidentify,
                                  keep_checksum=keep_checksum, record_path=record_path,
                                  engine=_engine_for(engine.value, path))
        results = analyse(study, options)
        step("Writing the report")
        from ltfu.report import write_report

        try:
            main_file = write_report(results, out, formats=fmts, inputs=inputs)
        except OutputError as exc:
            _output_error(exc)
        step("Done")
    if study.cohort.synthetic:
        typer.echo("Note: the demonstration data are SYNTHETIC (not patient data).")
    typer.echo(f"Report written: {Path(main_file).resolve()}")


app.add_typer(__import__("ltfu.cli_study", fromlist=["app"]).app, name="study")   # init/add/list/diff/upgrade

for _info in app.registered_commands:     # every usage line as a user writes it (FILE, not {path})
    if _info.cls in (None, TyperCommand):
        _info.cls = _Command


class Interrupted(BaseException):
    """Ctrl-C: raised by ltfu's SIGINT handler.  Not a KeyboardInterrupt, so no library code that
    catches KeyboardInterrupt (or Exception) turns it into something else half way."""


INTERRUPTED = "interrupted; nothing was written"


def _on_sigint(signum, frame):
    raise Interrupted()


def main(argv=None) -> int:
    """Console-script entry point: no traceback for ltfu's own errors unless --debug."""
    from ltfu.errors import LtfuError

    args = sys.argv[1:] if argv is None else list(argv)
    try:
        previous = signal.signal(signal.SIGINT, _on_sigint)
    except ValueError:          # not the main thread (embedded use): leave SIGINT alone
        previous = None
    try:
        app(args=args, prog_name="ltfu")  # standalone: usage errors print and exit 2
    except SystemExit as exc:
        code = exc.code
        if code == 130:         # typer's answer to a KeyboardInterrupt raised inside a library
            print(INTERRUPTED, file=sys.stderr)
        return code if isinstance(code, int) else (0 if code is None else 1)
    except (Interrupted, KeyboardInterrupt):
        print(INTERRUPTED, file=sys.stderr)
        return 130
    except LtfuError as exc:
        if "--debug" in args:
            raise
        from rich.markup import escape

        _console(stderr=True).print(f"[bold red]error[/] {escape(visible(f'[{exc.code}]: {exc.message}'))}",
                                    markup=True, soft_wrap=True)
        return 1
    except OSError as exc:  # the file system (full, read-only, permissions): one plain line
        if "--debug" in args:
            raise
        from rich.markup import escape

        where = f": {exc.filename}" if getattr(exc, "filename", None) else ""
        _console(stderr=True).print(f"[bold red]error:[/] {escape(f'{exc.strerror or exc}{where}')}",
                                    markup=True, soft_wrap=True)
        return 1
    except Exception as exc:  # the unexpected: one line, no traceback unless --debug
        if "--debug" in args:
            raise
        from rich.markup import escape

        _console(stderr=True).print(
            f"[bold red]internal error[/]: {escape(visible(f'{type(exc).__name__}: {exc}'))}. Run again with --debug "
            "for a traceback and report it; no output was written.", markup=True)
        return 1
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

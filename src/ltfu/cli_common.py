"""What every ltfu command shares: the typer app, option types, console output, argument checks
and the problem table (see ltfu.cli for the exit codes)."""

from __future__ import annotations

import enum
import json
import math
from pathlib import Path

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


# options several commands share, declared once (typer reads each as the parameter's default)
BURDEN_THRESHOLD_OPTION = typer.Option(defaults.BURDEN_THRESHOLD, metavar="P",
                                       help="Marrow blasts % at or above which burden is high (0 < P <= 100).")
EFS_NONRESPONDER_OPTION = typer.Option(
    NonResponder(defaults.EFS_NONRESPONDER),
    help="A patient without CR/CRi has an EFS event at day 0 or at the assessment date.")
CENSOR_AT_HCT_OPTION = typer.Option(False, help="Censor EFS and RFS at a subsequent allo-HCT.")


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


def _check_cutoff_before_all(problems, n_rows: int, cutoff):
    """A --cutoff before every patient's infusion is a mistake in the command, not in the data:
    one usage error instead of one CUTOFF_BEFORE_INFUSION error per patient (of ``n_rows``)."""
    if cutoff is None or not n_rows:
        return
    rows = {p.row for p in problems if p.code == "CUTOFF_BEFORE_INFUSION"}
    if len(rows) >= n_rows:
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


def _load_cohort(path, use_demo, cutoff, burden_threshold, sheet, *, deidentify=False):
    """The validated cohort of a user's file (or the demonstration cohort), after the checks of the
    options that need the data.  Only the packaged demonstration cohort is synthetic."""

    study = _load_study(path, use_demo, cutoff, burden_threshold, sheet, deidentify=deidentify)
    return study.cohort


def _load_study(path, use_demo, cutoff, burden_threshold, sheet, *, deidentify=False):
    """The validated study of a user's file, workbook or folder (or the demonstration study), after
    the checks of the options that need the data.  Only the packaged demonstration data are synthetic."""
    from dataclasses import replace

    from ltfu.cohort.raw import release_read_buffers
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
        _check_cutoff_before_all(problems, len(files.patients.data), cutoff)
        if deidentify:                 # stderr is often kept (CI, batch logs): no id, value or file name
            from ltfu.deid import deidentify_listing

            problems = list(deidentify_listing(problems, files.patients.header))
        _print_problems(problems, stream_err=True)
        _fail(f"{len(errors)} error(s) in the data: fix the errors above and run again (nothing was written)."
              + (" With --deidentify the ids, values and names of columns outside the data model are withheld; "
                 "`ltfu validate` lists them." if deidentify else ""))
    study = replace(study, cohort=marked(study.cohort))   # a file's `synthetic` column is an ordinary column
    header = files.patients.header
    del files                                              # the raw tables, then the memory they held
    release_read_buffers()
    if deidentify:
        from ltfu.deid import deidentify_study

        study = deidentify_study(study, header=header)     # columns named by position
    return study

"""The ``ltfu`` command line: parses arguments and calls the library, nothing more.

Exit codes: 0 success, 1 data problems (errors found) or a failed run (including a file-system
error or another run holding the output's lock), 2 usage error (including an output path ltfu
refuses: see ``ltfu.outputs``).
A data problem never shows a traceback; ``--debug`` shows one for anything unexpected.
Heavy modules (pandas, scipy, matplotlib) are imported inside the commands, so ``ltfu --help``
stays fast.
"""

from __future__ import annotations

import enum
import json
import sys
from pathlib import Path
from typing import Optional

import typer

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    help="ltfu: long-term follow-up analysis of cell-therapy trials.\n\n"
         "Point it at a patient table (CSV, TSV, XLSX, Parquet, SAS7BDAT, XPT), get every problem in "
         "the data listed at once, then a complete, reproducible report.",
)

_STATE = {"debug": False}


class OutputFormat(str, enum.Enum):
    table = "table"
    json = "json"


class NonResponder(str, enum.Enum):
    day0 = "day0"
    assessment = "assessment"


class ConfType(str, enum.Enum):
    log_log = "log-log"
    log = "log"
    plain = "plain"


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
    _STATE["debug"] = debug


def _console(stderr: bool = False):
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=False)


def _fail(message: str, code: int = 1):
    from rich.markup import escape

    # soft_wrap: one logical line, never broken inside a path (the terminal wraps it)
    _console(stderr=True).print(f"[bold red]error:[/] {escape(message)}", markup=True, soft_wrap=True)
    raise typer.Exit(code)


def _parse_cutoff(cutoff: Optional[str]):
    if cutoff is None:
        return None
    import datetime as dt

    try:
        return dt.date.fromisoformat(cutoff)
    except ValueError:
        _fail(f"--cutoff must be an ISO date (YYYY-MM-DD), got {cutoff!r}", code=2)


def _print_problems(problems, *, fmt: str = "table", stream_err: bool = False) -> None:
    """Print every problem: a table (rich) or JSON. Values are already truncated by validation."""
    if fmt == "json":
        typer.echo(json.dumps([p.to_dict() for p in problems], indent=2, sort_keys=True))
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
    console.print(f"[bold]{n_err} error(s), {n_warn} warning(s)[/bold]: {escape(summary)}")
    if console.width >= 120:
        table = Table(show_lines=False)
        table.add_column("severity", no_wrap=True)
        table.add_column("code", no_wrap=True)
        table.add_column("row", no_wrap=True, justify="right")
        for col in ("patient", "field", "value", "problem", "what to do"):
            table.add_column(col, overflow="fold")
        for p in problems:
            table.add_row(p.severity, p.code, "" if p.row is None else str(p.row),
                          "" if p.patient_id is None else escape(str(p.patient_id)), escape(p.field or ""),
                          "" if p.value is None else escape(str(p.value)), escape(p.message), escape(p.fix or ""))
        console.print(table)
        return
    # narrow terminals: one short block per problem, so codes and messages are never cut apart
    for p in problems:
        where = "  ".join(x for x in (
            "" if p.row is None else f"row {p.row}",
            "" if p.patient_id is None else f"patient {escape(str(p.patient_id))}",
            "" if not p.field else f"field {escape(p.field)}",
            "" if p.value is None else f"value {escape(repr(str(p.value)))}") if x)
        colour = "red" if p.severity == "error" else "yellow"
        console.print(f"[{colour}]{p.severity}[/{colour}] [bold]{p.code}[/bold]  {where}", soft_wrap=False)
        console.print(f"    {escape(p.message)}")
        if p.fix:
            console.print(f"    what to do: {escape(p.fix)}")


@app.command()
def schema(fmt: OutputFormat = typer.Option(OutputFormat.table, "--format", help="table or json.")):
    """Print the data model: every field, its type, whether required, allowed values, meaning."""
    from ltfu.cohort.schema import FIELDS

    if fmt is OutputFormat.json:
        typer.echo(json.dumps([{
            "name": f.name, "type": f.type, "required": f.required,
            "allowed": list(f.allowed) if f.allowed else None, "aliases": list(f.aliases),
            "meaning": f.meaning} for f in FIELDS], indent=2))
        return
    from rich.table import Table

    table = Table(title="ltfu data model: one row per infused patient")
    for col in ("field", "type", "required", "allowed values", "aliases", "meaning"):
        table.add_column(col, overflow="fold")
    for f in FIELDS:
        table.add_row(f.name, f.type, "yes" if f.required else "", ", ".join(map(str, f.allowed or ())),
                      ", ".join(f.aliases), f.meaning)
    _console().print(table)


@app.command()
def validate(
    path: Path = typer.Argument(..., help="Patient table: .csv .tsv .txt .xlsx .parquet .sas7bdat .xpt"),
    sheet: Optional[str] = typer.Option(None, help="Excel sheet name (default: the first)."),
    cutoff: Optional[str] = typer.Option(None, help="Data cut-off date, YYYY-MM-DD."),
    burden_threshold: float = typer.Option(5.0, help="Marrow blasts %% at or above which burden is high."),
    fmt: OutputFormat = typer.Option(OutputFormat.table, "--format", help="table or json."),
):
    """List every problem in a patient table at once. Exit 1 if there are errors, else 0."""
    from ltfu.cohort import load, validate as run_validation

    table = load(path, sheet=sheet)
    # validation's list already begins with the problems met while reading the file
    problems = run_validation(table, cutoff=_parse_cutoff(cutoff), burden_threshold=burden_threshold)
    _print_problems(problems, fmt=fmt.value)
    if any(p.severity == "error" for p in problems):
        raise typer.Exit(1)


def _output_error(exc) -> None:
    """An output path refused (exit 2) or a file-system failure (exit 1): one plain line."""
    _fail(exc.message, code=exc.exit_code)


@app.command()
def demo(
    out: str = typer.Option(..., "--out", help="Where to write the synthetic cohort: a new .csv file."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace the file if it exists."),
):
    """Write the SYNTHETIC demonstration cohort (53 patients; not patient data)."""
    from ltfu.demo import write_demo
    from ltfu.errors import OutputError

    try:
        path = write_demo(out, overwrite=overwrite)
    except OutputError as exc:
        _output_error(exc)
    typer.echo(f"Wrote the synthetic demonstration cohort (not patient data) to {path}")


@app.command()
def endpoints(
    path: Optional[Path] = typer.Argument(None, help="Patient table (omit with --demo)."),
    use_demo: bool = typer.Option(False, "--demo", help="Use the synthetic demonstration cohort."),
    cutoff: Optional[str] = typer.Option(None, help="Data cut-off date, YYYY-MM-DD."),
    burden_threshold: float = typer.Option(5.0),
    efs_nonresponder: NonResponder = typer.Option(NonResponder.day0),
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
    patients: int = typer.Option(..., "--patients", min=1, help="Number of patients."),
    seed: int = typer.Option(1, "--seed", help="Random seed (same seed, same file)."),
    out: str = typer.Option(..., "--out", help="Output file: .parquet or .csv (the extension picks the format)."),
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


@app.command()
def adam(
    adsl: Path = typer.Argument(..., help="ADSL dataset (.xpt, .sas7bdat, .csv, .parquet ...)."),
    adtte: Path = typer.Argument(..., help="ADTTE dataset."),
    by: Optional[str] = typer.Option(None, "--by", help="An ADSL variable to compare groups (log-rank)."),
    param: Optional[list[str]] = typer.Option(None, "--param", help="PARAMCD to analyse (repeatable; default all)."),
    conf_type: ConfType = typer.Option(ConfType.log_log, help="Kaplan-Meier CI transform (R names)."),
    fmt: OutputFormat = typer.Option(OutputFormat.table, "--format", help="table or json."),
):
    """Analyse CDISC ADaM time-to-event parameters directly (ADSL + ADTTE): Kaplan-Meier per PARAMCD."""
    import numpy as np

    from ltfu.cohort.adam import load_adam
    from ltfu.errors import DataError
    from ltfu.results import DAYS_PER_MONTH
    from ltfu.stats import kaplan_meier, logrank

    try:
        data = load_adam(adsl, adtte, params=param or None)
    except DataError as exc:
        _print_problems(exc.problems, stream_err=True)
        _fail(f"{exc.message}: fix the errors above and run again.")
    if by is not None and by.upper() not in data.covariates.columns:
        _fail(f"--by {by!r} is not an ADSL variable", code=2)
    rows = []
    for code, ep in data.endpoints.items():
        groups = [("all", np.ones(ep.n, bool))]
        test = None
        if by is not None:
            g = data.covariates[by.upper()].reindex(ep.usubjid).astype(str).to_numpy()
            groups += [(f"{by.upper()}={v}", g == v) for v in sorted(set(g))]
            if len(set(g)) > 1:
                lr = logrank(ep.time, ep.event, g)
                test = {"statistic": lr.statistic, "df": lr.df, "p_value": lr.p_value}
        for label, m in groups:
            km = kaplan_meier(ep.time[m], ep.event[m], conf_type=conf_type.value)
            med = km.median
            to_m = lambda v: None if not np.isfinite(v) else v / DAYS_PER_MONTH  # noqa: E731
            rows.append({"paramcd": code, "param": ep.param, "group": label, "n": int(m.sum()),
                         "events": int(ep.event[m].sum()), "median_months": to_m(med.value),
                         "lower_months": to_m(med.lower), "upper_months": to_m(med.upper),
                         "logrank": test if label == "all" else None})
    if fmt is OutputFormat.json:
        typer.echo(json.dumps(rows, indent=2, allow_nan=False))
        return
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=f"ADaM time-to-event parameters ({len(data.covariates)} subjects in ADSL)")
    for col in ("PARAMCD", "group", "n", "events", "median, months (95% CI)", "log-rank p"):
        table.add_column(col)
    f = lambda v: "NR" if v is None else f"{v:.1f}"  # noqa: E731
    for r in rows:
        p = r["logrank"]["p_value"] if r["logrank"] else None
        table.add_row(escape(str(r["paramcd"])), escape(str(r["group"])), str(r["n"]), str(r["events"]),
                      f"{f(r['median_months'])} ({f(r['lower_months'])} to {f(r['upper_months'])})",
                      "" if p is None else f"{p:.3g}")
    _console().print(table)


def _load_cohort(path, use_demo, cutoff, burden_threshold, sheet):
    from ltfu.cohort import load_cohort
    from ltfu.errors import DataError

    if use_demo == (path is not None):
        _fail("give either a patient table or --demo", code=2)
    if use_demo:
        from ltfu.demo import load_demo

        return load_demo(cutoff=_parse_cutoff(cutoff), burden_threshold=burden_threshold)
    try:
        return load_cohort(path, sheet=sheet, cutoff=_parse_cutoff(cutoff), burden_threshold=burden_threshold)
    except DataError as exc:
        _print_problems(exc.problems, stream_err=True)
        _fail(f"{exc.message}: fix the errors above and run again (nothing was written).")


@app.command()
def report(
    path: Optional[Path] = typer.Argument(None, help="Patient table (omit with --demo)."),
    out: str = typer.Option(
        "report", "--out",
        help="Output directory: new, empty, or a report ltfu wrote (replaced atomically); anything else is refused."),
    use_demo: bool = typer.Option(False, "--demo", help="Run on the synthetic demonstration cohort."),
    sheet: Optional[str] = typer.Option(None, help="Excel sheet name."),
    cutoff: Optional[str] = typer.Option(None, help="Data cut-off date, YYYY-MM-DD (default: the file's)."),
    burden_threshold: float = typer.Option(5.0, help="Marrow blasts %% at or above which burden is high."),
    efs_nonresponder: NonResponder = typer.Option(
        NonResponder.day0, help="A patient without CR/CRi has an EFS event at day 0 or at the assessment date."),
    censor_at_hct: bool = typer.Option(False, help="Censor EFS and RFS at a subsequent allo-HCT."),
    conf_type: ConfType = typer.Option(ConfType.log_log, help="Kaplan-Meier CI transform (R names)."),
    landmark_days: float = typer.Option(100.0, help="Landmark day for the transplant analysis."),
    deidentify: bool = typer.Option(False, help="Replace ids by sequence numbers, dates by days; drop free text."),
    formats: str = typer.Option("html,pdf,json,csv,svg,png", help="Comma-separated outputs to write."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
):
    """Run the full long-term follow-up analysis and write the report into --out."""
    fmts = tuple(f.strip().lower() for f in formats.split(",") if f.strip())
    allowed = {"html", "pdf", "json", "csv", "svg", "png"}
    if not fmts or set(fmts) - allowed:
        _fail(f"--formats takes a comma-separated subset of {', '.join(sorted(allowed))}", code=2)
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

    progress_cm = nullcontext()
    if show:
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        progress_cm = Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
                               console=_console(stderr=True), transient=True)
    with progress_cm as progress:
        task = progress.add_task("Loading and validating", total=3) if show else None

        def step(desc):
            if show:
                progress.update(task, advance=1, description=desc)

        cohort = _load_cohort(path, use_demo, cutoff, burden_threshold, sheet)
        step("Analysing")
        from ltfu.analysis import AnalysisOptions, analyse

        options = AnalysisOptions(efs_nonresponder=efs_nonresponder.value, censor_at_hct=censor_at_hct,
                                  conf_type=conf_type.value, landmark_days=landmark_days,
                                  deidentify=deidentify)
        results = analyse(cohort, options)
        step("Writing the report")
        from ltfu.report import write_report

        try:
            main_file = write_report(results, out, formats=fmts, inputs=inputs)
        except OutputError as exc:
            _output_error(exc)
        step("Done")
    if cohort.synthetic:
        typer.echo("Note: the demonstration cohort is SYNTHETIC (not patient data).")
    typer.echo(f"Report written: {Path(main_file).resolve()}")


def main(argv=None) -> int:
    """Console-script entry point: no traceback for ltfu's own errors unless --debug."""
    from ltfu.errors import LtfuError

    args = sys.argv[1:] if argv is None else list(argv)
    try:
        app(args=args, prog_name="ltfu")  # standalone: usage errors print and exit 2
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    except LtfuError as exc:
        if "--debug" in args:
            raise
        from rich.markup import escape

        _console(stderr=True).print(f"[bold red]error[/] {escape(f'[{exc.code}]: {exc.message}')}", markup=True)
        return 1
    except OSError as exc:  # the file system (full, read-only, permissions): one plain line
        if "--debug" in args:
            raise
        from rich.markup import escape

        where = f": {exc.filename}" if getattr(exc, "filename", None) else ""
        _console(stderr=True).print(f"[bold red]error:[/] {escape(f'{exc.strerror or exc}{where}')}",
                                    markup=True)
        return 1
    except Exception as exc:  # the unexpected: one line, no traceback unless --debug
        if "--debug" in args:
            raise
        from rich.markup import escape

        _console(stderr=True).print(
            f"[bold red]internal error[/]: {escape(f'{type(exc).__name__}: {exc}')}. Run again with --debug "
            "for a traceback and report it; no output was written.", markup=True)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

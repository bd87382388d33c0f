"""ltfu schema, validate, prepare, demo, endpoints and simulate."""

from __future__ import annotations

import enum
import json
from pathlib import Path

import typer

from ltfu.cli_common import (
    BURDEN_THRESHOLD_OPTION,
    CENSOR_AT_HCT_OPTION,
    EFS_NONRESPONDER_OPTION,
    NonResponder,
    OutputFormat,
    _check_burden_threshold,
    _check_cutoff_before_all,
    _check_sheet,
    _console,
    _fail,
    _load_cohort,
    _output_error,
    _parse_cutoff,
    _print_problems,
    app,
)


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
    burden_threshold: float = BURDEN_THRESHOLD_OPTION,
    fmt: OutputFormat = typer.Option(OutputFormat.table, "--format", help="table or json."),
):
    """List every problem in a patient table (or every table of a study) at once. Exit 1 if there are
    errors, else 0."""
    from ltfu.cohort.stream import too_large, validate_parquet
    from ltfu.study import check_study, find_tables

    _check_burden_threshold(burden_threshold)
    _check_sheet(path, sheet)
    cut = _parse_cutoff(cutoff)
    if too_large(path):             # a Parquet table beyond the cells ltfu holds: validated in row batches
        checked = validate_parquet(path, cutoff=cut, burden_threshold=burden_threshold, workers=None)
        problems, n_rows = checked.problems, checked.rows
    else:
        files = find_tables(path, sheet=sheet)
        # validation's list already begins with the problems met while reading the files
        problems, _ = check_study(files, cutoff=cut, burden_threshold=burden_threshold)
        n_rows = len(files.patients.data)
    _check_cutoff_before_all(problems, n_rows, cutoff)
    _print_problems(problems, fmt=fmt.value)
    if any(p.severity == "error" for p in problems):
        raise typer.Exit(1)




@app.command()
def prepare(
    path: Path = typer.Argument(..., metavar="FILE",
                                help="Patient table (.csv .tsv .txt .xlsx .parquet .sas7bdat .xpt); a Parquet file "
                                     "of any size is read in row batches."),
    out: str = typer.Option(..., "--out", help="The prepared table to write: a .parquet file."),
    cutoff: str | None = typer.Option(None, metavar="DATE", help="Data cut-off date, YYYY-MM-DD."),
    burden_threshold: float = BURDEN_THRESHOLD_OPTION,
    efs_nonresponder: NonResponder = EFS_NONRESPONDER_OPTION,
    censor_at_hct: bool = CENSOR_AT_HCT_OPTION,
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace the file if it exists."),
    fmt: OutputFormat = typer.Option(OutputFormat.table, "--format", help="table or json (the problems)."),
):
    """Validate a patient table of any size and write it typed, with the report's endpoints, as one
    Parquet file for the engine functions and DuckDB or Spark (nothing is written if there are
    errors: exit 1)."""
    from ltfu.errors import DataError, OutputError
    from ltfu.registry import prepare as run

    _check_burden_threshold(burden_threshold)
    cut = _parse_cutoff(cutoff)
    try:
        done = run(path, out, cutoff=cut, burden_threshold=burden_threshold,
                   efs_nonresponder=efs_nonresponder.value, censor_at_hct=censor_at_hct, overwrite=overwrite,
                   workers=None)      # two processes for a large file (the CLI's main module is guarded)
    except OutputError as exc:
        _output_error(exc)
    except DataError as exc:
        _check_cutoff_before_all(exc.problems, exc.rows or 0, cutoff)
        _print_problems(exc.problems, fmt=fmt.value)
        _fail(exc.message)
    _print_problems(done.warnings, fmt=fmt.value)
    notes = [f"Wrote the prepared table of {done.rows:,} patients to {done.path}"]
    if done.not_copied:
        notes.append(f"{len(done.not_copied)} column(s) of the file not copied (outside the data model, a field "
                     f"given twice, or burden, which ltfu derives; join them by patient_id): "
                     f"{', '.join(done.not_copied)}")
    for line in notes:
        typer.echo(line, err=fmt.value == "json")


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
    burden_threshold: float = BURDEN_THRESHOLD_OPTION,
    efs_nonresponder: NonResponder = EFS_NONRESPONDER_OPTION,
    censor_at_hct: bool = CENSOR_AT_HCT_OPTION,
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



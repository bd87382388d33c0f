"""``ltfu study``: the study store on the command line (``ltfu.store``), and what ``ltfu report``
needs to report a stored cut.

    ltfu study init trial.ltfu
    ltfu study add trial.ltfu export.xlsx --cut 2017-06-30 [--label primary]
    ltfu study list trial.ltfu [--format json]
    ltfu study diff trial.ltfu CUT_A CUT_B [--format json] [--fail-on retroactive]
    ltfu study upgrade trial.ltfu

Exit codes as every ltfu command: 0 done, 1 data problems (an export with errors, retroactive
changes with ``--fail-on retroactive``) or a failed run (the store held by another process past the
wait, a file-system error), 2 a usage error (no such store or cut, a cut already stored, a store of
another schema version).  Every message is one line without a traceback; text from a store (labels,
file names, ids in a diff) is printed through ``ltfu.terminal.visible``.  Nothing is logged.
"""

from __future__ import annotations

import enum
import json
from pathlib import Path

import typer
from typer.core import TyperCommand

from ltfu import cli_common, defaults
from ltfu.cli_common import (  # _Command: usage lines as a user writes them (STORE EXPORT)
    BURDEN_THRESHOLD_OPTION,
    OutputFormat,
    _Command,
)
from ltfu.terminal import visible

app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode=None, pretty_exceptions_enable=False,
                  help="The study store: every data cut of a study kept in one file (trial.ltfu), what changed "
                       "between cuts, and reports of any cut (ltfu report trial.ltfu --cut C).")

MAX_FLAGS_SHOWN = 200      # retroactive changes listed on the terminal; --format json lists every one
MAX_IDS_SHOWN = 20


class FailOn(enum.StrEnum):
    retroactive = "retroactive"


def _store_error(exc) -> None:
    cli_common._fail(exc.message, code=exc.exit_code)


def _run(fn, *args, **kwargs):
    """Call the store; its refusals and file-system failures become one line and an exit code."""
    from ltfu.errors import LoadError
    from ltfu.store import StoreError

    try:
        return fn(*args, **kwargs)
    except StoreError as exc:
        if exc.problems:
            cli_common._print_problems(list(exc.problems), stream_err=True)
        _store_error(exc)
    except LoadError as exc:
        cli_common._fail(exc.message, code=2)
    except OSError as exc:
        where = f": {Path(exc.filename).name}" if getattr(exc, "filename", None) else ""
        cli_common._fail(f"{exc.strerror or exc}{where}", code=1)


STORE_ARG = typer.Argument(..., metavar="STORE", help="The study store, a file ending in .ltfu.")


@app.command()
def init(path: Path = STORE_ARG):
    """Create an empty study store (a DuckDB file; an existing file is never replaced)."""
    from ltfu import store

    made = _run(store.init, path)
    typer.echo(f"Created the study store {visible(made.name)} (schema version {store.SCHEMA_VERSION}, no cut yet)")


@app.command()
def add(
    path: Path = STORE_ARG,
    export: Path = typer.Argument(..., metavar="EXPORT", help="The export of this cut: a patient table (.csv "
                                  ".xlsx .parquet ...), a workbook of study sheets or a folder of tables."),
    cut: str = typer.Option(..., "--cut", metavar="DATE", help="The cut's data cut-off date, YYYY-MM-DD."),
    label: str | None = typer.Option(None, "--label", metavar="L", help="A name for the cut (not a date)."),
    sheet: str | None = typer.Option(None, metavar="SHEET", help="Excel sheet of a single patient table."),
    burden_threshold: float = BURDEN_THRESHOLD_OPTION,
):
    """Validate EXPORT and store it as a new, immutable cut (refused, with every problem listed and
    nothing stored, when validation finds errors)."""
    from ltfu import store

    cli_common._check_burden_threshold(burden_threshold)
    cli_common._check_sheet(export, sheet)
    info = _run(store.add_cut, path, export, cut, label, sheet=sheet, burden_threshold=burden_threshold)
    typer.echo(f"Added cut {info.cut_date}{f' ({visible(info.label)})' if info.label else ''} to "
               f"{visible(path.name)}: {info.n_patients} patients, {info.n_events} adverse events, "
               f"{info.n_assessments} assessments, {info.n_therapies} therapies, {info.n_warnings} validation "
               f"warning(s); SHA-256 {info.sha256}")


@app.command("list")
def list_(path: Path = STORE_ARG,
          fmt: OutputFormat = typer.Option(OutputFormat.table, "--format", help="table or json.")):
    """The cuts of the store, oldest first: dates, labels, counts, checksums."""
    from ltfu import store

    cuts = _run(store.list_cuts, path)
    if fmt is OutputFormat.json:
        typer.echo(json.dumps([c.to_dict() for c in cuts], indent=2, ensure_ascii=True))
        return
    if not cuts:
        typer.echo(f"{visible(path.name)} holds no cut yet (add one with `ltfu study add`).")
        return
    from rich.markup import escape
    from rich.table import Table

    console = cli_common._console()
    wide = console.width >= 140          # narrow terminals: the essentials (--format json has everything)
    table = Table(title=f"Cuts of {escape(visible(path.name))}")
    cols = ["#", "cut date", "label", "patients", "deaths", "relapses", "AEs", "assessments", "therapies"]
    cols += ["warnings", "added (UTC)", "SHA-256"] if wide else ["SHA-256"]
    for col in cols:
        table.add_column(col, overflow="fold", no_wrap=col in ("cut date", "#", "SHA-256"))
    for c in cuts:
        row = [str(c.cut_id), c.cut_date, escape(visible(c.label or "")), str(c.n_patients), str(c.n_deaths),
               str(c.n_relapses), str(c.n_events), str(c.n_assessments), str(c.n_therapies)]
        row += [str(c.n_warnings), c.added_at, c.sha256] if wide else [c.sha256[:12] + "..."]
        table.add_row(*row)
    console.print(table)


def _fmt_value(v) -> str:
    from ltfu.store.changes import _plain

    p = _plain(v)
    return "none" if p is None else visible(p)


@app.command()
def diff(
    path: Path = STORE_ARG,
    cut_a: str = typer.Argument(..., metavar="CUT_A", help="The earlier cut: its date, label or number."),
    cut_b: str = typer.Argument(..., metavar="CUT_B", help="The later cut."),
    fmt: OutputFormat = typer.Option(OutputFormat.table, "--format", help="table or json."),
    fail_on: FailOn | None = typer.Option(None, "--fail-on", help="retroactive: exit 1 when any retroactive "
                                             "change is found (for pipelines)."),
):
    """What changed from CUT_A to CUT_B: patients added or removed, values changed per field, and the
    retroactive changes (data dated before CUT_A's cut-off changed, status going backwards, follow-up
    that shrank)."""
    from ltfu import store

    d = _run(store.diff, path, cut_a, cut_b)
    if fmt is OutputFormat.json:
        typer.echo(json.dumps(d.to_dict(), indent=2, ensure_ascii=True, allow_nan=False))
    else:
        _print_diff(d)
    if fail_on is FailOn.retroactive and d.retroactive:
        if fmt is not OutputFormat.json:
            cli_common._console(stderr=True).print(
                f"{len(d.flags)} retroactive change(s) found (--fail-on retroactive)", markup=False, highlight=False)
        raise typer.Exit(1)


def _print_diff(d) -> None:
    from rich.markup import escape
    from rich.table import Table

    console = cli_common._console()
    a, b = d.cut_a, d.cut_b
    name = lambda c: f"{c.cut_date}{f' ({visible(c.label)})' if c.label else ''}"
    console.print(f"Changes from cut {escape(name(a))} to cut {escape(name(b))}", markup=False, highlight=False)
    lines = [f"patients: {a.n_patients} -> {b.n_patients}; added {len(d.added)}, removed {len(d.removed)}"]
    for what, ids in (("added", d.added), ("removed", d.removed)):
        if ids:
            shown = ", ".join(visible(i) for i in ids[:MAX_IDS_SHOWN])
            more = f" ... and {len(ids) - MAX_IDS_SHOWN} more" if len(ids) > MAX_IDS_SHOWN else ""
            lines.append(f"  {what}: {shown}{more}")
    for line in lines:
        console.print(line, markup=False, highlight=False)
    if d.changed or any(r["added"] or r["removed"] or r["changed"] for r in d.rows.values()):
        table = Table(title="Values changed (patients, or rows of the study's other tables)")
        for col in ("table", "field", "changed"):
            table.add_column(col)
        for f, v in d.changed.items():
            table.add_row("patients", f, str(len(v)))
        for t, r in d.rows.items():
            for what in ("added", "removed"):
                if r[what]:
                    table.add_row(t, f"rows {what}", str(r[what]))
            for f, n in r["changed"].items():
                table.add_row(t, f, str(n))
        console.print(table)
    if not d.flags:
        console.print("No retroactive change: nothing dated before the earlier cut changed, no status went "
                      "backwards, no follow-up shrank.", markup=False, highlight=False)
        return
    counts = ", ".join(f"{k} {n}" for k, n in d.flag_counts().items())
    console.print(f"RETROACTIVE changes: {len(d.flags)} ({counts})", markup=False, highlight=False)
    table = Table()
    for col in ("kind", "patient", "table", "field", "change"):
        table.add_column(col, overflow="fold")
    for f in d.flags[:MAX_FLAGS_SHOWN]:
        table.add_row(f.kind, escape(visible(f.patient_id)), f.table, f.field, escape(visible(f.message)))
    console.print(table)
    if len(d.flags) > MAX_FLAGS_SHOWN:
        console.print(f"... and {len(d.flags) - MAX_FLAGS_SHOWN} more (--format json lists every one)",
                      markup=False, highlight=False)


@app.command()
def upgrade(path: Path = STORE_ARG):
    """Migrate a store made by an older ltfu to this ltfu's schema version (one transaction)."""
    from ltfu import store

    before, after = _run(store.upgrade, path)
    if before == after:
        typer.echo(f"{visible(path.name)} is already at schema version {after}; nothing to do")
    else:
        typer.echo(f"Upgraded {visible(path.name)} from schema version {before} to {after}")


for _info in app.registered_commands:
    if _info.cls in (None, TyperCommand):
        _info.cls = _Command


# -- ltfu report on a store ------------------------------------------------------------------------

def is_store_path(path) -> bool:
    return path is not None and Path(path).suffix.lower() == ".ltfu"


def report_input(path, use_demo, cut, cutoff, burden_threshold, sheet, *, deidentify, load_study):
    """The Study ``ltfu report`` analyses, with its data cuts (``Study.cuts``, for the maturity
    section) when there are any.

    A ``.ltfu`` path is a store: the cut ``--cut`` (default the latest) is reported, and every cut
    up to it feeds the maturity section.  ``--demo`` adds the demonstration study's three SYNTHETIC
    earlier cuts (``ltfu.demo.cuts``), passed to the analysis directly rather than through a
    temporary store: the maturity section reads the same Study objects either way, and a report
    should not write a database file to make a demonstration.  Otherwise the file is loaded by
    ``load_study`` (cli_common._load_study) and there is no history."""
    if cut is not None and not is_store_path(path):
        cli_common._fail("--cut selects a cut of a study store (a .ltfu file)", code=2)
    if not is_store_path(path):
        study = load_study(path, use_demo, cutoff, burden_threshold, sheet, deidentify=deidentify)
        if not use_demo:
            return study
        from dataclasses import replace

        from ltfu.demo.cuts import demo_cut_studies

        earlier = [(label, date, s) for date, label, s in demo_cut_studies(burden_threshold=burden_threshold)]
        return replace(study, cuts=(*earlier, ("SYNTHETIC demonstration study", study.cohort.cutoff_date, study)))
    if use_demo:
        cli_common._fail("give either a study store or --demo", code=2)
    for given, option in ((cutoff, "--cutoff"), (sheet, "--sheet")):
        if given is not None:
            cli_common._fail(f"{option} does not apply to a study store: each cut has its own cut-off date; choose "
                      "the cut with --cut", code=2)
    from ltfu import store

    cuts = _run(store.list_cuts, path)
    if not cuts:
        cli_common._fail(f"{Path(path).name} holds no cut yet (add one with `ltfu study add`)", code=2)
    chosen = _run(store.resolve, cuts, cut) if cut is not None else cuts[-1]
    earlier = [str(c.cut_id) for c in cuts if c.cut_date < chosen.cut_date]
    # the maturity section needs only the earlier cuts' patients and events; the reported cut is read whole
    # --burden-threshold given (not the default): burden derived with it, else with each cut's own
    thr = None if burden_threshold == defaults.BURDEN_THRESHOLD else burden_threshold
    loaded = _run(store.load_cuts, path, earlier, tables=("events",), burden_threshold=thr) if earlier else []
    loaded += _run(store.load_cuts, path, [str(chosen.cut_id)], burden_threshold=thr)
    history = tuple((c.name, c.cut_date, s) for c, s in loaded)
    study = history[-1][2]
    if deidentify:
        from ltfu.deid import deidentify_study

        study = deidentify_study(study)
    from dataclasses import replace

    return replace(study, cuts=history)

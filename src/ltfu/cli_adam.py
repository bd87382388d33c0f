"""ltfu adam: Kaplan-Meier, log-rank and Cox on CDISC ADaM ADSL + ADTTE, and their report."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from ltfu import defaults
from ltfu.cli_common import ConfType, OutputFormat, _check_formats, _console, _fail, _output_error, _print_problems, app
from ltfu.terminal import visible

MAX_BY_LEVELS = 10


def _check_adam_by(covariates, by):
    """--by names a character (categorical) ADSL variable with 2 to MAX_BY_LEVELS values, none two
    spellings of one value (A and a)."""
    import pandas as pd

    var = by.upper()
    if var not in covariates.columns:
        _fail(f"--by {by!r} is not an ADSL variable", code=2)
    values = covariates[var].dropna()
    n = int(values.nunique())
    if n < 2:
        which = "no subject has a value" if n == 0 else f"every subject with a value has {values.iloc[0]!r}"
        _fail(f"--by {var}: {which} ({int(covariates[var].isna().sum())} without a value): there are no groups "
              "to compare", code=2)
    how = (f"--by compares groups: give a character ADSL variable with at most {MAX_BY_LEVELS} values. Cut {var} "
           "into a few groups first (e.g. derive AGEGR1 = '<65' / '>=65' from AGE in ADSL) or use the character "
           "variable it codes (AGEGR1 rather than AGEGR1N), and give that to --by.")
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        _fail(f"--by {var} is a numeric variable ({n} distinct values). {how}", code=2)
    if n > MAX_BY_LEVELS:
        _fail(f"--by {var} has {n} distinct values (more than {MAX_BY_LEVELS}). {how}", code=2)
    spelled = pd.Series(values.unique(), dtype=object)
    folded = spelled.astype(str).str.casefold()
    clash = sorted(spelled[folded.duplicated(keep=False)].astype(str))
    if clash:
        _fail(f"--by {var}: the values {', '.join(map(repr, clash))} differ only by upper/lower case; write each "
              "value one way in ADSL", code=1)


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
        _print_problems(exc.problems, fmt=fmt.value, stream_err=True)
        _fail(f"{exc.message}: fix the errors {'listed' if fmt is OutputFormat.json else 'above'} and run again.")
    warned = [p for p in data.problems if p.severity == "warning"]
    if warned and fmt is OutputFormat.table:
        _print_problems(warned, stream_err=True)
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
    for code, p in results.numbers["parameters"].items():
        missing = p["adsl_subjects_without_record"]
        if missing:
            _console().print(f"{visible(code)}: {missing} of the {len(data.covariates)} ADSL subjects have no record",
                             markup=False, highlight=False)
        if by is not None and p.get("without_" + by.upper()):
            _console().print(f"{visible(code)}: {p['without_' + by.upper()]} subject(s) without a value of "
                             f"{by.upper()}, left out of the comparison", markup=False, highlight=False)



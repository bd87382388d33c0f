"""The command line through a subprocess: exit codes, outputs, and never a traceback."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

LTFU = [sys.executable, "-m", "ltfu.cli"]


def run(*args, cwd=None, columns=200):
    env = {**os.environ, "COLUMNS": str(columns)}
    return subprocess.run([*LTFU, *map(str, args)], capture_output=True, text=True, cwd=cwd, env=env,
                          timeout=300)


def assert_no_traceback(proc):
    assert "Traceback" not in proc.stdout + proc.stderr


def test_help_and_version():
    p = run("--help")
    assert p.returncode == 0
    for cmd in ("schema", "validate", "report", "demo", "endpoints", "simulate"):
        assert cmd in p.stdout
    v = run("--version")
    assert v.returncode == 0 and v.stdout.startswith("ltfu ")


def test_the_program_exits_with_mains_code_and_the_collector_frozen():
    """``ltfu`` (the console script, ``python -m ltfu``, ``python -m ltfu.cli``) is ``console()``:
    main's exit code, then ``gc.freeze()`` so that the interpreter's exit skips collecting the
    modules' objects (0.5-0.9 s a command, ltfu.cli.console); ``main`` itself leaves the collector
    alone, for the API and the in-process tests."""
    code = ("import gc, sys; from ltfu import cli; sys.argv = ['ltfu', *sys.argv[1:]]; "
            "f = getattr(cli, sys.argv.pop(1)); c = f(); print(c, gc.get_freeze_count() > 0)")
    for entry, args, expected in (("console", ["--version"], "0 True"), ("console", ["nonsense"], "2 True"),
                                  ("main", ["--version"], "0 False")):
        p = subprocess.run([sys.executable, "-c", code, entry, *args], capture_output=True, text=True, timeout=120)
        assert p.stdout.splitlines()[-1] == expected, (entry, args, p.stdout, p.stderr)
    script = os.path.join(os.path.dirname(sys.executable), "ltfu")
    if os.path.exists(script):                       # installed (pip install -e .): the console script
        assert "from ltfu.cli import console" in Path(script).read_text()
    import ltfu
    main_module = os.path.join(os.path.dirname(ltfu.__file__), "__main__.py")     # read, not imported
    assert "sys.exit(console())" in Path(main_module).read_text()


@pytest.mark.parametrize("args", [(), ("validate",), ("report", "--formats", "docx", "--demo"),
                                  ("report", "--cutoff", "31/12/2020", "--demo"),
                                  ("nonsense",), ("simulate", "--patients", "0", "--out", "x.parquet")])
def test_usage_errors_exit_2(args, tmp_path):
    p = run(*args, cwd=tmp_path)
    assert p.returncode == 2, p.stderr
    assert_no_traceback(p)


def test_schema_lists_every_required_field():
    p = run("schema", "--format", "json")
    assert p.returncode == 0
    fields = {f["name"]: f for f in json.loads(p.stdout)}
    for name in ("patient_id", "infusion_date", "last_contact_date"):
        assert fields[name]["required"] is True
    for name in ("death_date", "relapse_date", "allo_hct_date", "best_response", "crs_grade",
                 "neurotox_grade", "marrow_blasts_pct", "extramedullary"):
        assert name in fields


def test_validate_missing_file_is_a_clear_error(tmp_path):
    p = run("validate", tmp_path / "nope.csv")
    assert p.returncode == 1
    assert "nope.csv" in p.stderr
    assert_no_traceback(p)


def test_validate_lists_every_problem_and_exits_1(tmp_path):
    f = tmp_path / "bad.csv"
    f.write_text("patient_id,infusion_date,last_contact_date,crs_grade,death_date\n"
                 "P1,2016-01-10,2016-05-01,7,\n"
                 "P1,2016-02-01,2016-01-01,2,\n"
                 "P3,2016-03-01,2016-09-01,1,2016-02-01\n")
    before = f.read_bytes()
    p = run("validate", f, "--format", "json")
    assert p.returncode == 1
    problems = json.loads(p.stdout)
    codes = {q["code"] for q in problems}
    assert {"DUPLICATE_ID", "OUT_OF_RANGE", "DATE_BEFORE_INFUSION"} <= codes
    assert f.read_bytes() == before
    assert_no_traceback(p)


def test_validate_lists_each_reading_problem_once(tmp_path):
    f = tmp_path / "short.csv"
    f.write_text("patient_id,infusion_date,last_contact_date\n"
                 "P1,2020-01-01,2020-02-01\nP2,2020-01-01\nP3,2020-01-01,2020-03-01\n")
    problems = json.loads(run("validate", f, "--format", "json").stdout)
    assert [(q["code"], q["row"]) for q in problems if q["code"] == "ROW_LENGTH"] == [("ROW_LENGTH", 3)]


@pytest.mark.parametrize("columns", [80, 200])
def test_problems_print_whole_and_literally_at_any_width(tmp_path, columns):
    f = tmp_path / "bad[red]file.csv"
    f.write_text("patient_id,infusion_date,last_contact_date,crs_grade\n"
                 "P[bold]1,2016-01-10,2016-05-01,7\nP2,2016-01-10\n")
    p = run("validate", f, columns=columns)
    out = p.stdout
    assert p.returncode == 1
    assert "2 error(s), 1 warning(s): OUT_OF_RANGE 1, ROW_LENGTH 1, NO_CUTOFF 1" in out   # errors first
    for code in ("OUT_OF_RANGE", "ROW_LENGTH", "NO_CUTOFF"):
        assert code in out                                     # never cut across lines
    assert "P[bold]1" in out                                   # text from the file is not markup
    missing = run("validate", tmp_path / "no[red]such.csv", columns=columns)
    assert "no[red]such.csv" in missing.stderr


@pytest.mark.slow
def test_demo_validates_clean_and_endpoints_print(tmp_path):
    out = tmp_path / "demo.csv"
    p = run("demo", "--out", out)
    assert p.returncode == 0 and out.exists()
    assert out.read_text().startswith("# SYNTHETIC")
    v = run("validate", out)
    assert v.returncode == 0, v.stdout
    e = run("endpoints", "--demo")
    assert e.returncode == 0
    assert "SYNTHETIC" in e.stdout


@pytest.mark.slow
def test_simulated_registry_validates_without_errors(tmp_path):
    out = tmp_path / "reg.parquet"
    assert run("simulate", "--patients", "2000", "--seed", "4", "--out", out).returncode == 0
    v = run("validate", out, "--format", "json")
    errors = [q for q in json.loads(v.stdout) if q["severity"] == "error"]
    assert errors == [] and v.returncode == 0


def test_report_on_bad_data_prints_problems_writes_nothing(tmp_path):
    f = tmp_path / "bad.csv"
    f.write_text("patient_id,infusion_date\nP1,2016-01-10\n")
    p = run("report", f, "--out", tmp_path / "out")
    assert p.returncode == 1
    assert "MISSING_COLUMN" in p.stderr + p.stdout
    assert not (tmp_path / "out").exists()
    assert_no_traceback(p)


def test_a_long_path_in_an_error_is_never_broken(tmp_path):
    """An error naming a path longer than the terminal prints it on one logical line (the terminal
    wraps it), so that it can be copied; rich would insert a newline inside the path."""
    deep = tmp_path / ("a" * 60) / ("b" * 60)
    deep.mkdir(parents=True)
    p = run("validate", deep / "missing.csv", columns=80)
    assert p.returncode == 1
    assert str(deep / "missing.csv") in p.stderr
    assert len([ln for ln in p.stderr.splitlines() if ln.strip()]) == 1

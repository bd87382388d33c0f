"""No output path loses a user's file: ltfu replaces only a directory it made.

Every case hashes the whole tree of the user's files before and after, and checks that no
temporary directory or lock file is left behind.  The command line runs in subprocesses
(``python -m ltfu.cli``) except where a failure is injected by monkeypatching, which runs
``ltfu.cli.main`` in-process with the analysis itself replaced by a cached result (the injections
are about writing, not analysing).  The manifest is checked here independently of ltfu's code.
"""

import errno
import fcntl
import hashlib
import json
import os
import random
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

import ltfu
from ltfu.demo import demo_path

SRC = str(Path(ltfu.__file__).resolve().parent.parent)   # the code under test, also in subprocesses
JSON_CSV = ("--formats", "json,csv", "--quiet")


def run(*args, cwd=None, env=None, umask=None, timeout=120):
    e = {**os.environ, "PYTHONPATH": SRC, "COLUMNS": "200"}
    e.update(env or {})
    kw = {} if umask is None else {"umask": umask}
    return subprocess.run([sys.executable, "-m", "ltfu.cli", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, env=e, timeout=timeout, **kw)


def popen(*args, cwd=None):
    return subprocess.Popen([sys.executable, "-m", "ltfu.cli", *map(str, args)], cwd=cwd,
                            env={**os.environ, "PYTHONPATH": SRC}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def tree(root: Path, skip=()) -> dict:
    """Every entry under ``root`` (not following links): file -> SHA-256, dir -> 'dir', link -> target."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            rel = p.relative_to(root).as_posix()
            if any(rel == s or rel.startswith(s + "/") for s in skip):
                continue
            st = os.lstat(p)
            if stat.S_ISLNK(st.st_mode):
                out[rel] = "link->" + os.readlink(p)
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = "dir"
            else:
                out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def user_files(tmp_path: Path) -> dict:
    """The tree without the report ``w/rep`` and its hidden siblings ``w/.rep.*``."""
    return {k: v for k, v in tree(tmp_path).items() if not k.startswith(("w/rep", "w/.rep."))}


def hidden_leftovers(parent: Path) -> list:
    """Temporaries, set-aside reports and lock files ltfu might leave beside its outputs."""
    return sorted(p.name for p in parent.iterdir()
                  if p.name.startswith(".") and any(k in p.name for k in (".tmp", ".old", ".lock", ".ltfu")))


def manifest_checks(out: Path) -> set:
    """The report's manifest lists exactly its files with their SHA-256 (checked here, not by ltfu)."""
    m = json.loads((out / ".ltfu-manifest.json").read_text())
    listed = m["files"]
    present = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file() or p.is_symlink()}
    present.discard(".ltfu-manifest.json")
    assert present == set(listed), (present ^ set(listed))
    for rel, info in listed.items():
        assert hashlib.sha256((out / rel).read_bytes()).hexdigest() == info["sha256"], rel
    assert m["ltfu_version"] == ltfu.__version__
    return present


def one_line_error(text: str):
    lines = [ln for ln in text.splitlines() if ln.strip()]
    assert len(lines) == 1, text
    assert "Traceback" not in text and "internal error" not in text
    return lines[0]


@pytest.fixture
def ws(tmp_path):
    """A user's working folder: the trial data, notes, an analysis folder, documents."""
    w = tmp_path / "w"
    (w / "analysis").mkdir(parents=True)
    (w / "docs").mkdir()
    shutil.copy(demo_path(), w / "trial.csv")
    (w / "notes.txt").write_text("my notes\n")
    (w / "analysis" / "analysis.R").write_text("fit <- survfit(Surv(t, e) ~ 1)\n")
    (w / "docs" / "letter.txt").write_text("dear colleague\n")
    return w


def make_report(out: Path, results, formats=("json",)):
    """A previous ltfu report, written in-process (fast)."""
    from ltfu.report import write_report

    write_report(results, out, formats=formats)
    assert out.is_dir()
    return tree(out)


@pytest.fixture
def cli(monkeypatch, demo_results, capsys):
    """``ltfu.cli.main`` in-process with the analysis replaced by the cached result; (rc, stderr)."""
    import ltfu.analysis
    from ltfu.cli import main

    monkeypatch.setattr(ltfu.analysis, "analyse", lambda cohort, options: demo_results)

    def call(*args):
        capsys.readouterr()
        rc = main([*map(str, args)])
        return rc, capsys.readouterr().err

    return call


# --------------------------------------------------------------------------------------------------
# refusals: nothing at all changes


def _case(name, ws: Path, tmp_path: Path, results):
    """(cwd, --out, extra env, suggestion expected in the message) for each refused --out."""
    home = tmp_path / "home"
    home.mkdir()
    (home / ".bashrc").write_text("export X=1\n")
    env = {"HOME": str(home)}
    if name == "dot":
        return ws, ".", env
    if name == "empty":
        return ws, "", env
    if name == "dotdot":
        return ws / "analysis", "..", env
    if name == "tilde":
        return ws, "~", env
    if name == "home":
        return ws, str(home), env
    if name == "input_dir":
        return tmp_path, "w", env
    if name == "input_dir_ancestor":          # run from elsewhere: only the input rule applies
        return Path("/"), str(tmp_path), env
    if name == "user_dir":
        return ws, "analysis", env
    if name == "report_edited":
        make_report(ws / "rep", results, ("json", "csv"))
        with open(ws / "rep" / "results.json", "a") as fh:
            fh.write("\n")
        return ws, "rep", env
    if name == "report_foreign_file":
        make_report(ws / "rep", results, ("json", "csv"))
        (ws / "rep" / "tables" / "my_own_table.csv").write_text("a,b\n1,2\n")
        return ws, "rep", env
    if name == "symlink_to_folder":
        (ws / "link").symlink_to(ws / "docs", target_is_directory=True)
        return ws, "link", env
    if name == "symlink_slash":
        (ws / "link").symlink_to(ws / "docs", target_is_directory=True)
        return ws, "link/", env
    if name == "existing_file":
        (ws / "victim.txt").write_text("precious\n")
        return ws, "victim.txt", env
    raise AssertionError(name)


REFUSED = ["dot", "empty", "dotdot", "tilde", "home", "input_dir", "input_dir_ancestor", "user_dir",
           "report_edited", "report_foreign_file", "symlink_to_folder", "symlink_slash", "existing_file"]


@pytest.mark.parametrize("case", REFUSED)
def test_unsafe_out_is_refused_and_nothing_changes(case, ws, tmp_path, demo_results):
    cwd, out, env = _case(case, ws, tmp_path, demo_results)
    before = tree(tmp_path)
    p = run("report", ws / "trial.csv", "--out", out, "--formats", "json", cwd=cwd, env=env)
    assert p.returncode == 2, (p.returncode, p.stdout, p.stderr)
    line = one_line_error(p.stderr)
    assert f"--out {out!r}" in line                       # names the path as given
    assert "--out " in line.split(";")[-1] and "report" in line.split(";")[-1]   # proposes a safe one
    assert tree(tmp_path) == before                       # every byte, no temporary, no lock file


def test_root_is_refused_before_anything_is_written(tmp_path):
    before = sorted(os.listdir("/"))
    t = time.monotonic()
    p = run("report", "--demo", "--out", "/", "--formats", "json", cwd=tmp_path, env={"HOME": str(tmp_path)})
    assert p.returncode == 2, p.stderr
    assert "root directory" in one_line_error(p.stderr)
    assert time.monotonic() - t < 10                      # refused before the analysis
    assert sorted(os.listdir("/")) == before and list(tmp_path.iterdir()) == []


def test_proposed_out_is_accepted(ws, tmp_path, cli, monkeypatch):
    """The suggestion in the refusal is a path ltfu then writes to without touching anything else."""
    p = run("report", "trial.csv", "--out", ".", "--formats", "json", cwd=ws)
    suggestion = one_line_error(p.stderr).rsplit("--out ", 1)[1].strip()
    assert suggestion == "./report"
    before = tree(tmp_path)
    monkeypatch.chdir(ws)
    rc, err = cli("report", "trial.csv", "--out", suggestion, "--formats", "json")
    assert rc == 0, err
    assert {k: v for k, v in tree(tmp_path).items() if not k.startswith("w/report")} == before
    manifest_checks(ws / "report")


# --------------------------------------------------------------------------------------------------
# accepted paths


@pytest.mark.slow
def test_fresh_path_with_missing_parents_honours_umask(ws, tmp_path):
    before = tree(tmp_path)
    out = ws / "results" / "2026" / "rep"
    p = run("report", ws / "trial.csv", "--out", out, *JSON_CSV, cwd=ws, umask=0o022)
    assert p.returncode == 0, p.stderr
    files = manifest_checks(out)
    assert "results.json" in files and any(f.startswith("tables/") for f in files)
    for d in (ws / "results", ws / "results" / "2026", out, out / "tables"):
        assert stat.S_IMODE(d.stat().st_mode) == 0o755, d
    for f in [*out.rglob("*.csv"), out / "results.json", out / ".ltfu-manifest.json"]:
        assert stat.S_IMODE(f.stat().st_mode) == 0o644, f
    assert tree(tmp_path, skip=("w/results",)) == before
    assert hidden_leftovers(out.parent) == []


def test_existing_empty_directory_is_used(ws, tmp_path, cli):
    out = ws / "rep"
    out.mkdir()
    os.chmod(out, 0o750)
    before = tree(tmp_path, skip=("w/rep",))
    rc, err = cli("report", ws / "trial.csv", "--out", out, "--formats", "json")
    assert rc == 0, err
    assert manifest_checks(out) == {"results.json"}
    assert stat.S_IMODE(out.stat().st_mode) == 0o750       # the user's permissions kept
    assert tree(tmp_path, skip=("w/rep",)) == before
    assert hidden_leftovers(ws) == []


def test_rerun_replaces_an_ltfu_report(ws, tmp_path, demo_results, cli, monkeypatch):
    out = ws / "rep"
    make_report(out, demo_results, ("json",))
    first = json.loads((out / ".ltfu-manifest.json").read_text())
    before = tree(tmp_path, skip=("w/rep",))
    monkeypatch.chdir(ws)
    rc, err = cli("report", "trial.csv", "--out", "rep", *JSON_CSV)
    assert rc == 0, err
    files = manifest_checks(out)
    assert set(first["files"]) < files                     # the manifest now lists the tables too
    assert tree(tmp_path, skip=("w/rep",)) == before
    assert hidden_leftovers(ws) == []


@pytest.mark.slow
def test_two_concurrent_runs_give_one_complete_report(ws, tmp_path, demo_results):
    out = ws / "rep"
    make_report(out, demo_results, ("json",))
    before = tree(tmp_path, skip=("w/rep",))
    procs = [popen("report", "trial.csv", "--out", "rep", *JSON_CSV, cwd=ws) for _ in range(2)]
    results = [(p.wait(timeout=120), p.stderr.read()) for p in procs]
    for p in procs:
        p.stdout.close()
        p.stderr.close()
    for _rc, err in results:
        assert "Traceback" not in err and "internal error" not in err, err
    codes = sorted(rc for rc, _ in results)
    assert codes in ([0, 0], [0, 1]), results               # both in turn, or one waits and says so
    files = manifest_checks(out)
    assert "results.json" in files and any(f.startswith("tables/") for f in files)
    assert tree(tmp_path, skip=("w/rep",)) == before
    assert hidden_leftovers(ws) == []


def test_lock_held_by_another_run_fails_cleanly(ws, tmp_path, demo_results, cli, monkeypatch):
    """While another run holds ``.rep.lock`` past the bounded wait: exit 1, one line, nothing changed."""
    import ltfu.outputs.cleanup

    out = ws / "rep"
    make_report(out, demo_results, ("json",))
    monkeypatch.setattr(ltfu.outputs.cleanup, "LOCK_TIMEOUT", 0.5)
    lock = ws / ".rep.lock"
    fd = os.open(lock, os.O_RDONLY | os.O_CREAT, 0o666)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        before = tree(tmp_path)
        rc, err = cli("report", ws / "trial.csv", "--out", out, *JSON_CSV)
        assert rc == 1
        assert "another ltfu run" in one_line_error(err)
        assert tree(tmp_path) == before
    finally:
        os.close(fd)
        lock.unlink()
    rc, err = cli("report", ws / "trial.csv", "--out", out, *JSON_CSV)
    assert rc == 0, err
    manifest_checks(out)
    assert hidden_leftovers(ws) == []


# --------------------------------------------------------------------------------------------------
# failures while writing: the previous report stays, nothing is left behind


@pytest.mark.parametrize("fail", ["aside", "into_place", "into_place_and_back"])
def test_failed_rename_keeps_previous_report(fail, ws, tmp_path, demo_results, cli, monkeypatch):
    out = ws / "rep"
    prev = make_report(out, demo_results, ("json",))
    user = user_files(tmp_path)
    real_rename = os.rename

    def rename(src, dst, *a, **k):
        s, d = os.fspath(src), os.fspath(dst)
        if (fail == "aside" and ".rep.old-" in d) or (fail != "aside" and ".rep.tmp-" in s) \
                or (fail == "into_place_and_back" and ".rep.old-" in s):
            raise OSError(errno.EIO, "Input/output error (injected)", s)
        return real_rename(src, dst, *a, **k)

    monkeypatch.setattr(os, "rename", rename)
    rc, err = cli("report", ws / "trial.csv", "--out", out, *JSON_CSV)
    assert rc == 1
    line = one_line_error(err)
    assert "Input/output error" in line
    if fail == "into_place_and_back":   # as if killed between the renames: the old report is aside
        kept = [p for p in ws.iterdir() if p.name.startswith(".rep.old-")]
        assert len(kept) == 1 and tree(kept[0]) == prev and kept[0].name in line
        assert hidden_leftovers(ws) == [kept[0].name]
    else:
        assert tree(out) == prev
        assert hidden_leftovers(ws) == []
    assert user_files(tmp_path) == user
    monkeypatch.setattr(os, "rename", real_rename)
    rc, err = cli("report", ws / "trial.csv", "--out", out, *JSON_CSV)   # the next normal run
    assert rc == 0, err
    assert any(f.startswith("tables/") for f in manifest_checks(out))
    assert tree(tmp_path, skip=("w/rep",)) == user
    assert hidden_leftovers(ws) == []


def test_killed_between_the_renames_is_recovered(ws, tmp_path, demo_results, cli, monkeypatch):
    """A run died after moving the old report aside: the next run puts it back (then replaces it).

    Stale temporaries are removed only when they carry ltfu's marker; a look-alike without it stays."""
    out = ws / "rep"
    prev = make_report(out, demo_results, ("json",))
    os.rename(out, ws / ".rep.old-dead1234")
    stale = ws / ".rep.tmp-dead5678"                       # a killed build: ltfu's marker, unlocked
    (stale / "tables").mkdir(parents=True)
    (stale / ".ltfu-partial").write_text("ltfu is building\n")
    (stale / "tables" / "half.csv").write_text("a,b\n1,")
    lookalike = ws / ".rep.tmp-users-own"                  # not ltfu's: no marker
    lookalike.mkdir()
    (lookalike / "keep.txt").write_text("mine\n")
    user = tree(tmp_path, skip=("w/rep", "w/.rep.old-dead1234", "w/.rep.tmp-dead5678"))
    # the early check sees the report kept aside (an ltfu report: accepted), not an empty place
    monkeypatch.chdir(ws)
    rc, err = cli("report", "trial.csv", "--out", "rep", *JSON_CSV)
    assert rc == 0, err
    files = manifest_checks(out)
    assert set(prev) - {".ltfu-manifest.json"} <= files and any(f.startswith("tables/") for f in files)
    assert tree(tmp_path, skip=("w/rep",)) == user
    assert hidden_leftovers(ws) == [".rep.tmp-users-own"]


KILL_AT_SWAP = """
import os, signal, sys
from ltfu.report import write_report
from ltfu.results import Results, Section, Table

res = Results("t", {"n_patients": 1}, (Section("s", "S", tables=("x",)),),
              (Table("x", "X", ("a",), (("1",),)),), ())
out = sys.argv[1]
real = os.rename

def rename(src, dst, *a, **k):
    if ".tmp-" in os.fspath(src):      # the old report is aside, the new one not yet in
        os.kill(os.getpid(), signal.SIGKILL)
    return real(src, dst, *a, **k)

os.rename = rename
write_report(res, out, formats=("json", "csv"))
"""


def test_sigkill_exactly_between_the_renames(ws, tmp_path, demo_results, cli):
    """A real process killed with the old report aside and the new one not in: the next run restores."""
    out = ws / "rep"
    prev = make_report(out, demo_results, ("json",))
    user = user_files(tmp_path)
    p = subprocess.run([sys.executable, "-c", KILL_AT_SWAP, str(out)], env={**os.environ, "PYTHONPATH": SRC},
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == -signal.SIGKILL, p.stderr
    aside = [q for q in ws.iterdir() if q.name.startswith(".rep.old-")]
    assert not out.exists() and len(aside) == 1 and tree(aside[0]) == prev
    rc, err = cli("report", ws / "trial.csv", "--out", out, *JSON_CSV)
    assert rc == 0, err
    assert any(f.startswith("tables/") for f in manifest_checks(out))
    assert user_files(tmp_path) == user
    assert hidden_leftovers(ws) == []


def test_killed_between_the_renames_then_refused_restores_the_report(ws, tmp_path, demo_results):
    """When the report kept aside was changed, the next run refuses, but has put it back first."""
    out = ws / "rep"
    make_report(out, demo_results, ("json",))
    (out / "results.json").write_text("{}\n")
    prev = tree(out)
    os.rename(out, ws / ".rep.old-dead1234")
    p = run("report", "trial.csv", "--out", "rep", "--formats", "json", cwd=ws)
    assert p.returncode == 2
    assert "changed" in one_line_error(p.stderr)
    old = ws / ".rep.old-dead1234"
    assert (tree(out) if out.exists() else tree(old)) == prev    # kept, at its place or aside


def _fs_failure(ws, tmp_path, demo_results, cli, monkeypatch, inject, expect):
    out = ws / "rep"
    prev = make_report(out, demo_results, ("json",))
    before = tree(tmp_path)
    with monkeypatch.context() as m:
        inject(m)
        rc, err = cli("report", ws / "trial.csv", "--out", out, *JSON_CSV)
    assert rc == 1
    assert expect in one_line_error(err)
    assert tree(out) == prev
    assert tree(tmp_path) == before                       # no temporary directory, no lock file


def test_read_only_parent(ws, tmp_path, demo_results, cli, monkeypatch):
    def inject(m):
        if os.geteuid() != 0:
            os.chmod(ws, 0o555)
            return
        real_mkdir, real_open = os.mkdir, os.open          # root ignores modes: inject EROFS instead

        def mkdir(path, *a, **k):
            if Path(os.fspath(path)).parent == ws:
                raise OSError(errno.EROFS, os.strerror(errno.EROFS), os.fspath(path))
            return real_mkdir(path, *a, **k)

        def open_(path, flags, *a, **k):
            if flags & (os.O_CREAT | os.O_WRONLY | os.O_RDWR) and Path(os.fspath(path)).parent == ws:
                raise OSError(errno.EROFS, os.strerror(errno.EROFS), os.fspath(path))
            return real_open(path, flags, *a, **k)

        m.setattr(os, "mkdir", mkdir)
        m.setattr(os, "open", open_)

    try:
        _fs_failure(ws, tmp_path, demo_results, cli, monkeypatch, inject,
                    "Permission denied" if os.geteuid() != 0 else "Read-only file system")
    finally:
        os.chmod(ws, 0o755)


def test_disk_full(ws, tmp_path, demo_results, cli, monkeypatch):
    def inject(m):
        def full(self, *a, **k):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self))

        m.setattr(Path, "write_text", full)
        m.setattr(Path, "write_bytes", full)

    _fs_failure(ws, tmp_path, demo_results, cli, monkeypatch, inject, "No space left on device")


def test_sigkill_at_random_moments(ws, tmp_path, demo_results, cli):
    """Killed anywhere: the previous report intact or the new one complete, the user's files unchanged;
    the next run cleans up after the killed ones."""
    out = ws / "rep"
    prev = make_report(out, demo_results, ("json",))
    user = tree(tmp_path, skip=("w/rep",))
    rng = random.Random(20260611)
    for delay in sorted(rng.uniform(0.3, 3.3) for _ in range(3)):
        proc = popen("report", "trial.csv", "--out", "rep", *JSON_CSV, cwd=ws)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        now = tree(out)
        if now != prev:
            files = manifest_checks(out)
            assert "results.json" in files and any(f.startswith("tables/") for f in files), delay
        assert user_files(tmp_path) == user, delay
        assert all(n.startswith((".rep.tmp-", ".rep.old-", ".rep.lock")) for n in hidden_leftovers(ws))
    rc, err = cli("report", ws / "trial.csv", "--out", out, *JSON_CSV)    # the next run cleans up
    assert rc == 0, err
    manifest_checks(out)
    assert tree(tmp_path, skip=("w/rep",)) == user
    assert hidden_leftovers(ws) == []


# --------------------------------------------------------------------------------------------------
# demo and simulate: single files


FILE_CMDS = {"demo": ("demo",), "simulate": ("simulate", "--patients", "40", "--seed", "3")}


@pytest.mark.parametrize("cmd", ["demo", "simulate"])
def test_existing_file_needs_overwrite(cmd, tmp_path):
    f = tmp_path / "cohort.csv"
    f.write_text("precious\n")
    os.chmod(f, 0o640)
    before = tree(tmp_path)
    p = run(*FILE_CMDS[cmd], "--out", f)
    assert p.returncode == 2
    assert "--overwrite" in one_line_error(p.stderr)
    assert tree(tmp_path) == before
    q = run(*FILE_CMDS[cmd], "--out", f, "--overwrite")
    assert q.returncode == 0, q.stderr
    text = f.read_text()
    assert text != "precious\n" and ("SYNTHETIC" in text if cmd == "demo" else text.startswith("patient_id"))
    assert stat.S_IMODE(f.stat().st_mode) == 0o640             # the replaced file's permissions kept
    assert sorted(os.listdir(tmp_path)) == ["cohort.csv"]       # no temporary file left


@pytest.mark.parametrize("cmd,name", [("demo", "cohort.txt"), ("demo", "cohort.parquet"),
                                      ("simulate", "reg.xlsx"), ("simulate", "reg")])
def test_unknown_extension_is_a_usage_error(cmd, name, tmp_path):
    p = run(*FILE_CMDS[cmd], "--out", tmp_path / name)
    assert p.returncode == 2
    line = one_line_error(p.stderr)
    accepted = line.rsplit("accepted:", 1)[1]
    assert ".csv" in accepted and (".parquet" in accepted) == (cmd == "simulate")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("cmd", ["demo", "simulate"])
def test_directory_is_refused(cmd, tmp_path):
    d = tmp_path / "data.csv"            # a directory, even with a file-like name
    d.mkdir()
    (d / "mine.txt").write_text("mine\n")
    before = tree(tmp_path)
    p = run(*FILE_CMDS[cmd], "--out", d)
    assert p.returncode == 2
    assert "directory" in one_line_error(p.stderr)
    assert tree(tmp_path) == before


@pytest.mark.parametrize("cmd,name", [("demo", "a/b/cohort.csv"), ("simulate", "a/b/reg.parquet")])
def test_new_file_with_missing_parents_honours_umask(cmd, name, tmp_path):
    p = run(*FILE_CMDS[cmd], "--out", tmp_path / name, umask=0o022)
    assert p.returncode == 0, p.stderr
    assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "a").stat().st_mode) == 0o755
    assert sorted(os.listdir(tmp_path / "a" / "b")) == [Path(name).name]
